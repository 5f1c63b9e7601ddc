"""A running operator whose registry turns hostile: it says so in time, and lives on.

The operator (its own process, at the default request deadline, refresh deadline and answer
limits) reads the registry stand-in through a fault proxy (`support.faultproxy`). Once its
InferenceService is resolved, every registry request gets one hostile answer: a body nested
100,000 levels deep, an answer trickled a byte every half second, 400 MiB, pages that never
end, or a connection accepted and never answered. Each time the binding must say
`RegistryUnavailable` (keeping its answer, Ready True) within the stall bound or the request
deadline plus one refresh period and a binding write, name what was wrong, and log no
traceback. When the
registry behaves again the binding is `Resolved` again: only a later periodic refresh can
do that, so the refresher is alive.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from integration.operator.faults_support import WAIT_SECONDS, operator_behind, wait_for_ready
from registry_sync.demo.seed import SeedIds, seed_inference_service
from registry_sync.registry.transport import DEFAULT_DEADLINE_S
from support.cluster import Cluster
from support.cluster_objects import INFERENCE_SERVICES
from support.devregistry import RunningRegistry
from support.faultproxy import (
    EndlessPages,
    Fault,
    FaultProxy,
    Hang,
    Huge,
    Nested,
    Trickle,
    fault_proxy_in_thread,
)
from support.operator import RunningOperator

pytestmark = pytest.mark.cluster

# Beyond the request deadline: a refresh period (1 s here), the binding write, a busy machine.
# A bound on a deadline, not a speed: before the deadline existed, a hang took 62 s.
NOTICED_WITHIN_S = DEFAULT_DEADLINE_S + 15.0

HOSTILE = [
    pytest.param(Nested(), "nested more than", id="nested"),
    # A trickled answer is never complete: the refresh gets no answer within its stall bound.
    pytest.param(Trickle(interval_s=0.5), "answered nothing for 10 s", id="trickle"),
    pytest.param(Huge(mib=400), "more than 8388608 bytes", id="oversized"),
    pytest.param(EndlessPages(), "pages without end", id="endless-pages"),
    pytest.param(Hang(seconds=600), "answered nothing for 10 s", id="hang"),
]


@pytest.fixture
def proxy(dev_registry: RunningRegistry) -> Iterator[FaultProxy]:
    with fault_proxy_in_thread(dev_registry.url) as running:
        yield running


@pytest.fixture
def operator(
    kube: Cluster, namespace: str, seed: SeedIds, proxy: FaultProxy, tmp_path: Path
) -> Iterator[RunningOperator]:
    token_file = tmp_path / "registry-token"
    token_file.write_text("sha256~hostile-registry-token")
    log = tmp_path / "operator.log"
    with operator_behind(kube, namespace, proxy.url, log, token_file) as running:
        yield running


@pytest.mark.parametrize(("fault", "said"), HOSTILE)
def test_a_hostile_registry_is_reported_within_the_deadline_and_the_refresher_lives_on(
    kube: Cluster,
    namespace: str,
    seed: SeedIds,
    proxy: FaultProxy,
    operator: RunningOperator,
    fault: Fault,
    said: str,
) -> None:
    INFERENCE_SERVICES.create(kube.api_client, namespace, seed_inference_service(namespace, seed))
    wait_for_ready(kube, namespace, "True", "Resolved")

    proxy.start_outage(fault)

    binding = wait_for_ready(
        kube, namespace, "True", "RegistryUnavailable", timeout=NOTICED_WITHIN_S
    )
    status = binding["status"]
    assert (status["registeredModelId"], status["modelVersionId"]) == (
        seed.small_model,
        seed.small_version,
    )
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert said in ready["message"], ready["message"]
    assert "Traceback" not in operator.log()

    proxy.end_outage()

    wait_for_ready(kube, namespace, "True", "Resolved", timeout=WAIT_SECONDS)
    assert operator.running
    assert "Traceback" not in operator.log()
