"""A Model Registry stand-in: a test and demo component, never used in production.

It serves the part of the Kubeflow Model Registry REST API (v1alpha3) that the operator,
the demo and a registering pipeline use, and reproduces the real server's observable
behaviour as recorded from it: one id sequence shared by registered models, model
versions, serving environments and inference services (artifacts have their own),
millisecond timestamps as strings, opaque page tokens, `/model_artifacts` and
`/inference_services` ignoring `filterQuery`, metric artifacts upserted by name within a
version (answered 200), InferenceService record names unique per serving environment,
and error bodies `{"code": ..., "message": ...}`. Where the recordings are
silent, it answers within the OpenAPI spec. The contract tests replay the real server's
recordings against it and validate every answer against the spec.

Run it with `registry-sync dev-registry --port 0`; tests start it through
`tests/support/devregistry.py`.
"""
