"""Keeping the stand-in's state in a JSON file between runs (`--data FILE`): the state
document's format, and the file holding it."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from registry_sync.devregistry.entities import Json
from registry_sync.devregistry.store import (
    COLLECTIONS,
    RegistryStore,
    StoreContents,
    wall_clock_ms,
)

STATE_FORMAT = "registry-sync dev-registry state v1"


class StateFileError(ValueError):
    """A saved state that cannot be loaded; the message names the problem."""


def store_to_document(store: RegistryStore) -> Json:
    """Everything needed to continue later, as JSON-ready data."""
    contents = store.contents
    return {
        "format": STATE_FORMAT,
        "nextIds": dict(contents.next_ids),
        "lastTimeMs": contents.last_time_ms,
        "entities": {name: list(items.values()) for name, items in contents.entities.items()},
        "versionArtifacts": {v: list(a) for v, a in contents.version_artifacts.items()},
    }


def store_from_document(document: Any, clock: Callable[[], int] = wall_clock_ms) -> RegistryStore:
    """A store continuing from `store_to_document()`'s output; StateFileError when malformed."""
    if not isinstance(document, dict) or document.get("format") != STATE_FORMAT:
        raise StateFileError(f"not a stand-in state document (expected format {STATE_FORMAT!r})")
    try:
        next_ids = {
            "context": int(document["nextIds"]["context"]),
            "artifact": int(document["nextIds"]["artifact"]),
        }
        last_time_ms = int(document["lastTimeMs"])
        entities: dict[str, dict[str, Json]] = {}
        for name in COLLECTIONS:
            saved: Iterable[Mapping[str, Any]] = document["entities"].get(name, [])
            entities[name] = {str(e["id"]): dict(e) for e in saved}
        version_artifacts = {
            str(v): [str(a) for a in artifacts]
            for v, artifacts in document.get("versionArtifacts", {}).items()
        }
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise StateFileError(f"malformed state document: {error!r}") from None
    return RegistryStore(clock, StoreContents(entities, version_artifacts, next_ids, last_time_ms))


class StateFile:
    """One JSON file holding a `RegistryStore`; saved by atomic replace after each write."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self, clock: Callable[[], int] = wall_clock_ms) -> RegistryStore:
        """The saved store, or an empty one when the file does not exist yet."""
        if not self.path.exists():
            return RegistryStore(clock)
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise StateFileError(
                f"cannot read stand-in state from {self.path}: {error}; "
                "fix or delete the file to start empty"
            ) from None
        try:
            return store_from_document(document, clock)
        except StateFileError as error:
            raise StateFileError(
                f"{self.path}: {error}; fix or delete the file to start empty"
            ) from None

    def save(self, store: RegistryStore) -> None:
        # A reader (or a crash) sees the old file or the new one, never half of one.
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(store_to_document(store), indent=1), encoding="utf-8")
        os.replace(temporary, self.path)
