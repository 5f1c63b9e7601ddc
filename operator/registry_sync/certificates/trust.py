"""What a client trusts when it calls a server over TLS, and how it tells a refused
certificate from other failures: one place for the Model Registry client, the OCI digest
resolver and the served-name probe. Standard library only (no `cryptography` import)."""

from __future__ import annotations

import ssl
from pathlib import Path


def client_context(ca_file: Path | str | None, setting: str) -> ssl.SSLContext:
    """The system's CAs, plus the PEM bundle `ca_file` when given (a private CA, such as
    OpenShift's service CA). A bundle that cannot be loaded raises `ValueError` naming
    `setting` (the flag that gave it)."""
    context = ssl.create_default_context()
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as error:
            raise ValueError(
                f"{setting}: cannot load the CA bundle {ca_file}: {error}; give a PEM file "
                "with the CA that signed the server's certificate"
            ) from None
    return context


def is_certificate_failure(error: BaseException) -> bool:
    """Whether `error` (or what caused it) is a refused server certificate."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(error)
