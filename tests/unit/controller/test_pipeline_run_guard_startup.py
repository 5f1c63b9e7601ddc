"""No-webhook mode at start-up: a run is not judged before its InferenceService is known.

At a cold start the watch events of runs and InferenceServices arrive together. A run whose
target was listed at start-up but not reconciled yet must wait for it instead of being
cancelled as "no such InferenceService" after the admission's short wait (bench/scale.py
found running runs with the right params cancelled this way: 39 of 50 at 500
InferenceServices). Real guard, admission, book and reconciler; the Kubernetes calls are a
recording stand-in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from registry_sync.controller.binding_book import BindingBook
from registry_sync.controller.metrics import OperatorMetrics
from registry_sync.controller.pipeline_run_admission import PipelineRunAdmission
from registry_sync.controller.pipeline_run_guard import PipelineRunGuard
from registry_sync.controller.reconciler import InferenceServiceReconciler, ReconcilerConfig
from registry_sync.domain.binding import GitOpsPolicy
from registry_sync.domain.metadata import VERSION_ANNOTATION, LabelKeys
from registry_sync.domain.params import ParamNames
from support.snapshot_sources import SnapshotAtHand
from unit.domain.seed import (
    INFERENCE_SERVICE_NAME,
    NAMESPACE,
    READY_BINDING,
    seed_inference_service,
    seed_snapshot,
)

SHORT_WAIT_S = 0.05  # the admission's wait for an unresolved target, shortened


class ServiceWrites:
    """The reconciler's Kubernetes writes, all succeeding (not under test here)."""

    def patch_labels(self, *_: Any) -> dict[str, Any]:
        return {}

    def create_binding(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return {"metadata": {"uid": "binding-uid"}}

    def patch_binding_status(self, *_: Any) -> dict[str, Any]:
        return {}

    def post_event(self, *_: Any) -> None:
        return None


def reconciler_for(book: BindingBook) -> InferenceServiceReconciler:
    config = ReconcilerConfig(
        namespace=NAMESPACE, keys=LabelKeys(), registry_name=None, gitops=GitOpsPolicy()
    )
    source = SnapshotAtHand(seed_snapshot())
    return InferenceServiceReconciler(config, ServiceWrites(), source, book, OperatorMetrics())  # type: ignore[arg-type]


def stored(body: dict[str, Any]) -> dict[str, Any]:
    body["metadata"].update(uid="isvc-uid", resourceVersion="1", generation=1)
    return body


class RunWrites:
    """PipelineRun writes the guard makes (none expected for a right run)."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, str]] = []

    def patch_pipeline_run(self, ref: Any, patch: Mapping[str, Any]) -> None:
        self.writes.append(("patch", ref.name))

    def create_pipeline_run(self, body: Mapping[str, Any]) -> bool:
        self.writes.append(("create", body["metadata"]["name"]))
        return True

    def post_event(
        self, subject: Any, type_: str, reason: str, message: str, at_ms: int | None = None
    ) -> None:
        self.writes.append((f"event {reason}", subject["metadata"]["name"]))


def running_run(
    name: str, target: str, version_name: str, *, stamp: str | None = None
) -> dict[str, Any]:
    """A started model-testing run of `target`; the seed's right names but `version_name`;
    `stamp`, the model version id it was admitted for, when given."""
    run: dict[str, Any] = {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "uid": f"{name}-uid",
            "labels": {"registry-sync.io/inference-service": target},
        },
        "spec": {
            "params": [
                {"name": "vllm_model_name", "value": INFERENCE_SERVICE_NAME},
                {"name": "model_name", "value": "Mistral-Small-24B-Instruct"},
                {"name": "version_name", "value": version_name},
            ]
        },
    }
    if stamp is not None:
        run["metadata"]["annotations"] = {VERSION_ANNOTATION: stamp}
    return run


RIGHT_VERSION = "quantized-w4a16-2501"
RIGHT_VERSION_ID = READY_BINDING.version_id


def guard_with_book(
    startup_wait_s: float = 30.0,
) -> tuple[PipelineRunGuard, BindingBook, RunWrites]:
    book = BindingBook()
    admission = PipelineRunAdmission(
        book,
        ParamNames.parse("vllm_model_name,model_name,version_name"),
        OperatorMetrics(),
        binding_wait_s=SHORT_WAIT_S,
    )
    runs = RunWrites()
    guard = PipelineRunGuard(admission, runs, book, startup_wait_s)  # type: ignore[arg-type]
    return guard, book, runs


async def test_a_right_run_whose_target_is_not_reconciled_yet_is_left_alone() -> None:
    guard, book, runs = guard_with_book()
    book.expect([INFERENCE_SERVICE_NAME])  # listed at start-up
    judged = asyncio.create_task(
        guard.on_pipeline_run(
            "ADDED",
            running_run("right", INFERENCE_SERVICE_NAME, RIGHT_VERSION, stamp=RIGHT_VERSION_ID),
        )
    )
    await asyncio.sleep(20 * SHORT_WAIT_S)  # far past the admission's wait
    assert not judged.done() and runs.writes == []

    reconciler = reconciler_for(book)
    await reconciler.on_inference_service("ADDED", stored(seed_inference_service()))
    await asyncio.wait_for(judged, 5)

    assert runs.writes == []


async def test_wrong_runs_are_still_cancelled_once_the_listed_services_are_known() -> None:
    guard, book, runs = guard_with_book()
    book.expect([INFERENCE_SERVICE_NAME])
    wrong = running_run("wrong", INFERENCE_SERVICE_NAME, "24b-w4a16-1gpu")
    unknown = running_run("unknown", "no-such-service", RIGHT_VERSION)
    judged = [asyncio.create_task(guard.on_pipeline_run("ADDED", r)) for r in (wrong, unknown)]

    reconciler = reconciler_for(book)
    await reconciler.on_inference_service("ADDED", stored(seed_inference_service()))
    await asyncio.wait_for(asyncio.gather(*judged), 5)

    assert {name for action, name in runs.writes if action == "patch"} == {"wrong", "unknown"}


async def test_a_listed_service_that_went_away_does_not_hold_the_runs() -> None:
    guard, book, runs = guard_with_book()
    book.expect([INFERENCE_SERVICE_NAME, "deleted-meanwhile"])
    reconciler = reconciler_for(book)
    await reconciler.on_inference_service("ADDED", stored(seed_inference_service()))
    gone = stored(seed_inference_service())
    gone["metadata"]["name"] = "deleted-meanwhile"
    await reconciler.on_inference_service("DELETED", gone)

    right = running_run("right", INFERENCE_SERVICE_NAME, RIGHT_VERSION, stamp=RIGHT_VERSION_ID)
    await asyncio.wait_for(guard.on_pipeline_run("ADDED", right), 5)
    assert runs.writes == []


async def test_without_a_start_up_listing_nothing_is_held() -> None:
    guard, _, runs = guard_with_book()
    unknown = running_run("unknown", "no-such-service", RIGHT_VERSION)
    await asyncio.wait_for(guard.on_pipeline_run("ADDED", unknown), 5)
    assert ("patch", "unknown") in runs.writes


async def test_a_listed_service_never_reconciled_holds_runs_only_for_the_start_up_wait() -> None:
    # Fail closed: after the bounded wait the run is judged with what is known.
    guard, book, runs = guard_with_book(startup_wait_s=0.2)
    book.expect(["never-reconciled"])
    unknown = running_run("unknown", "never-reconciled", RIGHT_VERSION)
    await asyncio.wait_for(guard.on_pipeline_run("ADDED", unknown), 5)
    assert ("patch", "unknown") in runs.writes


async def test_a_finished_run_is_answered_at_once_while_services_are_still_awaited() -> None:
    # Most opted-in runs are finished: no binding could change anything about them, so their
    # events must not be held (with their bodies) until every listed service is reconciled.
    guard, book, runs = guard_with_book(startup_wait_s=30.0)
    book.expect([INFERENCE_SERVICE_NAME])
    finished = running_run("finished", INFERENCE_SERVICE_NAME, "24b-w4a16-1gpu")
    finished["status"] = {"completionTime": "2026-11-01T10:20:00Z"}
    await asyncio.wait_for(guard.on_pipeline_run("ADDED", finished), 1)
    assert runs.writes == []
