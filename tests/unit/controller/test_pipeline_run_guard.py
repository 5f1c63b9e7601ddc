"""No-webhook mode: what the guard does to runs when the registry or the copy's name is not
what it expects.

- A model registered with a team's URI after its run started makes the binding Ambiguous;
  the running run, started with the answer that was Ready, is reported, not cancelled.
- A run named like the corrected copy but made by someone else is not taken for the copy.
Real guard, admission, book and reconciler; the Kubernetes calls are a recording stand-in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from registry_sync.controller.binding_book import BindingBook, BindingEntry
from registry_sync.controller.kube_calls import ALWAYS_OPEN, WriteGate
from registry_sync.controller.metrics import OperatorMetrics
from registry_sync.controller.pipeline_run_admission import PipelineRunAdmission
from registry_sync.controller.pipeline_run_guard import PipelineRunGuard
from registry_sync.controller.reconciler import InferenceServiceReconciler, ReconcilerConfig
from registry_sync.domain.binding import BindingDecision, CorrectionHistory, GitOpsPolicy
from registry_sync.domain.inference_service import read_inference_service
from registry_sync.domain.metadata import (
    CANCELLED_BECAUSE_ANNOTATION,
    KEPT_RUNNING_ANNOTATION,
    REPLACED_BY_ANNOTATION,
    REPLACEMENT_OF_ANNOTATION,
    VERSION_ANNOTATION,
    DeploymentKind,
    LabelKeys,
)
from registry_sync.domain.params import ParamNames
from registry_sync.domain.reference_index import RegistryOwners
from registry_sync.domain.replacement import replacement_name
from registry_sync.domain.snapshot import (
    ModelArtifact,
    ModelVersion,
    RegisteredModel,
    RegistrySnapshot,
)
from unit.controller.test_pipeline_run_guard_startup import (
    RIGHT_VERSION,
    ServiceWrites,
    SnapshotAtHand,
    running_run,
    stored,
)
from unit.controller.test_replicas import Gate
from unit.domain.seed import (
    DEPLOYED_URI,
    INFERENCE_SERVICE_NAME,
    NAMESPACE,
    READY_BINDING,
    seed_inference_service,
    seed_snapshot,
)

CREATED_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
CREATED = "2026-01-01T00:00:00Z"
TEAM = "private-ai-demo"


class Clock:
    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> float:
        return self.now_ms / 1000


class RunCalls:
    """The guard's PipelineRun calls: patches with their bodies, creates, lookups, Events."""

    def __init__(self, existing: Mapping[str, Any] | None = None, create_ok: bool = True) -> None:
        self.patches: list[tuple[str, Mapping[str, Any]]] = []
        self.created: list[Mapping[str, Any]] = []
        self.events: list[tuple[str, str, str]] = []
        self._existing = existing
        self._create_ok = create_ok

    def patch_pipeline_run(self, ref: Any, patch: Mapping[str, Any]) -> None:
        self.patches.append((ref.name, patch))

    def create_pipeline_run(self, body: Mapping[str, Any]) -> bool:
        self.created.append(body)
        return self._create_ok

    def find_pipeline_run(self, ref: Any) -> Mapping[str, Any] | None:
        return self._existing

    def post_event(
        self, subject: Any, type_: str, reason: str, message: str, at_ms: int | None = None
    ) -> None:
        self.events.append((subject["metadata"]["name"], type_, reason))


def with_squatter(snapshot: RegistrySnapshot, owner: str | None = None) -> RegistrySnapshot:
    """The seed registry after someone registered the deployed URI under a model of theirs."""
    squatter = RegisteredModel(id="11", name="Squatter", owner=owner)
    version = ModelVersion(id="12", name="v1", registered_model_id="11")
    artifact = ModelArtifact(id="13", name="squat", uri=DEPLOYED_URI, model_version_id="12")
    return dataclasses.replace(
        snapshot,
        models={**snapshot.models, "11": squatter},
        versions={**snapshot.versions, "12": version},
        artifacts=(*snapshot.artifacts, artifact),
    )


def owned_by_team(snapshot: RegistrySnapshot) -> RegistrySnapshot:
    models = {key: dataclasses.replace(m, owner=TEAM) for key, m in snapshot.models.items()}
    return dataclasses.replace(snapshot, models=models)


class Namespace:
    """The seed InferenceService reconciled to Ready, and a guard over its runs."""

    def __init__(
        self,
        snapshot: RegistrySnapshot,
        runs: RunCalls,
        owners: RegistryOwners | None = None,
        gate: WriteGate = ALWAYS_OPEN,
    ) -> None:
        self.clock = Clock(CREATED_MS + 60_000)
        self.book = BindingBook(clock=self.clock)
        self.source = SnapshotAtHand(snapshot)
        config = ReconcilerConfig(
            namespace=NAMESPACE,
            keys=LabelKeys(),
            registry_name=None,
            gitops=GitOpsPolicy(),
            owners=owners or RegistryOwners(),
        )
        self.reconciler = InferenceServiceReconciler(
            config,
            ServiceWrites(),  # type: ignore[arg-type]
            self.source,  # type: ignore[arg-type]
            self.book,
            OperatorMetrics(),
        )
        admission = PipelineRunAdmission(
            self.book, ParamNames(), OperatorMetrics(), binding_wait_s=0.05
        )
        self.guard = PipelineRunGuard(admission, runs, self.book, gate=gate)  # type: ignore[arg-type]

    async def deploy(self) -> None:
        await self.reconciler.on_inference_service("ADDED", stored(seed_inference_service()))

    async def registry_changes_to(self, snapshot: RegistrySnapshot) -> None:
        self.source.snapshot = snapshot
        await self.reconciler.on_registry_refresh()

    def ready(self) -> bool:
        entry = self.book.get(DeploymentKind.INFERENCE_SERVICE, INFERENCE_SERVICE_NAME)
        return entry is not None and entry.ready


