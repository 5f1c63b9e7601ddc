"""A misbehaving OCI registry never flips a label or changes what runs are given.

The operator asks the real registry through a fault-injecting HTTPS proxy (the registry's
own certificate and CA): 5xx, 401, a hang past the lookup deadline, and a 200 without a
digest each leave the binding on the last digest it learned (`DigestCached`, with its age),
the labels as they were, and runs admitted with the same names.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integration.digests.test_image_digests import (
    PARAMS,
    PULL_SECRET,
    deploy,
    register,
    wait_for_digest,
)
from integration.operator.faults_support import labels_of, run_params, try_run
from registry_sync.registry.client import RegistryClient
from support.bindings import condition
from support.cluster import Cluster
from support.devregistry import RunningRegistry
from support.faultproxy import (
    FaultProxy,
    GarbageBody,
    Hang,
    ServerError,
    Unauthorized,
    fault_proxy_in_thread,
)
from support.model_pods import start_model_pod
from support.oci_registry import RunningOciRegistry, unique_repository
from support.operator import start_operator

pytestmark = [pytest.mark.cluster, pytest.mark.oci_registry]

NAMES = {"vllm_model_name": "gemma", "model_name": "Gemma", "version_name": "v1"}


@pytest.fixture
def proxy(oci_registry_basic: RunningOciRegistry) -> Iterator[FaultProxy]:
    oci = oci_registry_basic
    with fault_proxy_in_thread(
        oci.url, server_context=oci.server_context(), upstream_context=oci.ssl_context()
    ) as running:
        yield running


def pull_secret_for(host: str, oci: RunningOciRegistry) -> dict[str, Any]:
    auth = base64.b64encode(f"{oci.username}:{oci.password}".encode()).decode()
    document = {"auths": {host: {"auth": auth}}}
    return {
        "metadata": {"name": PULL_SECRET},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(json.dumps(document).encode()).decode()},
    }


@pytest.mark.parametrize(
    "fault",
    [ServerError(503), Unauthorized(), Hang(40.0), GarbageBody(b"not a manifest")],
    ids=["5xx", "401", "hang", "garbage"],
)
async def test_a_failing_oci_registry_keeps_the_last_digest_and_changes_nothing(
    kube: Cluster,
    namespace: str,
    dev_registry: RunningRegistry,
    registry_client: RegistryClient,
    oci_registry_basic: RunningOciRegistry,
    proxy: FaultProxy,
    tmp_path: Path,
    fault: object,
) -> None:
    oci = oci_registry_basic
    host = proxy.url.removeprefix("https://")
    repository = unique_repository("gemma")
    digest = oci.push_image(repository, "v1", seed="gemma")
    uri = f"oci://{host}/{repository}:v1"
    await register(registry_client, "Gemma", "v1", uri)
    kube.core.create_namespaced_secret(namespace, pull_secret_for(host, oci))
    with start_operator(
        kube,
        namespace,
        dev_registry.url,
        tmp_path / "operator.log",
        extra_args=[
            "--refresh-seconds", "1",
            "--digest-ttl-seconds", "1",
            "--oci-ca-file", str(oci.ca_file),
            "--pull-secret", PULL_SECRET,
        ],
    ):  # fmt: skip
        deploy(kube, namespace, "gemma", uri)
        start_model_pod(kube, namespace, "gemma", uri.removeprefix("oci://"), digest)
        wait_for_digest(kube, namespace, "gemma", "DigestMatches")
        labelled = labels_of(kube, namespace, "gemma")

        proxy.start_outage(fault)  # type: ignore[arg-type]
        binding = wait_for_digest(kube, namespace, "gemma", "DigestCached")

        verified = condition(binding, "DigestVerified")
        assert verified is not None and verified["status"] == "True", verified
        assert binding["status"]["registeredDigest"] == digest
        assert condition(binding, "Ready")["reason"] == "Resolved"  # type: ignore[index]
        assert labels_of(kube, namespace, "gemma") == labelled
        admitted = try_run(kube, namespace, "gemma", PARAMS)
        assert isinstance(admitted, dict), admitted
        assert run_params(admitted, NAMES) == {
            "vllm_model_name": "gemma",
            "model_name": "Gemma",
            "version_name": "v1",
        }
        proxy.end_outage()
