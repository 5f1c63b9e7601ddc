"""The custom resources the cluster tests create, as plain dicts, and a small typed
handle on their REST endpoints (the official client's CustomObjectsApi underneath)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from kubernetes import client, watch

DEMO_STORAGE_URI = (
    "oci://image-registry.openshift-image-registry.svc:5000/private-ai-demo/"
    "mistral-24b-quantized:w4a16-2501"
)


@dataclass(frozen=True)
class CustomResource:
    """One served version of a namespaced custom resource."""

    group: str
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    def _api(self, api_client: client.ApiClient) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(api_client)

    def create(
        self,
        api_client: client.ApiClient,
        namespace: str,
        body: Mapping[str, Any],
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Create the object; return it as stored (or as it would be, for a dry run)."""
        created = self._api(api_client).create_namespaced_custom_object(
            self.group,
            self.version,
            namespace,
            self.plural,
            dict(body),
            dry_run="All" if dry_run else None,
        )
        return cast(dict[str, Any], created)

    def get(self, api_client: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
        found = self._api(api_client).get_namespaced_custom_object(
            self.group, self.version, namespace, self.plural, name
        )
        return cast(dict[str, Any], found)

    def merge_patch(
        self,
        api_client: client.ApiClient,
        namespace: str,
        name: str,
        patch: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Apply a JSON merge patch (RFC 7386); return the object as stored."""
        patched = self._api(api_client).patch_namespaced_custom_object(
            self.group,
            self.version,
            namespace,
            self.plural,
            name,
            dict(patch),
            _content_type="application/merge-patch+json",
        )
        return cast(dict[str, Any], patched)

    def watch_for(
        self,
        api_client: client.ApiClient,
        namespace: str,
        matches: Callable[[str, dict[str, Any]], bool],
        *,
        since: str,
        timeout_seconds: int = 30,
    ) -> dict[str, Any] | None:
        """Watch the namespace from resourceVersion `since` and return the first object
        whose event satisfies `matches(event_type, object)`, or None after the timeout."""
        stream = watch.Watch()
        for event in stream.stream(
            self._api(api_client).list_namespaced_custom_object,
            self.group,
            self.version,
            namespace,
            self.plural,
            resource_version=since,
            timeout_seconds=timeout_seconds,
        ):
            found: dict[str, Any] = event["object"]
            if matches(event["type"], found):
                stream.stop()
                return found
        return None

    def delete(self, api_client: client.ApiClient, namespace: str, name: str) -> None:
        self._api(api_client).delete_namespaced_custom_object(
            self.group, self.version, namespace, self.plural, name
        )


INFERENCE_SERVICES = CustomResource(
    "serving.kserve.io", "v1beta1", "inferenceservices", "InferenceService"
)
LLM_INFERENCE_SERVICES = CustomResource(
    "serving.kserve.io", "v1alpha2", "llminferenceservices", "LLMInferenceService"
)
PIPELINE_RUNS = CustomResource("tekton.dev", "v1", "pipelineruns", "PipelineRun")
PIPELINE_RUNS_V1BETA1 = CustomResource("tekton.dev", "v1beta1", "pipelineruns", "PipelineRun")


def inference_service(
    name: str,
    *,
    storage_uri: str = DEMO_STORAGE_URI,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """An InferenceService serving `storage_uri` through KServe's vLLM runtime."""
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = dict(labels)
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "apiVersion": INFERENCE_SERVICES.api_version,
        "kind": INFERENCE_SERVICES.kind,
        "metadata": metadata,
        "spec": {
            "predictor": {
                "model": {
                    "modelFormat": {"name": "vLLM"},
                    "runtime": "vllm-cuda-runtime",
                    "storageUri": storage_uri,
                }
            }
        },
    }


def pipeline_run(
    name: str,
    params: Sequence[Mapping[str, Any]] = (),
    *,
    labels: Mapping[str, str] | None = None,
    resource: CustomResource = PIPELINE_RUNS,
) -> dict[str, Any]:
    """A PipelineRun of a `model-testing` pipeline with the given params."""
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = dict(labels)
    return {
        "apiVersion": resource.api_version,
        "kind": resource.kind,
        "metadata": metadata,
        "spec": {
            "pipelineRef": {"name": "model-testing"},
            "params": [dict(param) for param in params],
        },
    }


def params_of(run: Mapping[str, Any]) -> dict[str, Any]:
    """A PipelineRun's params as {name: value}."""
    return {param["name"]: param["value"] for param in run.get("spec", {}).get("params", [])}


def owner_reference(
    owner: Mapping[str, Any], *, block_owner_deletion: bool = False
) -> dict[str, Any]:
    """An ownerReference to `owner` (a stored object, so it has a uid)."""
    reference: dict[str, Any] = {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
    }
    if block_owner_deletion:
        reference["blockOwnerDeletion"] = True
    return reference


def llm_inference_service(
    name: str,
    namespace: str,
    uri: str,
    *,
    served_name: str | None = None,
    lora_adapters: tuple[str, ...] = (),
    opted_in: bool = True,
) -> dict[str, Any]:
    """An LLMInferenceService (v1alpha2) deploying `uri`, served as `served_name` when given."""
    model: dict[str, Any] = {"uri": uri}
    if served_name is not None:
        model["name"] = served_name
    if lora_adapters:
        model["lora"] = {"adapters": [{"uri": adapter} for adapter in lora_adapters]}
    annotations = {"registry-sync.io/enabled": "true"} if opted_in else {}
    return {
        "apiVersion": LLM_INFERENCE_SERVICES.api_version,
        "kind": LLM_INFERENCE_SERVICES.kind,
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
        "spec": {"model": model},
    }
