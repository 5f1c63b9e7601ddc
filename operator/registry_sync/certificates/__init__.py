"""Self-signed certificate authorities and the certificates they sign (the webhook's serving
certificate, the local control plane's PKI). Depends on `cryptography` only."""
