"""The operator's own in-memory map of bindings, one entry per opted-in deployment (an
InferenceService or an LLMInferenceService): the one store of binding state (entries, the
ModelBindings found at start-up, the deployments seen without the opt-in, and each
binding's last Ready period).

Entries are kept by kind and name; a run names its target by name only, so `target` finds
it across kinds, and a name two kinds use is a `NameClash` (domain/name_clash.py), decided
here from what the book holds.

Fed by the deployment handlers; read by the admission webhook, which must answer from
memory. Deliberately not a Kopf index: Kopf's index readiness goes quadratic with many
indexed objects (README "Scale").
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from registry_sync.domain.answer import Resolution
from registry_sync.domain.binding import BindingDecision, CorrectionHistory
from registry_sync.domain.inference_service import InferenceServiceFacts
from registry_sync.domain.metadata import DeploymentKind
from registry_sync.domain.model_binding import RecordedBinding
from registry_sync.domain.name_clash import NameClash, find_name_clash

_Key = tuple[DeploymentKind, str]


@dataclass(frozen=True, slots=True)
class BindingEntry:
    """What the operator knows and last wrote about one opted-in InferenceService.

    `decision` is the core's last decision (readiness, label corrections, the status to
    write); `written_status` the status as last written to the ModelBinding (None: unknown,
    the write failed); `write_failed` says a label patch or status write was refused, so the
    next registry refresh tries again (no watch event follows a failed write).
    """

    facts: InferenceServiceFacts
    resolution: Resolution | None = None
    decision: BindingDecision | None = None
    written_status: Mapping[str, Any] | None = None
    binding_uid: str | None = None  # None until the ModelBinding is known to exist
    write_failed: bool = False

    @property
    def ready(self) -> bool:
        return self.decision is not None and self.decision.ready

    @property
    def ready_reason(self) -> str:
        return self.decision.ready_reason if self.decision is not None else ""

    @property
    def ready_message(self) -> str:
        return self.decision.ready_message if self.decision is not None else ""

    @property
    def check_reasons(self) -> tuple[str, ...]:
        """The reasons of the checks of what runs (none when they are off)."""
        if self.decision is None:
            return ()
        return tuple(
            check.condition.get("reason", "")
            for check in self.decision.checks
            if check.condition is not None
        )

    @property
    def history(self) -> CorrectionHistory:
        return self.decision.history if self.decision is not None else CorrectionHistory()


@dataclass(frozen=True, slots=True)
class RunTarget:
    """What a run's target name stands for: the entry of the one opted-in deployment of
    that name (None: none, or a clash), whether one exists without the opt-in, and the
    clash when two kinds use the name."""

    entry: BindingEntry | None
    unmanaged: bool
    clash: NameClash | None = None


@dataclass(frozen=True, slots=True)
class ReadyPeriod:
    """The last entry of an InferenceService that was Ready, and when that period ended
    (`ended_at_ms`, by the book's clock; None while it lasts)."""

    entry: BindingEntry
    ended_at_ms: int | None


class BindingBook:
    """Entries by kind and name, and a way to wait for one to appear or change.

    It also remembers each binding's last Ready entry (`last_ready`): a run started with that
    answer is not cancelled when the binding stops being Ready (domain/replacement.py). In
    memory only: after a restart, a binding that is not Ready has no last Ready answer.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._entries: dict[_Key, BindingEntry] = {}
        self._ready_periods: dict[_Key, ReadyPeriod] = {}
        self._unmanaged: set[_Key] = set()  # deployments seen without the opt-in
        # ModelBindings found at start-up, until their InferenceService is reconciled: after
        # a restart, the answer they record is the last known one (`RecordedBinding`).
        self._found: dict[str, RecordedBinding] = {}
        self._changed = asyncio.Condition()
        # Opted-in InferenceServices listed at start-up and not reconciled yet (see `expect`).
        self._awaited: set[str] = set()
        self._primed = asyncio.Event()
        self._primed.set()

    def expect(self, names: Iterable[str]) -> None:
        """The opted-in InferenceServices that existed at start-up: until each has been
        reconciled (or is gone, or no longer opted in), the book is not `primed`, and a
        missing entry may only mean "not reconciled yet", not "no such InferenceService"."""
        self._awaited = {
            name for name in names if (DeploymentKind.INFERENCE_SERVICE, name) not in self._entries
        }
        if self._awaited:
            self._primed.clear()
        else:
            self._primed.set()

    def primed(self) -> bool:
        """Whether every InferenceService listed at start-up has been reconciled."""
        return self._primed.is_set()

    async def wait_primed(self, timeout_s: float) -> bool:
        """Wait until every InferenceService listed at start-up has been reconciled; False
        if `timeout_s` passed first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._primed.wait(), timeout_s)
        return self._primed.is_set()

    def _settled(self, name: str) -> None:
        if name in self._awaited:
            self._awaited.discard(name)
            if not self._awaited:
                self._primed.set()

    def note_unmanaged(self, kind: DeploymentKind, name: str, unmanaged: bool) -> None:
        """Record whether an existing deployment lacks the opt-in annotation."""
        if unmanaged:
            self._unmanaged.add((kind, name))
            self._settled(name)
        else:
            self._unmanaged.discard((kind, name))

    def get(self, kind: DeploymentKind, name: str) -> BindingEntry | None:
        return self._entries.get((kind, name))

    def kinds_using(self, name: str) -> set[DeploymentKind]:
        """The kinds of deployment known to use `name`, opted in or not."""
        return {
            kind
            for kind in DeploymentKind
            if (kind, name) in self._entries or (kind, name) in self._unmanaged
        }

    def name_clash(self, name: str) -> NameClash | None:
        return find_name_clash(name, self.kinds_using(name))

    def target(self, name: str) -> RunTarget:
        """What a run naming `name` tests, across kinds (see `RunTarget`)."""
        clash = self.name_clash(name)
        entries = [entry for kind in DeploymentKind if (entry := self._entries.get((kind, name)))]
        unmanaged = any((kind, name) in self._unmanaged for kind in DeploymentKind)
        if clash is not None or len(entries) != 1:
            return RunTarget(None, unmanaged, clash)
        return RunTarget(entries[0], unmanaged)

    def record_found(self, bindings: Mapping[str, RecordedBinding]) -> None:
        """The namespace's ModelBindings as read at start-up, by name."""
        self._found.update(bindings)

    def found(self, name: str) -> RecordedBinding | None:
        """The ModelBinding of that name found at start-up, unless dropped since."""
        return self._found.get(name)

    def drop_found(self, name: str) -> RecordedBinding | None:
        """Forget a found ModelBinding (it was deleted, or its InferenceService opted out)."""
        return self._found.pop(name, None)

    def __iter__(self) -> Iterator[BindingEntry]:
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)

    def last_ready(self, kind: DeploymentKind, name: str) -> ReadyPeriod | None:
        """The last Ready entry of `name` and when it stopped being Ready, if it ever was."""
        return self._ready_periods.get((kind, name))

    async def put(self, entry: BindingEntry) -> None:
        name = entry.facts.name
        key = (entry.facts.kind, name)
        self._entries[key] = entry
        period = self._ready_periods.get(key)
        if entry.ready:
            self._ready_periods[key] = ReadyPeriod(entry, None)
        elif period is not None and period.ended_at_ms is None:
            self._ready_periods[key] = ReadyPeriod(period.entry, int(self._clock() * 1000))
        self._settled(name)
        async with self._changed:
            self._changed.notify_all()

    async def forget(self, kind: DeploymentKind, name: str) -> BindingEntry | None:
        entry = self._entries.pop((kind, name), None)
        self._found.pop(name, None)
        self._ready_periods.pop((kind, name), None)
        self._settled(name)
        async with self._changed:
            self._changed.notify_all()
        return entry

    async def wait_for(self, name: str, timeout_s: float) -> RunTarget:
        """The target `name` once an entry of it has a resolution (or a clash is known),
        waiting at most `timeout_s`."""

        def present() -> bool:
            target = self.target(name)
            return target.clash is not None or (
                target.entry is not None and target.entry.resolution is not None
            )

        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(present), timeout_s)
        return self.target(name)
