"""The commands a model-testing pipeline's tasks run: `verify-run` before the tests start,
`publish` after they end. Each reads the run and its ModelBinding from the cluster and the
model version from the registry; the rules they apply are pure (`domain`)."""
