"""A running operator while its registry misbehaves: no label flips, no wrong injections.

The operator (its own process) reads the registry stand-in through a fault-injecting proxy
(`support.faultproxy`) on loopback. Each test records every label value the
InferenceServices ever had (a watch) and every PipelineRun the webhook admitted, and checks
them against what the registry says. DESIGN.md, "Resolution" and "ModelBinding": an error
keeps the last good answer (Ready, reason `RegistryUnavailable`, with its age) and never
changes labels; with no earlier answer nothing is guessed (runs are denied); a consistent
change in the registry is followed; two claimants are `Ambiguous`, and labels stay.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from integration.operator.faults_support import (
    REGISTRY,
    TARGET_LABEL,
    LabelHistory,
    LabelState,
    label_state,
    labels_of,
    operator_behind,
    run_params,
    stored_runs,
    try_run,
    wait_for_ready,
)
from registry_sync.demo.seed import (
    DEPLOYED_URI,
    ISVC_NAME,
    MISTRAL_MODEL,
    ONE_GPU_URI,
    ONE_GPU_VERSION,
    SMALL_MODEL,
    SMALL_VERSION,
    SeedIds,
    seed_inference_service,
)
from registry_sync.registry.client import RegistryClient
from registry_sync.registry.models import EntityState
from support.cluster import Cluster
from support.cluster_objects import INFERENCE_SERVICES
from support.devregistry import RunningRegistry
from support.faultproxy import (
    ConnectionReset,
    Fault,
    FaultProxy,
    GarbageBody,
    Hang,
    ServerError,
    TooManyRequests,
    Unauthorized,
    WrongTypes,
    fault_proxy_in_thread,
)
from support.operator import RunningOperator

pytestmark = pytest.mark.cluster

LATE = "late-deployment"
# What a person (or a wrong copy) passed: the incident's registry target.
WRONG_PARAMS = {
    "vllm_model_name": "mistral",
    "model_name": MISTRAL_MODEL,
    "version_name": ONE_GPU_VERSION,
}
# An age as people read it: 45s, 3m12s, 2h5m, 3d4h.
AGE = re.compile(r"\b\d+[dhms](\d+[hms])?\b")


@pytest.fixture
def proxy(dev_registry: RunningRegistry) -> Iterator[FaultProxy]:
    with fault_proxy_in_thread(dev_registry.url) as running:
        yield running


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "registry-token"
    path.write_text("sha256~faults-test-token")
    return path


@pytest.fixture
def history(kube: Cluster, namespace: str) -> Iterator[LabelHistory]:
    with LabelHistory(kube, namespace) as recorder:
        yield recorder


@pytest.fixture
def operator(
    kube: Cluster,
    namespace: str,
    seed: SeedIds,
    proxy: FaultProxy,
    token_file: Path,
    tmp_path: Path,
) -> Iterator[RunningOperator]:
    """The operator reading the seeded registry through the proxy."""
    with operator_behind(
        kube, namespace, proxy.url, tmp_path / "operator.log", token_file
    ) as running:
        yield running


def deployed(namespace: str, seed: SeedIds) -> dict[str, Any]:
    """The incident's InferenceService, labelled with a version of another model."""
    return seed_inference_service(namespace, seed)


def late_deployment(namespace: str, seed: SeedIds) -> dict[str, Any]:
    """A second deployment (the 1-GPU build) whose labels were copied from the first."""
    body = seed_inference_service(namespace, seed)
    body["metadata"]["name"] = LATE
    body["metadata"]["labels"] = {
        "modelregistry.opendatahub.io/registered-model-id": seed.small_model,
        "modelregistry.opendatahub.io/model-version-id": seed.small_version,
    }
    body["spec"]["predictor"]["model"]["storageUri"] = ONE_GPU_URI
    return body


def answer(model_id: str, version_id: str) -> LabelState:
    return label_state(
        {
            "modelregistry.opendatahub.io/registered-model-id": model_id,
            "modelregistry.opendatahub.io/model-version-id": version_id,
            "modelregistry.opendatahub.io/name": REGISTRY,
        }
    )


def params(vllm_name: str, model: str, version: str) -> dict[str, str]:
    return {"vllm_model_name": vllm_name, "model_name": model, "version_name": version}


def admitted_params(outcome: dict[str, Any] | str, expected: dict[str, str]) -> dict[str, Any]:
    assert isinstance(outcome, dict), f"the run was denied: {outcome}"
    return run_params(outcome, expected)


