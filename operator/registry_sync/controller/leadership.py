"""Leadership among replicas: the Lease loop and the one gate every writer asks.

Every replica reads the registry, watches the deployments and answers admission reviews
from its own book; only the holder of the Lease `registry-sync-leader` writes (labels,
ModelBindings, Events, no-webhook replacements). Not Kopf's peering: a paused Kopf peer
stops handling events, and its book would go stale.

The rule is `domain/lease.py`; this is the shell: it reads and writes the Lease with the
official client in a thread, renews on a timer, and closes the gate by time (fencing) when
a renewal does not succeed in time. `writing()` counts the writes in flight, so that a
release waits for them before it hands the Lease over.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from registry_sync.controller.kube_calls import NotLeading, WriteGate
from registry_sync.domain.lease import (
    LEASE_NAME,
    Create,
    Follow,
    LeaseRecord,
    LeaseTimings,
    Observation,
    Renew,
    TakeOver,
    decide_lease,
    may_write,
    observe,
)

log = logging.getLogger(__name__)

RELEASE_DRAIN_S = 5.0  # the longest a release waits for writes in flight


def default_identity() -> str:
    """The pod's name (a restarted container keeps it, and takes its own Lease back at
    once), else this machine's host name."""
    return os.environ.get("POD_NAME") or socket.gethostname()


