"""Key material for a local control plane: a CA, the apiserver's serving certificate,
an admin client certificate (group `system:masters`) and the service-account signing key.

Everything is generated with `cryptography` and written as PEM files into one folder. The
CA key stays there too, so further client identities can be issued later
(`issue_client_certificate`): a process under test can then be told apart from the admin
in the apiserver's audit log.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ADMIN_USER = "registry-sync-admin"

# The apiserver is reached on loopback only; these are the names a client may use for it.
_SERVING_DNS_NAMES = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc")
_SERVING_IPS = ("127.0.0.1",)
_VALIDITY = datetime.timedelta(days=2)
_CA_NAME = "registry-sync-local-ca"


@dataclass(frozen=True)
class ControlPlanePki:
    """Paths of the PEM files a local control plane and its clients use."""

    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    service_account_public_key: Path
    service_account_private_key: Path


def _load_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} does not hold the EC key this module writes")
    return key


def _private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _issue(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    is_ca: bool,
    usages: list[x509.ObjectIdentifier],
    alternative_names: list[x509.GeneralName],
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # A little slack backwards so clock granularity never makes a fresh cert "not yet valid".
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=not is_ca,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=is_ca,
                crl_sign=is_ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    if alternative_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(alternative_names), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def write_control_plane_pki(folder: Path) -> ControlPlanePki:
    """Generate a fresh CA, serving and admin certificates and a service-account key pair
    into `folder` (created if missing) and return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = _private_key()
    ca_name = _name(_CA_NAME)
    ca_cert = _issue(ca_name, ca_key, ca_name, ca_key, is_ca=True, usages=[], alternative_names=[])

    serving_key = _private_key()
    serving_cert = _issue(
        _name("kube-apiserver"),
        serving_key,
        ca_name,
        ca_key,
        is_ca=False,
        usages=[ExtendedKeyUsageOID.SERVER_AUTH],
        alternative_names=[
            *(x509.DNSName(name) for name in _SERVING_DNS_NAMES),
            *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in _SERVING_IPS),
        ],
    )

    # The apiserver maps O= to groups: system:masters bypasses RBAC entirely.
    admin_key = _private_key()
    admin_cert = _issue(
        _name(ADMIN_USER, "system:masters"),
        admin_key,
        ca_name,
        ca_key,
        is_ca=False,
        usages=[ExtendedKeyUsageOID.CLIENT_AUTH],
        alternative_names=[],
    )

    service_account_key = _private_key()

    pki = ControlPlanePki(
        ca_cert=folder / "ca.crt",
        ca_key=folder / "ca.key",
        serving_cert=folder / "apiserver.crt",
        serving_key=folder / "apiserver.key",
        admin_cert=folder / "admin.crt",
        admin_key=folder / "admin.key",
        service_account_public_key=folder / "service-account.pub",
        service_account_private_key=folder / "service-account.key",
    )
    pki.ca_cert.write_bytes(_cert_pem(ca_cert))
    pki.ca_key.touch(mode=0o600)
    pki.ca_key.write_bytes(_key_pem(ca_key))
    pki.serving_cert.write_bytes(_cert_pem(serving_cert))
    pki.serving_key.write_bytes(_key_pem(serving_key))
    pki.admin_cert.write_bytes(_cert_pem(admin_cert))
    pki.admin_key.write_bytes(_key_pem(admin_key))
    pki.service_account_private_key.write_bytes(_key_pem(service_account_key))
    pki.service_account_public_key.write_bytes(
        service_account_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    for key_file in (pki.serving_key, pki.admin_key, pki.service_account_private_key):
        key_file.chmod(0o600)
    return pki


def issue_client_certificate(
    pki: ControlPlanePki, folder: Path, user: str, groups: tuple[str, ...] = ()
) -> tuple[Path, Path]:
    """A client certificate (CN=`user`, O=each of `groups`) signed by the control plane's
    CA, written as `<user>.crt`/`<user>.key` into `folder`; returns their paths."""
    ca_key = _load_private_key(pki.ca_key)
    key = _private_key()
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, user)]
    attributes += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups]
    cert = _issue(
        x509.Name(attributes),
        key,
        _name(_CA_NAME),
        ca_key,
        is_ca=False,
        usages=[ExtendedKeyUsageOID.CLIENT_AUTH],
        alternative_names=[],
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / f"{user}.crt", folder / f"{user}.key"
    cert_file.write_bytes(_cert_pem(cert))
    key_file.touch(mode=0o600)
    key_file.write_bytes(_key_pem(key))
    return cert_file, key_file
