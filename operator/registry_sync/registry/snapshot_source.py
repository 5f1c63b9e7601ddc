"""The registry snapshot the resolver reads: `RegistrySnapshotSource` keeps it fresh.

What is read, and what it costs, is `registry_sync.registry.snapshot_reader`'s business;
here the snapshot is kept: refreshes never overlap, a full resync is due every
`full_resync_interval_s`, and an immediate refresh for a URI the snapshot lacks runs at
most once per `immediate_refresh_interval_s`.

A failed refresh keeps the last good snapshot: its `taken_at_ms` says when the data was
last known good, and `last_error` says why it is not newer.

Whatever the registry sends, a refresh ends and fails cleanly: it fails as unavailable
when the registry has given it no answer for `stall_timeout_s` (a registry that accepts
connections and never replies is noticed by then, however large the registry: a read
that keeps receiving answers is not stalled), it has a deadline for the whole
(`refresh_timeout_s`, for a registry that answers, but too slowly), it reads at most
`max_records` entities, and any failure, expected or not, is recorded in `last_error` and
raised as a `RegistryError`, so that a refresher catching those survives everything. Data
older than `max_age_s` is not current, even without an error (should refreshes stop
altogether).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType

from registry_sync.domain.snapshot import RegistrySnapshot
from registry_sync.registry.client import RegistryClient
from registry_sync.registry.errors import RegistryError, RegistryUnavailable
from registry_sync.registry.snapshot_reader import Known, SnapshotReader

log = logging.getLogger(__name__)

DEFAULT_REFRESH_TIMEOUT_S = 120.0
"""Seconds a whole refresh may take. A cold start reads one page per version (measured:
2,000 versions in 17 s against the stand-in on 2 busy cores); a larger registry needs more."""
DEFAULT_STALL_TIMEOUT_S = 10.0
"""Seconds a refresh may wait for the registry's next answer (a page, or a version's
artifacts): a bound on silence, not on size, so a large registry read answer by answer is
never cut by it (`bench/registry_stall.py` measures the gaps of a 2,000-version cold start).
With a refresh every 30 s, a registry that stops answering is reported within this of the
first refresh that asks it, and within 30 s plus this of the moment it stopped."""
DEFAULT_MAX_RECORDS = 100_000
"""Entities one refresh may read (some 2 KiB each while it runs): the memory it may take."""


class RefreshKind(StrEnum):
    FULL = "full"
    INCREMENTAL = "incremental"


@dataclass(frozen=True, slots=True)
class RefreshReport:
    """What one successful refresh did and what it cost."""

    kind: RefreshKind
    requests: int
    changed_models: int
    changed_versions: int
    changed_artifacts: int
    new_versions: int
    orphan_lookups: int
    unattached_artifacts: int
    duration_s: float


class RegistrySnapshotSource:
    """Builds and refreshes the `RegistrySnapshot` of one registry.

    `refresh()` is the periodic refresh (the operator's refresher, in
    `controller/services.py`, calls it); `request_refresh_for(uri)` is the immediate one
    for a URI the snapshot lacks, at most one per `immediate_refresh_interval_s`. Both
    share one lock, so refreshes never overlap.
    """

    def __init__(
        self,
        client: RegistryClient,
        *,
        immediate_refresh_interval_s: float = 10.0,
        full_resync_interval_s: float | None = 3600.0,
        orphan_search_limit: int = 3,
        fetch_concurrency: int = 8,
        page_size: int | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        refresh_timeout_s: float | None = DEFAULT_REFRESH_TIMEOUT_S,
        stall_timeout_s: float | None = DEFAULT_STALL_TIMEOUT_S,
        max_age_s: float | None = None,
        max_records: int = DEFAULT_MAX_RECORDS,
    ) -> None:
        if immediate_refresh_interval_s < 0:
            raise ValueError("immediate_refresh_interval_s must not be negative")
        if full_resync_interval_s is not None and full_resync_interval_s <= 0:
            raise ValueError("full_resync_interval_s must be positive, or None for never")
        if orphan_search_limit < 0 or fetch_concurrency < 1:
            raise ValueError("orphan_search_limit must be >= 0 and fetch_concurrency >= 1")
        if any(
            seconds is not None and seconds <= 0
            for seconds in (refresh_timeout_s, stall_timeout_s, max_age_s)
        ):
            raise ValueError(
                "refresh_timeout_s, stall_timeout_s and max_age_s must be positive, "
                "or None for none"
            )
        if max_records < 1:
            raise ValueError(f"max_records must be at least 1, got {max_records}")
        self.refresh_timeout_s = refresh_timeout_s
        self.stall_timeout_s = stall_timeout_s
        self.max_age_s = max_age_s
        self._client = client
        self._reader = SnapshotReader(
            client,
            orphan_search_limit=orphan_search_limit,
            fetch_concurrency=fetch_concurrency,
            page_size=page_size,
            max_records=max_records,
        )
        self.immediate_refresh_interval_s = immediate_refresh_interval_s
        self.full_resync_interval_s = full_resync_interval_s
        self._clock = clock
        self._monotonic = monotonic
        self._lock = asyncio.Lock()
        self._known: Known | None = None
        self._snapshot: RegistrySnapshot | None = None
        self._uris: frozenset[str] = frozenset()
        self._last_full_sync: float | None = None
        self._last_immediate: float | None = None
        self._immediate: asyncio.Task[bool] | None = None
        self.last_error: RegistryError | None = None
        self.last_error_at_ms: int | None = None
        self.last_refresh: RefreshReport | None = None

    @property
    def orphan_search_limit(self) -> int:
        return self._reader.orphan_search_limit

    @property
    def max_records(self) -> int:
        return self._reader.max_records

    # What the resolver reads ---------------------------------------------------------

    @property
    def snapshot(self) -> RegistrySnapshot | None:
        """The last good snapshot, or None before the first successful refresh."""
        return self._snapshot

    @property
    def is_current(self) -> bool:
        """True when there is a snapshot, the latest refresh succeeded, and it is not older
        than `max_age_s`."""
        if self._snapshot is None or self.last_error is not None:
            return False
        age = self.age_s()
        return self.max_age_s is None or age is None or age <= self.max_age_s

    def age_s(self) -> float | None:
        """Seconds since the snapshot was last known good, or None without one."""
        if self._snapshot is None:
            return None
        return max(0.0, self._clock() - self._snapshot.taken_at_ms / 1000)

    @property
    def unattached_artifact_ids(self) -> frozenset[str]:
        """Model artifacts whose version could not be found: left out of the snapshot."""
        return frozenset(self._known.unattached) if self._known else frozenset()

    # Refreshing ----------------------------------------------------------------------

    async def refresh(self) -> RegistrySnapshot:
        """Bring the snapshot up to date and return it.

        Raises the `RegistryError` that stopped it (any other failure, or the deadline,
        becomes one); the previous snapshot is then kept and `last_error` is set.
        """
        async with self._lock:
            return await self._refresh_locked()

    async def request_refresh_for(self, uri: str) -> bool:
        """Refresh now because `uri` is not in the snapshot; True if a refresh succeeded.

        Does nothing (False) when the snapshot already has an artifact with exactly this
        URI, or when an immediate refresh ran less than `immediate_refresh_interval_s`
        ago. Callers arriving while one runs wait for it. Never raises a `RegistryError`:
        a failure shows in `last_error`.
        """
        if uri in self._uris:
            return False
        if self._immediate is not None and not self._immediate.done():
            return await asyncio.shield(self._immediate)
        now = self._monotonic()
        if (
            self._last_immediate is not None
            and now - self._last_immediate < self.immediate_refresh_interval_s
        ):
            return False
        self._last_immediate = now
        self._immediate = asyncio.create_task(self._refresh_quietly())
        return await asyncio.shield(self._immediate)

    async def _refresh_quietly(self) -> bool:
        try:
            await self.refresh()
        except RegistryError as error:
            log.warning("registry refresh failed, keeping the last good snapshot: %s", error)
            return False
        return True

    async def _refresh_locked(self) -> RegistrySnapshot:
        started_ms = int(self._clock() * 1000)
        started = self._monotonic()
        requests_before = self._client.request_count
        full = self._known is None or self._full_resync_due(started)
        deadline = RefreshDeadline(self.refresh_timeout_s, self.stall_timeout_s)
        try:
            async with deadline:
                known, changes = await self._reader.read(
                    None if full else self._known, answered=deadline.answered
                )
        except Exception as error:  # whatever it was, the refresher must live on
            failure = self._as_registry_error(error, deadline)
            self.last_error = failure
            self.last_error_at_ms = int(self._clock() * 1000)
            if failure is error:
                raise
            raise failure from error
        if changes.full:
            self._last_full_sync = started
        self._known = known
        self._snapshot = known.snapshot(started_ms)
        self._uris = frozenset(artifact.uri for artifact in self._snapshot.artifacts)
        self.last_error = None
        self.last_error_at_ms = None
        self.last_refresh = RefreshReport(
            kind=RefreshKind.FULL if changes.full else RefreshKind.INCREMENTAL,
            requests=self._client.request_count - requests_before,
            changed_models=len(changes.models),
            changed_versions=len(changes.versions),
            changed_artifacts=len(changes.artifacts),
            new_versions=changes.new_versions,
            orphan_lookups=changes.orphan_lookups,
            unattached_artifacts=len(known.unattached),
            duration_s=self._monotonic() - started,
        )
        return self._snapshot

    def _as_registry_error(self, error: Exception, deadline: RefreshDeadline) -> RegistryError:
        if isinstance(error, RegistryError):
            return error
        url = self._client.display_url
        if isinstance(error, TimeoutError) and deadline.stalled:
            return RegistryUnavailable(
                f"the registry at {url} answered nothing for {self.stall_timeout_s:g} s "
                f"(--registry-stall-seconds) during a refresh, after {deadline.answers} "
                "answer(s); it accepts connections but does not reply, or replies too slowly",
                method="GET",
                url=url,
            )
        if isinstance(error, TimeoutError) and deadline.expired:
            return RegistryUnavailable(
                f"the registry refresh did not finish within {self.refresh_timeout_s:g} s "
                "(--refresh-timeout-seconds); the registry answers too slowly, or it is larger "
                "than one refresh reads in that time (then raise the setting)",
                method="GET",
                url=url,
            )
        # Not a failure the client foresaw: a bug, or an answer nobody expected. Kept with
        # its traceback in the log; the binding shows the short form.
        log.error("registry refresh failed unexpectedly", exc_info=error)
        return RegistryError(
            f"the registry refresh failed unexpectedly ({type(error).__name__}: "
            f"{str(error)[:200]}); the last good snapshot is kept. The operator log has the "
            "details: please report them",
            method="GET",
            url=url,
        )

    def _full_resync_due(self, now: float) -> bool:
        if self.full_resync_interval_s is None or self._last_full_sync is None:
            return False
        return now - self._last_full_sync >= self.full_resync_interval_s


class RefreshDeadline:
    """When one refresh must end: `total_s` after it began, or `stall_s` after the registry's
    last answer to it (or its start), whichever comes first; None: no such bound.

    `async with` it around the refresh, and call `answered()` as each answer arrives: it
    moves the stall bound on. A refresh it ends raises `TimeoutError`; `stalled` then says
    whether the registry had stopped answering, `expired` that either bound passed.
    """

    def __init__(self, total_s: float | None, stall_s: float | None) -> None:
        self._total_s = total_s
        self._stall_s = stall_s
        self._timeout: asyncio.Timeout | None = None
        self._total_at: float | None = None
        self._stall_at: float | None = None
        self._inside = False
        self.answers = 0

    async def __aenter__(self) -> RefreshDeadline:
        now = asyncio.get_running_loop().time()
        self._total_at = None if self._total_s is None else now + self._total_s
        self._stall_at = None if self._stall_s is None else now + self._stall_s
        self._timeout = asyncio.timeout_at(self._ends_at())
        await self._timeout.__aenter__()
        self._inside = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._timeout is not None
        self._inside = False
        await self._timeout.__aexit__(exc_type, exc, traceback)  # raises TimeoutError if ended

    def answered(self) -> None:
        """An answer arrived: the registry is not stalled."""
        self.answers += 1
        if self._stall_s is None or not self._inside or self._timeout is None:
            return
        if self._timeout.expired():  # too late: the refresh is being ended
            return
        self._stall_at = asyncio.get_running_loop().time() + self._stall_s
        self._timeout.reschedule(self._ends_at())

    @property
    def expired(self) -> bool:
        return self._timeout is not None and self._timeout.expired()

    @property
    def stalled(self) -> bool:
        """The refresh was ended because no answer came for `stall_s`."""
        if not self.expired or self._stall_at is None:
            return False
        return self._total_at is None or self._stall_at < self._total_at

    def _ends_at(self) -> float | None:
        bounds = [when for when in (self._total_at, self._stall_at) if when is not None]
        return min(bounds, default=None)
