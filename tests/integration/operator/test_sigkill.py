"""SIGKILL at random points of the operator's writes, then a restart: the outcome is whole.

The operator keeps no state of its own between runs; everything it must not do twice is
made idempotent through what it finds in the cluster. These tests kill it (SIGKILL, no
shutdown handlers) at random moments while it replaces pending PipelineRuns (`--webhook
off`) and while it corrects InferenceService labels, restart it, and check that the end
state is exactly the one an undisturbed operator reaches, and that no intermediate state
was ever half of two answers. A watch from the test records every state the apiserver
stored in between. A last test restarts the operator while the registry is down: the
answer the ModelBinding recorded must carry it through, not be forgotten.

Kill times are random but replayable: the seed comes from REGISTRY_SYNC_SIGKILL_SEED when
set, else is drawn, and every failure message names it.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from registry_sync.demo.seed import (
    COMPARISON_MODEL,
    COMPARISON_URI,
    COMPARISON_VERSION,
    DEPLOYED_URI,
    ISVC_NAME,
    MISTRAL_MODEL,
    ONE_GPU_URI,
    ONE_GPU_VERSION,
    OPTIMIZED_URI,
    OPTIMIZED_VERSION,
    SMALL_MODEL,
    SMALL_VERSION,
    SeedIds,
    seed_inference_service,
)
from registry_sync.domain.pipeline_run import annotations_of
from registry_sync.domain.replacement import replacement_name
from support.bindings import (
    MODEL_BINDINGS,
    MODEL_ID,
    REGISTRY_NAME,
    VERSION_ID,
    binding_or_none,
    condition,
)
from support.cluster import Cluster
from support.cluster_objects import (
    INFERENCE_SERVICES,
    PIPELINE_RUNS,
    inference_service,
    params_of,
)
from support.devregistry import RunningRegistry
from support.operator import RunningOperator, start_operator
from support.watch_recorder import WatchRecorder

pytestmark = pytest.mark.cluster

SEED_VARIABLE = "REGISTRY_SYNC_SIGKILL_SEED"
# Each round costs an operator start (5-10 s on 2 busy cores); raise it for a soak run.
ROUNDS = int(os.environ.get("REGISTRY_SYNC_SIGKILL_ROUNDS", "8"))
CONVERGENCE_TIMEOUT = 90.0  # generous: 2 shared cores; outcomes are asserted, not durations
TARGET_LABEL = "registry-sync.io/inference-service"
REPLACEMENT_OF = "registry-sync.io/replacement-of"
VERSION_STAMP = "registry-sync.io/model-version-id"
REGISTRY = "demo-registry"
PARAMS = ("vllm_model_name", "model_name", "version_name")  # the documented default names


# -- replay ---------------------------------------------------------------------------


@pytest.fixture
def kill_seed() -> int:
    value = os.environ.get(SEED_VARIABLE)
    return int(value) if value else random.SystemRandom().randrange(2**32)


@contextlib.contextmanager
def explained(prefix: str) -> Iterator[None]:
    """Prefix any failure's message (the seed to replay with, the round and kill time)."""
    try:
        yield
    except AssertionError as failure:
        failure.args = (f"[{prefix}] {failure}", *failure.args[1:])
        raise


# -- kills and restarts ---------------------------------------------------------------


def restart_after_kill(operator: RunningOperator) -> float:
    """Start the operator again and wait until it is ready; the seconds that took."""
    began = time.monotonic()
    operator.start()  # waits for this start's own readiness line
    return time.monotonic() - began