class Leadership(WriteGate):
    """This replica's part in the Lease: `may_write()` is True only while it holds the Lease
    and its term, by its own clock, has not run out."""

    def __init__(
        self,
        api_client: client.ApiClient,
        namespace: str,
        identity: str,
        timings: LeaseTimings | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._api = client.CoordinationV1Api(api_client)
        self.namespace = namespace
        self.identity = identity
        self.timings = timings or LeaseTimings()
        self._monotonic = monotonic
        self._wall = wall
        self._renewed_at: float | None = None
        self._seen: Observation | None = None
        self._holder: str | None = None
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()
        self._released = False
        self._on_gained: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._on_change: list[Callable[[bool], None]] = []
        self._leading_before = False
        self._term = 0  # terms begun (a term: a period this replica may write without a gap)
        self._announced_term = 0  # the last term the callbacks were told of
        self._gained_tasks: set[asyncio.Task[None]] = set()
        # The Lease's own thread: at a cold start thousands of writes queue for the event
        # loop's default executor, and a renewal waiting behind them lets the term run out
        # (measured: 13 s of refused writes at 2,000 InferenceServices).
        self._calls = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="lease")

    # The gate ----------------------------------------------------------------------------

    def may_write(self) -> bool:
        return not self._released and may_write(self._renewed_at, self.timings, self._monotonic())

    @contextlib.contextmanager
    def writing(self, what: str) -> Iterator[None]:
        """Around one write: refused (`NotLeading`) unless this replica may write now;
        counted while in flight."""
        with self._in_flight_lock:
            if not self.may_write():
                raise NotLeading(
                    f"{what}: not written, this replica ({self.identity}) does not hold the "
                    f"Lease {LEASE_NAME} (held by {self._holder or 'nobody'})"
                )
            self._in_flight += 1
        try:
            yield
        finally:
            with self._in_flight_lock:
                self._in_flight -= 1

    @property
    def holder(self) -> str | None:
        """The holder as last read (this replica's identity while it leads)."""
        return self._holder

    def when_gained(self, callback: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `callback` each time this replica becomes the writer (start-up included)."""
        self._on_gained.append(callback)

    def when_changed(self, callback: Callable[[bool], None]) -> None:
        """Call `callback(leading)` whenever a round finds leadership gained or lost."""
        self._on_change.append(callback)

    # The loop ----------------------------------------------------------------------------

    async def run_forever(self) -> None:
        while True:
            try:
                delay = await self.step()
            except Exception:  # the loop must outlive any one failure: the gate closes by time
                log.exception("the Lease round failed unexpectedly")
                delay = self.timings.retry_s
            await asyncio.sleep(delay)

    async def step(self) -> float:
        """One round: read the Lease, decide, act. The seconds until the next round."""
        if self._released:
            return self.timings.retry_s
        sent = self._monotonic()
        try:
            record = await self._call(self._read)
        except (ApiException, urllib3.exceptions.HTTPError) as error:
            log.warning("reading Lease %s/%s: %s", self.namespace, LEASE_NAME, _why(error))
            return self._after_round()
        self._seen = observe(record, self._seen, sent)
        self._holder = record.holder if record is not None else None
        step = decide_lease(record, self.identity, self._seen, sent)
        try:
            match step:
                case Create():
                    # Created unheld, then taken like any released Lease: taking is always
                    # a patch against the version read, whoever created it.
                    await self._call(self._create)
                    return await self.step()
                case Renew():
                    assert record is not None
                    await self._call(self._replace, record, record.transitions, False)
                    self._won(sent, "renewed")
                case TakeOver(previous_holder=previous):
                    assert record is not None
                    await self._call(self._replace, record, record.transitions + 1, True)
                    self._won(sent, f"taken over from {previous or 'nobody (released)'}")
                case Follow(holder=holder):
                    self._renewed_at = None
                    self._holder = holder
        except (ApiException, urllib3.exceptions.HTTPError) as error:
            # A 409: someone else wrote the Lease first; look again. The gate closes by time.
            conflict = isinstance(error, ApiException) and error.status == 409
            log.log(logging.INFO if conflict else logging.WARNING, "Lease %s/%s not written: %s",
                    self.namespace, LEASE_NAME, _why(error))  # fmt: skip
        return self._after_round()

    def _won(self, sent: float, how: str) -> None:
        closed_before = not self.may_write()
        self._renewed_at = sent
        self._holder = self.identity
        # A renewal that succeeds after the gate closed begins a new term, even when no round
        # saw the gate closed (a request that hung through an outage spans the whole gap):
        # writes were refused meanwhile, so the take-over work runs again.
        if closed_before and self.may_write():
            self._term += 1
            if self._leading_before:
                log.warning("this replica's (%s) term ran out while a Lease request was in "
                            "flight: its writes were refused until now", self.identity)  # fmt: skip
            log.info("Lease %s/%s %s: this replica (%s) writes", self.namespace, LEASE_NAME,
                     how, self.identity)  # fmt: skip

    def _after_round(self) -> float:
        leading = self.may_write()
        new_term = leading and self._term != self._announced_term
        if self._leading_before and (not leading or new_term):
            if not leading:
                log.warning("this replica (%s) no longer writes (Lease held by %s)",
                            self.identity, self._holder or "nobody")  # fmt: skip
            for changed in self._on_change:
                changed(False)
        self._leading_before = leading
        if new_term:
            self._announced_term = self._term
            for changed in self._on_change:
                changed(True)
            for gained in self._on_gained:
                task = asyncio.create_task(gained(), name="take-over")
                self._gained_tasks.add(task)
                task.add_done_callback(self._after_take_over)
        if not leading:
            return self.timings.retry_s
        # A renewal that took long (sent before an outage, answered after it) leaves less of
        # the term than a renewal period: renew at half of what is left, before the gate
        # closes, rather than open a gap (and a new term) at the next regular round.
        assert self._renewed_at is not None
        left = self._renewed_at + self.timings.duration_s - self.timings.margin_s
        return min(self.timings.renew_s, (left - self._monotonic()) / 2)

    def _after_take_over(self, task: asyncio.Task[None]) -> None:
        self._gained_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("the take-over work failed", exc_info=task.exception())

    async def release(self) -> None:
        """Stop writing now, wait for the writes in flight, and hand the Lease over (holder
        cleared): a follower takes it on its next look instead of waiting for the term."""
        was_leading = self.may_write()
        self._released = True
        for changed in self._on_change:
            changed(False)
        try:
            if was_leading:
                await self._hand_over()
        finally:
            # No Lease call follows a release: its thread ends with the last one.
            self._calls.shutdown(wait=False)

    async def _hand_over(self) -> None:
        deadline = self._monotonic() + RELEASE_DRAIN_S
        # The count is kept by the writing threads: looked at, not awaited.
        while self._in_flight and self._monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        try:
            record = await self._call(self._read)
            if record is not None and record.holder == self.identity:
                await self._call(self._replace, record, record.transitions, False, True)
                log.info("Lease %s/%s released", self.namespace, LEASE_NAME)
        except (ApiException, urllib3.exceptions.HTTPError) as error:
            log.warning("releasing Lease %s/%s: %s; it expires by itself", self.namespace,
                        LEASE_NAME, _why(error))  # fmt: skip

    # Calls (in the Lease's thread) -------------------------------------------------------

    async def _call(self, function: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._calls, functools.partial(function, *args))

    @property
    def _request_timeout_s(self) -> float:
        # A Lease request unanswered for a renewal period is given up (the official client
        # waits forever by default): the next round sends a fresh one, and a follower is
        # never stuck on one request while the Lease expires.
        return self.timings.renew_s

    def _read(self) -> LeaseRecord | None:
        try:
            lease: Any = self._api.read_namespaced_lease(
                LEASE_NAME, self.namespace, _request_timeout=self._request_timeout_s
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        spec = lease.spec
        renew = spec.renew_time
        return LeaseRecord(
            holder=spec.holder_identity or None,
            renew_time=renew.isoformat() if renew is not None else None,
            duration_s=float(spec.lease_duration_seconds or self.timings.duration_s),
            transitions=int(spec.lease_transitions or 0),
            resource_version=lease.metadata.resource_version,
        )

    def _spec(self, transitions: int, acquired: bool, released: bool = False) -> dict[str, Any]:
        now = _micro_time(self._wall())
        spec: dict[str, Any] = {
            "holderIdentity": None if released else self.identity,
            "leaseDurationSeconds": round(self.timings.duration_s),
            "renewTime": now,
            "leaseTransitions": transitions,
        }
        if acquired:
            spec["acquireTime"] = now
        return spec

    def _create(self) -> None:
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": LEASE_NAME, "namespace": self.namespace},
            "spec": self._spec(0, False, released=True),
        }
        self._api.create_namespaced_lease(
            self.namespace,
            body,  # type: ignore[arg-type]
            _request_timeout=self._request_timeout_s,
        )

    def _replace(
        self, record: LeaseRecord, transitions: int, acquired: bool, released: bool = False
    ) -> None:
        # A merge patch carrying the resource version read: it applies only to that record
        # (a 409 when another replica wrote in between), as an update would.
        body = {
            "metadata": {"resourceVersion": record.resource_version},
            "spec": self._spec(transitions, acquired, released),
        }
        self._api.patch_namespaced_lease(
            LEASE_NAME,
            self.namespace,
            body,
            _content_type="application/merge-patch+json",
            _request_timeout=self._request_timeout_s,
        )


def _micro_time(moment: datetime) -> str:
    """A Lease's MicroTime: RFC 3339 with microseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _why(error: ApiException | urllib3.exceptions.HTTPError) -> str:
    """The apiserver's own words (a refusal reads as one: `cannot patch resource ...`)."""
    if isinstance(error, ApiException):
        try:
            message = str(json.loads(error.body or "{}").get("message", ""))
        except (ValueError, AttributeError):
            message = ""
        return f"HTTP {error.status} {message or error.reason or ''}".rstrip()
    return f"the apiserver could not be reached ({type(error).__name__})"
