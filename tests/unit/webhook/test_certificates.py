"""The certificates made by `certificate_authority`, for the webhook and for the local control
plane, do what TLS asks of them: a client trusting the CA accepts the server for the names
it was made for (and no other), and a server trusting the CA accepts the client
certificates. Checked with real handshakes (in memory, Python's ssl)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from registry_sync.local_control_plane.pki import (
    ADMIN_USER,
    ControlPlanePki,
    issue_client_certificate,
    write_control_plane_pki,
)
from registry_sync.webhook.certificates import make_serving_certificate


def handshake(server: ssl.SSLContext, client: ssl.SSLContext, hostname: str) -> None:
    """A whole TLS handshake between the two contexts; raises what verification raises."""
    client_to_server, server_to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    ends = {
        "client": client.wrap_bio(server_to_client, client_to_server, server_hostname=hostname),
        "server": server.wrap_bio(client_to_server, server_to_client, server_side=True),
    }
    waiting = set(ends)
    for _ in range(20):
        for side in sorted(waiting):
            try:
                ends[side].do_handshake()
            except ssl.SSLWantReadError:
                continue
            waiting.discard(side)
        if not waiting:
            return
    raise AssertionError(f"the handshake did not finish: {sorted(waiting)} still waiting")


def server_context(
    cert_file: Path, key_file: Path, client_ca: Path | None = None
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=client_ca)
    return context


def client_context(
    ca_pem: bytes, cert_file: Path | None = None, key_file: Path | None = None
) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=ca_pem.decode())
    if cert_file is not None:
        context.load_cert_chain(cert_file, key_file)
    return context


# -- the webhook's throw-away certificate ---------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_webhook_certificate_is_trusted_for_each_host_it_was_made_for(
    tmp_path: Path, host: str
) -> None:
    made = make_serving_certificate(tmp_path, ["127.0.0.1", "localhost"])

    handshake(server_context(made.cert_file, made.key_file), client_context(made.ca_pem), host)


def test_a_webhook_certificate_is_refused_for_another_host(tmp_path: Path) -> None:
    made = make_serving_certificate(tmp_path, ["127.0.0.1", "localhost"])

    with pytest.raises(ssl.SSLCertVerificationError, match="match"):
        handshake(
            server_context(made.cert_file, made.key_file),
            client_context(made.ca_pem),
            "registry-sync.example",
        )


def test_a_webhook_key_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    made = make_serving_certificate(tmp_path, ["127.0.0.1"])

    assert made.key_file.stat().st_mode & 0o777 == 0o600


# -- the local control plane's key material -------------------------------------------------


@pytest.fixture
def pki(tmp_path: Path) -> ControlPlanePki:
    return write_control_plane_pki(tmp_path / "pki")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "kubernetes.default.svc"])
def test_the_apiserver_certificate_is_trusted_for_its_names(
    pki: ControlPlanePki, host: str
) -> None:
    handshake(
        server_context(pki.serving_cert, pki.serving_key),
        client_context(pki.ca_cert.read_bytes()),
        host,
    )


def test_the_admin_certificate_names_the_admin_in_system_masters(pki: ControlPlanePki) -> None:
    subject = x509.load_pem_x509_certificate(pki.admin_cert.read_bytes()).subject

    assert [a.value for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)] == [ADMIN_USER]
    assert [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [
        "system:masters"
    ]
    handshake(
        server_context(pki.serving_cert, pki.serving_key, client_ca=pki.ca_cert),
        client_context(pki.ca_cert.read_bytes(), pki.admin_cert, pki.admin_key),
        "localhost",
    )


def test_a_client_certificate_issued_later_is_signed_by_the_same_ca(
    pki: ControlPlanePki, tmp_path: Path
) -> None:
    cert_file, key_file = issue_client_certificate(
        pki, tmp_path / "clients", "registry-sync-operator", ("team-a", "team-b")
    )

    subject = x509.load_pem_x509_certificate(cert_file.read_bytes()).subject
    organizations = [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert organizations == ["team-a", "team-b"]
    assert key_file.stat().st_mode & 0o777 == 0o600
    handshake(
        server_context(pki.serving_cert, pki.serving_key, client_ca=pki.ca_cert),
        client_context(pki.ca_cert.read_bytes(), cert_file, key_file),
        "localhost",
    )


def test_every_private_key_of_the_control_plane_is_readable_by_its_owner_only(
    pki: ControlPlanePki,
) -> None:
    keys = (pki.ca_key, pki.serving_key, pki.admin_key, pki.service_account_private_key)

    assert {key.name: key.stat().st_mode & 0o777 for key in keys} == dict.fromkeys(
        (key.name for key in keys), 0o600
    )
