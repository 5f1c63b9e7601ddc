"""The client against the stand-in served over HTTPS with a certificate from a private CA."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from registry_sync.registry.client import RegistryClient
from registry_sync.registry.errors import RegistryTLSError
from registry_sync.registry.transport import RetryPolicy
from support.devregistry import RunningRegistry, start_dev_registry


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_registry(
    certificate_authority: trustme.CA, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningRegistry]:
    folder = tmp_path_factory.mktemp("tls")
    served = certificate_authority.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = folder / "tls.crt", folder / "tls.key"
    served.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    served.private_key_pem.write_to_path(str(key_file))
    with start_dev_registry(tls_cert_file=cert_file, tls_key_file=key_file) as registry:
        yield registry


@pytest.fixture(scope="module")
def ca_file(certificate_authority: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    certificate_authority.cert_pem.write_to_path(str(path))
    return path


async def test_https_with_the_ca_bundle_is_accepted(
    tls_registry: RunningRegistry, ca_file: Path
) -> None:
    assert tls_registry.url.startswith("https://")

    async with RegistryClient(tls_registry.url, ca_file=ca_file) as client:
        created = await client.create_registered_model("Comparison-Test")
        models = await client.list_registered_models()

    assert created.id in {model.id for model in models}


async def test_https_without_the_ca_bundle_is_refused_saying_what_to_give(
    tls_registry: RunningRegistry,
) -> None:
    async with RegistryClient(tls_registry.url, retry=RetryPolicy(attempts=3)) as client:
        with pytest.raises(RegistryTLSError, match=r"not trusted.*CA bundle") as caught:
            await client.list_registered_models()

    assert client.request_count == 1  # a certificate problem is not retried
    assert caught.value.url == tls_registry.api + "/registered_models"
