"""`--webhook off` at a cold start: running runs with the right params are left alone.

At start-up the runs' watch events arrive together with those of their InferenceServices.
With many InferenceServices, a run's target may not be reconciled within the short wait the
admission path allows; the guard must then wait for it rather than cancel a correct run as
"no such InferenceService" (found by bench/scale.py: at 500 InferenceServices, 39 of 50
running model-testing runs with the right params were cancelled). Runs that are wrong must
still be cancelled once the InferenceServices are known.

Whether a run's event beats its target's reconciliation depends on the machine's speed; the
ordering itself is pinned down in tests/unit/controller/test_pipeline_run_guard_startup.py.
This test proves the start-up listing (metadata only) works against a real apiserver and
holds no decision forever.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from registry_sync.registry.client import RegistryClient
from support.cluster import Cluster
from support.cluster_objects import INFERENCE_SERVICES, PIPELINE_RUNS
from support.devregistry import RunningRegistry
from support.operator import start_operator

pytestmark = pytest.mark.cluster

SERVICES = 60
CANCELLED_BECAUSE = "registry-sync.io/cancelled-because"


async def register(client: RegistryClient, count: int) -> list[tuple[str, str, str]]:
    """`count` versions with one artifact each: (uri, model name, version name)."""
    registered = []
    model = None
    for number in range(count):
        if number % 10 == 0:
            model = await client.create_registered_model(f"cold-start-model-{number // 10}")
        assert model is not None
        version = await client.create_model_version(model.id, f"v{number}")
        uri = f"oci://quay.io/example/cold-start:v{number}"
        await client.create_model_artifact(version.id, name=f"artifact-{number}", uri=uri)
        registered.append((uri, model.name, f"v{number}"))
    return registered


def inference_service(namespace: str, name: str, uri: str) -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {"registry-sync.io/enabled": "true"},
        },
        "spec": {"predictor": {"model": {"modelFormat": {"name": "vLLM"}, "storageUri": uri}}},
    }


def running_run(namespace: str, name: str, target: str, model: str, version: str) -> dict[str, Any]:
    """A started (not pending, not finished) model-testing run of `target`."""
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"registry-sync.io/inference-service": target},
        },
        "spec": {
            "pipelineRef": {"name": "model-testing"},
            "params": [
                {"name": "vllm_model_name", "value": target},
                {"name": "model_name", "value": model},
                {"name": "version_name", "value": version},
            ],
        },
    }


def cancelled_runs(kube: Cluster, namespace: str) -> set[str]:
    listed = kube.custom_objects.list_namespaced_custom_object(
        "tekton.dev", "v1", namespace, "pipelineruns"
    )
    return {
        item["metadata"]["name"]
        for item in listed["items"]
        if CANCELLED_BECAUSE in (item["metadata"].get("annotations") or {})
    }


def ready_bindings(kube: Cluster, namespace: str) -> int:
    try:
        listed = kube.custom_objects.list_namespaced_custom_object(
            "registry-sync.io", "v1alpha1", namespace, "modelbindings"
        )
    except ApiException:
        return 0
    return sum(
        1
        for item in listed["items"]
        for c in (item.get("status") or {}).get("conditions") or []
        if c.get("type") == "Ready" and c.get("status") == "True"
    )


async def test_a_cold_start_cancels_no_running_run_whose_params_are_right(
    kube: Cluster,
    namespace: str,
    dev_registry: RunningRegistry,
    registry_client: RegistryClient,
    tmp_path: Path,
) -> None:
    registered = await register(registry_client, SERVICES)
    right = set()
    for number, (uri, model, version) in enumerate(registered):
        name = f"isvc-{number:03d}"
        INFERENCE_SERVICES.create(
            kube.api_client, namespace, inference_service(namespace, name, uri)
        )
        run = running_run(namespace, f"right-{number:03d}", name, model, version)
        PIPELINE_RUNS.create(kube.api_client, namespace, run)
        right.add(run["metadata"]["name"])
    _, model, version = registered[0]
    wrong = running_run(namespace, "wrong-version", "isvc-000", model, "v-other")
    unknown = running_run(namespace, "unknown-target", "no-such-isvc", model, version)
    for run in (wrong, unknown):
        PIPELINE_RUNS.create(kube.api_client, namespace, run)

    extra = ["--webhook", "off"]
    with start_operator(
        kube, namespace, dev_registry.url, tmp_path / "operator.log", extra_args=extra
    ) as operator:
        kube.wait_for(
            lambda: {"wrong-version", "unknown-target"} <= cancelled_runs(kube, namespace),
            timeout=300,
            description="the wrong runs cancelled",
        )
        kube.wait_for(
            lambda: ready_bindings(kube, namespace) == SERVICES,
            timeout=300,
            description=f"{SERVICES} bindings Ready",
        )
        assert cancelled_runs(kube, namespace) & right == set()
        assert "decided without waiting" not in operator.log()  # the listing worked