def faulted_requests(proxy: FaultProxy, since: int) -> int:
    return sum(1 for request in proxy.seen[since:] if request.fault is not None)


def data_time(binding: dict[str, Any]) -> float:
    stamp = binding["status"]["registryDataTime"]
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def assert_every_stored_run_has(
    kube: Cluster, namespace: str, expected: dict[str, list[dict[str, str]]]
) -> None:
    """Every run the apiserver stored carries one of the answers allowed for its target."""
    runs = stored_runs(kube, namespace)
    assert runs, "no run was admitted at all: the test proves nothing"
    for run in runs:
        target = run["metadata"]["labels"][TARGET_LABEL]
        allowed = expected[target]
        assert run_params(run, allowed[0]) in allowed, (run["metadata"]["name"], allowed)


# Each: faults queued first (None: none), then the fault every request gets until the end.
FAULTS: list[Any] = [
    pytest.param(None, ServerError(503), id="5xx"),
    pytest.param(None, TooManyRequests(retry_after_s=1), id="429"),
    pytest.param(None, ConnectionReset(), id="connection-reset"),
    # The first request outlasts the refresh's stall bound (10 s: the refresh gives up on
    # it); later ones hang for a while and are dropped, so later refreshes fail within seconds.
    pytest.param(Hang(seconds=60), Hang(seconds=2), id="hang"),
    pytest.param(None, GarbageBody(), id="garbage-json"),
    pytest.param(None, WrongTypes(), id="wrong-types"),
    pytest.param(None, Unauthorized(), id="401"),
]


@pytest.mark.parametrize(("first", "standing"), FAULTS)
def test_a_registry_fault_keeps_the_last_answer_and_guesses_nothing(
    kube: Cluster,
    namespace: str,
    seed: SeedIds,
    proxy: FaultProxy,
    history: LabelHistory,
    operator: RunningOperator,
    first: Fault | None,
    standing: Fault,
) -> None:
    right = params(ISVC_NAME, SMALL_MODEL, SMALL_VERSION)
    late_right = params(LATE, MISTRAL_MODEL, ONE_GPU_VERSION)
    initial = label_state(deployed(namespace, seed)["metadata"]["labels"])
    late_initial = label_state(late_deployment(namespace, seed)["metadata"]["labels"])
    INFERENCE_SERVICES.create(kube.api_client, namespace, deployed(namespace, seed))
    wait_for_ready(kube, namespace, "True", "Resolved")
    assert admitted_params(try_run(kube, namespace, ISVC_NAME, WRONG_PARAMS), right) == right

    fault_started = time.time()
    requests_before = len(proxy.seen)
    if first is not None:
        proxy.inject(first)
    proxy.start_outage(standing)

    # Under way, not yet noticed (for a hang: while a request hangs): runs still get the answer.
    kube.wait_for(
        lambda: faulted_requests(proxy, requests_before) > 0,
        timeout=30,
        description="the operator ran into the fault",
    )
    assert admitted_params(try_run(kube, namespace, ISVC_NAME, WRONG_PARAMS), right) == right

    # Noticed: Ready stays True with the kept answer, and says how old it is.
    binding = wait_for_ready(kube, namespace, "True", "RegistryUnavailable")
    status = binding["status"]
    assert (status["registeredModelId"], status["modelVersionId"]) == (
        seed.small_model,
        seed.small_version,
    )
    assert data_time(binding) <= fault_started + 1  # the data is from before the fault
    ready_message = next(c["message"] for c in status["conditions"] if c["type"] == "Ready")
    assert AGE.search(ready_message), ready_message
    assert admitted_params(try_run(kube, namespace, ISVC_NAME, WRONG_PARAMS), right) == right

    # A deployment made during the fault has no earlier answer: nothing is guessed.
    INFERENCE_SERVICES.create(kube.api_client, namespace, late_deployment(namespace, seed))
    wait_for_ready(kube, namespace, "False", "RegistryUnavailable", name=LATE)
    denied = try_run(kube, namespace, LATE, WRONG_PARAMS)
    assert isinstance(denied, str), f"admitted without an answer: {denied}"
    assert "RegistryUnavailable" in denied
    assert labels_of(kube, namespace, LATE) == late_initial
    assert faulted_requests(proxy, requests_before) > 0
    assert "Traceback" not in operator.log()

    proxy.end_outage()

    wait_for_ready(kube, namespace, "True", "Resolved")
    wait_for_ready(kube, namespace, "True", "Resolved", name=LATE)
    late_run = try_run(kube, namespace, LATE, WRONG_PARAMS)
    assert admitted_params(late_run, late_right) == late_right
    assert history.states(ISVC_NAME) == [initial, answer(seed.small_model, seed.small_version)]
    assert history.states(LATE) == [
        late_initial,
        answer(seed.mistral_model, seed.one_gpu_version),
    ]
    assert_every_stored_run_has(kube, namespace, {ISVC_NAME: [right], LATE: [late_right]})
    assert operator.running


