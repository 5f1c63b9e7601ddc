"""`--webhook off`: pending runs are replaced by corrected copies, wrong running runs cancelled."""

from __future__ import annotations

import json
from collections.abc import Iterator
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
from registry_sync.domain.replacement import replacement_name
from support.bindings import binding_or_none, condition
from support.cluster import Cluster
from support.cluster_objects import INFERENCE_SERVICES, PIPELINE_RUNS, params_of
from support.devregistry import RunningRegistry
from support.operator import RunningOperator, start_operator

pytestmark = pytest.mark.cluster

COPY_NAME = replacement_name(RUN_NAME)
RIGHT = {
    "vllm_model_name": "mistral-24b-quantized",
    "model_name": "Mistral-Small-24B-Instruct",
    "version_name": "quantized-w4a16-2501",
}


@pytest.fixture
def guard(
    kube: Cluster, namespace: str, dev_registry: RunningRegistry, seed: SeedIds, tmp_path: Path
) -> Iterator[RunningOperator]:
    """An operator without a webhook, with the seed InferenceService deployed and Ready."""
    log = tmp_path / "operator.log"
    extra = ["--webhook", "off", "--refresh-seconds", "1"]
    with start_operator(kube, namespace, dev_registry.url, log, extra_args=extra) as running:
        INFERENCE_SERVICES.create(
            kube.api_client, namespace, seed_inference_service(namespace, seed)
        )

        def ready() -> bool:
            found = condition(binding_or_none(kube.api_client, namespace, ISVC_NAME), "Ready")
            return bool(found and found["status"] == "True")

        kube.wait_for(ready, timeout=30, description="seed binding Ready")
        yield running


def pending_seed_run(namespace: str) -> dict[str, Any]:
    body = seed_pipeline_run(namespace)
    body["spec"]["status"] = "PipelineRunPending"
    return body


def run_or_none(kube: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return PIPELINE_RUNS.get(kube.api_client, namespace, name)
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def runs_named(kube: Cluster, namespace: str) -> list[str]:
    listed = kube.custom_objects.list_namespaced_custom_object(
        "tekton.dev", "v1", namespace, "pipelineruns"
    )
    return sorted(item["metadata"]["name"] for item in listed["items"])


def wait_cancelled(kube: Cluster, namespace: str, name: str) -> dict[str, Any]:
    def cancelled() -> dict[str, Any] | None:
        run = run_or_none(kube, namespace, name)
        return run if run and run["spec"].get("status") == "Cancelled" else None

    run: dict[str, Any] = kube.wait_for(cancelled, timeout=30, description=f"{name} cancelled")
    return run


def test_a_pending_run_is_replaced_by_a_corrected_copy_and_cancelled(
    kube: Cluster, namespace: str, guard: RunningOperator
) -> None:
    PIPELINE_RUNS.create(kube.api_client, namespace, pending_seed_run(namespace))

    original = wait_cancelled(kube, namespace, RUN_NAME)
    copy = run_or_none(kube, namespace, COPY_NAME)

    assert copy is not None
    assert {k: params_of(copy)[k] for k in RIGHT} == RIGHT
    assert copy["spec"]["status"] == "PipelineRunPending"
    assert copy["metadata"]["labels"]["registry-sync.io/replacement-of"] == RUN_NAME
    assert copy["metadata"]["labels"]["registry-sync.io/inference-service"] == ISVC_NAME
    assert json.loads(copy["metadata"]["annotations"]["registry-sync.io/original-params"]) == {
        "model_name": MISTRAL_MODEL,
        "version_name": ONE_GPU_VERSION,
    }
    assert original["metadata"]["annotations"]["registry-sync.io/replaced-by"] == COPY_NAME
    assert params_of(original)["model_name"] == MISTRAL_MODEL  # Tekton allows no other change
    assert runs_named(kube, namespace) == sorted([RUN_NAME, COPY_NAME])


def test_a_started_run_with_wrong_params_is_cancelled_with_an_event(
    kube: Cluster, namespace: str, guard: RunningOperator
) -> None:
    PIPELINE_RUNS.create(kube.api_client, namespace, seed_pipeline_run(namespace))

    run = wait_cancelled(kube, namespace, RUN_NAME)

    assert "wrong params" in run["metadata"]["annotations"]["registry-sync.io/cancelled-because"]
    events = kube.core.list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={RUN_NAME}"
    ).items
    assert any(event.reason == "WrongParams" and event.type == "Warning" for event in events)
    assert runs_named(kube, namespace) == [RUN_NAME]


def test_a_started_run_with_the_right_params_is_left_running(
    kube: Cluster, namespace: str, guard: RunningOperator
) -> None:
    right = seed_pipeline_run(namespace)
    right["metadata"]["name"] = "right-run"
    right["spec"]["params"] = [{"name": k, "value": v} for k, v in RIGHT.items()]
    PIPELINE_RUNS.create(kube.api_client, namespace, right)
    # A wrong run created after it is handled after it: once that is cancelled, the right
    # one has been looked at too.
    PIPELINE_RUNS.create(kube.api_client, namespace, seed_pipeline_run(namespace))
    wait_cancelled(kube, namespace, RUN_NAME)

    stored = run_or_none(kube, namespace, "right-run")
    assert stored is not None
    assert "status" not in stored["spec"]


def test_a_restart_between_copy_and_cancel_finishes_with_one_copy(
    kube: Cluster, namespace: str, seed: SeedIds, guard: RunningOperator
) -> None:
    # The state a crash right after creating the copy leaves: copy there, original pending.
    guard.stop()
    original = pending_seed_run(namespace)
    PIPELINE_RUNS.create(kube.api_client, namespace, original)
    copy = pending_seed_run(namespace)
    copy["metadata"]["name"] = COPY_NAME
    copy["metadata"]["labels"]["registry-sync.io/replacement-of"] = RUN_NAME
    copy["spec"]["params"] = [{"name": k, "value": v} for k, v in RIGHT.items()]
    PIPELINE_RUNS.create(kube.api_client, namespace, copy)

    guard.start()
    wait_cancelled(kube, namespace, RUN_NAME)
    guard.restart()  # and once more: nothing new appears

    assert runs_named(kube, namespace) == sorted([RUN_NAME, COPY_NAME])
    stored_copy = run_or_none(kube, namespace, COPY_NAME)
    assert stored_copy is not None
    assert stored_copy["spec"]["status"] == "PipelineRunPending"


def test_a_run_for_an_unknown_inference_service_is_cancelled(
    kube: Cluster, namespace: str, guard: RunningOperator
) -> None:
    body = seed_pipeline_run(namespace)
    body["metadata"]["labels"]["registry-sync.io/inference-service"] = "no-such-isvc"
    PIPELINE_RUNS.create(kube.api_client, namespace, body)

    run = wait_cancelled(kube, namespace, RUN_NAME)

    assert "no-such-isvc" in run["metadata"]["annotations"]["registry-sync.io/cancelled-because"]


def test_unrelated_runs_are_untouched(
    kube: Cluster, namespace: str, guard: RunningOperator
) -> None:
    unrelated = seed_pipeline_run(namespace)
    unrelated["metadata"] = {"name": "unrelated"}
    PIPELINE_RUNS.create(kube.api_client, namespace, unrelated)
    PIPELINE_RUNS.create(kube.api_client, namespace, seed_pipeline_run(namespace))
    wait_cancelled(kube, namespace, RUN_NAME)

    stored = run_or_none(kube, namespace, "unrelated")
    assert stored is not None
    assert "status" not in stored["spec"]
    assert "annotations" not in stored["metadata"]
