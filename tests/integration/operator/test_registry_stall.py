"""A registry that stops answering, at the operator's default settings: the binding says so.

The operator (its own process, default refresh period, stall bound and deadlines) reads the
registry stand-in through a fault proxy (`support.faultproxy`). Once its InferenceService is
resolved, the registry accepts connections and never replies: between two refreshes, or in
the middle of one that was receiving answers. Either way the binding reports
`RegistryUnavailable`, keeping its answer (Ready True), and its message says that the
registry answered nothing for the stall bound, and after how many answers: the silence is
counted from the last answer, not from the refresh's start. How long detection takes is
`bench/registry_stall.py`'s to measure; here the wait only has to be long enough.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from registry_sync.demo.seed import SeedIds, seed_inference_service
from registry_sync.registry.client import RegistryClient
from registry_sync.registry.snapshot_source import DEFAULT_STALL_TIMEOUT_S
from support.bindings import wait_for_ready
from support.cluster import Cluster
from support.cluster_objects import INFERENCE_SERVICES
from support.devregistry import RunningRegistry
from support.faultproxy import FaultProxy, Hang, fault_proxy_in_thread
from support.operator import RunningOperator, start_operator

pytestmark = pytest.mark.cluster

REFRESH_SECONDS = 30.0  # the default, for the wait only: the operator is given no setting
# The next refresh, the stall bound, the binding's write; a busy machine.
WAIT_S = REFRESH_SECONDS + DEFAULT_STALL_TIMEOUT_S + 30.0
STALLED = f"answered nothing for {DEFAULT_STALL_TIMEOUT_S:g} s"


@pytest.fixture
def proxy(dev_registry: RunningRegistry) -> Iterator[FaultProxy]:
    with fault_proxy_in_thread(dev_registry.url) as running:
        yield running


@pytest.fixture
def operator(
    kube: Cluster, namespace: str, seed: SeedIds, proxy: FaultProxy, tmp_path: Path
) -> Iterator[RunningOperator]:
    """The operator at its defaults but for the registry's name, reading through the proxy."""
    with start_operator(
        kube,
        namespace,
        proxy.url,
        tmp_path / "operator.log",
        extra_args=["--registry-name", "demo-registry"],
    ) as running:
        yield running


def resolved(kube: Cluster, namespace: str, seed: SeedIds) -> None:
    INFERENCE_SERVICES.create(kube.api_client, namespace, seed_inference_service(namespace, seed))
    wait_for_ready(kube, namespace, "True", "Resolved", timeout=WAIT_S)


def unavailable_keeping_the_answer(kube: Cluster, namespace: str, seed: SeedIds) -> dict[str, Any]:
    """The binding once it says `RegistryUnavailable`: its kept answer checked, its Ready
    condition returned."""
    binding = wait_for_ready(kube, namespace, "True", "RegistryUnavailable", timeout=WAIT_S)
    status = binding["status"]
    assert (status["registeredModelId"], status["modelVersionId"]) == (
        seed.small_model,
        seed.small_version,
    )
    ready: dict[str, Any] = next(c for c in status["conditions"] if c["type"] == "Ready")
    return ready


def test_a_registry_that_stops_answering_between_refreshes_is_reported_as_stalled(
    kube: Cluster, namespace: str, seed: SeedIds, proxy: FaultProxy, operator: RunningOperator
) -> None:
    resolved(kube, namespace, seed)

    proxy.start_outage(Hang(seconds=600))

    ready = unavailable_keeping_the_answer(kube, namespace, seed)
    assert STALLED in ready["message"], ready["message"]
    assert "after 0 answer(s)" in ready["message"], ready["message"]
    assert "Traceback" not in operator.log()


async def test_a_registry_that_stops_answering_mid_refresh_is_reported_as_stalled(
    kube: Cluster,
    namespace: str,
    seed: SeedIds,
    registry_client: RegistryClient,
    proxy: FaultProxy,
    operator: RunningOperator,
) -> None:
    resolved(kube, namespace, seed)
    # A new version: the next refresh answers its three listings, then asks for the new
    # version's artifacts, and that request is never answered.
    version = await registry_client.create_model_version(seed.mistral_model, "late")
    await registry_client.create_model_artifact(
        version.id, name="late", uri="oci://quay.io/example/late:1"
    )
    proxy.inject(Hang(seconds=600), path_contains=f"/model_versions/{version.id}/artifacts")

    ready = unavailable_keeping_the_answer(kube, namespace, seed)
    assert STALLED in ready["message"], ready["message"]
    assert "after 3 answer(s)" in ready["message"], ready["message"]
    assert proxy.pending_faults == 0
    assert "Traceback" not in operator.log()