def started_right_run(stamp: str | None = None) -> dict[str, Any]:
    run = running_run("bench", INFERENCE_SERVICE_NAME, RIGHT_VERSION, stamp=stamp)
    run["metadata"]["creationTimestamp"] = CREATED
    run["status"] = {"conditions": [{"type": "Succeeded", "status": "Unknown"}]}
    return run


# A squatting registration -------------------------------------------------------------------


async def test_a_squatting_registration_does_not_cancel_a_correctly_started_run() -> None:
    runs = RunCalls()
    namespace = Namespace(seed_snapshot(), runs)
    await namespace.deploy()
    assert namespace.ready()
    await namespace.guard.on_pipeline_run("ADDED", started_right_run())
    # Left running, and stamped with the version it runs for (as the webhook would have).
    stamp = {VERSION_ANNOTATION: READY_BINDING.version_id}
    assert runs.patches == [("bench", {"metadata": {"annotations": stamp}})]
    runs.patches.clear()
    stamped = started_right_run(stamp=READY_BINDING.version_id)

    await namespace.registry_changes_to(with_squatter(seed_snapshot()))
    assert not namespace.ready()
    await namespace.guard.on_pipeline_run("MODIFIED", stamped)

    assert [name for name, _ in runs.patches] == ["bench"]
    _, patch = runs.patches[0]
    assert "spec" not in patch  # not cancelled
    assert (
        "no longer Ready (Ambiguous)" in patch["metadata"]["annotations"][KEPT_RUNNING_ANNOTATION]
    )
    assert runs.events == [("bench", "Warning", "BindingNotReady")]


async def test_a_run_created_after_the_squatting_registration_is_cancelled() -> None:
    runs = RunCalls()
    namespace = Namespace(seed_snapshot(), runs)
    await namespace.deploy()
    await namespace.registry_changes_to(with_squatter(seed_snapshot()))

    late = started_right_run()
    late["metadata"]["creationTimestamp"] = "2026-01-01T00:01:00Z"  # when Ready ended
    await namespace.guard.on_pipeline_run("ADDED", late)

    assert [patch["spec"] for _, patch in runs.patches] == [{"status": "Cancelled"}]
    assert runs.events == [("bench", "Warning", "Ambiguous")]


async def test_a_squatter_of_another_owner_does_not_count_with_registry_owners() -> None:
    runs = RunCalls()
    owners = RegistryOwners.parse(TEAM)
    namespace = Namespace(owned_by_team(seed_snapshot()), runs, owners)
    await namespace.deploy()

    squatted = with_squatter(owned_by_team(seed_snapshot()), owner="someone-else")
    await namespace.registry_changes_to(squatted)
    late = started_right_run(stamp=READY_BINDING.version_id)
    late["metadata"]["creationTimestamp"] = "2026-01-01T00:05:00Z"
    await namespace.guard.on_pipeline_run("ADDED", late)

    assert namespace.ready()
    assert runs.patches == [] and runs.events == []


# A foreign run named like the copy -----------------------------------------------------------


def pending_wrong_run() -> dict[str, Any]:
    run = running_run("bench", INFERENCE_SERVICE_NAME, "24b-w4a16-1gpu")
    run["metadata"]["creationTimestamp"] = CREATED
    run["spec"]["status"] = "PipelineRunPending"
    return run


async def test_a_foreign_run_named_like_the_copy_is_not_adopted() -> None:
    foreign = running_run(replacement_name("bench"), INFERENCE_SERVICE_NAME, "other")
    runs = RunCalls(existing=foreign, create_ok=False)
    namespace = Namespace(seed_snapshot(), runs)
    await namespace.deploy()

    await namespace.guard.on_pipeline_run("ADDED", pending_wrong_run())

    assert [body["metadata"]["name"] for body in runs.created] == ["bench-rs"]
    assert [name for name, _ in runs.patches] == ["bench"]
    _, patch = runs.patches[0]
    assert patch["spec"] == {"status": "Cancelled"}
    annotations = patch["metadata"]["annotations"]
    assert REPLACED_BY_ANNOTATION not in annotations
    assert (
        "is taken by a PipelineRun that is not its copy"
        in annotations[CANCELLED_BECAUSE_ANNOTATION]
    )
    assert runs.events == [("bench", "Warning", "ReplacementNameTaken")]


