"""The registry snapshot the resolver reads, kept fresh at a cost that does not grow with size.

Cold start (and the periodic full resync) lists registered models, model versions and
model artifacts, then each version's artifacts, because a ModelArtifact does not name its
version: that costs one request per version.

A steady-state refresh lists models, versions and model artifacts ordered by
`LAST_UPDATE_TIME` `DESC` and stops paging at the first item older than the newest
update time seen before (the watermark; inclusive, so an update in the same millisecond
is never lost). Creating, archiving (models and versions) and PATCHing (artifacts) all
move `lastUpdateTimeSinceEpoch`, and the API has no DELETE, so these three listings see
every change. Costs:
- nothing changed: 3 requests, unless `page_size` or more entities of one kind share the
  watermark's millisecond;
- k changed entities: at most 3 + k. Each new version costs one request for its
  artifacts; a changed model, version or already-known artifact costs nothing more (an
  artifact keeps the version it was listed under).

An artifact whose version is unknown (added to a version that was already known, or
created without a version) is looked for among the versions created before it, newest
first, at most `orphan_search_limit` requests; the registering pipeline creates the
artifact right after its version, so the first look finds it. When that does not find
it, the refresh reads everything again (like a cold start) rather than guess: after that
an artifact still without a version is left out of the snapshot
(`unattached_artifact_ids` lists it) until it changes again.

A failed refresh keeps the last good snapshot: its `taken_at_ms` says when the data was
last known good, and `last_error` says why it is not newer.

Whatever the registry sends, a refresh ends and fails cleanly: it has a deadline
(`refresh_timeout_s`), reads at most `max_records` entities, and any failure, expected or
not, is recorded in `last_error` and raised as a `RegistryError`, so that a refresher
catching those survives everything. Data older than `max_age_s` is not current, even
without an error (should refreshes stop altogether).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable, Iterable
from contextlib import aclosing
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Protocol, TypeVar

from registry_sync.domain.snapshot import (
    ModelArtifact,
    ModelVersion,
    RegisteredModel,
    RegistrySnapshot,
)
from registry_sync.registry.client import OrderBy, RegistryClient, SortOrder
from registry_sync.registry.errors import (
    RegistryError,
    RegistryProtocolError,
    RegistryUnavailable,
)
from registry_sync.registry.models import (
    ArtifactRecord,
    ModelVersionRecord,
    Page,
    RegisteredModelRecord,
)

log = logging.getLogger(__name__)

DEFAULT_REFRESH_TIMEOUT_S = 120.0
"""Seconds a whole refresh may take. A cold start reads one page per version (measured:
2,000 versions in 17 s against the stand-in on 2 busy cores); a larger registry needs more."""
DEFAULT_MAX_RECORDS = 100_000
"""Entities one refresh may read (some 2 KiB each while it runs): the memory it may take."""

RecordT = TypeVar("RecordT", RegisteredModelRecord, ModelVersionRecord, ArtifactRecord)


class _PageSource(Protocol[RecordT]):
    def __call__(
        self,
        *,
        order_by: OrderBy | None = None,
        sort_order: SortOrder | None = None,
        page_size: int | None = None,
    ) -> AsyncGenerator[Page[RecordT], None]: ...


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


@dataclass(slots=True)
class _Watermarks:
    """Newest `lastUpdateTimeSinceEpoch` seen per listing; None: list everything."""

    models: int | None = None
    versions: int | None = None
    artifacts: int | None = None


@dataclass(slots=True)
class _Known:
    """The registry as last read; copied before a refresh changes it."""

    models: dict[str, RegisteredModel] = field(default_factory=dict)
    versions: dict[str, ModelVersion] = field(default_factory=dict)
    version_created_ms: dict[str, int] = field(default_factory=dict)
    artifacts: dict[str, ModelArtifact] = field(default_factory=dict)
    unattached: dict[str, ArtifactRecord] = field(default_factory=dict)
    watermarks: _Watermarks = field(default_factory=_Watermarks)

    def copy(self) -> _Known:
        marks = self.watermarks
        return _Known(
            dict(self.models),
            dict(self.versions),
            dict(self.version_created_ms),
            dict(self.artifacts),
            dict(self.unattached),
            _Watermarks(marks.models, marks.versions, marks.artifacts),
        )

    def snapshot(self, taken_at_ms: int) -> RegistrySnapshot:
        located = (artifact for artifact in self.artifacts.values() if artifact.uri)
        return RegistrySnapshot(
            models=MappingProxyType(dict(self.models)),
            versions=MappingProxyType(dict(self.versions)),
            artifacts=tuple(sorted(located, key=lambda artifact: int(artifact.id))),
            taken_at_ms=taken_at_ms,
        )


@dataclass(slots=True)
class _Changes:
    """Everything one refresh read, applied only once every request has succeeded."""

    models: list[RegisteredModelRecord]
    versions: list[ModelVersionRecord]
    artifacts: list[ArtifactRecord]
    artifacts_by_version: dict[str, list[ArtifactRecord]] = field(default_factory=dict)
    new_versions: int = 0
    orphan_lookups: int = 0


def _newest(
    records: Iterable[RegisteredModelRecord | ModelVersionRecord | ArtifactRecord],
) -> int | None:
    return max((record.last_update_ms for record in records), default=None)


def _later(mark: int | None, seen: int | None) -> int | None:
    if mark is None:
        return seen
    return mark if seen is None else max(mark, seen)


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
        max_age_s: float | None = None,
        max_records: int = DEFAULT_MAX_RECORDS,
    ) -> None:
        if immediate_refresh_interval_s < 0:
            raise ValueError("immediate_refresh_interval_s must not be negative")
        if full_resync_interval_s is not None and full_resync_interval_s <= 0:
            raise ValueError("full_resync_interval_s must be positive, or None for never")
        if orphan_search_limit < 0 or fetch_concurrency < 1:
            raise ValueError("orphan_search_limit must be >= 0 and fetch_concurrency >= 1")
        if (refresh_timeout_s is not None and refresh_timeout_s <= 0) or (
            max_age_s is not None and max_age_s <= 0
        ):
            raise ValueError("refresh_timeout_s and max_age_s must be positive, or None for none")
        if max_records < 1:
            raise ValueError(f"max_records must be at least 1, got {max_records}")
        self.refresh_timeout_s = refresh_timeout_s
        self.max_age_s = max_age_s
        self.max_records = max_records
        self._records_read = 0
        self._client = client
        self.immediate_refresh_interval_s = immediate_refresh_interval_s
        self.full_resync_interval_s = full_resync_interval_s
        self.orphan_search_limit = orphan_search_limit
        self._fetch_slots = asyncio.Semaphore(fetch_concurrency)
        self._page_size = page_size
        self._clock = clock
        self._monotonic = monotonic
        self._lock = asyncio.Lock()
        self._known: _Known | None = None
        self._snapshot: RegistrySnapshot | None = None
        self._uris: frozenset[str] = frozenset()
        self._last_full_sync: float | None = None
        self._last_immediate: float | None = None
        self._immediate: asyncio.Task[bool] | None = None
        self.last_error: RegistryError | None = None
        self.last_error_at_ms: int | None = None
        self.last_refresh: RefreshReport | None = None

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
        self._records_read = 0
        deadline = asyncio.timeout(self.refresh_timeout_s)
        try:
            async with deadline:
                read = None
                if not full and self._known is not None:
                    read = await self._read_changes(self._known)
                if read is None:
                    # A cold start, a due resync, or an artifact whose version was not found.
                    full = True
                    read = await self._read_everything()
            known, changes = read
        except Exception as error:  # whatever it was, the refresher must live on
            failure = self._as_registry_error(error, deadline)
            self.last_error = failure
            self.last_error_at_ms = int(self._clock() * 1000)
            if failure is error:
                raise
            raise failure from error
        if full:
            self._last_full_sync = started
        self._known = known
        self._snapshot = known.snapshot(started_ms)
        self._uris = frozenset(artifact.uri for artifact in self._snapshot.artifacts)
        self.last_error = None
        self.last_error_at_ms = None
        self.last_refresh = RefreshReport(
            kind=RefreshKind.FULL if full else RefreshKind.INCREMENTAL,
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

    def _as_registry_error(self, error: Exception, deadline: asyncio.Timeout) -> RegistryError:
        if isinstance(error, RegistryError):
            return error
        url = self._client.display_url
        if isinstance(error, TimeoutError) and deadline.expired():
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

    def _count_read(self, records: int) -> None:
        self._records_read += records
        if self._records_read > self.max_records:
            raise RegistryProtocolError(
                f"one refresh read more than {self.max_records} entities from the registry; "
                "either it is larger than one operator reads, or it answers with entities "
                "that do not exist",
                method="GET",
                url=self._client.display_url,
            )

    def _full_resync_due(self, now: float) -> bool:
        if self.full_resync_interval_s is None or self._last_full_sync is None:
            return False
        return now - self._last_full_sync >= self.full_resync_interval_s

    async def _list_updated(self, marks: _Watermarks) -> _Changes:
        client = self._client
        # Versions before models: every listed version's model then exists in the model
        # listing. Artifacts before any version's artifacts are fetched: an artifact in the
        # listing then existed when its version was read, so it cannot be missed there.
        versions = await self._updated_since(client.model_version_pages, marks.versions)
        models = await self._updated_since(client.registered_model_pages, marks.models)
        artifacts = await self._updated_since(client.model_artifact_pages, marks.artifacts)
        return _Changes(models=models, versions=versions, artifacts=artifacts)

    async def _read_everything(self) -> tuple[_Known, _Changes]:
        changes = await self._list_updated(_Watermarks())
        changes.new_versions = len({version.id for version in changes.versions})
        changes.artifacts_by_version = await self._artifacts_of(
            [version.id for version in changes.versions]
        )
        known = _Known()
        self._apply(known, changes)
        return known, changes

    async def _read_changes(self, previous: _Known) -> tuple[_Known, _Changes] | None:
        """What changed since `previous`; None when only reading everything can place it."""
        changes = await self._list_updated(previous.watermarks)
        new_versions = list(
            dict.fromkeys(v.id for v in changes.versions if v.id not in previous.versions)
        )
        changes.new_versions = len(new_versions)
        changes.artifacts_by_version = await self._artifacts_of(new_versions)
        if not await self._look_for_versions_of_orphans(previous, changes):
            return None
        known = previous.copy()
        self._apply(known, changes)
        return known, changes

    async def _updated_since(
        self, pages: _PageSource[RecordT], watermark: int | None
    ) -> list[RecordT]:
        """Items updated at or after `watermark` (all items for None), newest first."""
        collected: list[RecordT] = []
        previous: int | None = None
        listing = pages(
            order_by=OrderBy.LAST_UPDATE_TIME,
            sort_order=SortOrder.DESC,
            page_size=self._page_size,
        )
        async with aclosing(listing):
            async for page in listing:
                self._count_read(len(page.items))
                for item in page.items:
                    if previous is not None and item.last_update_ms > previous:
                        # Stopping early is only sound on an ordered listing: check it is one.
                        raise RegistryProtocolError(
                            "a listing ordered by LAST_UPDATE_TIME DESC came back out of order "
                            f"(item {item.id} updated at {item.last_update_ms} after one at "
                            f"{previous}); the registry must honour orderBy/sortOrder",
                            method="GET",
                            url=self._client.display_url,
                        )
                    previous = item.last_update_ms
                    if watermark is not None and item.last_update_ms < watermark:
                        return collected
                    collected.append(item)
        return collected

    async def _artifacts_of(self, version_ids: list[str]) -> dict[str, list[ArtifactRecord]]:
        async def one(version_id: str) -> tuple[str, list[ArtifactRecord]]:
            async with self._fetch_slots:
                listed = await self._client.list_version_artifacts(version_id)
                self._count_read(len(listed))
                return version_id, listed

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(version_id)) for version_id in version_ids]
        except ExceptionGroup as failures:
            # One failed fetch fails the refresh: surface it as the error it is.
            raise _first_registry_error(failures) from None
        return dict(task.result() for task in tasks)

    async def _look_for_versions_of_orphans(self, previous: _Known, changes: _Changes) -> bool:
        """Fetch the versions most likely to hold the changed artifacts of no known version.

        True when every such artifact was found under a version.
        """
        located = set(previous.artifacts)
        for listed in changes.artifacts_by_version.values():
            located.update(artifact.id for artifact in listed)
        orphans = [
            artifact
            for artifact in changes.artifacts
            if artifact.is_model_artifact
            and artifact.id not in located
            and not _already_unattached(previous, artifact)
        ]
        if not orphans:
            return True
        created = dict(previous.version_created_ms)
        created.update((version.id, version.create_time_ms) for version in changes.versions)
        newest_first = sorted(created, key=lambda vid: (created[vid], int(vid)), reverse=True)
        for orphan in sorted(orphans, key=lambda artifact: artifact.create_time_ms, reverse=True):
            lookups = 0
            for version_id in newest_first:
                if orphan.id in located or lookups == self.orphan_search_limit:
                    break
                if (
                    version_id in changes.artifacts_by_version
                    or created[version_id] > orphan.create_time_ms
                ):
                    continue
                listed = await self._client.list_version_artifacts(version_id)
                self._count_read(len(listed))
                changes.artifacts_by_version[version_id] = listed
                changes.orphan_lookups += 1
                lookups += 1
                located.update(artifact.id for artifact in listed)
        return all(orphan.id in located for orphan in orphans)

    @staticmethod
    def _apply(known: _Known, changes: _Changes) -> None:
        for model in changes.models:
            known.models[model.id] = model.as_snapshot_entry()
        for version in changes.versions:
            known.versions[version.id] = version.as_snapshot_entry()
            known.version_created_ms[version.id] = version.create_time_ms
        # Newest data wins; an artifact read under a version keeps that version.
        newest: dict[str, ArtifactRecord] = {}
        version_of: dict[str, str] = {}
        for version_id, listed in changes.artifacts_by_version.items():
            for artifact in listed:
                if artifact.is_model_artifact:
                    version_of[artifact.id] = version_id
                    _keep_newest(newest, artifact)
        for artifact in changes.artifacts:
            _keep_newest(newest, artifact)
        for artifact_id, artifact in newest.items():
            parent = version_of.get(artifact_id)
            if parent is None and artifact_id in known.artifacts:
                parent = known.artifacts[artifact_id].model_version_id
            if parent is None:
                known.unattached[artifact_id] = artifact
                continue
            known.unattached.pop(artifact_id, None)
            known.artifacts[artifact_id] = artifact.as_snapshot_entry(parent)
        marks = known.watermarks
        marks.models = _later(marks.models, _newest(changes.models))
        marks.versions = _later(marks.versions, _newest(changes.versions))
        # Only the artifact listing moves its watermark: artifacts read under a version
        # may be newer than ones the listing has not shown yet.
        marks.artifacts = _later(marks.artifacts, _newest(changes.artifacts))


def _first_registry_error(failures: BaseExceptionGroup[BaseException]) -> BaseException:
    for failure in failures.exceptions:
        if isinstance(failure, BaseExceptionGroup):
            failure = _first_registry_error(failure)
        if isinstance(failure, RegistryError):
            return failure
    return failures


def _already_unattached(previous: _Known, artifact: ArtifactRecord) -> bool:
    # The inclusive boundary lists items of the watermark's millisecond again: an artifact
    # already known to have no version, and unchanged since, needs no new search.
    known = previous.unattached.get(artifact.id)
    return known is not None and known.last_update_ms == artifact.last_update_ms


def _keep_newest(newest: dict[str, ArtifactRecord], artifact: ArtifactRecord) -> None:
    seen = newest.get(artifact.id)
    if seen is None or artifact.last_update_ms >= seen.last_update_ms:
        newest[artifact.id] = artifact
