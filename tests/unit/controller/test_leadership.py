"""The Lease loop against a fake coordination API, on a controlled clock: one writer, the
gate closes by time, a release hands the Lease over, writes in flight are counted."""

from __future__ import annotations

import asyncio
import copy
import threading
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from registry_sync.controller.kube_calls import NotLeading
from registry_sync.controller.leadership import Leadership
from registry_sync.domain.lease import LeaseTimings


class FakeLeases:
    """One namespace's Leases as the apiserver keeps them: resource versions, 409 on a
    stale one, 404 when absent; `reachable=False` fails every call."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.reachable = True
        self.timeouts: list[float | None] = []  # each call's `_request_timeout`
        self.while_reading: Any = None  # called inside each read (a request that takes time)

    def _check(self, request_timeout: float | None) -> None:
        self.timeouts.append(request_timeout)
        if not self.reachable:
            raise ApiException(status=503, reason="Service Unavailable")

    def read_namespaced_lease(
        self, name: str, namespace: str, _request_timeout: float | None = None
    ) -> Any:
        self._check(_request_timeout)
        if self.while_reading is not None:
            self.while_reading()
        if self.lease is None:
            raise ApiException(status=404, reason="Not Found")
        spec = self.lease["spec"]
        return SimpleNamespace(
            spec=SimpleNamespace(
                holder_identity=spec.get("holderIdentity"),
                renew_time=datetime.fromisoformat(spec["renewTime"].replace("Z", "+00:00")),
                lease_duration_seconds=spec.get("leaseDurationSeconds"),
                lease_transitions=spec.get("leaseTransitions"),
            ),
            metadata=SimpleNamespace(resource_version=str(self.version)),
        )

    def create_namespaced_lease(
        self, namespace: str, body: dict[str, Any], _request_timeout: float | None = None
    ) -> None:
        self._check(_request_timeout)
        if self.lease is not None:
            raise ApiException(status=409, reason="AlreadyExists")
        self.lease, self.version = copy.deepcopy(body), self.version + 1

    def patch_namespaced_lease(
        self,
        name: str,
        namespace: str,
        body: Any,
        _request_timeout: float | None = None,
        **_: Any,
    ) -> None:
        self._check(_request_timeout)
        assert self.lease is not None
        if body["metadata"]["resourceVersion"] != str(self.version):
            raise ApiException(status=409, reason="Conflict")
        self.lease["spec"].update(body["spec"])
        self.version += 1

    @property
    def holder(self) -> str | None:
        return None if self.lease is None else self.lease["spec"].get("holderIdentity")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.ticks = 0

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> datetime:
        self.ticks += 1  # every renewal writes a new renewTime
        return datetime.fromtimestamp(1_700_000_000 + self.now + self.ticks / 1e6, UTC)


def replica(name: str, leases: FakeLeases, clock: Clock) -> Leadership:
    leadership = Leadership(
        None,  # type: ignore[arg-type]  # the fake API below replaces the client's
        "ns",
        name,
        LeaseTimings(),
        monotonic=clock.monotonic,
        wall=clock.wall,
    )
    leadership._api = leases  # type: ignore[assignment]
    return leadership


@pytest.fixture
def world() -> tuple[FakeLeases, Clock]:
    return FakeLeases(), Clock()


async def test_the_first_replica_creates_the_lease_and_writes(world: Any) -> None:
    leases, clock = world
    a = replica("a", leases, clock)
    await a.step()
    assert (a.may_write(), leases.holder) == (True, "a")


async def test_a_second_replica_follows_and_may_not_write(world: Any) -> None:
    leases, clock = world
    a, b = replica("a", leases, clock), replica("b", leases, clock)
    await a.step()
    await b.step()
    assert (a.may_write(), b.may_write()) == (True, False)
    with pytest.raises(NotLeading, match="held by a"), b.writing("patching labels"):
        pass


async def test_a_leader_that_cannot_renew_stops_writing_before_its_term_ends(world: Any) -> None:
    leases, clock = world
    a = replica("a", leases, clock)
    await a.step()
    leases.reachable = False
    clock.now += 12.9
    await a.step()
    assert a.may_write()
    clock.now += 0.2  # 13.1 s after the last renewal was sent: 15 s term, 2 s margin
    assert not a.may_write()


async def test_the_follower_takes_over_a_lease_nobody_renews_after_its_duration(
    world: Any,
) -> None:
    leases, clock = world
    a, b = replica("a", leases, clock), replica("b", leases, clock)
    await a.step()
    await b.step()  # b sees the record now
    clock.now += 14.9
    await b.step()
    assert not b.may_write()
    clock.now += 0.1
    await b.step()
    assert (b.may_write(), leases.holder, leases.lease["spec"]["leaseTransitions"]) == (
        True,
        "b",
        2,  # created unheld, taken by a, then by b
    )
    assert not a.may_write()  # by its own clock, long before


async def test_renewals_keep_the_follower_following(world: Any) -> None:
    leases, clock = world
    a, b = replica("a", leases, clock), replica("b", leases, clock)
    for _ in range(10):
        await a.step()
        await b.step()
        clock.now += 5.0
    assert (a.may_write(), b.may_write(), leases.holder) == (True, False, "a")


async def test_a_release_hands_the_lease_to_the_follower_on_its_next_look(world: Any) -> None:
    leases, clock = world
    a, b = replica("a", leases, clock), replica("b", leases, clock)
    await a.step()
    await b.step()
    await a.release()
    assert (a.may_write(), leases.holder) == (False, None)
    await b.step()
    assert (b.may_write(), leases.holder) == (True, "b")


async def test_the_lease_thread_ends_with_the_release_leader_or_not(world: Any) -> None:
    leases, clock = world
    a, b = replica("a", leases, clock), replica("b", leases, clock)
    await a.step()
    await b.step()
    lease_threads = {t for t in threading.enumerate() if t.name.startswith("lease")}
    assert lease_threads, "no Lease thread ran: the check proves nothing"
    await a.release()
    await b.release()
    for thread in lease_threads:
        thread.join(5)
    assert not any(thread.is_alive() for thread in lease_threads)


async def test_a_release_waits_for_the_writes_in_flight(world: Any) -> None:
    leases, clock = world
    a = replica("a", leases, clock)
    await a.step()
    holder_seen_by_the_write: list[str | None] = []
    started, finish = asyncio.Event(), asyncio.Event()

    async def write() -> None:
        with a.writing("patching labels"):
            started.set()
            await finish.wait()
            holder_seen_by_the_write.append(leases.holder)

    writer = asyncio.create_task(write())
    await started.wait()
    releasing = asyncio.create_task(a.release())
    await asyncio.sleep(0.1)
    assert leases.holder == "a"  # not handed over while the write is in flight
    finish.set()
    await asyncio.gather(writer, releasing)
    assert (holder_seen_by_the_write, leases.holder) == (["a"], None)


async def test_gaining_leadership_runs_the_take_over_once(world: Any) -> None:
    leases, clock = world
    a = replica("a", leases, clock)
    gained: list[str] = []

    async def take_over() -> None:
        gained.append("a")

    a.when_gained(take_over)
    for _ in range(3):
        await a.step()
        clock.now += 5.0
    await asyncio.sleep(0)
    assert gained == ["a"]


async def test_a_renewal_that_hung_while_the_term_ran_out_begins_a_new_term(
    world: Any,
) -> None:
    # An outage of etcd: the apiserver holds the renewal's read while the term runs out, then
    # answers. The renewal counts from when it was sent, so the gate opens again; no round
    # saw it closed, yet writes were refused meanwhile: the take-over work (decide what was
    # left undecided) must run again.
    leases, clock = world
    a = replica("a", leases, clock)
    gained: list[str] = []
    changes: list[bool] = []

    async def take_over() -> None:
        gained.append("a")

    a.when_gained(take_over)
    a.when_changed(changes.append)
    await a.step()  # renewed at 0: writes until 13
    clock.now += 5.0

    def hang_past_the_end_of_the_term() -> None:
        assert a.may_write()
        clock.now += 9.0  # 14: the gate closed at 13
        assert not a.may_write()

    leases.while_reading = hang_past_the_end_of_the_term
    await a.step()  # sent at 5: writes again until 18
    await asyncio.sleep(0)
    assert a.may_write()
    assert (gained, changes) == (["a", "a"], [True, False, True])


async def test_every_lease_call_gives_up_after_a_renewal_period(world: Any) -> None:
    leases, clock = world
    a, b = replica("a", leases, clock), replica("b", leases, clock)
    await a.step()  # a read (404), a create, a read, a take-over
    await b.step()
    await a.release()
    assert len(leases.timeouts) >= 6
    assert set(leases.timeouts) == {LeaseTimings().renew_s}


async def test_a_failing_take_over_is_logged(world: Any, caplog: pytest.LogCaptureFixture) -> None:
    leases, clock = world
    a = replica("a", leases, clock)

    async def take_over() -> None:
        raise RuntimeError("the book could not be read")

    a.when_gained(take_over)
    await a.step()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert "the book could not be read" in caplog.text
    assert "take-over work failed" in caplog.text


async def test_after_a_slow_renewal_the_next_one_comes_before_the_gate_closes(
    world: Any,
) -> None:
    leases, clock = world
    a = replica("a", leases, clock)
    assert await a.step() == LeaseTimings().renew_s  # a quick renewal: the regular period

    def take_ten_seconds() -> None:
        clock.now += 10.0

    leases.while_reading = take_ten_seconds
    delay = await a.step()  # sent at 0, answered at 10: the gate closes at 13
    assert delay == pytest.approx(1.5)
    leases.while_reading = None
    clock.now += delay
    await a.step()
    assert a.may_write()
    clock.now += 5.0
    assert a.may_write()  # renewed at 11.5: no gap


async def test_the_lease_is_renewed_while_every_default_thread_is_busy(world: Any) -> None:
    # At a cold start thousands of writes queue for the default executor: a renewal must
    # not wait behind them (its term would run out and every write be refused).
    leases, clock = world
    a = replica("a", leases, clock)
    await a.step()
    release = threading.Event()
    loop = asyncio.get_running_loop()
    busy = [loop.run_in_executor(None, release.wait) for _ in range(64)]
    try:
        clock.now += 5.0
        await asyncio.wait_for(a.step(), timeout=5.0)
        assert a.may_write()
    finally:
        release.set()
        await asyncio.gather(*busy)
