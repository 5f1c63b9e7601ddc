"""Kubernetes writes the operator makes, through the official (synchronous) client.

Every call here blocks: async code reaches it through `asyncio.to_thread`, never directly.
Nothing here decides anything; callers pass in what the domain core decided.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

ISVC_GROUP, ISVC_VERSION, ISVC_PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
BINDING_GROUP, BINDING_VERSION, BINDING_PLURAL = "registry-sync.io", "v1alpha1", "modelbindings"
BINDING_KIND = "ModelBinding"
RUN_GROUP, RUN_VERSION, RUN_PLURAL = "tekton.dev", "v1", "pipelineruns"
MERGE_PATCH = "application/merge-patch+json"


class KubeWriteError(RuntimeError):
    """A write to the apiserver failed; the message names the object and the status."""

    def __init__(self, action: str, target: str, error: ApiException) -> None:
        self.status = error.status
        self.forbidden = error.status == 403
        self.conflict = error.status == 409
        self.gone = error.status == 404
        detail = _api_message(error)
        super().__init__(f"{action} {target}: HTTP {error.status} {detail}".rstrip())


def _api_message(error: ApiException) -> str:
    try:
        return str(json.loads(error.body or "{}").get("message", error.reason or ""))
    except (ValueError, AttributeError):
        return str(error.reason or "")


def load_api_client(kubeconfig: str | None = None) -> client.ApiClient:
    """In a pod: the service account; elsewhere: the kubeconfig (KUBECONFIG or ~/.kube/config)."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    return client.ApiClient(configuration)


@dataclass(frozen=True, slots=True)
class ObjectRef:
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class KubeObjects:
    """The handful of API calls the operator makes, each mapped to `KubeWriteError` on failure."""

    def __init__(self, api_client: client.ApiClient, component: str = "registry-sync") -> None:
        self._custom = client.CustomObjectsApi(api_client)
        self._core = client.CoreV1Api(api_client)
        self._component = component

    def patch_inference_service_labels(
        self, ref: ObjectRef, labels: Mapping[str, str | None], resource_version: str | None
    ) -> dict[str, Any]:
        """Merge-patch labels only (spec is atomic in KServe's CRD: never touch it).

        With a resource version the patch applies only to the object the decision was made
        from; a 409 then means "look again", never "apply anyway".
        """
        metadata: dict[str, Any] = {"labels": dict(labels)}
        if resource_version:
            metadata["resourceVersion"] = resource_version
        try:
            result: dict[str, Any] = self._custom.patch_namespaced_custom_object(
                ISVC_GROUP, ISVC_VERSION, ref.namespace, ISVC_PLURAL, ref.name,
                {"metadata": metadata}, _content_type=MERGE_PATCH,
            )  # fmt: skip
        except ApiException as error:
            raise KubeWriteError("patching labels of InferenceService", str(ref), error) from None
        return result

    def find_binding(self, ref: ObjectRef) -> dict[str, Any] | None:
        """One ModelBinding by name, through `list` (the Role grants no `get`)."""
        try:
            result = self._custom.list_namespaced_custom_object(
                BINDING_GROUP, BINDING_VERSION, ref.namespace, BINDING_PLURAL,
                field_selector=f"metadata.name={ref.name}",
            )  # fmt: skip
        except ApiException as error:
            raise KubeWriteError("looking up ModelBinding", str(ref), error) from None
        items: list[dict[str, Any]] = result.get("items", [])
        return items[0] if items else None

    def list_bindings(self, namespace: str) -> list[dict[str, Any]]:
        try:
            result = self._custom.list_namespaced_custom_object(
                BINDING_GROUP, BINDING_VERSION, namespace, BINDING_PLURAL
            )
        except ApiException as error:
            raise KubeWriteError("listing ModelBindings in", namespace, error) from None
        items: list[dict[str, Any]] = result.get("items", [])
        return items

    def create_binding(self, body: Mapping[str, Any]) -> dict[str, Any]:
        namespace = body["metadata"]["namespace"]
        try:
            result: dict[str, Any] = self._custom.create_namespaced_custom_object(
                BINDING_GROUP, BINDING_VERSION, namespace, BINDING_PLURAL, dict(body)
            )
        except ApiException as error:
            target = f"{namespace}/{body['metadata']['name']}"
            raise KubeWriteError("creating ModelBinding", target, error) from None
        return result

    def patch_binding_status(self, ref: ObjectRef, status: Mapping[str, Any]) -> dict[str, Any]:
        try:
            result: dict[str, Any] = self._custom.patch_namespaced_custom_object_status(
                BINDING_GROUP, BINDING_VERSION, ref.namespace, BINDING_PLURAL, ref.name,
                {"status": dict(status)}, _content_type=MERGE_PATCH,
            )  # fmt: skip
        except ApiException as error:
            raise KubeWriteError("updating status of ModelBinding", str(ref), error) from None
        return result

    def delete_binding(self, ref: ObjectRef) -> None:
        try:
            self._custom.delete_namespaced_custom_object(
                BINDING_GROUP, BINDING_VERSION, ref.namespace, BINDING_PLURAL, ref.name
            )
        except ApiException as error:
            if error.status != 404:
                raise KubeWriteError("deleting ModelBinding", str(ref), error) from None

    def post_event(self, subject: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        """Record a core/v1 Event about `subject` (apiVersion, kind, name, namespace, uid)."""
        metadata = subject["metadata"]
        now = datetime.now(UTC)
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "generateName": f"{metadata['name']}.",
                "namespace": metadata["namespace"],
            },
            "involvedObject": {
                "apiVersion": subject["apiVersion"],
                "kind": subject["kind"],
                "name": metadata["name"],
                "namespace": metadata["namespace"],
                "uid": metadata.get("uid"),
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": self._component},
            "reportingComponent": self._component,
            "reportingInstance": self._component,
            "firstTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lastTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "count": 1,
        }
        try:
            self._core.create_namespaced_event(metadata["namespace"], body)
        except ApiException as error:
            raise KubeWriteError(
                "posting Event about", f"{metadata['namespace']}/{metadata['name']}", error
            ) from None

    def create_pipeline_run(self, body: Mapping[str, Any]) -> bool:
        """Create a PipelineRun; False when one of that name exists already."""
        namespace = body["metadata"]["namespace"]
        try:
            self._custom.create_namespaced_custom_object(
                RUN_GROUP, RUN_VERSION, namespace, RUN_PLURAL, dict(body)
            )
        except ApiException as error:
            if error.status == 409:
                return False
            target = f"{namespace}/{body['metadata']['name']}"
            raise KubeWriteError("creating PipelineRun", target, error) from None
        return True

    def patch_pipeline_run(self, ref: ObjectRef, patch: Mapping[str, Any]) -> None:
        try:
            self._custom.patch_namespaced_custom_object(
                RUN_GROUP, RUN_VERSION, ref.namespace, RUN_PLURAL, ref.name,
                dict(patch), _content_type=MERGE_PATCH,
            )  # fmt: skip
        except ApiException as error:
            raise KubeWriteError("patching PipelineRun", str(ref), error) from None