def kill_after(operator: RunningOperator, delay: float, work: Callable[[], None]) -> None:
    """Start `work` (creating objects) and SIGKILL the operator `delay` seconds after it began."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:  # shown in the test's failure, not lost in the thread
            failures.append(error)

    worker = threading.Thread(target=run, name="creator")
    worker.start()
    time.sleep(delay)
    operator.kill()
    worker.join(60)
    assert not worker.is_alive(), "creating the round's objects did not finish"
    if failures:
        raise failures[0]


def spread(rng: random.Random, window: float, rounds: int) -> list[float]:
    """Kill delays covering [0, window]: one per equal slice, shuffled; the first is 0."""
    delays = [window * (i + rng.random()) / rounds for i in range(rounds)]
    delays[0] = 0.0
    rng.shuffle(delays)
    return delays


# -- no-webhook replacement ------------------------------------------------------------


@dataclass(frozen=True)
class RunBatch:
    """One round's PipelineRuns as created: wrong (to be replaced), right, unrelated."""

    wrong: dict[str, dict[str, Any]]
    right: dict[str, dict[str, Any]]
    unrelated: dict[str, dict[str, Any]]
    order: tuple[str, ...] = ()  # creation order (shuffled); all names when empty

    def all(self) -> dict[str, dict[str, Any]]:
        return {**self.wrong, **self.right, **self.unrelated}


def pending_run(name: str, params: Mapping[str, str], *, opted_in: bool = True) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if opted_in:
        metadata["labels"] = {TARGET_LABEL: ISVC_NAME}
    return {
        "apiVersion": PIPELINE_RUNS.api_version,
        "kind": PIPELINE_RUNS.kind,
        "metadata": metadata,
        "spec": {
            "pipelineRef": {"name": "model-testing"},
            "status": "PipelineRunPending",
            "params": [{"name": "inference_service_name", "value": ISVC_NAME}]
            + [{"name": k, "value": v} for k, v in params.items()],
        },
    }


def wrong_params(rng: random.Random, right: Mapping[str, str]) -> dict[str, str]:
    """Params as people got them wrong: the incident's, the registry name as vLLM name,
    a missing one, a version of another model."""
    served, model = right["vllm_model_name"], right["model_name"]
    variants = [
        {"vllm_model_name": served, "model_name": MISTRAL_MODEL, "version_name": ONE_GPU_VERSION},
        {
            "vllm_model_name": model,
            "model_name": COMPARISON_MODEL,
            "version_name": COMPARISON_VERSION,
        },
        {"vllm_model_name": served, "model_name": MISTRAL_MODEL},  # version_name missing
        {"vllm_model_name": served, "model_name": model, "version_name": OPTIMIZED_VERSION},
    ]
    return rng.choice(variants)


def make_batch(rng: random.Random, prefix: str, right: Mapping[str, str]) -> RunBatch:
    wrong = {}
    for i in range(rng.randint(3, 6)):
        name = f"{prefix}-wrong-{i}"
        if i == 0 and rng.random() < 0.5:
            # Long enough that the copy's name is shortened with a hash.
            name = f"{prefix}-wrong-with-a-long-name-".ljust(62, "x")
        wrong[name] = pending_run(name, wrong_params(rng, right))
    right_runs = {
        f"{prefix}-right-{i}": pending_run(f"{prefix}-right-{i}", right)
        for i in range(rng.randint(0, 2))
    }
    unrelated = {
        f"{prefix}-unrelated-{i}": pending_run(
            f"{prefix}-unrelated-{i}", wrong_params(rng, right), opted_in=False
        )
        for i in range(rng.randint(0, 2))
    }
    order = [*wrong, *right_runs, *unrelated]
    rng.shuffle(order)
    return RunBatch(wrong, right_runs, unrelated, tuple(order))


def create_runs(kube: Cluster, namespace: str, batch: RunBatch) -> None:
    bodies = batch.all()
    for name in batch.order or bodies:
        PIPELINE_RUNS.create(kube.api_client, namespace, bodies[name])


def stored_runs(kube: Cluster, namespace: str) -> dict[str, dict[str, Any]]:
    listed = kube.custom_objects.list_namespaced_custom_object(
        "tekton.dev", "v1", namespace, "pipelineruns"
    )
    return {item["metadata"]["name"]: item for item in listed["items"]}


