"""Serving the PipelineRun admission webhook and, for local runs, registering it."""
