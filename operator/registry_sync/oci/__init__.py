"""What an OCI artifact URI names: the digest its tag points at, asked of the registry.

Pure parts (`credentials`, `hosts`, `challenge`) read pull secrets, the `--oci-hosts`
setting and `WWW-Authenticate` headers; `resolver` asks registries over HTTP, and
`digest_cache` keeps the answers of one shared resolver for `--digest-ttl-seconds`.

Nothing is re-exported here: import each name from its module.
"""