def is_cancelled(run: Mapping[str, Any] | None) -> bool:
    return bool(run and run["spec"].get("status") == "Cancelled")


def replacement_states(
    runs: Mapping[str, Mapping[str, Any]], originals: Iterable[str]
) -> dict[str, int]:
    """How far each original got: untouched, copy made but not yet cancelled, done, or the
    state that must never exist (cancelled without its copy)."""
    counts = {"untouched": 0, "copy-only": 0, "done": 0, "cancelled-without-copy": 0}
    for name in originals:
        copied = replacement_name(name) in runs
        cancelled = is_cancelled(runs.get(name))
        key = {
            (False, False): "untouched",
            (True, False): "copy-only",
            (True, True): "done",
            (False, True): "cancelled-without-copy",
        }[copied, cancelled]
        counts[key] += 1
    return counts


def binding_params(kube: Cluster, namespace: str) -> tuple[dict[str, str], str]:
    """The params a run for the seed InferenceService must carry, read from its ModelBinding."""
    binding = binding_or_none(kube.api_client, namespace, ISVC_NAME)
    assert binding is not None
    status = binding["status"]
    right = {
        "vllm_model_name": status["vllmModelName"],
        "model_name": status["registeredModelName"],
        "version_name": status["modelVersionName"],
    }
    return right, status["modelVersionId"]


def replaced(
    kube: Cluster, namespace: str, originals: Iterable[str], stamped: Iterable[str] = ()
) -> bool:
    """Every original cancelled with its copy stored; every run of `stamped` (right runs,
    left running) carrying the version it runs for."""
    runs = stored_runs(kube, namespace)
    return all(
        is_cancelled(runs.get(n)) and replacement_name(n) in runs for n in originals
    ) and all(VERSION_STAMP in annotations_of(runs.get(n) or {}) for n in stamped)


def check_replacements(
    kube: Cluster,
    namespace: str,
    created: Mapping[str, RunBatch],
    right: Mapping[str, str],
    version_id: str,
    history: WatchRecorder,
) -> None:
    """Every wrong original: cancelled, pointing at its one copy; every copy: exactly the
    binding's params and the bookkeeping; right runs only stamped, unrelated runs untouched;
    nothing else."""
    runs = stored_runs(kube, namespace)
    history.catch_up(runs.values())
    wrong = {name: body for batch in created.values() for name, body in batch.wrong.items()}
    untouched = {
        name: body
        for batch in created.values()
        for name, body in {**batch.right, **batch.unrelated}.items()
    }
    # Right runs are left running, stamped with the version they run for; nothing else.
    right_runs = {name for batch in created.values() for name in batch.right}
    copies = {replacement_name(name): name for name in wrong}

    assert set(runs) == set(wrong) | set(copies) | set(untouched), "runs besides the expected"
    for name, body in wrong.items():
        original, copy = runs[name], runs[replacement_name(name)]
        annotations = original["metadata"].get("annotations", {})
        assert original["spec"]["status"] == "Cancelled", name
        assert annotations.get("registry-sync.io/replaced-by") == replacement_name(name), name
        assert replacement_name(name) in annotations.get("registry-sync.io/cancelled-because", "")
        assert params_of(original) == params_of(body), f"{name}: the original's params changed"

        given = params_of(body)
        copy_annotations = copy["metadata"].get("annotations", {})
        assert copy["spec"]["status"] == "PipelineRunPending", f"{copy['metadata']['name']}"
        assert params_of(copy) == {**given, **right}, f"{copy['metadata']['name']}: params"
        assert copy["metadata"]["labels"] == {TARGET_LABEL: ISVC_NAME, REPLACEMENT_OF: name}
        assert copy_annotations.get(REPLACEMENT_OF) == name
        assert copy_annotations.get(VERSION_STAMP) == version_id
        replaced_values = {k: given.get(k) for k in PARAMS if given.get(k) != right[k]}
        assert json.loads(copy_annotations["registry-sync.io/original-params"]) == replaced_values
    for name, body in untouched.items():
        stored = runs[name]
        assert stored["spec"] == body["spec"], f"{name} was changed"
        stamp = {VERSION_STAMP: version_id} if name in right_runs else {}
        assert (stored["metadata"].get("annotations") or {}) == stamp, f"{name}: annotations"
        assert stored["metadata"].get("labels") == body["metadata"].get("labels"), name

    # The whole history, not only the end: one creation per copy, never deleted, and no
    # original cancelled before its copy was stored.
    events = history.snapshot()
    assert history.error is None, history.error
    for copy_name, original in copies.items():
        positions = [i for i, seen in enumerate(events) if seen.name == copy_name]
        types = [events[i].type for i in positions]
        assert types.count("ADDED") == 1 and "DELETED" not in types, f"{copy_name}: {types}"
        cancelled_at = [
            i for i, s in enumerate(events) if s.name == original and is_cancelled(s.object)
        ]
        assert cancelled_at and cancelled_at[0] > positions[0], (
            f"{original} was cancelled before its copy {copy_name} existed"
        )