async def test_the_registry_giving_the_uri_to_another_model_is_followed(
    kube: Cluster,
    namespace: str,
    seed: SeedIds,
    registry_client: RegistryClient,
    history: LabelHistory,
    operator: RunningOperator,
) -> None:
    """The registry is the truth: a consistent change of owner moves labels and runs with it."""
    first = params(ISVC_NAME, SMALL_MODEL, SMALL_VERSION)
    INFERENCE_SERVICES.create(kube.api_client, namespace, deployed(namespace, seed))
    wait_for_ready(kube, namespace, "True", "Resolved")

    # The old version is retired first: for a moment no live version has the URI.
    await registry_client.set_model_version_state(seed.small_version, EntityState.ARCHIVED)
    wait_for_ready(kube, namespace, "False", "NotRegistered")
    denied = try_run(kube, namespace, ISVC_NAME, WRONG_PARAMS)
    assert isinstance(denied, str) and "NotRegistered" in denied, denied
    assert labels_of(kube, namespace, ISVC_NAME) == answer(seed.small_model, seed.small_version)

    version = await registry_client.create_model_version(seed.mistral_model, "re-registered")
    await registry_client.create_model_artifact(version.id, name="re-registered", uri=DEPLOYED_URI)

    binding = wait_for_ready(kube, namespace, "True", "Resolved")
    assert binding["status"]["modelVersionId"] == version.id
    moved = params(ISVC_NAME, MISTRAL_MODEL, "re-registered")
    assert admitted_params(try_run(kube, namespace, ISVC_NAME, WRONG_PARAMS), moved) == moved
    assert history.states(ISVC_NAME) == [
        label_state(deployed(namespace, seed)["metadata"]["labels"]),
        answer(seed.small_model, seed.small_version),
        answer(seed.mistral_model, version.id),
    ]
    assert_every_stored_run_has(kube, namespace, {ISVC_NAME: [first, moved]})


async def test_a_second_model_claiming_the_uri_mid_run_is_ambiguous_and_nothing_moves(
    kube: Cluster,
    namespace: str,
    seed: SeedIds,
    registry_client: RegistryClient,
    history: LabelHistory,
    operator: RunningOperator,
) -> None:
    """A contradiction is reported, not resolved by guessing: labels stay, runs are denied."""
    right = params(ISVC_NAME, SMALL_MODEL, SMALL_VERSION)
    INFERENCE_SERVICES.create(kube.api_client, namespace, deployed(namespace, seed))
    wait_for_ready(kube, namespace, "True", "Resolved")

    rival = await registry_client.create_registered_model("Mistral-Reupload")
    claimant = await registry_client.create_model_version(rival.id, "same-tag")
    await registry_client.create_model_artifact(claimant.id, name="same", uri=DEPLOYED_URI)

    binding = wait_for_ready(kube, namespace, "False", "Ambiguous")
    candidates = {c["modelVersionId"] for c in binding["status"]["candidates"]}
    assert candidates == {seed.small_version, claimant.id}
    denied = try_run(kube, namespace, ISVC_NAME, WRONG_PARAMS)
    assert isinstance(denied, str) and "Ambiguous" in denied, denied
    assert labels_of(kube, namespace, ISVC_NAME) == answer(seed.small_model, seed.small_version)

    # The claimant withdrawn, the one answer is back.
    await registry_client.set_model_version_state(claimant.id, EntityState.ARCHIVED)
    wait_for_ready(kube, namespace, "True", "Resolved")
    assert admitted_params(try_run(kube, namespace, ISVC_NAME, WRONG_PARAMS), right) == right
    assert history.states(ISVC_NAME) == [
        label_state(deployed(namespace, seed)["metadata"]["labels"]),
        answer(seed.small_model, seed.small_version),
    ]
    assert_every_stored_run_has(kube, namespace, {ISVC_NAME: [right]})
