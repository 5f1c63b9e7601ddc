"""`registry-sync audit` with the digest check, against the real apiserver, the registry
stand-in and a real OCI registry (CNCF distribution, Basic auth through a pull secret).

Pods exist as API objects only (no kubelet): each test writes a model pod's status as a
kubelet would (support/model_pods.py). The audit runs as a ServiceAccount that may read
InferenceServices, PipelineRuns, pods and the pull secret, and nothing else.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from integration.audit.audit_process import AuditRun, run_audit
from integration.audit.conftest import PULL_SECRET, Auditor
from integration.digests.test_image_digests import pull_secret
from registry_sync.registry.client import RegistryClient
from support.cluster import Cluster
from support.cluster_objects import INFERENCE_SERVICES, inference_service
from support.devregistry import RunningRegistry
from support.model_pods import start_model_pod
from support.oci_registry import RunningOciRegistry, unique_repository

pytestmark = [pytest.mark.cluster, pytest.mark.oci_registry]

PREFIX = "modelregistry.opendatahub.io"


@pytest.fixture
def oci(
    kube: Cluster, namespace: str, oci_registry_basic: RunningOciRegistry
) -> RunningOciRegistry:
    """The session's OCI registry, its login in the namespace's pull secret."""
    secret = pull_secret(oci_registry_basic, oci_registry_basic.password, "dockerconfigjson")
    kube.core.create_namespaced_secret(namespace, secret)
    return oci_registry_basic


async def register(registry: RunningRegistry, model: str, version: str, uri: str) -> dict[str, str]:
    """Register `uri` as `model`/`version`; the labels that name that version."""
    async with RegistryClient(registry.url) as client:
        registered = await client.create_registered_model(model)
        created = await client.create_model_version(registered.id, version)
        await client.create_model_artifact(created.id, name=f"{model}-{version}", uri=uri)
    return {
        f"{PREFIX}/registered-model-id": registered.id,
        f"{PREFIX}/model-version-id": created.id,
    }


def deploy(kube: Cluster, namespace: str, name: str, uri: str, labels: dict[str, str]) -> None:
    INFERENCE_SERVICES.create(
        kube.api_client, namespace, inference_service(name, storage_uri=uri, labels=labels)
    )


async def audit(
    namespace: str, registry: RunningRegistry, auditor: Auditor, oci: RunningOciRegistry, *args: str
) -> AuditRun:
    """The audit with the digest check's settings as `run` takes them (its mode left at
    the default, `report`)."""
    return await run_audit(
        "-n", namespace,
        "--registry-url", registry.url,
        "--kubeconfig", str(auditor.kubeconfig),
        "--pull-secret", PULL_SECRET,
        "--oci-ca-file", str(oci.ca_file),
        "--oci-hosts", oci.host,
        *args,
    )  # fmt: skip


def only_service(result: AuditRun) -> dict[str, Any]:
    (service,) = json.loads(result.stdout)["inferenceServices"]
    assert isinstance(service, dict)
    return service


async def test_the_same_image_registered_twice_is_reported_ambiguous(
    kube: Cluster,
    namespace: str,
    dev_registry: RunningRegistry,
    oci: RunningOciRegistry,
    digest_auditor: Auditor,
) -> None:
    original, copy = unique_repository("mistral"), unique_repository("mistral-copy")
    digest = oci.push_image(original, "w4a16-2501", seed="mistral")
    assert oci.push_image(copy, "w4a16-2501", seed="mistral") == digest
    deployed = f"oci://{oci.image_reference(original, 'w4a16-2501')}"
    labels = await register(
        dev_registry, "Mistral-Small-24B-Instruct", "quantized-w4a16-2501", deployed
    )
    twin = await register(
        dev_registry,
        "Mistral-24B-Instruct",
        "24b-w4a16-1gpu",
        f"oci://{oci.image_reference(copy, 'w4a16-2501')}",
    )
    deploy(kube, namespace, "mistral", deployed, labels)
    start_model_pod(kube, namespace, "mistral", deployed.removeprefix("oci://"), digest)

    result = await audit(namespace, dev_registry, digest_auditor, oci, "-o", "json")

    assert result.exit_code == 1, result.stdout + result.stderr
    service = only_service(result)
    assert (service["verdict"], service["registry"]["outcome"]) == ("ambiguous", "Ambiguous")
    assert {c["modelVersionId"] for c in service["registry"]["candidates"]} == {
        labels[f"{PREFIX}/model-version-id"],
        twin[f"{PREFIX}/model-version-id"],
    }
    assert (service["digest"]["reason"], service["digest"]["runningDigest"]) == (
        "DigestMatches",
        digest,
    )
    assert "registered more than once" in service["registry"]["message"]


async def test_a_moved_tag_is_a_mismatch_naming_both_digests(
    kube: Cluster,
    namespace: str,
    dev_registry: RunningRegistry,
    oci: RunningOciRegistry,
    digest_auditor: Auditor,
) -> None:
    repository = unique_repository("granite")
    running = oci.push_image(repository, "v1", seed="granite-1")
    other = oci.push_image(repository, "other", seed="granite-2")
    uri = f"oci://{oci.image_reference(repository, 'v1')}"
    deploy(kube, namespace, "granite", uri, await register(dev_registry, "Granite", "v1", uri))
    start_model_pod(kube, namespace, "granite", uri.removeprefix("oci://"), running)
    oci.tag(repository, "v1", other)  # re-pushed after deployment

    result = await audit(namespace, dev_registry, digest_auditor, oci)

    assert result.exit_code == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    row = next(line for line in lines if line.startswith("granite "))
    assert row.endswith("TagMoved"), row
    said = " ".join(line.strip() for line in lines)  # a digest may start a wrapped line
    assert f"digest TagMoved: running {running}, registered {other}" in said
    assert lines[-1] == "RESULT: 1 mismatch (InferenceServices: 1 TagMoved)"
    assert max(len(line) for line in lines) <= 120


async def test_a_match_exits_0_and_shows_the_running_digest(
    kube: Cluster,
    namespace: str,
    dev_registry: RunningRegistry,
    oci: RunningOciRegistry,
    digest_auditor: Auditor,
) -> None:
    repository = unique_repository("llama")
    digest = oci.push_image(repository, "v1", seed="llama")
    uri = f"oci://{oci.image_reference(repository, 'v1')}"
    deploy(kube, namespace, "llama", uri, await register(dev_registry, "Llama", "v1", uri))
    start_model_pod(kube, namespace, "llama", uri.removeprefix("oci://"), digest)

    result = await audit(namespace, dev_registry, digest_auditor, oci)

    assert result.exit_code == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert f"    digest DigestMatches: running {digest}" in lines
    assert lines[-1] == "RESULT: no mismatches"


async def test_pods_the_auditor_may_not_read_are_a_note_not_a_failure(
    kube: Cluster,
    namespace: str,
    dev_registry: RunningRegistry,
    oci: RunningOciRegistry,
    auditor: Auditor,
) -> None:
    repository = unique_repository("phi")
    digest = oci.push_image(repository, "v1", seed="phi")
    uri = f"oci://{oci.image_reference(repository, 'v1')}"
    deploy(kube, namespace, "phi", uri, await register(dev_registry, "Phi", "v1", uri))
    start_model_pod(kube, namespace, "phi", uri.removeprefix("oci://"), digest)

    result = await audit(namespace, dev_registry, auditor, oci, "-o", "json")

    assert result.exit_code == 0, result.stdout + result.stderr
    (note,) = json.loads(result.stdout)["notes"]
    assert note.startswith("pods could not be read: digests not checked (")
    assert only_service(result)["digest"]["reason"] == "Forbidden"