def test_sigkill_during_replacement_leaves_one_copy_per_run_and_no_half_state(
    kube: Cluster,
    namespace: str,
    dev_registry: RunningRegistry,
    seed: SeedIds,
    kill_seed: int,
    tmp_path: Path,
) -> None:
    rng = random.Random(kill_seed)
    extra = ["--webhook", "off", "--refresh-seconds", "1"]
    with (
        explained(f"replay with {SEED_VARIABLE}={kill_seed}"),
        WatchRecorder(kube, namespace, PIPELINE_RUNS) as history,
        start_operator(
            kube, namespace, dev_registry.url, tmp_path / "operator.log", extra_args=extra
        ) as operator,
    ):
        INFERENCE_SERVICES.create(
            kube.api_client, namespace, seed_inference_service(namespace, seed)
        )

        def ready() -> bool:
            found = condition(binding_or_none(kube.api_client, namespace, ISVC_NAME), "Ready")
            return bool(found and found["status"] == "True")

        kube.wait_for(ready, timeout=CONVERGENCE_TIMEOUT, description="seed binding Ready")
        right, version_id = binding_params(kube, namespace)
        created: dict[str, RunBatch] = {}

        # Calibration, undisturbed: how long a round's replacements take from the first create.
        batch = created["cal"] = make_batch(rng, "cal", right)
        began = time.monotonic()
        create_runs(kube, namespace, batch)
        kube.wait_for(
            functools.partial(replaced, kube, namespace, batch.wrong, batch.right),
            timeout=CONVERGENCE_TIMEOUT,
            description="calibration round replaced",
        )
        cancels = [s.at for s in history.snapshot() if is_cancelled(s.object)]
        window = max(max(cancels, default=began) - began, 0.05) * 1.25
        check_replacements(kube, namespace, created, right, version_id, history)

        landed = {"untouched": 0, "copy-only": 0, "done": 0, "cancelled-without-copy": 0}
        delays, restarts = spread(rng, window, ROUNDS), []
        for number, delay in enumerate(delays):
            prefix = f"r{number}"
            batch = created[prefix] = make_batch(rng, prefix, right)
            with explained(f"round {number}, killed {delay:.3f} s after the first create"):
                kill_after(operator, delay, functools.partial(create_runs, kube, namespace, batch))
                # The operator is dead: this is the state it left, frozen.
                at_kill = replacement_states(stored_runs(kube, namespace), list(batch.wrong))
                for key, count in at_kill.items():
                    landed[key] += count
                assert at_kill["cancelled-without-copy"] == 0, f"at the kill: {at_kill}"
                restarts.append(restart_after_kill(operator))
                kube.wait_for(
                    functools.partial(replaced, kube, namespace, batch.wrong, batch.right),
                    timeout=CONVERGENCE_TIMEOUT,
                    description=f"{prefix} replaced after the restart",
                )
                check_replacements(kube, namespace, created, right, version_id, history)

    print(
        f"\nreplacement: seed {kill_seed}, {ROUNDS} kills, window {window:.3f} s, "
        f"delays {sorted(round(d, 3) for d in delays)}, originals at kill time {landed}, "
        f"restarts took {min(restarts):.1f}-{max(restarts):.1f} s"
    )


