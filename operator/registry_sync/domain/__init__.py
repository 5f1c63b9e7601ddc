"""Pure domain logic: no I/O, no Kubernetes, no HTTP. Only the standard library and pydantic."""
