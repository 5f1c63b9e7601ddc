"""How the operator treats InferenceServices, one behaviour per test, on the real apiserver."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from registry_sync.demo.seed import (
    DEPLOYED_URI,
    ISVC_NAME,
    ONE_GPU_URI,
    SeedIds,
    seed_inference_service,
)
from registry_sync.registry.client import RegistryClient
from support.bindings import (
    MODEL_BINDINGS,
    MODEL_ID,
    VERSION_ID,
    binding_or_none,
    condition,
    wait_for_ready,
)
from support.cluster import Cluster
from support.cluster_objects import INFERENCE_SERVICES, owner_reference
from support.devregistry import RunningRegistry
from support.operator import RunningOperator

pytestmark = pytest.mark.cluster


def labels_of(kube: Cluster, namespace: str, name: str = ISVC_NAME) -> dict[str, str]:
    labels: dict[str, str] = INFERENCE_SERVICES.get(kube.api_client, namespace, name)[
        "metadata"
    ].get("labels", {})
    return labels


def isvc(namespace: str, seed: SeedIds, **changes: Any) -> dict[str, Any]:
    """The seed InferenceService with metadata/spec changes applied."""
    body = seed_inference_service(namespace, seed)
    for key, value in changes.items():
        if key == "annotations":
            body["metadata"]["annotations"].update(value)
        elif key == "labels":
            body["metadata"]["labels"] = value
        elif key == "storage_uri":
            body["spec"]["predictor"]["model"]["storageUri"] = value
        elif key == "name":
            body["metadata"]["name"] = value
    return body


def merge_patch(
    kube: Cluster, namespace: str, patch: dict[str, Any], name: str = ISVC_NAME
) -> None:
    INFERENCE_SERVICES.merge_patch(kube.api_client, namespace, name, patch)


@pytest.fixture
async def second_claimant(seed: SeedIds, registry_client: RegistryClient) -> str:
    """Another live version whose artifact has the deployed URI (tag reuse); its id.

    Requested before `operator`, so the operator starts with it registered.
    """
    reused = await registry_client.create_registered_model("Mistral-Reupload")
    version = await registry_client.create_model_version(reused.id, "same-tag")
    await registry_client.create_model_artifact(version.id, name="same", uri=DEPLOYED_URI)
    return version.id


def test_two_live_versions_with_the_same_uri_are_ambiguous_and_labels_stay(
    kube: Cluster,
    namespace: str,
    seed: SeedIds,
    second_claimant: str,
    operator: RunningOperator,
) -> None:
    original = {MODEL_ID: seed.small_model, VERSION_ID: seed.optimized_version}
    INFERENCE_SERVICES.create(kube.api_client, namespace, isvc(namespace, seed))

    binding = wait_for_ready(kube, namespace, "False", "Ambiguous")

    candidates = {c["modelVersionId"] for c in binding["status"]["candidates"]}
    assert candidates == {seed.small_version, second_claimant}
    assert "tag reuse" in condition(binding, "Ready")["message"]  # type: ignore[index]
    assert {k: labels_of(kube, namespace).get(k) for k in original} == original


def test_an_unregistered_uri_is_not_registered_and_labels_stay(
    kube: Cluster, namespace: str, seed: SeedIds, operator: RunningOperator
) -> None:
    uri = "oci://quay.io/example/never-registered:1"
    INFERENCE_SERVICES.create(kube.api_client, namespace, isvc(namespace, seed, storage_uri=uri))

    binding = wait_for_ready(kube, namespace, "False", "NotRegistered")

    assert binding["status"]["storageUri"] == uri
    assert labels_of(kube, namespace)[VERSION_ID] == seed.optimized_version


async def test_a_uri_registered_after_deployment_is_resolved_without_a_restart(
    kube: Cluster,
    namespace: str,
    seed: SeedIds,
    registry_client: RegistryClient,
    operator: RunningOperator,
) -> None:
    uri = "oci://quay.io/example/registered-later:2"
    INFERENCE_SERVICES.create(kube.api_client, namespace, isvc(namespace, seed, storage_uri=uri))
    wait_for_ready(kube, namespace, "False", "NotRegistered")

    version = await registry_client.create_model_version(seed.comparison_model, "later")
    await registry_client.create_model_artifact(version.id, name="later", uri=uri)

    wait_for_ready(kube, namespace, "True", "Resolved")
    assert labels_of(kube, namespace)[VERSION_ID] == version.id


def test_a_pin_chooses_among_ambiguous_candidates(
    kube: Cluster,
    namespace: str,
    seed: SeedIds,
    second_claimant: str,
    operator: RunningOperator,
) -> None:
    pin = {"registry-sync.io/model-version-id": seed.small_version}
    INFERENCE_SERVICES.create(kube.api_client, namespace, isvc(namespace, seed, annotations=pin))

    binding = wait_for_ready(kube, namespace, "True", "Pinned")

    assert binding["status"]["modelVersionName"] == "quantized-w4a16-2501"
    assert labels_of(kube, namespace)[VERSION_ID] == seed.small_version


def test_a_pin_to_a_version_with_another_artifact_is_a_mismatch_and_labels_stay(
    kube: Cluster, namespace: str, seed: SeedIds, operator: RunningOperator
) -> None:
    pin = {"registry-sync.io/model-version-id": seed.one_gpu_version}
    INFERENCE_SERVICES.create(kube.api_client, namespace, isvc(namespace, seed, annotations=pin))

    wait_for_ready(kube, namespace, "False", "PinMismatch")

    assert labels_of(kube, namespace)[VERSION_ID] == seed.optimized_version


def test_a_storage_uri_change_moves_the_labels_to_the_new_version(
    kube: Cluster, namespace: str, seed: SeedIds, operator: RunningOperator
) -> None:
    INFERENCE_SERVICES.create(kube.api_client, namespace, isvc(namespace, seed))
    wait_for_ready(kube, namespace, "True", "Resolved")

    spec = copy.deepcopy(seed_inference_service(namespace, seed)["spec"])
    spec["predictor"]["model"]["storageUri"] = ONE_GPU_URI
    merge_patch(kube, namespace, {"spec": spec})

    kube.wait_for(
        lambda: labels_of(kube, namespace).get(VERSION_ID) == seed.one_gpu_version,
        timeout=30,
        description="labels moved to the 1-GPU version",
    )
    assert labels_of(kube, namespace)[MODEL_ID] == seed.mistral_model

    # The labels are patched before the binding's status: two writes, so wait for the second.
    def binding_status() -> dict[str, Any]:
        binding = binding_or_none(kube.api_client, namespace, ISVC_NAME)
        return dict((binding or {}).get("status") or {})

    kube.wait_for(
        lambda: binding_status().get("storageUri") == ONE_GPU_URI,
        timeout=30,
        description="binding status moved to the new storage URI",
    )
    assert binding_status()["modelVersionName"] == "24b-w4a16-1gpu"


def test_label_drift_is_corrected(
    kube: Cluster, namespace: str, seed: SeedIds, operator: RunningOperator
) -> None:
    INFERENCE_SERVICES.create(kube.api_client, namespace, isvc(namespace, seed))
    wait_for_ready(kube, namespace, "True", "Resolved")

    merge_patch(kube, namespace, {"metadata": {"labels": {VERSION_ID: "999"}}})

    kube.wait_for(
        lambda: labels_of(kube, namespace).get(VERSION_ID) == seed.small_version,
        timeout=30,
        description="drifted label corrected",
    )


def test_audit_mode_reports_without_touching_labels(
    kube: Cluster, namespace: str, seed: SeedIds, operator: RunningOperator
) -> None:
    audit = {"registry-sync.io/mode": "audit"}
    INFERENCE_SERVICES.create(kube.api_client, namespace, isvc(namespace, seed, annotations=audit))

    binding = wait_for_ready(kube, namespace, "True", "Resolved")

    labels_condition = condition(binding, "LabelsInSync")
    assert labels_condition is not None
    assert (labels_condition["status"], labels_condition["reason"]) == ("False", "AuditMode")
    assert labels_of(kube, namespace)[VERSION_ID] == seed.optimized_version


def test_a_gitops_revert_loop_ends_in_a_conflict_naming_the_labels_to_commit(
    kube: Cluster, namespace: str, seed: SeedIds, operator: RunningOperator
) -> None:
    INFERENCE_SERVICES.create(kube.api_client, namespace, isvc(namespace, seed))
    wrong = {MODEL_ID: seed.small_model, VERSION_ID: seed.optimized_version}
    # The first correction is the operator's own; each revert forces another. With the
    # default of 3 corrections per window, the third revert is left standing.
    for revert in range(3):
        kube.wait_for(
            lambda: labels_of(kube, namespace).get(VERSION_ID) == seed.small_version,
            timeout=30,
            description=f"correction before revert {revert + 1}",
        )
        merge_patch(kube, namespace, {"metadata": {"labels": wrong}})

    binding = wait_for_ready(kube, namespace, "False", "GitOpsConflict")

    assert binding["status"]["expectedLabels"][VERSION_ID] == seed.small_version
    time.sleep(2)  # two refresh periods: the operator must not correct again
    assert labels_of(kube, namespace)[VERSION_ID] == seed.optimized_version


def test_a_registry_outage_keeps_the_answer_and_the_labels(
    kube: Cluster,
    namespace: str,
    seed: SeedIds,
    dev_registry: RunningRegistry,
    operator: RunningOperator,
) -> None:
    INFERENCE_SERVICES.create(kube.api_client, namespace, isvc(namespace, seed))
    wait_for_ready(kube, namespace, "True", "Resolved")

    dev_registry.stop()
    binding = wait_for_ready(kube, namespace, "True", "RegistryUnavailable")
    assert binding["status"]["modelVersionId"] == seed.small_version
    assert labels_of(kube, namespace)[VERSION_ID] == seed.small_version

    dev_registry.restart()
    wait_for_ready(kube, namespace, "True", "Resolved")


def test_an_inference_service_without_the_annotation_is_left_alone(
    kube: Cluster, namespace: str, seed: SeedIds, operator: RunningOperator
) -> None:
    body = isvc(namespace, seed, name="not-opted-in")
    body["metadata"]["annotations"] = {}
    INFERENCE_SERVICES.create(kube.api_client, namespace, body)
    INFERENCE_SERVICES.create(kube.api_client, namespace, isvc(namespace, seed))
    wait_for_ready(kube, namespace, "True", "Resolved")  # the operator is working

    assert binding_or_none(kube.api_client, namespace, "not-opted-in") is None
    assert labels_of(kube, namespace, "not-opted-in")[VERSION_ID] == seed.optimized_version


def test_an_inference_service_in_another_namespace_is_left_alone(
    kube: Cluster, namespace: str, seed: SeedIds, operator: RunningOperator
) -> None:
    other = kube.create_namespace("other")
    try:
        INFERENCE_SERVICES.create(kube.api_client, other, isvc(other, seed))
        INFERENCE_SERVICES.create(kube.api_client, namespace, isvc(namespace, seed))
        wait_for_ready(kube, namespace, "True", "Resolved")

        assert binding_or_none(kube.api_client, other, ISVC_NAME) is None
        assert labels_of(kube, other)[VERSION_ID] == seed.optimized_version
    finally:
        kube.delete_namespace(other)


def test_removing_the_annotation_deletes_the_binding_and_keeps_the_labels(
    kube: Cluster, namespace: str, seed: SeedIds, operator: RunningOperator
) -> None:
    INFERENCE_SERVICES.create(kube.api_client, namespace, isvc(namespace, seed))
    wait_for_ready(kube, namespace, "True", "Resolved")

    merge_patch(kube, namespace, {"metadata": {"annotations": {"registry-sync.io/enabled": None}}})

    kube.wait_for(
        lambda: binding_or_none(kube.api_client, namespace, ISVC_NAME) is None,
        timeout=30,
        description="binding deleted",
    )
    assert labels_of(kube, namespace)[VERSION_ID] == seed.small_version


def test_deleting_the_inference_service_garbage_collects_its_binding(
    kube: Cluster, namespace: str, seed: SeedIds, operator: RunningOperator
) -> None:
    INFERENCE_SERVICES.create(kube.api_client, namespace, isvc(namespace, seed))
    wait_for_ready(kube, namespace, "True", "Resolved")

    INFERENCE_SERVICES.delete(kube.api_client, namespace, ISVC_NAME)

    kube.wait_for(
        lambda: binding_or_none(kube.api_client, namespace, ISVC_NAME) is None,
        timeout=60,
        description="binding garbage-collected",
    )


def test_the_operator_leaves_no_finalizers_or_bookkeeping_on_inference_services(
    kube: Cluster, namespace: str, seed: SeedIds, operator: RunningOperator
) -> None:
    INFERENCE_SERVICES.create(kube.api_client, namespace, isvc(namespace, seed))
    wait_for_ready(kube, namespace, "True", "Resolved")

    metadata = INFERENCE_SERVICES.get(kube.api_client, namespace, ISVC_NAME)["metadata"]
    assert metadata.get("finalizers", []) == []
    assert set(metadata.get("annotations", {})) == {"registry-sync.io/enabled"}
    assert "status" not in INFERENCE_SERVICES.get(kube.api_client, namespace, ISVC_NAME)


def test_a_binding_created_by_someone_else_meanwhile_is_adopted(
    kube: Cluster, namespace: str, seed: SeedIds, operator: RunningOperator
) -> None:
    body = isvc(namespace, seed)
    body["metadata"]["annotations"] = {}
    stored = INFERENCE_SERVICES.create(kube.api_client, namespace, body)
    # Appeared after the operator's start-up listing (an earlier operator's, say).
    MODEL_BINDINGS.create(
        kube.api_client,
        namespace,
        {
            "apiVersion": MODEL_BINDINGS.api_version,
            "kind": MODEL_BINDINGS.kind,
            "metadata": {"name": ISVC_NAME, "ownerReferences": [owner_reference(stored)]},
            "spec": {"inferenceServiceName": ISVC_NAME},
        },
    )

    merge_patch(
        kube, namespace, {"metadata": {"annotations": {"registry-sync.io/enabled": "true"}}}
    )

    binding = wait_for_ready(kube, namespace, "True", "Resolved")
    assert binding["metadata"]["ownerReferences"][0]["uid"] == stored["metadata"]["uid"]