# -- label correction ------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What the registry says about one deployed URI, as the test registered it."""

    model_id: str
    version_id: str
    model_name: str
    version_name: str

    def labels(self) -> dict[str, str]:
        return {MODEL_ID: self.model_id, VERSION_ID: self.version_id, REGISTRY_NAME: REGISTRY}


def registry_answers(seed: SeedIds) -> dict[str, Answer]:
    return {
        DEPLOYED_URI: Answer(seed.small_model, seed.small_version, SMALL_MODEL, SMALL_VERSION),
        OPTIMIZED_URI: Answer(
            seed.mistral_model, seed.optimized_version, MISTRAL_MODEL, OPTIMIZED_VERSION
        ),
        ONE_GPU_URI: Answer(
            seed.mistral_model, seed.one_gpu_version, MISTRAL_MODEL, ONE_GPU_VERSION
        ),
        COMPARISON_URI: Answer(
            seed.comparison_model, seed.comparison_version, COMPARISON_MODEL, COMPARISON_VERSION
        ),
    }


def wrong_labels(rng: random.Random, uri: str, answers: Mapping[str, Answer]) -> dict[str, str]:
    """Labels as people got them wrong: another URI's whole answer, a mix of two answers
    (the incident), a single wrong id, or none at all."""
    right = answers[uri]
    other = answers[rng.choice([u for u in answers if answers[u].version_id != right.version_id])]
    variants = [
        other.labels(),
        {MODEL_ID: right.model_id, VERSION_ID: other.version_id},
        {MODEL_ID: other.model_id, VERSION_ID: right.version_id, REGISTRY_NAME: REGISTRY},
        {},
    ]
    return rng.choice(variants)


def registry_labels(body: Mapping[str, Any]) -> dict[str, str]:
    labels = body["metadata"].get("labels") or {}
    return {k: v for k, v in labels.items() if k in (MODEL_ID, VERSION_ID, REGISTRY_NAME)}


def storage_uri(body: Mapping[str, Any]) -> str:
    uri: str = body["spec"]["predictor"]["model"]["storageUri"]
    return uri


@dataclass
class Deployments:
    """The InferenceServices the test made: their current URIs and the labels it wrote."""

    uris: dict[str, str] = field(default_factory=dict)  # opted in
    written: dict[str, dict[str, str]] = field(default_factory=dict)
    unmanaged: dict[str, dict[str, str]] = field(default_factory=dict)
    moved: set[str] = field(default_factory=set)  # storage URI changed once already


