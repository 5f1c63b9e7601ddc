"""The real apiserver calls the operator's webhook on PipelineRun CREATE."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from registry_sync.demo.seed import (
    ISVC_NAME,
    MISTRAL_MODEL,
    ONE_GPU_VERSION,
    RUN_NAME,
    SeedIds,
    seed_inference_service,
    seed_pipeline_run,
)
from support.bindings import binding_or_none, condition
from support.cluster import Cluster
from support.cluster_objects import (
    INFERENCE_SERVICES,
    PIPELINE_RUNS,
    PIPELINE_RUNS_V1BETA1,
    CustomResource,
    params_of,
)
from support.devregistry import RunningRegistry
from support.operator import RunningOperator, start_operator

pytestmark = pytest.mark.cluster

ORIGINALS = "registry-sync.io/original-params"
INJECTED_VERSION = "registry-sync.io/model-version-id"
RIGHT = {
    "vllm_model_name": "mistral-24b-quantized",
    "model_name": "Mistral-Small-24B-Instruct",
    "version_name": "quantized-w4a16-2501",
}


def deploy_seed(kube: Cluster, namespace: str, seed: SeedIds) -> None:
    INFERENCE_SERVICES.create(kube.api_client, namespace, seed_inference_service(namespace, seed))

    def ready() -> bool:
        found = condition(binding_or_none(kube.api_client, namespace, ISVC_NAME), "Ready")
        return bool(found and found["status"] == "True")

    kube.wait_for(ready, timeout=30, description="seed binding Ready")


def create_run(
    kube: Cluster, namespace: str, body: dict[str, Any], resource: CustomResource = PIPELINE_RUNS
) -> dict[str, Any]:
    return resource.create(kube.api_client, namespace, body)


def denial(kube: Cluster, namespace: str, body: dict[str, Any]) -> str:
    """Create `body`, expect the apiserver to refuse it, return the message."""
    with pytest.raises(ApiException) as refused:
        create_run(kube, namespace, body)
    assert refused.value.status in (400, 403, 500)
    message: str = json.loads(refused.value.body)["message"]
    return message


def test_the_seed_run_is_stored_with_corrected_params_and_the_originals_recorded(
    kube: Cluster, namespace: str, seed: SeedIds, operator: RunningOperator
) -> None:
    deploy_seed(kube, namespace, seed)

    stored = create_run(kube, namespace, seed_pipeline_run(namespace))

    assert {k: params_of(stored)[k] for k in RIGHT} == RIGHT
    assert params_of(stored)["inference_service_name"] == ISVC_NAME
    annotations = stored["metadata"]["annotations"]
    assert json.loads(annotations[ORIGINALS]) == {
        "model_name": MISTRAL_MODEL,
        "version_name": ONE_GPU_VERSION,
    }
    assert annotations[INJECTED_VERSION] == seed.small_version
    again = PIPELINE_RUNS.get(kube.api_client, namespace, RUN_NAME)
    assert params_of(again) == params_of(stored)


def test_a_run_with_the_right_params_is_stored_unchanged(
    kube: Cluster, namespace: str, seed: SeedIds, operator: RunningOperator
) -> None:
    deploy_seed(kube, namespace, seed)
    body = seed_pipeline_run(namespace)
    body["spec"]["params"] = [{"name": k, "value": v} for k, v in RIGHT.items()]

    stored = create_run(kube, namespace, body)

    assert stored["spec"]["params"] == body["spec"]["params"]
    assert ORIGINALS not in stored["metadata"]["annotations"]
    assert stored["metadata"]["annotations"][INJECTED_VERSION] == seed.small_version


def test_a_run_whose_target_param_names_another_deployment_is_denied(
    kube: Cluster, namespace: str, seed: SeedIds, operator: RunningOperator
) -> None:
    deploy_seed(kube, namespace, seed)
    body = seed_pipeline_run(namespace)
    body["spec"]["params"][0] = {"name": "inference_service_name", "value": "granite-8b"}

    message = denial(kube, namespace, body)

    assert "granite-8b" in message and ISVC_NAME in message
    assert "inference_service_name" in message


def test_missing_params_are_appended(
    kube: Cluster, namespace: str, seed: SeedIds, operator: RunningOperator
) -> None:
    deploy_seed(kube, namespace, seed)
    body = seed_pipeline_run(namespace)
    body["spec"]["params"] = [{"name": "rate", "value": "5"}]

    stored = create_run(kube, namespace, body)

    assert [p["name"] for p in stored["spec"]["params"]] == ["rate", *RIGHT]
    assert json.loads(stored["metadata"]["annotations"][ORIGINALS]) == dict.fromkeys(RIGHT)


def test_a_v1beta1_run_is_corrected_too(
    kube: Cluster, namespace: str, seed: SeedIds, operator: RunningOperator
) -> None:
    deploy_seed(kube, namespace, seed)

    stored = create_run(
        kube, namespace, seed_pipeline_run(namespace, "tekton.dev/v1beta1"), PIPELINE_RUNS_V1BETA1
    )

    assert {k: params_of(stored)[k] for k in RIGHT} == RIGHT


def test_a_run_for_a_missing_inference_service_is_denied(
    kube: Cluster, namespace: str, seed: SeedIds, operator: RunningOperator
) -> None:
    message = denial(kube, namespace, seed_pipeline_run(namespace))

    assert f"no InferenceService or LLMInferenceService named {ISVC_NAME}" in message
    assert "registry-sync.io/enabled" in message


def test_a_run_for_an_inference_service_not_opted_in_is_denied(
    kube: Cluster, namespace: str, seed: SeedIds, operator: RunningOperator
) -> None:
    body = seed_inference_service(namespace, seed)
    body["metadata"]["annotations"] = {}
    INFERENCE_SERVICES.create(kube.api_client, namespace, body)

    def refused_as_not_managed() -> str | None:
        try:
            message = denial(kube, namespace, seed_pipeline_run(namespace))
        except AssertionError:
            return None
        return message if "not managed by registry-sync" in message else None

    kube.wait_for(refused_as_not_managed, timeout=30, description="denied as not opted in")


def test_a_run_for_a_binding_that_is_not_ready_is_denied_with_the_reason(
    kube: Cluster, namespace: str, seed: SeedIds, operator: RunningOperator
) -> None:
    body = seed_inference_service(namespace, seed)
    body["spec"]["predictor"]["model"]["storageUri"] = "oci://quay.io/example/unregistered:1"
    INFERENCE_SERVICES.create(kube.api_client, namespace, body)

    message = denial(kube, namespace, seed_pipeline_run(namespace))

    assert "NotRegistered" in message
    assert f"oc describe mb {ISVC_NAME}" in message


def test_a_run_whose_param_is_an_array_is_denied(
    kube: Cluster, namespace: str, seed: SeedIds, operator: RunningOperator
) -> None:
    deploy_seed(kube, namespace, seed)
    body = seed_pipeline_run(namespace)
    body["spec"]["params"] = [{"name": "model_name", "value": ["a", "b"]}]

    message = denial(kube, namespace, body)

    assert "'model_name'" in message
    assert "an array" in message


def test_a_run_created_together_with_its_inference_service_waits_for_the_binding(
    kube: Cluster, namespace: str, seed: SeedIds, operator: RunningOperator
) -> None:
    INFERENCE_SERVICES.create(kube.api_client, namespace, seed_inference_service(namespace, seed))

    stored = create_run(kube, namespace, seed_pipeline_run(namespace))

    assert {k: params_of(stored)[k] for k in RIGHT} == RIGHT


def test_while_the_operator_is_down_opted_in_runs_are_denied_and_others_created(
    kube: Cluster, namespace: str, seed: SeedIds, operator: RunningOperator
) -> None:
    deploy_seed(kube, namespace, seed)
    operator.stop()

    unrelated = seed_pipeline_run(namespace)
    unrelated["metadata"] = {"name": "unrelated-run"}
    stored = create_run(kube, namespace, unrelated)
    message = denial(kube, namespace, seed_pipeline_run(namespace))

    assert params_of(stored)["model_name"] == MISTRAL_MODEL  # untouched
    assert "pipelinerun-params.registry-sync.io" in message


def test_runs_of_another_namespace_are_not_sent_to_this_operator(
    kube: Cluster, namespace: str, seed: SeedIds, operator: RunningOperator
) -> None:
    other = kube.create_namespace("other")
    try:
        stored = create_run(kube, other, seed_pipeline_run(other))
        assert params_of(stored)["model_name"] == MISTRAL_MODEL
    finally:
        kube.delete_namespace(other)


@pytest.mark.upstream
def test_the_seed_run_is_corrected_with_the_upstream_tekton_crd(
    upstream_kube: Cluster,
    upstream_namespace: str,
    seed: SeedIds,
    dev_registry: RunningRegistry,
    tmp_path: Path,
) -> None:
    kube, namespace = upstream_kube, upstream_namespace
    with start_operator(kube, namespace, dev_registry.url, tmp_path / "operator.log"):
        deploy_seed(kube, namespace, seed)
        stored = create_run(kube, namespace, seed_pipeline_run(namespace))
        assert {k: params_of(stored)[k] for k in RIGHT} == RIGHT
        beta = seed_pipeline_run(namespace, "tekton.dev/v1beta1")
        beta["metadata"]["name"] = "beta-run"
        stored_beta = create_run(kube, namespace, beta, PIPELINE_RUNS_V1BETA1)
        assert {k: params_of(stored_beta)[k] for k in RIGHT} == RIGHT
