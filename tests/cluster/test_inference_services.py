"""InferenceServices on the test control plane behave as the operator needs them to."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from support.cluster import Cluster
from support.cluster_objects import INFERENCE_SERVICES, inference_service, owner_reference

pytestmark = pytest.mark.cluster

MODEL_VERSION_LABEL = "modelregistry.opendatahub.io/model-version-id"


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = obj["metadata"].get("labels", {})
    return labels


def test_a_label_merge_patch_arrives_through_a_watch(kube: Cluster, namespace: str) -> None:
    created = INFERENCE_SERVICES.create(kube.api_client, namespace, inference_service("mistral"))

    INFERENCE_SERVICES.merge_patch(
        kube.api_client, namespace, "mistral", {"metadata": {"labels": {MODEL_VERSION_LABEL: "5"}}}
    )

    seen = INFERENCE_SERVICES.watch_for(
        kube.api_client,
        namespace,
        lambda kind, isvc: kind == "MODIFIED" and _labels(isvc).get(MODEL_VERSION_LABEL) == "5",
        since=created["metadata"]["resourceVersion"],
    )

    assert seen is not None, "no MODIFIED event carrying the patched label within 30 s"
    assert seen["spec"] == created["spec"]


def test_an_object_it_owns_is_garbage_collected_with_it(kube: Cluster, namespace: str) -> None:
    owner = INFERENCE_SERVICES.create(kube.api_client, namespace, inference_service("mistral"))
    kube.core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(
                name="owned-by-mistral",
                owner_references=[client.V1OwnerReference(**owner_reference(owner))],
            )
        ),
    )

    INFERENCE_SERVICES.delete(kube.api_client, namespace, "mistral")

    def config_map_gone() -> bool:
        try:
            kube.core.read_namespaced_config_map("owned-by-mistral", namespace)
        except ApiException as error:
            if error.status == 404:
                return True
            raise
        return False

    kube.wait_for(config_map_gone, timeout=60, description="the owned ConfigMap collected")


def test_kubectl_lists_it_with_its_printer_columns(kube: Cluster, namespace: str) -> None:
    INFERENCE_SERVICES.create(kube.api_client, namespace, inference_service("mistral"))

    table = kube.kubectl("get", "isvc", "--namespace", namespace).stdout

    header, row = table.splitlines()[:2]
    assert header.split()[:3] == ["NAME", "URL", "READY"]
    assert row.split()[0] == "mistral"
