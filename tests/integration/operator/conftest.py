"""The operator as a process against the real apiserver and the registry stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_sync.demo.seed import SeedIds, register_seed
from registry_sync.registry.client import RegistryClient
from support.cluster import Cluster
from support.devregistry import RunningRegistry
from support.operator import RunningOperator, start_operator


@pytest.fixture
async def seed(registry_client: RegistryClient) -> SeedIds:
    return await register_seed(registry_client)


@pytest.fixture
def operator(
    kube: Cluster, namespace: str, dev_registry: RunningRegistry, tmp_path: Path
) -> Iterator[RunningOperator]:
    with start_operator(
        kube,
        namespace,
        dev_registry.url,
        tmp_path / "operator.log",
        extra_args=["--registry-name", "demo-registry", "--refresh-seconds", "1"],
    ) as running:
        yield running
