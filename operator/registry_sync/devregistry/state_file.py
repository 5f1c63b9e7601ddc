"""Keeping the stand-in's state in a JSON file between runs (`--data FILE`)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from registry_sync.devregistry.store import RegistryStore, StateFileError, wall_clock_ms


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
            return RegistryStore.from_document(document, clock)
        except StateFileError as error:
            raise StateFileError(
                f"{self.path}: {error}; fix or delete the file to start empty"
            ) from None

    def save(self, store: RegistryStore) -> None:
        # A reader (or a crash) sees the old file or the new one, never half of one.
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(store.to_document(), indent=1), encoding="utf-8")
        os.replace(temporary, self.path)
