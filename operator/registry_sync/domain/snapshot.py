"""The registry as plain, immutable data: what the resolver reads.

The registry client builds a `RegistrySnapshot` from the REST API; the resolver and
everything else in `domain/` only ever see this shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class State(StrEnum):
    """Lifecycle state of a registry entity. Artifacts may carry none or `UNKNOWN`."""

    LIVE = "LIVE"
    ARCHIVED = "ARCHIVED"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A registered model. `owner` is the registry's free-text field, set by whoever registers
    the model and checked by nobody: a filter, not a proof of who registered it."""

    id: str
    name: str
    state: State = State.LIVE
    last_update_ms: int = 0
    owner: str | None = None


@dataclass(frozen=True, slots=True)
class ModelVersion:
    id: str
    name: str
    registered_model_id: str
    state: State = State.LIVE
    last_update_ms: int = 0


@dataclass(frozen=True, slots=True)
class ModelArtifact:
    """A model artifact and the version it belongs to.

    The registry's ModelArtifact carries no parent id; the client learns the version by
    listing `model_versions/{id}/artifacts`, and records it here.
    """

    id: str
    name: str
    uri: str
    model_version_id: str
    state: State | None = None
    last_update_ms: int = 0


@dataclass(frozen=True, slots=True)
class RegistrySnapshot:
    """Everything the resolver needs from one registry, at one point in time.

    `taken_at_ms` is when the data was last known good (milliseconds since the epoch),
    so that an answer kept through a registry outage can say how old it is.
    """

    models: Mapping[str, RegisteredModel] = field(default_factory=dict)
    versions: Mapping[str, ModelVersion] = field(default_factory=dict)
    artifacts: tuple[ModelArtifact, ...] = ()
    taken_at_ms: int = 0
