"""The Kubernetes shell: what the operator process holds and does around the pure core.

The reconciler and the binding book (InferenceServices → ModelBindings and labels), the
PipelineRun admission service and the no-webhook guard, the Kubernetes API calls, the
settings, metrics and logging, and the `run` sub-command that starts it all. Decisions are
the core's (`registry_sync.domain`); this package reads, waits, calls and writes.
Kept empty: `kopf_settings` must be importable without the rest (the bare benchmark
operator imports it alone).
"""
