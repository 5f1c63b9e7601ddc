"""One name, two kinds of deployment: an InferenceService and an LLMInferenceService of the
same name in the namespace.

A model-testing run names its target by name only (the label
`registry-sync.io/inference-service`), so such a name cannot say which deployment a run
tests: both bindings say `NameClash` (Ready False, labels left alone) and runs naming it
are refused, never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from registry_sync.domain.checks import Check
from registry_sync.domain.metadata import TARGET_LABEL, DeploymentKind

NAME_CLASH: Final = "NameClash"


@dataclass(frozen=True, slots=True)
class NameClash:
    """Several kinds of deployment use `name` in the namespace."""

    name: str
    kinds: tuple[DeploymentKind, ...]

    @property
    def message(self) -> str:
        both = " and ".join(f"{kind.value} {self.name}" for kind in self.kinds)
        return (
            f"{both} share the name {self.name}: the label {TARGET_LABEL}={self.name} of a "
            "model-testing run cannot say which one it tests, so runs are refused and labels "
            "left as they are; rename one of them"
        )


def find_name_clash(name: str, kinds_using: Iterable[DeploymentKind]) -> NameClash | None:
    """The clash when more than one kind of deployment uses `name` (opted in or not)."""
    kinds = tuple(sorted(set(kinds_using)))
    return NameClash(name, kinds) if len(kinds) > 1 else None


def name_clash_check(clash: NameClash | None) -> Check | None:
    """The clash as a check of the binding decision: it blocks Ready whatever the registry
    says, and has no condition of its own (the Ready condition tells it)."""
    if clash is None:
        return None
    return Check(
        "NameUnique", None, blocker=(NAME_CLASH, clash.message), blocks_without_answer=True
    )
