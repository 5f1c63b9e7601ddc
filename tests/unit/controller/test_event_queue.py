"""Events queued beside the reconcile: in order, stamped when decided, never lost for lack
of room, skipped once this replica no longer writes, drained briefly at a hand-over."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from registry_sync.controller.event_queue import EventQueue
from registry_sync.controller.kube_calls import KubeCallError, KubeObjects
from registry_sync.domain.metadata import INFERENCE_SERVICES


class Gate:
    def __init__(self) -> None:
        self.open = True

    def may_write(self) -> bool:
        return self.open


class Kube:
    """Records each Event; `hold` keeps a post waiting until it is set. Reason `Refused`
    is refused by the apiserver, reason `Broken` fails as a bug would."""

    def __init__(self) -> None:
        self.gate = Gate()
        self.posted: list[tuple[str, str, int | None]] = []
        self.hold = threading.Event()
        self.hold.set()

    def post_event(
        self, subject: Any, type_: str, reason: str, message: str, at_ms: int | None = None
    ) -> None:
        self.hold.wait(5)
        if reason == "Refused":
            raise KubeCallError("posting an Event", "x", ApiException(status=403, reason="no"))
        if reason == "Broken":
            raise TypeError("a bug")
        self.posted.append((subject["metadata"]["name"], reason, at_ms))


def metadata(name: str) -> dict[str, str]:
    return {"name": name, "namespace": "team", "uid": f"uid-{name}"}


async def settle(queue: EventQueue) -> None:
    for _ in range(200):
        if not queue.waiting:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)


async def test_events_go_out_in_order_after_post_returns_stamped_when_decided() -> None:
    kube, now = Kube(), [1000.0]
    queue = EventQueue(kube, clock=lambda: now[0])  # type: ignore[arg-type]
    kube.hold.clear()
    worker = asyncio.create_task(queue.run_forever())
    try:
        for number, reason in enumerate(("LabelsCorrected", "Resolved", "Ambiguous")):
            now[0] = 1000.0 + number
            await queue.post(INFERENCE_SERVICES, metadata(f"m{number}"), ("Normal", reason, "x"))
        assert kube.posted == []  # post only queued them
        kube.hold.set()
        await settle(queue)
    finally:
        worker.cancel()
    assert kube.posted == [
        ("m0", "LabelsCorrected", 1_000_000),
        ("m1", "Resolved", 1_001_000),
        ("m2", "Ambiguous", 1_002_000),
    ]
    assert queue.posted == 3


async def test_a_full_queue_makes_the_reconcile_wait_and_loses_nothing() -> None:
    kube = Kube()
    queue = EventQueue(kube, capacity=2)  # type: ignore[arg-type]
    await queue.post(INFERENCE_SERVICES, metadata("a"), ("Normal", "R", "x"))
    await queue.post(INFERENCE_SERVICES, metadata("b"), ("Normal", "R", "x"))
    third = asyncio.create_task(queue.post(INFERENCE_SERVICES, metadata("c"), ("Normal", "R", "x")))
    await asyncio.sleep(0.05)
    assert not third.done()  # waiting for room
    worker = asyncio.create_task(queue.run_forever())
    try:
        await asyncio.wait_for(third, 2)
        await settle(queue)
    finally:
        worker.cancel()
    assert [name for name, _, _ in kube.posted] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("reason", "logged"),
    [
        ("Refused", "could not post Event Refused on InferenceService team/a"),
        # A bug rather than a refusal: a dead poster would fill the queue, then hold every
        # reconcile waiting for room.
        ("Broken", "posting an Event failed"),
    ],
)
async def test_a_failed_event_is_logged_and_the_next_one_still_posted(
    reason: str, logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    kube = Kube()
    queue = EventQueue(kube)  # type: ignore[arg-type]
    worker = asyncio.create_task(queue.run_forever())
    try:
        with caplog.at_level(logging.WARNING):
            await queue.post(INFERENCE_SERVICES, metadata("a"), ("Normal", reason, "x"))
            await queue.post(INFERENCE_SERVICES, metadata("b"), ("Normal", "Resolved", "x"))
            await settle(queue)
    finally:
        worker.cancel()
    assert [name for name, _, _ in kube.posted] == ["b"]
    assert logged in caplog.text


async def test_events_dequeued_after_the_replica_stopped_writing_are_skipped() -> None:
    kube = Kube()
    queue = EventQueue(kube)  # type: ignore[arg-type]
    await queue.post(INFERENCE_SERVICES, metadata("a"), ("Normal", "Resolved", "x"))
    kube.gate.open = False  # the Lease passed on before the worker got to it
    worker = asyncio.create_task(queue.run_forever())
    try:
        await settle(queue)
    finally:
        worker.cancel()
    assert kube.posted == []
    assert (queue.posted, queue.skipped) == (0, 1)


async def test_drain_posts_what_it_can_in_time_and_reports_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kube = Kube()
    queue = EventQueue(kube)  # type: ignore[arg-type]
    worker = asyncio.create_task(queue.run_forever())
    try:
        await queue.post(INFERENCE_SERVICES, metadata("a"), ("Normal", "Resolved", "x"))
        await queue.drain(within_s=2)
        assert [name for name, _, _ in kube.posted] == ["a"]
        kube.hold.clear()  # the apiserver stops answering
        for name in ("b", "c", "d"):
            await queue.post(INFERENCE_SERVICES, metadata(name), ("Normal", "Resolved", "x"))
        with caplog.at_level(logging.WARNING):
            await queue.drain(within_s=0.1)
        assert queue.waiting == 0
        # One was taken by the worker (in flight), the other two are dropped.
        assert "2 Events not posted: this replica stops writing" in caplog.text
    finally:
        kube.hold.set()
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)


def test_an_event_carries_the_moment_it_was_decided() -> None:
    kube = KubeObjects(client.ApiClient())
    bodies: list[dict[str, Any]] = []
    kube._core.create_namespaced_event = lambda namespace, body: bodies.append(body)  # type: ignore[method-assign]
    subject = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata("a")}
    kube.post_event(subject, "Normal", "Resolved", "x", at_ms=1_767_225_600_250)
    assert bodies[0]["firstTimestamp"] == bodies[0]["lastTimestamp"]
    assert bodies[0]["firstTimestamp"].startswith("2026-01-01T00:00:00")


async def test_events_give_way_to_writes_in_flight_for_a_bounded_time() -> None:
    kube = Kube()
    queue = EventQueue(kube, give_way_s=0.5)  # type: ignore[arg-type]
    worker = asyncio.create_task(queue.run_forever())
    try:
        with queue.writes_first():
            await queue.post(INFERENCE_SERVICES, metadata("a"), ("Normal", "Resolved", "x"))
            await asyncio.sleep(0.2)
            assert kube.posted == []  # a write is in flight: the Event waits
        await settle(queue)
        assert [name for name, _, _ in kube.posted] == ["a"]  # posted once writes paused

        with queue.writes_first():  # writes that never pause
            await queue.post(INFERENCE_SERVICES, metadata("b"), ("Normal", "Resolved", "x"))
            for _ in range(100):
                if len(kube.posted) == 2:
                    break
                await asyncio.sleep(0.05)
            assert [name for name, _, _ in kube.posted] == ["a", "b"]  # after give_way_s
    finally:
        worker.cancel()
