"""OwnerReferencesPermissionEnforcement is on, as on OpenShift: an owner reference with
`blockOwnerDeletion` needs permission to update the owner's `finalizers` subresource."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from support.cluster import Cluster
from support.cluster_objects import INFERENCE_SERVICES, inference_service, owner_reference

pytestmark = pytest.mark.cluster

CONFIG_MAP_WRITER = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "get"]}
INFERENCE_SERVICE_FINALIZERS = {
    "apiGroups": ["serving.kserve.io"],
    "resources": ["inferenceservices/finalizers"],
    "verbs": ["update"],
}


def _service_account_client(
    kube: Cluster, namespace: str, rules: list[dict[str, Any]]
) -> client.CoreV1Api:
    """A client authenticated by a real TokenRequest token of a new ServiceAccount holding
    `rules`, returned once RBAC lets it create ConfigMaps."""
    kube.create_service_account(namespace, "writer")
    kube.grant(namespace, "writer", rules)
    core = client.CoreV1Api(kube.client_for_token(kube.create_token(namespace, "writer")))

    def may_create_config_maps() -> bool:
        probe = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="rbac-probe"))
        try:
            core.create_namespaced_config_map(namespace, probe, dry_run="All")
        except ApiException as error:
            if error.status == 403:
                return False
            raise
        return True

    kube.wait_for(may_create_config_maps, description="the writer's RBAC in effect")
    return core


def _owned_config_map(owner: dict[str, Any]) -> client.V1ConfigMap:
    reference = owner_reference(owner, block_owner_deletion=True)
    return client.V1ConfigMap(
        metadata=client.V1ObjectMeta(
            name="binding", owner_references=[client.V1OwnerReference(**reference)]
        )
    )


def test_block_owner_deletion_is_refused_without_finalizers_permission(
    kube: Cluster, namespace: str
) -> None:
    owner = INFERENCE_SERVICES.create(kube.api_client, namespace, inference_service("mistral"))
    writer = _service_account_client(kube, namespace, [CONFIG_MAP_WRITER])

    with pytest.raises(ApiException) as refused:
        writer.create_namespaced_config_map(namespace, _owned_config_map(owner))

    assert refused.value.status == 403
    assert "blockOwnerDeletion" in (refused.value.body or "")


def test_block_owner_deletion_is_allowed_with_finalizers_permission(
    kube: Cluster, namespace: str
) -> None:
    owner = INFERENCE_SERVICES.create(kube.api_client, namespace, inference_service("mistral"))
    writer = _service_account_client(
        kube, namespace, [CONFIG_MAP_WRITER, INFERENCE_SERVICE_FINALIZERS]
    )

    # Both rules come in one Role: once ConfigMaps may be created, finalizers may be updated.
    created = writer.create_namespaced_config_map(namespace, _owned_config_map(owner))

    references = created.metadata.owner_references or []
    assert [(r.name, r.block_owner_deletion) for r in references] == [("mistral", True)]


def test_a_token_request_token_authenticates_as_its_service_account(
    kube: Cluster, namespace: str
) -> None:
    kube.create_service_account(namespace, "reader")
    api_client = kube.client_for_token(kube.create_token(namespace, "reader"))

    review = client.AuthenticationV1Api(api_client).create_self_subject_review(
        client.V1SelfSubjectReview()
    )

    assert review.status.user_info.username == f"system:serviceaccount:{namespace}:reader"
