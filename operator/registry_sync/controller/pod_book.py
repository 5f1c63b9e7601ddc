"""The model pods of the namespace, by InferenceService: what the digest check reads.

Fed by a pod watch that the apiserver filters on KServe's InferenceService label (only
those pods reach the process) and by one LIST at start; keeps only `PodFacts` (a few
strings a pod), so thousands of pods stay small.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from registry_sync.domain.running_image import PodFacts, read_pod


class PodBook:
    """Pods by InferenceService name, then by pod name."""

    def __init__(self) -> None:
        self._pods: dict[str, dict[str, PodFacts]] = {}
        self._owner_of: dict[str, str] = {}

    def fill(self, bodies: Iterable[Mapping[str, Any]]) -> None:
        """Start from a LIST's pods."""
        for body in bodies:
            self.note("ADDED", body)

    def note(self, event_type: str | None, body: Mapping[str, Any]) -> str | None:
        """Take one watch event; the InferenceService whose pods changed, else None."""
        metadata = body.get("metadata")
        name = metadata.get("name") if isinstance(metadata, Mapping) else None
        if not isinstance(name, str):
            return None
        facts = None if event_type == "DELETED" else read_pod(body)
        previous_owner = self._owner_of.pop(name, None)
        previous = self._pods.get(previous_owner, {}).pop(name, None) if previous_owner else None
        if previous_owner is not None and not self._pods.get(previous_owner):
            self._pods.pop(previous_owner, None)
        if facts is not None:
            self._pods.setdefault(facts.inference_service, {})[name] = facts
            self._owner_of[name] = facts.inference_service
        if facts == previous:
            return None
        changed = facts or previous
        return changed.inference_service if changed is not None else None

    def pods_of(self, inference_service: str) -> tuple[PodFacts, ...]:
        return tuple(self._pods.get(inference_service, {}).values())

    def __len__(self) -> int:
        return len(self._owner_of)