def label_round(
    kube: Cluster,
    namespace: str,
    rng: random.Random,
    prefix: str,
    deployments: Deployments,
    answers: Mapping[str, Answer],
) -> tuple[Callable[[], None], list[str]]:
    """New opted-in InferenceServices with wrong labels, a URI change or two on earlier ones
    (each moves once: two corrections stay below the GitOps limit), sometimes an unmanaged one.
    Returns the writes to make and the opted-in names they touch."""
    creates: list[dict[str, Any]] = []
    patches: list[tuple[str, str]] = []
    for i in range(rng.randint(2, 4)):
        name, uri = f"{prefix}-isvc-{i}", rng.choice(list(answers))
        labels = wrong_labels(rng, uri, answers)
        enabled = {"registry-sync.io/enabled": "true"}
        creates.append(inference_service(name, storage_uri=uri, labels=labels, annotations=enabled))
        deployments.uris[name], deployments.written[name] = uri, labels
    movable = sorted(
        set(deployments.uris) - deployments.moved - {c["metadata"]["name"] for c in creates}
    )
    for name in rng.sample(movable, min(len(movable), rng.randint(0, 2))):
        uri = rng.choice([u for u in answers if u != deployments.uris[name]])
        patches.append((name, uri))
        deployments.uris[name] = uri
        deployments.moved.add(name)
    if rng.random() < 0.4:
        name = f"{prefix}-unmanaged"
        labels = wrong_labels(rng, DEPLOYED_URI, answers)
        creates.append(inference_service(name, labels=labels))
        deployments.unmanaged[name] = labels
    rng.shuffle(creates)

    def work() -> None:
        for name, uri in patches:
            spec = INFERENCE_SERVICES.get(kube.api_client, namespace, name)["spec"]
            spec["predictor"]["model"]["storageUri"] = uri
            INFERENCE_SERVICES.merge_patch(kube.api_client, namespace, name, {"spec": spec})
        for body in creates:
            INFERENCE_SERVICES.create(kube.api_client, namespace, body)

    touched = [name for name, _ in patches] + [
        c["metadata"]["name"] for c in creates if c["metadata"]["name"] in deployments.uris
    ]
    return work, touched


def stored_isvcs(kube: Cluster, namespace: str) -> dict[str, dict[str, Any]]:
    listed = kube.custom_objects.list_namespaced_custom_object(
        INFERENCE_SERVICES.group, INFERENCE_SERVICES.version, namespace, INFERENCE_SERVICES.plural
    )
    return {item["metadata"]["name"]: item for item in listed["items"]}


def stored_bindings(kube: Cluster, namespace: str) -> list[dict[str, Any]]:
    listed = kube.custom_objects.list_namespaced_custom_object(
        MODEL_BINDINGS.group, MODEL_BINDINGS.version, namespace, MODEL_BINDINGS.plural
    )
    items: list[dict[str, Any]] = listed["items"]
    return items


def converged(
    kube: Cluster, namespace: str, deployments: Deployments, answers: Mapping[str, Answer]
) -> bool:
    isvcs = stored_isvcs(kube, namespace)
    bindings = {b["metadata"]["name"]: b for b in stored_bindings(kube, namespace)}
    for name, uri in deployments.uris.items():
        ready = condition(bindings.get(name), "Ready")
        if registry_labels(isvcs[name]) != answers[uri].labels():
            return False
        if not ready or ready["status"] != "True" or bindings[name]["status"]["storageUri"] != uri:
            return False
    return True


def labels_corrected_at_kill(
    kube: Cluster,
    namespace: str,
    touched: list[str],
    deployments: Deployments,
    answers: Mapping[str, Answer],
) -> dict[str, int]:
    """Where the kill landed, for the round's objects: labels still wrong (or not created
    yet), labels right with the binding behind, both right."""
    isvcs = stored_isvcs(kube, namespace)
    bindings = {b["metadata"]["name"]: b for b in stored_bindings(kube, namespace)}
    counts = {"labels-wrong": 0, "labels-right-binding-behind": 0, "both-right": 0}
    for name in touched:
        uri = deployments.uris[name]
        if name not in isvcs or registry_labels(isvcs[name]) != answers[uri].labels():
            counts["labels-wrong"] += 1
        elif bindings.get(name, {}).get("status", {}).get("storageUri") != uri:
            counts["labels-right-binding-behind"] += 1
        else:
            counts["both-right"] += 1
    return counts


