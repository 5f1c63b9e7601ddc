"""Several replicas: a follower keeps its book fresh and writes nothing; the replica that
takes over reads what the previous writer left (status, label corrections) and converges
what changed meanwhile; a restart keeps the GitOps correction count."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from registry_sync.controller.binding_book import BindingBook
from registry_sync.controller.kube_calls import NotLeading, WriteGate
from registry_sync.controller.metrics import OperatorMetrics
from registry_sync.controller.reconciler import InferenceServiceReconciler, ReconcilerConfig
from registry_sync.domain.answer import format_instant
from registry_sync.domain.binding import GitOpsPolicy
from registry_sync.domain.metadata import DeploymentKind, LabelKeys
from support.snapshot_sources import SnapshotAtHand
from unit.controller.test_reconciler import RecordingKube, stored
from unit.domain.seed import (
    INFERENCE_SERVICE_NAME,
    NAMESPACE,
    seed_inference_service,
    seed_snapshot,
)

NOW_S = 1_800_000_000.0


class Gate(WriteGate):
    def __init__(self, open_: bool) -> None:
        self.open = open_

    def may_write(self) -> bool:
        return self.open

    @contextmanager
    def writing(self, what: str) -> Iterator[None]:
        if not self.open:
            raise NotLeading(what)
        yield


class KubeWithBindings(RecordingKube):
    def __init__(self, book: BindingBook, bindings: list[dict[str, Any]]) -> None:
        super().__init__(book)
        self.bindings = bindings

    def list_bindings(self, namespace: str) -> list[dict[str, Any]]:
        return self.bindings


def reconciler(
    kube: RecordingKube, book: BindingBook, gate: WriteGate
) -> InferenceServiceReconciler:
    config = ReconcilerConfig(
        namespace=NAMESPACE,
        keys=LabelKeys("modelregistry.opendatahub.io"),
        registry_name=None,
        gitops=GitOpsPolicy(max_corrections=3, window_ms=600_000),
    )
    return InferenceServiceReconciler(
        config,
        kube,  # type: ignore[arg-type]
        SnapshotAtHand(seed_snapshot()),
        book,
        OperatorMetrics(),
        clock=lambda: NOW_S,
        gate=gate,
    )


def binding_with_corrections(*ago_s: float) -> dict[str, Any]:
    """A ModelBinding as the previous writer left it, with its label corrections."""
    return {
        "metadata": {
            "name": INFERENCE_SERVICE_NAME,
            "uid": "binding-uid",
            "ownerReferences": [{"uid": "isvc-uid"}],
        },
        "status": {
            "storageUri": seed_inference_service()["spec"]["predictor"]["model"]["storageUri"],
            "labelCorrections": [format_instant(int((NOW_S - ago) * 1000)) for ago in ago_s],
        },
    }


async def test_a_follower_answers_from_its_book_and_writes_nothing() -> None:
    book = BindingBook()
    kube = RecordingKube(book)
    await reconciler(kube, book, Gate(False)).on_inference_service(
        "ADDED", stored(seed_inference_service())
    )

    entry = book.get(DeploymentKind.INFERENCE_SERVICE, INFERENCE_SERVICE_NAME)
    assert entry is not None and entry.ready and entry.resolution.model_version_id == "5"
    assert kube.writes == []
    assert entry.history.times_ms == ()  # it corrected nothing, so it counts nothing


async def test_the_replica_that_takes_over_converges_what_nobody_wrote() -> None:
    book, gate = BindingBook(), Gate(False)
    kube = KubeWithBindings(book, [])
    follower = reconciler(kube, book, gate)
    await follower.on_inference_service("ADDED", stored(seed_inference_service()))

    gate.open = True
    await follower.on_take_over()

    assert [action for action, _, _ in kube.writes][:2] == ["labels", "create binding"]


async def test_a_take_over_keeps_counting_the_corrections_the_previous_writer_recorded() -> None:
    book, gate = BindingBook(), Gate(False)
    kube = KubeWithBindings(book, [binding_with_corrections(300, 200, 100)])
    follower = reconciler(kube, book, gate)
    await follower.on_inference_service("ADDED", stored(seed_inference_service()))

    gate.open = True
    await follower.on_take_over()

    entry = book.get(DeploymentKind.INFERENCE_SERVICE, INFERENCE_SERVICE_NAME)
    assert entry is not None
    assert "labels" not in [action for action, _, _ in kube.writes]
    assert entry.ready_reason == "GitOpsConflict"


async def test_a_restart_keeps_the_count_corrections_outside_the_window_do_not() -> None:
    book = BindingBook()
    kube = KubeWithBindings(book, [binding_with_corrections(700, 200, 100)])
    restarted = reconciler(kube, book, Gate(True))
    await restarted.load_existing_bindings()

    await restarted.on_inference_service("ADDED", stored(seed_inference_service()))

    entry = book.get(DeploymentKind.INFERENCE_SERVICE, INFERENCE_SERVICE_NAME)
    assert entry is not None
    assert "labels" in [action for action, _, _ in kube.writes]  # the third of three
    assert len(entry.history.times_ms) == 3
