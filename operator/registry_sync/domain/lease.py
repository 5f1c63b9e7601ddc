"""Who writes when several replicas run: the decision over a `coordination.k8s.io` Lease.

Every replica serves the webhook from its own book; exactly one writes, the holder of the
Lease `registry-sync-leader` in the namespace (DESIGN.md "Several replicas"). This module is
the rule, pure: given the Lease as read (or its absence), what this replica remembers of it
and the monotonic clock, what to do next.

Time on other machines is never trusted (client-go's rule): a follower judges a Lease
expired when it has seen the same record, unchanged, for its whole `leaseDurationSeconds`
by its own monotonic clock. The leader fences itself by time: it writes only while
`renewed_at + duration - margin` has not passed on its own monotonic clock, counted from
before it sent the renewal that succeeded. So a leader that cannot renew stops writing
before any follower can take over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

LEASE_NAME: Final = "registry-sync-leader"


@dataclass(frozen=True, slots=True)
class LeaseTimings:
    """Lease duration, how often the leader renews, how often a follower looks, and how much
    before its term ends the leader stops writing (for requests still in flight)."""

    duration_s: float = 15.0
    renew_s: float = 5.0
    retry_s: float = 2.0
    margin_s: float = 2.0

    @classmethod
    def for_duration(cls, duration_s: float) -> LeaseTimings:
        """Renew three times a term, look every 2 s (at most a fifth of the term)."""
        return cls(
            duration_s=duration_s,
            renew_s=duration_s / 3,
            retry_s=min(2.0, duration_s / 5),
            margin_s=min(2.0, duration_s / 5),
        )


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """The Lease as read: its holder (None when released), its renew time as written (only
    compared for change, never with a clock here) and its duration."""

    holder: str | None
    renew_time: str | None
    duration_s: float
    transitions: int = 0
    resource_version: str | None = None

    @property
    def key(self) -> tuple[str | None, str | None]:
        """What changes at every renewal: a record seen with the same key has not been renewed."""
        return self.holder, self.renew_time


@dataclass(frozen=True, slots=True)
class Observation:
    """What a replica remembers of the Lease: the record's key and when (its monotonic
    clock) it first saw that key."""

    key: tuple[str | None, str | None]
    since_s: float


@dataclass(frozen=True, slots=True)
class Create:
    """No Lease exists: create it, held by this replica."""


@dataclass(frozen=True, slots=True)
class Renew:
    """This replica holds the Lease: renew it (also after a restart under the same identity)."""


@dataclass(frozen=True, slots=True)
class TakeOver:
    """The Lease is released or expired: take it (one more transition)."""

    previous_holder: str | None


@dataclass(frozen=True, slots=True)
class Follow:
    """Another replica holds a live Lease: do not write; look again in `retry_s`."""

    holder: str
    expires_in_s: float


LeaseStep = Create | Renew | TakeOver | Follow


def observe(record: LeaseRecord | None, known: Observation | None, now_s: float) -> Observation:
    """What to remember after reading `record`: the same observation while it is unchanged,
    a new one from `now_s` when it changed."""
    key = record.key if record is not None else (None, None)
    if known is not None and known.key == key:
        return known
    return Observation(key, now_s)


def decide_lease(record: LeaseRecord | None, me: str, seen: Observation, now_s: float) -> LeaseStep:
    """What replica `me` does about the Lease it just read (`seen`: as `observe` left it).
    Pure; never raises."""
    if record is None:
        return Create()
    if record.holder == me:
        return Renew()
    if not record.holder:
        return TakeOver(None)
    left = seen.since_s + record.duration_s - now_s
    if left <= 0:
        return TakeOver(record.holder)
    return Follow(record.holder, left)


def may_write(renewed_at_s: float | None, timings: LeaseTimings, now_s: float) -> bool:
    """Whether a leader whose last successful renewal was sent at `renewed_at_s` (its
    monotonic clock; None: never, or leadership lost) may still write at `now_s`."""
    if renewed_at_s is None:
        return False
    return now_s < renewed_at_s + timings.duration_s - timings.margin_s
