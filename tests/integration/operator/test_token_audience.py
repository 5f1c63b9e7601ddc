"""`--token-audience`: the operator sends the registry only a token meant for the registry.

Given the pod's API token where a token of the registry's audience is expected (a mount
gone wrong), the operator sends nothing: the binding says why, and the registry never sees
a token it could replay against the Kubernetes API. Once the file holds the right token
(as a kubelet remount would), that token is sent and the binding resolves.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from integration.operator.faults_support import operator_behind, wait_for_ready
from registry_sync.demo.seed import SeedIds, seed_inference_service
from support.cluster import Cluster
from support.cluster_objects import INFERENCE_SERVICES
from support.devregistry import RunningRegistry
from support.faultproxy import FaultProxy, fault_proxy_in_thread

pytestmark = pytest.mark.cluster

AUDIENCE = "my-registry.rhoai-model-registries.svc"
SERVICE_ACCOUNT = "registry-sync"


@pytest.fixture
def proxy(dev_registry: RunningRegistry) -> Iterator[FaultProxy]:
    """Records every request the registry gets, with its Authorization header."""
    with fault_proxy_in_thread(dev_registry.url) as running:
        yield running


def test_a_token_for_another_audience_is_never_sent_and_the_binding_says_why(
    kube: Cluster,
    namespace: str,
    seed: SeedIds,
    proxy: FaultProxy,
    tmp_path: Path,
) -> None:
    kube.create_service_account(namespace, SERVICE_ACCOUNT)
    api_token = kube.create_token(namespace, SERVICE_ACCOUNT)
    registry_token = kube.create_token(namespace, SERVICE_ACCOUNT, audiences=[AUDIENCE])
    token_file = tmp_path / "token"
    token_file.write_text(api_token)
    log_path = tmp_path / "operator.log"

    with operator_behind(
        kube, namespace, proxy.url, log_path, token_file, "--token-audience", AUDIENCE
    ) as operator:
        INFERENCE_SERVICES.create(
            kube.api_client, namespace, seed_inference_service(namespace, seed)
        )
        binding = wait_for_ready(kube, namespace, "False", "RegistryUnavailable")
        ready = next(c for c in binding["status"]["conditions"] if c["type"] == "Ready")
        assert "not for the audience" in ready["message"], ready
        assert "--token-audience" in ready["message"], ready
        assert api_token not in ready["message"]
        assert proxy.seen == []

        # A remount: new content and a new modification time.
        token_file.write_text(registry_token)
        wait_for_ready(kube, namespace, "True", "Resolved", timeout=60)
        log = operator.log()

    assert {request.authorization for request in proxy.seen} == {f"Bearer {registry_token}"}
    assert api_token not in log
