"""What the registry snapshot is made of, read at a cost that does not grow with size.

Cold start (and the periodic full resync) lists registered models, model versions and
model artifacts, then each version's artifacts, because a ModelArtifact does not name its
version: that costs one request per version.

A steady-state read lists models, versions and model artifacts ordered by
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
it, the read starts over and reads everything (like a cold start) rather than guess:
after that an artifact still without a version is left out of the snapshot (kept in
`Known.unattached`) until it changes again.

One read reads at most `max_records` entities, and tells its caller of every answer it
gets (`answered`), so that a read still receiving answers is told from a stalled one.
Keeping the result, its deadlines and its errors is
`registry_sync.registry.snapshot_source`'s business.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Iterable
from contextlib import aclosing
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol, TypeVar

from registry_sync.domain.snapshot import (
    ModelArtifact,
    ModelVersion,
    RegisteredModel,
    RegistrySnapshot,
)
from registry_sync.registry.client import OrderBy, RegistryClient, SortOrder
from registry_sync.registry.errors import RegistryError, RegistryProtocolError
from registry_sync.registry.models import (
    ArtifactRecord,
    ModelVersionRecord,
    Page,
    RegisteredModelRecord,
)

RecordT = TypeVar("RecordT", RegisteredModelRecord, ModelVersionRecord, ArtifactRecord)


class _PageSource(Protocol[RecordT]):
    def __call__(
        self,
        *,
        order_by: OrderBy | None = None,
        sort_order: SortOrder | None = None,
        page_size: int | None = None,
    ) -> AsyncGenerator[Page[RecordT], None]: ...


@dataclass(slots=True)
class _Watermarks:
    """Newest `lastUpdateTimeSinceEpoch` seen per listing; None: list everything."""

    models: int | None = None
    versions: int | None = None
    artifacts: int | None = None


@dataclass(slots=True)
class Known:
    """The registry as last read; copied before a refresh changes it."""

    models: dict[str, RegisteredModel] = field(default_factory=dict)
    versions: dict[str, ModelVersion] = field(default_factory=dict)
    version_created_ms: dict[str, int] = field(default_factory=dict)
    artifacts: dict[str, ModelArtifact] = field(default_factory=dict)
    unattached: dict[str, ArtifactRecord] = field(default_factory=dict)
    watermarks: _Watermarks = field(default_factory=_Watermarks)

    def copy(self) -> Known:
        marks = self.watermarks
        return Known(
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
class Changes:
    """Everything one read read, applied only once every request has succeeded."""

    models: list[RegisteredModelRecord]
    versions: list[ModelVersionRecord]
    artifacts: list[ArtifactRecord]
    artifacts_by_version: dict[str, list[ArtifactRecord]] = field(default_factory=dict)
    new_versions: int = 0
    orphan_lookups: int = 0
    full: bool = False  # everything was read, not only what changed


def _newest(
    records: Iterable[RegisteredModelRecord | ModelVersionRecord | ArtifactRecord],
) -> int | None:
    return max((record.last_update_ms for record in records), default=None)


def _later(mark: int | None, seen: int | None) -> int | None:
    if mark is None:
        return seen
    return mark if seen is None else max(mark, seen)


def _nobody() -> None:
    return None


class SnapshotReader:
    """Reads one registry, everything or what changed since the last read.

    One read at a time: it counts the entities the current read has read (its caller,
    `RegistrySnapshotSource`, holds a lock, and checks the arguments).
    """

    def __init__(
        self,
        client: RegistryClient,
        *,
        orphan_search_limit: int,
        fetch_concurrency: int,
        page_size: int | None,
        max_records: int,
    ) -> None:
        self._client = client
        self.orphan_search_limit = orphan_search_limit
        self.max_records = max_records
        self._fetch_slots = asyncio.Semaphore(fetch_concurrency)
        self._page_size = page_size
        self._records_read = 0
        self._answered: Callable[[], None] = _nobody

    async def read(
        self, previous: Known | None, *, answered: Callable[[], None] = _nobody
    ) -> tuple[Known, Changes]:
        """`previous` brought up to date, or, for None, everything read anew.

        Reads everything too when what changed cannot be placed (`Changes.full` says so).
        Calls `answered()` as each answer (a page, a version's artifacts) arrives.
        Raises whatever stopped it (`RegistrySnapshotSource` makes that a `RegistryError`).
        """
        self._records_read = 0
        self._answered = answered
        if previous is not None:
            read = await self._read_changes(previous)
            if read is not None:
                return read
        # A cold start, a due resync, or an artifact whose version was not found.
        return await self._read_everything()

    def _took_answer(self, records: int) -> None:
        """One answer with `records` entities arrived: it counts toward `max_records`, and
        it shows the registry is answering."""
        self._answered()
        self._records_read += records
        if self._records_read > self.max_records:
            raise RegistryProtocolError(
                f"one refresh read more than {self.max_records} entities from the registry; "
                "either it is larger than one operator reads, or it answers with entities "
                "that do not exist",
                method="GET",
                url=self._client.display_url,
            )

    async def _list_updated(self, marks: _Watermarks) -> Changes:
        client = self._client
        # Versions before models: every listed version's model then exists in the model
        # listing. Artifacts before any version's artifacts are fetched: an artifact in the
        # listing then existed when its version was read, so it cannot be missed there.
        versions = await self._updated_since(client.model_version_pages, marks.versions)
        models = await self._updated_since(client.registered_model_pages, marks.models)
        artifacts = await self._updated_since(client.model_artifact_pages, marks.artifacts)
        return Changes(models=models, versions=versions, artifacts=artifacts)

    async def _read_everything(self) -> tuple[Known, Changes]:
        changes = await self._list_updated(_Watermarks())
        changes.full = True
        changes.new_versions = len({version.id for version in changes.versions})
        changes.artifacts_by_version = await self._artifacts_of(
            [version.id for version in changes.versions]
        )
        known = Known()
        self._apply(known, changes)
        return known, changes

    async def _read_changes(self, previous: Known) -> tuple[Known, Changes] | None:
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
                self._took_answer(len(page.items))
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
                self._took_answer(len(listed))
                return version_id, listed

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(version_id)) for version_id in version_ids]
        except ExceptionGroup as failures:
            # One failed fetch fails the refresh: surface it as the error it is.
            raise _first_registry_error(failures) from None
        return dict(task.result() for task in tasks)

    async def _look_for_versions_of_orphans(self, previous: Known, changes: Changes) -> bool:
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
                self._took_answer(len(listed))
                changes.artifacts_by_version[version_id] = listed
                changes.orphan_lookups += 1
                lookups += 1
                located.update(artifact.id for artifact in listed)
        return all(orphan.id in located for orphan in orphans)

    @staticmethod
    def _apply(known: Known, changes: Changes) -> None:
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


def _already_unattached(previous: Known, artifact: ArtifactRecord) -> bool:
    # The inclusive boundary lists items of the watermark's millisecond again: an artifact
    # already known to have no version, and unchanged since, needs no new search.
    known = previous.unattached.get(artifact.id)
    return known is not None and known.last_update_ms == artifact.last_update_ms


def _keep_newest(newest: dict[str, ArtifactRecord], artifact: ArtifactRecord) -> None:
    seen = newest.get(artifact.id)
    if seen is None or artifact.last_update_ms >= seen.last_update_ms:
        newest[artifact.id] = artifact
