"""A throw-away CA and serving certificate for `--webhook url` (local runs and tests).

Made with `cryptography` (`registry_sync.certificates.authority`): Kopf's own self-signed
path needs oscrypto, which cannot find libcrypto on OpenSSL 3.0.x. In a cluster the
certificate comes from service-ca or cert-manager instead, so the operator imports
`cryptography` only when it makes one here.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

_CA_NAME = "registry-sync local webhook CA"


@dataclass(frozen=True, slots=True)
class ServingCertificate:
    cert_file: Path
    key_file: Path
    ca_pem: bytes


def make_serving_certificate(folder: Path, hosts: list[str], days: int = 365) -> ServingCertificate:
    """Write `tls.crt`/`tls.key` for `hosts` (names or IPs) into `folder`, signed by a new CA."""
    from registry_sync.certificates import authority  # only when one is made

    validity = datetime.timedelta(days=days)
    ca_key, ca_name = authority.new_key(), authority.name(_CA_NAME)
    ca = authority.issue(ca_name, ca_key, ca_name, ca_key, validity=validity, is_ca=True)
    key = authority.new_key()
    cert = authority.issue(
        authority.name(hosts[0]),
        key,
        ca_name,
        ca_key,
        validity=validity,
        usages=[authority.SERVER_AUTH],
        alternative_names=authority.host_names(hosts),
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / "tls.crt", folder / "tls.key"
    authority.write_certificate(cert_file, cert)
    authority.write_private_key(key_file, key)
    return ServingCertificate(cert_file, key_file, authority.certificate_pem(ca))
