"""`--webhook off`: pending runs are replaced by corrected copies, wrong running runs cancelled.

Also what registering models cannot do to another team's runs: a model registered with a
deployed URI after a run started does not cancel it, and a run named like a corrected copy
is not taken for it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from registry_sync.demo.seed import (
    DEPLOYED_URI,
    ISVC_NAME,
    MISTRAL_MODEL,
    ONE_GPU_VERSION,
    RUN_NAME,
    SeedIds,
    seed_inference_service,
    seed_pipeline_run,
)
from registry_sync.domain.replacement import replacement_name
from registry_sync.registry.client import RegistryClient
from support.bindings import binding_or_none, condition, wait_for_ready
from support.cluster import Cluster
from support.cluster_objects import INFERENCE_SERVICES, PIPELINE_RUNS, owner_reference, params_of
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
    yield from guard_with(kube, namespace, dev_registry, seed, tmp_path, [])


@pytest.fixture
def team_guard(
    kube: Cluster, namespace: str, dev_registry: RunningRegistry, seed: SeedIds, tmp_path: Path
) -> Iterator[RunningOperator]:
    """`guard`, admitting only models owned by the seed's team (`--registry-owners`)."""
    yield from guard_with(
        kube, namespace, dev_registry, seed, tmp_path, ["--registry-owners", SEED_OWNER]
    )


SEED_OWNER = "private-ai-demo"  # the owner the seed registers its deployed model with


def guard_with(
    kube: Cluster,
    namespace: str,
    dev_registry: RunningRegistry,
    seed: SeedIds,
    tmp_path: Path,
    more_args: list[str],
) -> Iterator[RunningOperator]:
    log = tmp_path / "operator.log"
    extra = ["--webhook", "off", "--refresh-seconds", "1", *more_args]
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
    created = PIPELINE_RUNS.create(kube.api_client, namespace, pending_seed_run(namespace))

    original = wait_cancelled(kube, namespace, RUN_NAME)
    copy = run_or_none(kube, namespace, COPY_NAME)

    assert copy is not None
    assert copy["metadata"]["ownerReferences"] == [owner_reference(created)]
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
    wait_for_event(kube, namespace, RUN_NAME, ("Warning", "WrongParams"))
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


def test_a_run_left_running_is_stamped_with_the_version_it_runs_for(
    kube: Cluster, namespace: str, seed: SeedIds, guard: RunningOperator
) -> None:
    PIPELINE_RUNS.create(kube.api_client, namespace, right_run(namespace, "right-run"))

    def stamped() -> dict[str, Any] | None:
        run = run_or_none(kube, namespace, "right-run")
        annotations = (run or {}).get("metadata", {}).get("annotations") or {}
        return run if "registry-sync.io/model-version-id" in annotations else None

    run: dict[str, Any] = kube.wait_for(stamped, timeout=30, description="right-run stamped")
    assert run["metadata"]["annotations"]["registry-sync.io/model-version-id"] == (
        seed.small_version
    )
    assert "status" not in run["spec"]
    assert params_of(run) == RIGHT


def test_a_run_whose_target_param_names_another_deployment_is_cancelled(
    kube: Cluster, namespace: str, guard: RunningOperator
) -> None:
    body = right_run(namespace, "elsewhere")
    body["spec"]["params"].append({"name": "inference_service_name", "value": "granite-8b"})
    PIPELINE_RUNS.create(kube.api_client, namespace, body)

    run = wait_cancelled(kube, namespace, "elsewhere")

    assert "granite-8b" in run["metadata"]["annotations"]["registry-sync.io/cancelled-because"]
    wait_for_event(kube, namespace, "elsewhere", ("Warning", "TargetMismatch"))


def test_a_restart_between_copy_and_cancel_finishes_with_one_copy(
    kube: Cluster, namespace: str, seed: SeedIds, guard: RunningOperator
) -> None:
    # The state a crash right after creating the copy leaves: copy there, original pending.
    guard.stop()
    original = PIPELINE_RUNS.create(kube.api_client, namespace, pending_seed_run(namespace))
    copy = pending_seed_run(namespace)
    copy["metadata"]["name"] = COPY_NAME
    copy["metadata"]["labels"]["registry-sync.io/replacement-of"] = RUN_NAME
    copy["metadata"]["annotations"] = {"registry-sync.io/replacement-of": RUN_NAME}
    copy["metadata"]["ownerReferences"] = [owner_reference(original)]
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


# What registering a model, or naming a run, cannot do to another team's runs ---------------


def right_run(namespace: str, name: str) -> dict[str, Any]:
    body = seed_pipeline_run(namespace)
    body["metadata"]["name"] = name
    body["spec"]["params"] = [{"name": k, "value": v} for k, v in RIGHT.items()]
    return body


def events_of(kube: Cluster, namespace: str, name: str) -> list[tuple[str, str]]:
    events = kube.core.list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name}"
    ).items
    return [(event.type, event.reason) for event in events]


def wait_for_event(kube: Cluster, namespace: str, name: str, event: tuple[str, str]) -> None:
    """Until `event` (type, reason) is posted on `name`. The guard posts it after the patch
    a test waits for (patch, then Event): reading once right after the patch races it."""
    kube.wait_for(
        lambda: event in events_of(kube, namespace, name) or None,
        timeout=10,
        description=f"{event[1]} Event on {name}",
    )


