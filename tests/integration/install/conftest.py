"""Install manifests against the real apiserver, and the operator running with their RBAC."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from integration.install.installation import OVERLAYS, Rendered, install_test_crds, render
from registry_sync.demo.seed import SeedIds, register_seed
from registry_sync.registry.client import RegistryClient
from support.cluster import Cluster
from support.devregistry import start_dev_registry


@dataclass(frozen=True)
class SeededRegistry:
    """A registry stand-in holding the seed's models; the operator only reads it."""

    url: str
    ids: SeedIds


async def _register(url: str) -> SeedIds:
    async with RegistryClient(url) as registry_client:
        return await register_seed(registry_client)


@pytest.fixture(scope="module")
def seeded_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededRegistry]:
    data_file = tmp_path_factory.mktemp("seeded-registry") / "registry.json"
    with start_dev_registry(data_file=data_file) as registry:
        yield SeededRegistry(registry.url, asyncio.run(_register(registry.url)))


@pytest.fixture(scope="session")
def install_crds(kube: Cluster) -> None:
    """The test stand-ins for the cert-manager and ServiceMonitor CRDs."""
    install_test_crds(kube)


@pytest.fixture
def openshift_install(kube: Cluster, namespace: str, tmp_path: Path) -> Rendered:
    """The OpenShift overlay rendered for the test's namespace."""
    return render(kube, OVERLAYS / "openshift", namespace, tmp_path)
