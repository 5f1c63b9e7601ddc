"""Reading what the operator wrote: ModelBindings, their conditions, the modelregistry labels."""

from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from registry_sync.demo.seed import ISVC_NAME
from support.cluster import Cluster
from support.cluster_objects import CustomResource

MODEL_BINDINGS = CustomResource("registry-sync.io", "v1alpha1", "modelbindings", "ModelBinding")

PREFIX = "modelregistry.opendatahub.io"
MODEL_ID = f"{PREFIX}/registered-model-id"
VERSION_ID = f"{PREFIX}/model-version-id"
REGISTRY_NAME = f"{PREFIX}/name"


def binding_or_none(
    api_client: client.ApiClient, namespace: str, name: str
) -> dict[str, Any] | None:
    try:
        return MODEL_BINDINGS.get(api_client, namespace, name)
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def condition(binding: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    """The condition of type `kind` in a binding's status, or None."""
    if binding is None:
        return None
    for found in binding.get("status", {}).get("conditions", []):
        if found.get("type") == kind:
            return dict(found)
    return None


def binding_ready(api_client: client.ApiClient, namespace: str, name: str = ISVC_NAME) -> bool:
    """Whether the binding exists and its Ready condition is True."""
    ready = condition(binding_or_none(api_client, namespace, name), "Ready")
    return bool(ready and ready["status"] == "True")


def wait_for_ready(
    kube: Cluster,
    namespace: str,
    status: str,
    reason: str,
    name: str = ISVC_NAME,
    *,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Wait until the binding's Ready condition has this status and reason; return the binding."""

    def reached() -> dict[str, Any] | None:
        binding = binding_or_none(kube.api_client, namespace, name)
        ready = condition(binding, "Ready")
        if ready and ready["status"] == status and ready["reason"] == reason:
            return binding
        return None

    binding: dict[str, Any] = kube.wait_for(
        reached, timeout=timeout, description=f"{namespace}/{name} Ready={status} ({reason})"
    )
    return binding
