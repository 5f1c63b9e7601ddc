"""The operator's own in-memory map of bindings, one entry per opted-in InferenceService:
the one store of binding state (entries, the ModelBindings found at start-up, the
InferenceServices seen without the opt-in, and each binding's last Ready period).

Fed by the InferenceService handlers; read by the admission webhook, which must answer from
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
from registry_sync.domain.model_binding import RecordedBinding


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
class ReadyPeriod:
    """The last entry of an InferenceService that was Ready, and when that period ended
    (`ended_at_ms`, by the book's clock; None while it lasts)."""

    entry: BindingEntry
    ended_at_ms: int | None


class BindingBook:
    """Entries by InferenceService name, and a way to wait for one to appear or change.

    It also remembers each binding's last Ready entry (`last_ready`): a run started with that
    answer is not cancelled when the binding stops being Ready (domain/replacement.py). In
    memory only: after a restart, a binding that is not Ready has no last Ready answer.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._entries: dict[str, BindingEntry] = {}
        self._ready_periods: dict[str, ReadyPeriod] = {}
        self._unmanaged: set[str] = set()  # InferenceServices seen without the opt-in
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
        self._awaited = {name for name in names if name not in self._entries}
        if self._awaited:
            self._primed.clear()
        else:
            self._primed.set()

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

    def note_unmanaged(self, name: str, unmanaged: bool) -> None:
        """Record whether an existing InferenceService lacks the opt-in annotation."""
        if unmanaged:
            self._unmanaged.add(name)
            self._settled(name)
        else:
            self._unmanaged.discard(name)

    def is_unmanaged(self, name: str) -> bool:
        return name in self._unmanaged

    def get(self, name: str) -> BindingEntry | None:
        return self._entries.get(name)

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

    def last_ready(self, name: str) -> ReadyPeriod | None:
        """The last Ready entry of `name` and when it stopped being Ready, if it ever was."""
        return self._ready_periods.get(name)

    async def put(self, entry: BindingEntry) -> None:
        name = entry.facts.name
        self._entries[name] = entry
        period = self._ready_periods.get(name)
        if entry.ready:
            self._ready_periods[name] = ReadyPeriod(entry, None)
        elif period is not None and period.ended_at_ms is None:
            self._ready_periods[name] = ReadyPeriod(period.entry, int(self._clock() * 1000))
        self._settled(name)
        async with self._changed:
            self._changed.notify_all()

    async def forget(self, name: str) -> BindingEntry | None:
        entry = self._entries.pop(name, None)
        self._found.pop(name, None)
        self._ready_periods.pop(name, None)
        self._settled(name)
        async with self._changed:
            self._changed.notify_all()
        return entry

    async def wait_for(self, name: str, timeout_s: float) -> BindingEntry | None:
        """The entry for `name` once it has a resolution, waiting at most `timeout_s`."""

        def present() -> bool:
            entry = self._entries.get(name)
            return entry is not None and entry.resolution is not None

        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(present), timeout_s)
        return self._entries.get(name)
