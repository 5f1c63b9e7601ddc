"""The digest check end to end: the operator against the real apiserver, the registry
stand-in and a real OCI registry (CNCF distribution, Basic auth through a pull secret).

Pods exist as API objects only (no kubelet): each test writes a model pod's status as a
kubelet would, with the `imageID` a runtime reports for the ModelCar container.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integration.operator.faults_support import labels_of, try_run
from registry_sync.registry.client import RegistryClient
from support.bindings import binding_or_none, condition, wait_for_ready
from support.cluster import Cluster
from support.cluster_objects import INFERENCE_SERVICES
from support.devregistry import RunningRegistry
from support.model_pods import start_model_pod
from support.oci_registry import RunningOciRegistry, start_oci_registry, unique_repository
from support.operator import RunningOperator, start_operator

pytestmark = [pytest.mark.cluster, pytest.mark.oci_registry]

PULL_SECRET = "model-images"
PARAMS = {"vllm_model_name": "x", "model_name": "y", "version_name": "z"}


def pull_secret(oci: RunningOciRegistry, password: str, kind: str) -> dict[str, Any]:
    auth = base64.b64encode(f"{oci.username}:{password}".encode()).decode()
    if kind == "dockercfg":
        key, document = ".dockercfg", {oci.host: {"auth": auth}}
    else:
        key, document = ".dockerconfigjson", {"auths": {oci.host: {"auth": auth}}}
    return {
        "metadata": {"name": PULL_SECRET},
        "type": f"kubernetes.io/{kind}",
        "data": {key: base64.b64encode(json.dumps(document).encode()).decode()},
    }


@contextlib.contextmanager
def digest_operator(
    kube: Cluster,
    namespace: str,
    dev_registry: RunningRegistry,
    oci: RunningOciRegistry,
    tmp_path: Path,
    *,
    password: str | None = None,
    kind: str = "dockerconfigjson",
) -> Iterator[RunningOperator]:
    kube.core.create_namespaced_secret(namespace, pull_secret(oci, password or oci.password, kind))
    with start_operator(
        kube,
        namespace,
        dev_registry.url,
        tmp_path / "operator.log",
        extra_args=[
            "--refresh-seconds", "1",
            "--digest-check", "report",
            "--digest-ttl-seconds", "1",
            "--oci-ca-file", str(oci.ca_file),
            "--pull-secret", PULL_SECRET,
        ],
    ) as running:  # fmt: skip
        yield running


@pytest.fixture
def operator(
    kube: Cluster,
    namespace: str,
    dev_registry: RunningRegistry,
    oci_registry_basic: RunningOciRegistry,
    tmp_path: Path,
) -> Iterator[RunningOperator]:
    with digest_operator(kube, namespace, dev_registry, oci_registry_basic, tmp_path) as running:
        yield running


async def register(client: RegistryClient, model: str, version: str, uri: str) -> str:
    registered = await client.create_registered_model(model)
    created = await client.create_model_version(registered.id, version)
    await client.create_model_artifact(created.id, name=f"{model}-{version}", uri=uri)
    return created.id


def deploy(kube: Cluster, namespace: str, name: str, uri: str) -> None:
    INFERENCE_SERVICES.create(
        kube.api_client,
        namespace,
        {
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "metadata": {"name": name, "annotations": {"registry-sync.io/enabled": "true"}},
            "spec": {"predictor": {"model": {"modelFormat": {"name": "vLLM"}, "storageUri": uri}}},
        },
    )


def wait_for_digest(kube: Cluster, namespace: str, name: str, reason: str) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        binding = binding_or_none(kube.api_client, namespace, name)
        verified = condition(binding, "DigestVerified")
        return binding if verified and verified["reason"] == reason else None

    found: dict[str, Any] = kube.wait_for(
        reached, timeout=30, description=f"{namespace}/{name} DigestVerified {reason}"
    )
    return found


async def test_the_same_image_registered_twice_is_ambiguous(
    kube: Cluster,
    namespace: str,
    registry_client: RegistryClient,
    oci_registry_basic: RunningOciRegistry,
    operator: RunningOperator,
) -> None:
    oci = oci_registry_basic
    original, copy = unique_repository("mistral"), unique_repository("mistral-copy")
    digest = oci.push_image(original, "w4a16-2501", seed="mistral")
    assert oci.push_image(copy, "w4a16-2501", seed="mistral") == digest
    deployed = f"oci://{oci.image_reference(original, 'w4a16-2501')}"
    first = await register(
        registry_client, "Mistral-Small-24B-Instruct", "quantized-w4a16-2501", deployed
    )
    second = await register(
        registry_client,
        "Mistral-24B-Instruct",
        "24b-w4a16-1gpu",
        f"oci://{oci.image_reference(copy, 'w4a16-2501')}",
    )

    deploy(kube, namespace, "mistral", deployed)
    start_model_pod(kube, namespace, "mistral", deployed[6:], digest, pod="mistral-predictor-0")

    binding = wait_for_ready(kube, namespace, "False", "Ambiguous", name="mistral")
    assert {c["modelVersionId"] for c in binding["status"]["candidates"]} == {first, second}
    assert "registered more than once" in binding["status"]["message"]
    denied = try_run(kube, namespace, "mistral", PARAMS)
    assert isinstance(denied, str) and "Ambiguous" in denied, denied
    # Labelled from the URI answer before its pod ran; never moved to a guessed twin.
    assert second not in labels_of(kube, namespace, "mistral")


async def test_a_moved_tag_is_refused_until_it_moves_back(
    kube: Cluster,
    namespace: str,
    registry_client: RegistryClient,
    oci_registry_basic: RunningOciRegistry,
    operator: RunningOperator,
) -> None:
    oci = oci_registry_basic
    repository = unique_repository("granite")
    running = oci.push_image(repository, "v1", seed="granite-1")
    other = oci.push_image(repository, "other", seed="granite-2")
    uri = f"oci://{oci.image_reference(repository, 'v1')}"
    version = await register(registry_client, "Granite", "v1", uri)
    deploy(kube, namespace, "granite", uri)
    start_model_pod(kube, namespace, "granite", uri[6:], running, pod="granite-predictor-0")

    binding = wait_for_digest(kube, namespace, "granite", "DigestMatches")
    assert condition(binding, "Ready")["reason"] == "Resolved"  # type: ignore[index]
    assert binding["status"]["runningDigest"] == running
    assert binding["status"]["registeredDigest"] == running
    labelled = labels_of(kube, namespace, "granite")
    assert version in labelled

    oci.tag(repository, "v1", other)  # re-pushed after deployment
    moved = wait_for_ready(kube, namespace, "False", "TagMoved", name="granite")
    assert running in moved["status"]["conditions"][-1]["message"]
    assert other in moved["status"]["conditions"][-1]["message"]
    denied = try_run(kube, namespace, "granite", PARAMS)
    assert isinstance(denied, str) and "TagMoved" in denied, denied
    assert labels_of(kube, namespace, "granite") == labelled

    oci.tag(repository, "v1", running)
    wait_for_ready(kube, namespace, "True", "Resolved", name="granite")

    start_model_pod(kube, namespace, "granite", uri[6:], other, pod="granite-predictor-1")
    wait_for_ready(kube, namespace, "False", "RolloutInProgress", name="granite")
    kube.core.delete_namespaced_pod("granite-predictor-1", namespace, grace_period_seconds=0)
    wait_for_ready(kube, namespace, "True", "Resolved", name="granite")


async def test_a_pull_secret_in_the_old_dockercfg_form_works(
    kube: Cluster,
    namespace: str,
    dev_registry: RunningRegistry,
    registry_client: RegistryClient,
    oci_registry_basic: RunningOciRegistry,
    tmp_path: Path,
) -> None:
    oci = oci_registry_basic
    repository = unique_repository("phi")
    digest = oci.push_image(repository, "v1", seed="phi")
    uri = f"oci://{oci.image_reference(repository, 'v1')}"
    await register(registry_client, "Phi", "v1", uri)
    with digest_operator(kube, namespace, dev_registry, oci, tmp_path, kind="dockercfg"):
        deploy(kube, namespace, "phi", uri)
        start_model_pod(kube, namespace, "phi", uri[6:], digest, pod="phi-predictor-0")
        binding = wait_for_digest(kube, namespace, "phi", "DigestMatches")
        assert binding["status"]["registeredDigest"] == digest


async def test_a_wrong_pull_secret_says_so_on_the_binding(
    kube: Cluster,
    namespace: str,
    dev_registry: RunningRegistry,
    registry_client: RegistryClient,
    oci_registry_basic: RunningOciRegistry,
    tmp_path: Path,
) -> None:
    oci = oci_registry_basic
    repository = unique_repository("llama")
    digest = oci.push_image(repository, "v1", seed="llama")
    uri = f"oci://{oci.image_reference(repository, 'v1')}"
    await register(registry_client, "Llama", "v1", uri)
    with digest_operator(kube, namespace, dev_registry, oci, tmp_path, password="not-the-password"):
        deploy(kube, namespace, "llama", uri)
        start_model_pod(kube, namespace, "llama", uri[6:], digest, pod="llama-predictor-0")
        binding = wait_for_digest(kube, namespace, "llama", "DigestUnknown")
        verified = condition(binding, "DigestVerified")
        assert verified is not None and verified["status"] == "Unknown"
        assert oci.host in verified["message"] and "401" in verified["message"], verified
        # report mode: the URI answer still serves
        assert condition(binding, "Ready")["status"] == "True"  # type: ignore[index]


async def test_an_oci_registry_outage_keeps_the_last_digest_with_its_age(
    kube: Cluster,
    namespace: str,
    dev_registry: RunningRegistry,
    registry_client: RegistryClient,
    tmp_path: Path,
) -> None:
    # Its own registry (Bearer token auth), since the test stops it.
    (tmp_path / "oci").mkdir()
    with start_oci_registry(tmp_path / "oci", "bearer") as oci:
        repository = unique_repository("qwen")
        digest = oci.push_image(repository, "v1", seed="qwen")
        uri = f"oci://{oci.image_reference(repository, 'v1')}"
        await register(registry_client, "Qwen", "v1", uri)
        with digest_operator(kube, namespace, dev_registry, oci, tmp_path):
            deploy(kube, namespace, "qwen", uri)
            start_model_pod(kube, namespace, "qwen", uri[6:], digest, pod="qwen-predictor-0")
            wait_for_digest(kube, namespace, "qwen", "DigestMatches")
            labelled = labels_of(kube, namespace, "qwen")

            oci.stop()
            binding = wait_for_digest(kube, namespace, "qwen", "DigestCached")
            verified = condition(binding, "DigestVerified")
            assert verified is not None and verified["status"] == "True"
            assert " ago" in verified["message"], verified
            assert binding["status"]["registeredDigest"] == digest
            assert condition(binding, "Ready")["status"] == "True"  # type: ignore[index]
            assert labels_of(kube, namespace, "qwen") == labelled
            admitted = try_run(kube, namespace, "qwen", PARAMS)
            assert isinstance(admitted, dict), admitted
