"""The digests the operator has learned, one shared cache over one `DigestResolver`.

- Keyed by the reference's canonical form, so two spellings of one reference share an entry.
- `refresh_due` asks the resolver about each reference at most once per TTL
  (`--digest-ttl-seconds`, default 600), whatever the outcome: a registry that fails is not
  asked again before the TTL passes either, so a broken registry costs one lookup per
  reference per TTL, not one per reconcile. Lookups run concurrently, bounded by the
  resolver's own limit; a reference already being looked up is not looked up twice.
- A failed lookup keeps the digest learned before (the caller shows it as cached, with
  its age) and records the failure next to it.
- Each refresh forgets the references not in its set: memory follows what is deployed.
- Time is what the caller says (`now`, seconds since the epoch), so tests control it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Protocol

from registry_sync.domain.references import OciReference
from registry_sync.oci.resolver import Failed, Learned, Lookup

DEFAULT_TTL_S: Final = 600.0


class Resolves(Protocol):
    """What the cache needs of a resolver (`DigestResolver` is one)."""

    request_count: int

    async def resolve(self, reference: OciReference) -> Lookup: ...


@dataclass(frozen=True, slots=True)
class CachedDigest:
    """What the cache knows of one reference.

    `learned` is the last digest learned (None if never), `age_s` its age at the `now` of the
    lookup; `failure` is the last lookup's failure when the last lookup failed (None when it
    succeeded). `asked_at` is when the reference was last looked up.
    """

    learned: Learned | None
    age_s: float | None
    failure: Failed | None
    asked_at: float

    @property
    def stale(self) -> bool:
        """Whether the digest shown comes from before a failed lookup (shown as cached)."""
        return self.learned is not None and self.failure is not None


@dataclass(frozen=True, slots=True)
class RefreshSummary:
    """One refresh: lookups made, references still fresh, failures, entries forgotten, and
    the HTTP requests the lookups sent (what the benchmark reads)."""

    looked_up: int
    fresh: int
    failed: int
    forgotten: int
    requests: int


@dataclass(slots=True)
class _Entry:
    asked_at: float
    learned: Learned | None = None
    learned_at: float | None = None
    failure: Failed | None = None


class DigestCache:
    """Learned digests by canonical reference; see the module for the rules."""

    def __init__(self, resolver: Resolves, *, ttl_s: float = DEFAULT_TTL_S) -> None:
        if ttl_s <= 0:
            raise ValueError(f"--digest-ttl-seconds must be positive, got {ttl_s:g}")
        self._resolver = resolver
        self.ttl_s = ttl_s
        self._entries: dict[str, _Entry] = {}
        self._in_flight: set[str] = set()
        self.request_count = 0
        """HTTP requests the cache's lookups have sent, over its lifetime."""

    def lookup(self, reference: OciReference, now: float) -> CachedDigest | None:
        """What is known of `reference` at `now`; None if it was never looked up.

        A digest-carrying reference is its own answer even before any refresh.
        """
        if reference.digest is not None:
            pinned = Learned(reference.digest, frozenset(), now)
            return CachedDigest(pinned, 0.0, None, now)
        entry = self._entries.get(reference.canonical)
        if entry is None:
            return None
        age = None if entry.learned_at is None else max(0.0, now - entry.learned_at)
        return CachedDigest(entry.learned, age, entry.failure, entry.asked_at)

    def __len__(self) -> int:
        return len(self._entries)

    async def refresh_due(self, references: Iterable[OciReference], now: float) -> RefreshSummary:
        """Look up each of `references` not looked up within the TTL before `now`, and forget
        every reference not among them."""
        wanted = {reference.canonical: reference for reference in references}
        forgotten = [key for key in self._entries if key not in wanted]
        for key in forgotten:
            del self._entries[key]
        due: list[OciReference] = []
        for key, reference in wanted.items():
            if reference.digest is not None:
                continue  # its own answer: never asked (see `lookup`)
            entry = self._entries.get(key)
            if key in self._in_flight or (entry is not None and now - entry.asked_at < self.ttl_s):
                continue
            due.append(reference)
            # Marked before any await, so that a refresh running meanwhile skips it.
            self._in_flight.add(key)
        requests_before = self._resolver.request_count
        try:
            outcomes = await asyncio.gather(*(self._look_up(reference, now) for reference in due))
        finally:
            # Also when cancelled before a lookup started: it must stay due, not in flight.
            self._in_flight.difference_update(reference.canonical for reference in due)
        requests = self._resolver.request_count - requests_before
        self.request_count += requests
        return RefreshSummary(
            looked_up=len(due),
            fresh=len(wanted) - len(due),
            failed=sum(1 for outcome in outcomes if isinstance(outcome, Failed)),
            forgotten=len(forgotten),
            requests=requests,
        )

    async def _look_up(self, reference: OciReference, now: float) -> Lookup:
        key = reference.canonical
        outcome = await self._resolver.resolve(reference)
        entry = self._entries.setdefault(key, _Entry(asked_at=now))
        entry.asked_at = now
        if isinstance(outcome, Learned):
            entry.learned, entry.learned_at, entry.failure = outcome, now, None
        else:
            entry.failure = outcome
        return outcome
