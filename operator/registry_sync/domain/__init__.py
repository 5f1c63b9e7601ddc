"""The pure core: no I/O, no Kubernetes, no HTTP; the standard library and pydantic only.

Nothing is re-exported here: import each name from its module, so that importing one module
of the core (`domain.metadata`, for the bare benchmark operator) loads no other.
"""
