"""The reconciler's order of work: the webhook's book learns an answer before the cluster does.

The admission webhook answers from the in-memory book. If the labels or the ModelBinding
showed a new answer (or its withdrawal) while the book still held the old one, a run created
by someone who had just read the binding would be admitted with an answer already withdrawn.
A recording stand-in for the Kubernetes calls notes what the book said at each write.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import urllib3

from registry_sync.controller.binding_book import BindingBook
from registry_sync.controller.kube_calls import KubeCallError
from registry_sync.controller.metrics import OperatorMetrics
from registry_sync.controller.reconciler import InferenceServiceReconciler, ReconcilerConfig
from registry_sync.domain.binding import GitOpsPolicy
from registry_sync.domain.metadata import DeploymentKind, LabelKeys
from registry_sync.domain.snapshot import State
from support.snapshot_sources import SnapshotAtHand
from unit.domain.seed import (
    INFERENCE_SERVICE_NAME,
    NAMESPACE,
    seed_inference_service,
    seed_snapshot,
)


class RecordingKube:
    """Kubernetes writes that succeed and record what the book said when each was made."""

    def __init__(self, book: BindingBook) -> None:
        self._book = book
        self.writes: list[tuple[str, bool | None, str | None]] = []

    def _note(self, action: str) -> None:
        entry = self._book.get(DeploymentKind.INFERENCE_SERVICE, INFERENCE_SERVICE_NAME)
        resolution = entry.resolution if entry else None
        version = resolution.model_version_id if resolution else None
        self.writes.append((action, entry.ready if entry else None, version))

    def patch_labels(
        self,
        resource: Any,
        ref: Any,
        labels: Mapping[str, str | None],
        resource_version: str | None,
    ) -> dict[str, Any]:
        self._note("labels")
        return {}

    def create_binding(self, body: Mapping[str, Any]) -> dict[str, Any]:
        self._note("create binding")
        return {"metadata": {"uid": "binding-uid"}}

    def patch_binding_status(self, ref: Any, status: Mapping[str, Any]) -> dict[str, Any]:
        self._note(f"binding status {status['conditions'][-1]['reason']}")
        return {}

    def post_event(
        self, subject: Any, type_: str, reason: str, message: str, at_ms: int | None = None
    ) -> None:
        self._note(f"event {reason}")


def reconciler_for(
    source: SnapshotAtHand, kube: RecordingKube, book: BindingBook
) -> InferenceServiceReconciler:
    config = ReconcilerConfig(
        namespace=NAMESPACE,
        keys=LabelKeys("modelregistry.opendatahub.io"),
        registry_name=None,
        gitops=GitOpsPolicy(),
    )
    return InferenceServiceReconciler(config, kube, source, book, OperatorMetrics())  # type: ignore[arg-type]


def stored(body: dict[str, Any]) -> dict[str, Any]:
    body["metadata"].update(uid="isvc-uid", resourceVersion="1", generation=1)
    return body


async def test_the_book_holds_the_answer_before_labels_binding_or_events_show_it() -> None:
    book = BindingBook()
    kube = RecordingKube(book)
    reconciler = reconciler_for(SnapshotAtHand(seed_snapshot()), kube, book)

    await reconciler.on_inference_service("ADDED", stored(seed_inference_service()))

    assert kube.writes, "the reconciler wrote nothing"
    assert {(ready, version) for _, ready, version in kube.writes} == {(True, "5")}


async def test_the_book_drops_a_withdrawn_answer_before_the_binding_says_so() -> None:
    book = BindingBook()
    kube = RecordingKube(book)
    source = SnapshotAtHand(seed_snapshot())
    reconciler = reconciler_for(source, kube, book)
    await reconciler.on_inference_service("ADDED", stored(seed_inference_service()))
    kube.writes.clear()

    # The registry archives the deployed version: no live version has the URI any more.
    snapshot = seed_snapshot()
    archived = dataclasses.replace(snapshot.versions["5"], state=State.ARCHIVED)
    source.snapshot = dataclasses.replace(snapshot, versions={**snapshot.versions, "5": archived})
    await reconciler.on_registry_refresh()

    assert ("binding status NotRegistered", False, None) in kube.writes
    assert all(ready is False for _, ready, _ in kube.writes), kube.writes


class UnreachableForStatus(RecordingKube):
    """The apiserver goes away between creating the binding and writing its status."""

    def __init__(self, book: BindingBook) -> None:
        super().__init__(book)
        self.reachable = False

    def patch_binding_status(self, ref: Any, status: Mapping[str, Any]) -> dict[str, Any]:
        if not self.reachable:
            unreachable = urllib3.exceptions.MaxRetryError(None, "/apis", "connection refused")  # type: ignore[arg-type]
            raise KubeCallError("updating status of ModelBinding", str(ref), unreachable)
        return super().patch_binding_status(ref, status)


async def test_a_binding_status_the_apiserver_never_got_is_written_at_the_next_refresh() -> None:
    book = BindingBook()
    kube = UnreachableForStatus(book)
    reconciler = reconciler_for(SnapshotAtHand(seed_snapshot()), kube, book)
    await reconciler.on_inference_service("ADDED", stored(seed_inference_service()))
    assert not any(action.startswith("binding status") for action, _, _ in kube.writes)

    kube.reachable = True
    await reconciler.on_registry_refresh()  # the registry's answer did not change

    assert ("binding status Resolved", True, "5") in kube.writes
    kube.writes.clear()
    await reconciler.on_registry_refresh()
    assert kube.writes == []  # written once: nothing more to do
