"""Who writes among replicas: the Lease rule (domain/lease.py), as a table over time."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_sync.domain.lease import (
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

ME, OTHER = "replica-a", "replica-b"


def held_by(holder: str | None, renewed: str = "t1", duration_s: float = 15.0) -> LeaseRecord:
    return LeaseRecord(holder=holder, renew_time=renewed, duration_s=duration_s)


def decide_at(record: LeaseRecord | None, seen: Observation | None, now_s: float):  # type: ignore[no-untyped-def]
    observation = observe(record, seen, now_s)
    return decide_lease(record, ME, observation, now_s), observation


def test_no_lease_is_created() -> None:
    assert decide_at(None, None, 0.0)[0] == Create()


def test_its_own_lease_is_renewed_also_after_a_restart_under_the_same_name() -> None:
    assert decide_at(held_by(ME), None, 0.0)[0] == Renew()


def test_a_released_lease_is_taken_at_once() -> None:
    assert decide_at(held_by(None), None, 0.0)[0] == TakeOver(None)


def test_a_live_lease_of_another_replica_is_followed() -> None:
    step, _ = decide_at(held_by(OTHER), None, 100.0)
    assert step == Follow(OTHER, 15.0)


def test_a_lease_unchanged_for_its_whole_duration_by_the_followers_clock_is_taken() -> None:
    _, seen = decide_at(held_by(OTHER), None, 100.0)
    assert isinstance(decide_at(held_by(OTHER), seen, 114.9)[0], Follow)
    assert decide_at(held_by(OTHER), seen, 115.0)[0] == TakeOver(OTHER)


def test_a_renewal_restarts_the_followers_count() -> None:
    _, seen = decide_at(held_by(OTHER, "t1"), None, 100.0)
    step, seen = decide_at(held_by(OTHER, "t2"), seen, 110.0)
    assert step == Follow(OTHER, 15.0)
    assert isinstance(decide_at(held_by(OTHER, "t2"), seen, 124.0)[0], Follow)


def test_the_leases_own_duration_counts_not_this_replicas_setting() -> None:
    _, seen = decide_at(held_by(OTHER, duration_s=60.0), None, 0.0)
    assert isinstance(decide_at(held_by(OTHER, duration_s=60.0), seen, 30.0)[0], Follow)


@pytest.mark.parametrize(
    ("renewed_at", "now", "writes"),
    [
        (None, 0.0, False),  # never held, or lost
        (100.0, 100.0, True),
        (100.0, 112.9, True),
        (100.0, 113.0, False),  # duration 15 - margin 2: stops before anyone may take over
        (100.0, 500.0, False),
    ],
)
def test_a_leader_writes_only_within_its_term_less_the_margin(
    renewed_at: float | None, now: float, writes: bool
) -> None:
    assert may_write(renewed_at, LeaseTimings(), now) is writes


@given(
    sent=st.floats(0, 1e6),
    latency=st.floats(0, 10),
    follower_lag=st.floats(0, 10),
    duration=st.floats(3, 300),
)
def test_the_leader_stops_writing_before_a_follower_may_take_over(
    sent: float, latency: float, follower_lag: float, duration: float
) -> None:
    """The follower first sees a renewal after it was sent; its clock starts then. By the
    time it may take over, the leader's own clock has closed the gate."""
    timings = LeaseTimings.for_duration(duration)
    first_seen = sent + latency + follower_lag
    takeover_at = first_seen + duration
    assert not may_write(sent, timings, takeover_at)


def test_the_timings_renew_three_times_a_term() -> None:
    timings = LeaseTimings.for_duration(15.0)
    assert (timings.renew_s, timings.retry_s, timings.margin_s) == (5.0, 2.0, 2.0)