async def test_the_copy_an_earlier_attempt_made_is_adopted() -> None:
    original = pending_wrong_run()
    ours = {
        "metadata": {
            "name": "bench-rs",
            "namespace": NAMESPACE,
            "uid": "copy-uid",
            "annotations": {REPLACEMENT_OF_ANNOTATION: "bench"},
            "ownerReferences": [
                {
                    "apiVersion": "tekton.dev/v1",
                    "kind": "PipelineRun",
                    "name": "bench",
                    "uid": original["metadata"]["uid"],
                }
            ],
        }
    }
    runs = RunCalls(existing=ours, create_ok=False)
    namespace = Namespace(seed_snapshot(), runs)
    await namespace.deploy()

    await namespace.guard.on_pipeline_run("ADDED", original)

    _, patch = runs.patches[0]
    assert patch["metadata"]["annotations"][REPLACED_BY_ANNOTATION] == "bench-rs"
    assert runs.events == [("bench", "Normal", "Replaced")]


# The book remembers the last Ready answer ----------------------------------------------------


def entry(ready: bool, version: str = "5") -> BindingEntry:
    facts = read_inference_service(stored(seed_inference_service()), LabelKeys())
    # Only readiness matters to the book's Ready periods; `version` tells entries apart.
    decision = BindingDecision(
        label_patch=None,
        status={},
        events=(),
        history=CorrectionHistory(),
        ready=ready,
        ready_reason=version,
        ready_message="",
    )
    return BindingEntry(facts=facts, decision=decision)


async def test_the_book_remembers_the_last_ready_entry_and_when_it_ended() -> None:
    clock = Clock(1_000)
    book = BindingBook(clock=clock)
    assert book.last_ready(DeploymentKind.INFERENCE_SERVICE, INFERENCE_SERVICE_NAME) is None

    ready = entry(True)
    await book.put(ready)
    period = book.last_ready(DeploymentKind.INFERENCE_SERVICE, INFERENCE_SERVICE_NAME)
    assert period is not None and period.entry is ready and period.ended_at_ms is None

    clock.now_ms = 5_000
    await book.put(entry(False))
    clock.now_ms = 9_000
    await book.put(entry(False))  # still not Ready: the end stays when it was
    period = book.last_ready(DeploymentKind.INFERENCE_SERVICE, INFERENCE_SERVICE_NAME)
    assert period is not None and period.entry is ready and period.ended_at_ms == 5_000

    await book.forget(DeploymentKind.INFERENCE_SERVICE, INFERENCE_SERVICE_NAME)
    assert book.last_ready(DeploymentKind.INFERENCE_SERVICE, INFERENCE_SERVICE_NAME) is None


async def test_a_new_ready_period_replaces_the_last() -> None:
    book = BindingBook(clock=Clock(1_000))
    await book.put(entry(True, "5"))
    await book.put(entry(False))
    again = entry(True, "12")
    await book.put(again)
    period = book.last_ready(DeploymentKind.INFERENCE_SERVICE, INFERENCE_SERVICE_NAME)
    assert period is not None and period.entry is again and period.ended_at_ms is None


# Several replicas: runs seen while another replica wrote ------------------------------------


async def test_a_run_seen_while_not_the_writer_is_decided_when_this_replica_becomes_it() -> None:
    runs = RunCalls()
    gate = Gate(True)
    namespace = Namespace(seed_snapshot(), runs, gate=gate)
    await namespace.deploy()
    gate.open, guard = False, namespace.guard
    wrong = running_run("bench", INFERENCE_SERVICE_NAME, "24b-w4a16-1gpu")
    finished = running_run("done", INFERENCE_SERVICE_NAME, "24b-w4a16-1gpu")
    finished["status"] = {"completionTime": "2026-01-01T00:10:00Z"}

    await guard.on_pipeline_run("ADDED", wrong)
    await guard.on_pipeline_run("ADDED", finished)
    assert runs.patches == []  # another replica writes

    gate.open = True
    await guard.catch_up()

    assert [(name, patch["spec"]) for name, patch in runs.patches] == [
        ("bench", {"status": "Cancelled"})
    ]
    await guard.catch_up()  # decided once: nothing is left over
    assert len(runs.patches) == 1


async def test_a_run_deleted_or_settled_meanwhile_is_not_caught_up() -> None:
    runs = RunCalls()
    gate = Gate(True)
    namespace = Namespace(seed_snapshot(), runs, gate=gate)
    await namespace.deploy()
    gate.open, guard = False, namespace.guard
    deleted = running_run("deleted", INFERENCE_SERVICE_NAME, "24b-w4a16-1gpu")
    cancelled = running_run("cancelled", INFERENCE_SERVICE_NAME, "24b-w4a16-1gpu")
    await guard.on_pipeline_run("ADDED", deleted)
    await guard.on_pipeline_run("ADDED", cancelled)

    await guard.on_pipeline_run("DELETED", deleted)
    cancelled["spec"]["status"] = "Cancelled"  # the previous writer's cancel, seen
    await guard.on_pipeline_run("MODIFIED", cancelled)
    gate.open = True
    await guard.catch_up()

    assert runs.patches == []