def check_labels(
    kube: Cluster,
    namespace: str,
    deployments: Deployments,
    answers: Mapping[str, Answer],
    history: WatchRecorder,
) -> None:
    """Labels and bindings agree with the registry; every label change ever stored was the
    whole answer for the URI the object had; one binding per opted-in InferenceService."""
    isvcs = stored_isvcs(kube, namespace)
    history.catch_up(isvcs.values())
    bindings = stored_bindings(kube, namespace)
    names = [b["metadata"]["name"] for b in bindings]
    assert sorted(names) == sorted(deployments.uris), "bindings besides one per opted-in ISVC"
    for binding in bindings:
        name = binding["metadata"]["name"]
        answer, status = answers[deployments.uris[name]], binding["status"]
        owners = binding["metadata"].get("ownerReferences", [])
        assert [o["uid"] for o in owners] == [isvcs[name]["metadata"]["uid"]], name
        assert registry_labels(isvcs[name]) == answer.labels(), name
        assert (status["registeredModelId"], status["modelVersionId"]) == (
            answer.model_id,
            answer.version_id,
        ), name
        assert (status["registeredModelName"], status["modelVersionName"]) == (
            answer.model_name,
            answer.version_name,
        ), name
        ready, in_sync = condition(binding, "Ready"), condition(binding, "LabelsInSync")
        assert ready and (ready["status"], ready["reason"]) == ("True", "Resolved"), (name, ready)
        assert in_sync and in_sync["status"] == "True", (name, in_sync)
        assert status.get("expectedLabels") is None, f"{name}: GitOpsConflict left behind"
    for name, labels in deployments.unmanaged.items():
        assert registry_labels(isvcs[name]) == labels, f"unmanaged {name} was relabelled"

    assert history.error is None, history.error
    for name in [*deployments.uris, *deployments.unmanaged]:
        states = [s for s in history.of(name) if s.type != "DELETED"]
        assert states and states[0].type == "ADDED", f"{name}: creation not recorded"
        written = deployments.written.get(name, deployments.unmanaged.get(name))
        assert registry_labels(states[0].object) == written, name
        changes = 0
        for before, after in itertools.pairwise(states):
            labels = registry_labels(after.object)
            if labels == registry_labels(before.object):
                continue
            changes += 1
            # Only the operator changes labels after creation: each change is the whole
            # answer for the URI stored in that very object, never part of two answers.
            expected = answers[storage_uri(after.object)].labels()
            assert labels == expected, (
                f"{name}: labels {labels} stored with {storage_uri(after.object)}, "
                f"whose answer is {expected}"
            )
        assert changes <= (2 if name in deployments.moved else 1), f"{name}: {changes} writes"


def test_sigkill_during_label_correction_leaves_whole_answers_and_one_binding(
    kube: Cluster,
    namespace: str,
    dev_registry: RunningRegistry,
    seed: SeedIds,
    kill_seed: int,
    tmp_path: Path,
) -> None:
    rng = random.Random(kill_seed)
    answers = registry_answers(seed)
    deployments = Deployments()
    extra = ["--registry-name", REGISTRY, "--refresh-seconds", "1", "--webhook", "off"]
    with (
        explained(f"replay with {SEED_VARIABLE}={kill_seed}"),
        WatchRecorder(kube, namespace, INFERENCE_SERVICES) as history,
        start_operator(
            kube, namespace, dev_registry.url, tmp_path / "operator.log", extra_args=extra
        ) as operator,
    ):
        # Calibration, undisturbed: how long a round's corrections take from the first write.
        began = time.monotonic()
        label_round(kube, namespace, rng, "cal", deployments, answers)[0]()
        kube.wait_for(
            functools.partial(converged, kube, namespace, deployments, answers),
            timeout=CONVERGENCE_TIMEOUT,
            description="calibration round converged",
        )
        window = max(time.monotonic() - began, 0.05)
        check_labels(kube, namespace, deployments, answers, history)

        landed = {"labels-wrong": 0, "labels-right-binding-behind": 0, "both-right": 0}
        delays, restarts = spread(rng, window, ROUNDS), []
        for number, delay in enumerate(delays):
            work, touched = label_round(kube, namespace, rng, f"r{number}", deployments, answers)
            with explained(f"round {number}, killed {delay:.3f} s after the first write"):
                kill_after(operator, delay, work)
                at_kill = labels_corrected_at_kill(kube, namespace, touched, deployments, answers)
                for key, count in at_kill.items():
                    landed[key] += count
                restarts.append(restart_after_kill(operator))
                kube.wait_for(
                    functools.partial(converged, kube, namespace, deployments, answers),
                    timeout=CONVERGENCE_TIMEOUT,
                    description=f"round {number} converged after the restart",
                )
                check_labels(kube, namespace, deployments, answers, history)
    print(
        f"\nlabels: seed {kill_seed}, {ROUNDS} kills, window {window:.3f} s, "
        f"delays {sorted(round(d, 3) for d in delays)}, objects at kill time {landed}, "
        f"restarts took {min(restarts):.1f}-{max(restarts):.1f} s"
    )


