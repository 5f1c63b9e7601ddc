"""The answer about one InferenceService (`Resolution`), its outcomes and candidates, and how
documents and messages write answers: the model version's ids and names, times and ages.

The rules that reach an answer are `domain/resolution.py`; the binding, the admission and
the audit read answers and write them through the helpers here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final, Protocol


class Outcome(StrEnum):
    """What resolution concluded. The values are the reasons shown to people."""

    RESOLVED = "Resolved"
    AMBIGUOUS = "Ambiguous"
    NOT_REGISTERED = "NotRegistered"
    REGISTRY_UNAVAILABLE = "RegistryUnavailable"
    PINNED = "Pinned"
    PIN_MISMATCH = "PinMismatch"
    INVALID_STORAGE_URI = "InvalidStorageUri"
    UNSUPPORTED_STORAGE = "UnsupportedStorage"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A live model version with an artifact matching the deployed reference."""

    registered_model_id: str
    registered_model_name: str
    model_version_id: str
    model_version_name: str
    artifact_id: str
    artifact_uri: str

    def describe(self) -> str:
        """`model A version x (id 5)`: how messages name a candidate."""
        return (
            f"model {self.registered_model_name} version {self.model_version_name} "
            f"(id {self.model_version_id})"
        )


class NamedVersion(Protocol):
    """An answer or a candidate: a model version named by ids and names."""

    @property
    def registered_model_id(self) -> str | None: ...
    @property
    def registered_model_name(self) -> str | None: ...
    @property
    def model_version_id(self) -> str | None: ...
    @property
    def model_version_name(self) -> str | None: ...


def version_document(
    named: NamedVersion, shown: Callable[[str | None], str | None] = lambda value: value
) -> dict[str, str | None]:
    """The ids and names of a model version as the project's documents write them (the
    ModelBinding status, the audit's JSON): camelCase, each value through `shown`."""
    return {
        "registeredModelId": shown(named.registered_model_id),
        "registeredModelName": shown(named.registered_model_name),
        "modelVersionId": shown(named.model_version_id),
        "modelVersionName": shown(named.model_version_name),
    }


@dataclass(frozen=True, slots=True)
class Resolution:
    """One answer about one InferenceService.

    The ids and names are set for `Resolved` and `Pinned`, and for `RegistryUnavailable`
    when it keeps an earlier answer. `storage_uri` is the deployed reference in canonical
    form (None when there is none to parse). `snapshot_taken_at_ms` is the time of the
    registry data the ids and names come from. `message` is for people: what was found,
    and what to do about it when it is not good news.
    """

    outcome: Outcome
    message: str
    storage_uri: str | None = None
    registered_model_id: str | None = None
    registered_model_name: str | None = None
    model_version_id: str | None = None
    model_version_name: str | None = None
    artifact_id: str | None = None
    candidates: tuple[Candidate, ...] = ()
    snapshot_taken_at_ms: int | None = None

    @property
    def has_answer(self) -> bool:
        """Whether it names a model version: resolved, pinned, or kept through an outage.

        This is when a model-testing run may be told these names (the binding's Ready).
        """
        return self.model_version_id is not None and self.outcome in _ANSWERING_OUTCOMES

    def says_the_same(self, other: Resolution) -> bool:
        """Whether two answers say the same thing (an outage's ageing message aside)."""
        return _gist(self) == _gist(other)


def _gist(answer: Resolution) -> tuple[object, ...]:
    return (
        answer.outcome,
        answer.registered_model_id,
        answer.model_version_id,
        answer.registered_model_name,
        answer.model_version_name,
        answer.candidates,
    )


_ANSWERING_OUTCOMES: Final = frozenset(
    {Outcome.RESOLVED, Outcome.PINNED, Outcome.REGISTRY_UNAVAILABLE}
)


def format_instant(epoch_ms: int) -> str:
    """A moment as an RFC 3339 UTC time to the second: `2026-11-26T16:01:02Z`."""
    try:
        moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):  # a time no calendar holds: say it raw
        return f"{epoch_ms} ms after the epoch"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def format_age(milliseconds: int) -> str:
    """A duration as people read it: `45s`, `3m12s`, `2h5m`, `3d4h` (negative reads `0s`)."""
    seconds = max(milliseconds, 0) // 1000
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    if minutes:
        return f"{minutes}m{seconds}s"
    return f"{seconds}s"