async def register_squatter(client: RegistryClient, owner: str) -> None:
    """Someone else registers the deployed image under a model of theirs."""
    model = await client.create_registered_model("Squatted-Mistral", owner=owner)
    version = await client.create_model_version(model.id, "v1")
    await client.create_model_artifact(version.id, name="squat", uri=DEPLOYED_URI)


async def test_a_squatting_registration_does_not_cancel_a_correctly_started_run(
    kube: Cluster, namespace: str, registry_client: RegistryClient, guard: RunningOperator
) -> None:
    started = PIPELINE_RUNS.create(kube.api_client, namespace, right_run(namespace, "started"))
    created = datetime.fromisoformat(started["metadata"]["creationTimestamp"]).timestamp()
    # Creation times have whole seconds: the run counts as started while the binding was
    # Ready only once that second is over.
    kube.wait_for(lambda: time.time() >= created + 1.5, timeout=5, description="a second on")

    await register_squatter(registry_client, owner="someone-else")
    wait_for_ready(kube, namespace, "False", "Ambiguous")
    # Tekton updates a running run's status often; any change brings it to the guard again.
    PIPELINE_RUNS.merge_patch(
        kube.api_client, namespace, "started", {"metadata": {"labels": {"touched": "1"}}}
    )

    def reported() -> dict[str, Any] | None:
        run = run_or_none(kube, namespace, "started")
        annotations = (run or {}).get("metadata", {}).get("annotations", {})
        return run if "registry-sync.io/kept-running-because" in annotations else None

    run: dict[str, Any] = kube.wait_for(reported, timeout=30, description="started reported")
    assert "status" not in run["spec"]  # not cancelled
    assert "Ambiguous" in run["metadata"]["annotations"]["registry-sync.io/kept-running-because"]
    wait_for_event(kube, namespace, "started", ("Warning", "BindingNotReady"))


async def test_a_run_started_after_a_squatting_registration_is_cancelled(
    kube: Cluster, namespace: str, registry_client: RegistryClient, guard: RunningOperator
) -> None:
    await register_squatter(registry_client, owner="someone-else")
    wait_for_ready(kube, namespace, "False", "Ambiguous")

    PIPELINE_RUNS.create(kube.api_client, namespace, right_run(namespace, "late"))

    run = wait_cancelled(kube, namespace, "late")
    assert "Ambiguous" in run["metadata"]["annotations"]["registry-sync.io/cancelled-because"]


async def test_with_registry_owners_a_model_of_another_owner_claims_nothing(
    kube: Cluster,
    namespace: str,
    seed: SeedIds,
    registry_client: RegistryClient,
    team_guard: RunningOperator,
) -> None:
    await register_squatter(registry_client, owner="someone-else")
    # A deployment only the other owner's model claims: its binding shows the squatter is
    # in the registry data the operator reads, and why it does not count.
    foreign_uri = "oci://quay.io/someone-else/only-theirs:1"
    theirs = await registry_client.create_registered_model("Theirs", owner="someone-else")
    version = await registry_client.create_model_version(theirs.id, "v1")
    await registry_client.create_model_artifact(version.id, name="theirs", uri=foreign_uri)
    other = seed_inference_service(namespace, seed)
    other["metadata"] = {**other["metadata"], "name": "only-theirs", "labels": {}}
    other["spec"]["predictor"]["model"]["storageUri"] = foreign_uri
    INFERENCE_SERVICES.create(kube.api_client, namespace, other)
    binding = wait_for_ready(kube, namespace, "False", "NotRegistered", "only-theirs")
    assert "whose owner is not one allowed here (private-ai-demo" in binding["status"]["message"]

    # A change of the seed InferenceService's spec makes the operator decide about it again,
    # with the registry data that holds the squatter.
    changed = INFERENCE_SERVICES.merge_patch(
        kube.api_client, namespace, ISVC_NAME, {"spec": {"predictor": {"minReplicas": 1}}}
    )

    def decided_again() -> dict[str, Any] | None:
        found = binding_or_none(kube.api_client, namespace, ISVC_NAME)
        observed = (found or {}).get("status", {}).get("observedGeneration")
        return found if observed == changed["metadata"]["generation"] else None

    seed_binding: dict[str, Any] = kube.wait_for(decided_again, timeout=30, description="again")
    assert condition(seed_binding, "Ready") is not None
    assert condition(seed_binding, "Ready")["reason"] == "Resolved"  # type: ignore[index]


def test_a_foreign_run_named_like_the_copy_is_not_taken_for_it(
    kube: Cluster, namespace: str, guard: RunningOperator
) -> None:
    foreign = right_run(namespace, COPY_NAME)  # made by anyone, before the original
    foreign["spec"]["status"] = "PipelineRunPending"
    foreign["metadata"]["annotations"] = {"registry-sync.io/replacement-of": RUN_NAME}
    PIPELINE_RUNS.create(kube.api_client, namespace, foreign)
    PIPELINE_RUNS.create(kube.api_client, namespace, pending_seed_run(namespace))

    original = wait_cancelled(kube, namespace, RUN_NAME)

    annotations = original["metadata"]["annotations"]
    assert "registry-sync.io/replaced-by" not in annotations
    assert "is not its copy" in annotations["registry-sync.io/cancelled-because"]
    wait_for_event(kube, namespace, RUN_NAME, ("Warning", "ReplacementNameTaken"))
    stored = run_or_none(kube, namespace, COPY_NAME)
    assert stored is not None and stored["spec"]["status"] == "PipelineRunPending"
    assert "registry-sync.io/cancelled-because" not in stored["metadata"]["annotations"]