# -- a restart during a registry outage ------------------------------------------------


def test_a_restart_during_a_registry_outage_keeps_the_recorded_answer_and_cancels_nothing(
    kube: Cluster, namespace: str, dev_registry: RunningRegistry, seed: SeedIds, tmp_path: Path
) -> None:
    # The answer lives in the operator's memory and in the ModelBinding. Killed and restarted
    # while the registry is down, the operator must go on with the recorded answer (DESIGN:
    # an outage keeps the last known answer), not forget it and cancel every pending run,
    # its own corrected copies included.
    extra = ["--webhook", "off", "--refresh-seconds", "1"]
    with start_operator(
        kube, namespace, dev_registry.url, tmp_path / "operator.log", extra_args=extra
    ) as operator:
        INFERENCE_SERVICES.create(
            kube.api_client, namespace, seed_inference_service(namespace, seed)
        )

        def ready(reason: str) -> dict[str, Any] | None:
            binding = binding_or_none(kube.api_client, namespace, ISVC_NAME)
            found = condition(binding, "Ready")
            return (
                binding
                if found and (found["status"], found["reason"]) == ("True", reason)
                else None
            )

        before = kube.wait_for(functools.partial(ready, "Resolved"), timeout=CONVERGENCE_TIMEOUT)
        right, _ = binding_params(kube, namespace)
        wrong = {"vllm_model_name": right["vllm_model_name"], "model_name": MISTRAL_MODEL}
        PIPELINE_RUNS.create(kube.api_client, namespace, pending_run("wrong", wrong))
        PIPELINE_RUNS.create(kube.api_client, namespace, pending_run("right", right))
        kube.wait_for(functools.partial(replaced, kube, namespace, ["wrong"]), timeout=60)

        operator.kill()
        dev_registry.stop()
        operator.start()

        after = kube.wait_for(
            functools.partial(ready, "RegistryUnavailable"),
            timeout=CONVERGENCE_TIMEOUT,
            description="the recorded answer kept through the outage",
        )
        # A run created now is corrected with the kept answer, not cancelled.
        PIPELINE_RUNS.create(kube.api_client, namespace, pending_run("later", wrong))
        kube.wait_for(
            functools.partial(replaced, kube, namespace, ["later"]),
            timeout=CONVERGENCE_TIMEOUT,
            description="a run during the outage replaced",
        )

    keys = ("registeredModelId", "modelVersionId", "registeredModelName", "modelVersionName")
    assert {k: after["status"][k] for k in keys} == {k: before["status"][k] for k in keys}
    runs = stored_runs(kube, namespace)
    for name in ("right", replacement_name("wrong"), replacement_name("later")):
        assert runs[name]["spec"]["status"] == "PipelineRunPending", f"{name} was cancelled"
    assert params_of(runs[replacement_name("later")]) == {
        "inference_service_name": ISVC_NAME,
        **right,
    }
