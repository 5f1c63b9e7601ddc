"""Events posted beside the reconcile, not on its path.

An Event is best-effort news about a decision already written: the labels and the
ModelBinding's status are the record. Posted inline, the two Events of a first decision
(`LabelsCorrected`, `Resolved`) were two of its five requests, and the reconcile held its
object's lock while they went out. Here the reconciler hands them to a queue and goes on;
one task posts them in the order given, each stamped with the moment it was decided, and
gives way to the reconciler's writes: while one is in flight, an Event waits (up to
`GIVE_WAY_S` after it was queued), so that a burst of decisions (a cold start, a registry
change that moves many answers) is written first and announced after.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Final, Protocol

from registry_sync.controller.kube_calls import KubeCallError, KubeObjects
from registry_sync.domain.metadata import Resource

log = logging.getLogger(__name__)

QUEUE_CAPACITY: Final = 5000
"""Events waiting at most; past it a reconcile waits for room (nothing is dropped for lack
of room). A cold start of 2,000 InferenceServices queues about 4,000."""

GIVE_WAY_S: Final = 10.0
"""The longest an Event waits for the reconciler's writes to pause."""

DRAIN_S: Final = 1.0
"""How long a replica that stops writing keeps posting what is queued: short, because the
Lease is handed over after it."""


class EventSink(Protocol):
    """Where the reconciler sends an Event (type, reason, message) about an object."""

    async def post(
        self, resource: Resource, metadata: Mapping[str, Any], note: tuple[str, str, str]
    ) -> None: ...

    def writes_first(self) -> AbstractContextManager[None]:
        """Around writes the Events should give way to."""
        ...


@dataclass(frozen=True, slots=True)
class _Pending:
    subject: dict[str, Any]
    note: tuple[str, str, str]
    at_ms: int
    queued_at: float  # the event loop's clock


def event_subject(resource: Resource, metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The object an Event is about, as `KubeObjects.post_event` takes it."""
    return {
        "apiVersion": resource.api_version,
        "kind": resource.kind,
        "metadata": {key: metadata.get(key) for key in ("name", "namespace", "uid")},
    }


class EventQueue:
    """Events posted in the background, one at a time, in the order they were decided.

    Run `run_forever` as a task; `drain` before the Lease is handed over.
    """

    def __init__(
        self,
        kube: KubeObjects,
        capacity: int = QUEUE_CAPACITY,
        clock: Callable[[], float] = time.time,
        give_way_s: float = GIVE_WAY_S,
    ) -> None:
        self._kube = kube
        self._clock = clock
        self._give_way_s = give_way_s
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(maxsize=capacity)
        self._writes = 0
        self._no_writes = asyncio.Event()
        self._no_writes.set()
        self.posted = 0
        self.skipped = 0  # queued while this replica wrote, dequeued after it stopped

    async def post(
        self, resource: Resource, metadata: Mapping[str, Any], note: tuple[str, str, str]
    ) -> None:
        """Queue the Event; wait only when `capacity` Events are waiting already."""
        pending = _Pending(
            event_subject(resource, metadata),
            note,
            int(self._clock() * 1000),
            asyncio.get_running_loop().time(),
        )
        await self._queue.put(pending)

    @contextlib.contextmanager
    def writes_first(self) -> Iterator[None]:
        """Around a reconcile's writes: queued Events wait until none is in flight."""
        self._writes += 1
        self._no_writes.clear()
        try:
            yield
        finally:
            self._writes -= 1
            if not self._writes:
                self._no_writes.set()

    @property
    def waiting(self) -> int:
        return self._queue.qsize()

    async def run_forever(self) -> None:
        while True:
            pending = await self._queue.get()
            try:
                await self._give_way(pending)
                await self._post(pending)
            except Exception:
                # Whatever it was, the next Event still goes out: a dead poster would fill
                # the queue and then hold every reconcile waiting for room.
                log.exception("posting an Event failed")
            finally:
                self._queue.task_done()

    async def drain(self, within_s: float = DRAIN_S) -> None:
        """Wait up to `within_s` for the queue to empty; what is left is not posted."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), within_s)
        left = 0
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()
            left += 1
        if left:
            log.warning("%d Events not posted: this replica stops writing", left)

    async def _give_way(self, pending: _Pending) -> None:
        waited = asyncio.get_running_loop().time() - pending.queued_at
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._no_writes.wait(), max(self._give_way_s - waited, 0))

    async def _post(self, pending: _Pending) -> None:
        if not self._kube.gate.may_write():
            # The Lease passed on after the decision: the new writer decides again and
            # announces what is still news.
            self.skipped += 1
            return
        if await _post_logged(self._kube, pending.subject, pending.note, pending.at_ms):
            self.posted += 1


class EventsNow:
    """Events posted inline, before the caller goes on (a process alone with its cluster:
    the CLI's tools, and tests that look for an Event right after a decision)."""

    def __init__(self, kube: KubeObjects) -> None:
        self._kube = kube

    async def post(
        self, resource: Resource, metadata: Mapping[str, Any], note: tuple[str, str, str]
    ) -> None:
        await post_event_best_effort(self._kube, resource, metadata, note)

    def writes_first(self) -> AbstractContextManager[None]:
        return contextlib.nullcontext()


async def post_event_best_effort(
    kube: KubeObjects,
    resource: Resource,
    metadata: Mapping[str, Any],
    note: tuple[str, str, str],
) -> None:
    """Post an Event (type, reason, message) about the object of `resource` whose
    `metadata` is given. Events are best-effort: a refusal is logged, never raised."""
    await _post_logged(kube, event_subject(resource, metadata), note)


async def _post_logged(
    kube: KubeObjects,
    subject: Mapping[str, Any],
    note: tuple[str, str, str],
    at_ms: int | None = None,
) -> bool:
    """Whether the Event was posted; a refusal is logged."""
    type_, reason, message = note
    try:
        await asyncio.to_thread(kube.post_event, subject, type_, reason, message, at_ms)
    except KubeCallError as error:
        metadata = subject["metadata"]
        name = f"{metadata.get('namespace')}/{metadata.get('name')}"
        log.warning("could not post Event %s on %s %s: %s", reason, subject["kind"], name, error)
        return False
    return True
