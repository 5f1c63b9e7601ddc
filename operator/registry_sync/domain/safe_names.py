"""Which names may be injected into a model-testing run or recorded on a ModelBinding.

Model and version names come from the Model Registry, where anyone who may register a model
writes them, and the served name from an InferenceService's args. Tekton pastes
`$(params.model_name)` into step scripts as text, so a name such as
`m"; curl … | sh; echo "` would become code in another team's pipeline. A name must pass an
allow-list before a binding may be Ready: letters, digits, space and `._+-/:@` by default,
starting with a letter or digit, at most 253 characters. Whatever pattern is configured,
control and format characters and over-long names are always refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from registry_sync.domain.escaping import escaped, is_unsafe_character

DEFAULT_ALLOWED_NAME_PATTERN: Final = r"[A-Za-z0-9][A-Za-z0-9 ._+\-/:@]*"
MAX_NAME_LENGTH: Final = 253


class InvalidNamePattern(ValueError):
    """The configured allow-list is not a regular expression."""


@dataclass(frozen=True, slots=True)
class NamePolicy:
    """The allow-list every injected or recorded name passes (`--allowed-name-pattern`)."""

    pattern: str = DEFAULT_ALLOWED_NAME_PATTERN
    _compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            compiled = re.compile(self.pattern)
        except re.error as error:
            raise InvalidNamePattern(
                f"{self.pattern!r} is not a regular expression: {error}"
            ) from None
        object.__setattr__(self, "_compiled", compiled)

    def problem(self, name: str) -> str | None:
        """Why `name` may not be injected or recorded, or None when it may."""
        if not name:
            return "it is empty"
        if len(name) > MAX_NAME_LENGTH:
            return f"it is longer than {MAX_NAME_LENGTH} characters"
        if any(is_unsafe_character(character) for character in name):
            return "it holds control or format characters"
        if self._compiled.fullmatch(name) is None:
            return f"it does not match the allowed name pattern {self.pattern!r}"
        return None


@dataclass(frozen=True, slots=True)
class UnsafeName:
    """One name that failed the allow-list: what it names, the name escaped, and why."""

    role: str  # "model name", "version name", …
    shown: str
    why: str

    def describe(self) -> str:
        return f'{self.role} "{self.shown}" ({self.why})'


DEFAULT_NAME_POLICY: Final = NamePolicy()


def unsafe_names(named: dict[str, str | None], policy: NamePolicy) -> tuple[UnsafeName, ...]:
    """The names of `named` (role → name; None is skipped) that fail `policy`, in order."""
    found = []
    for role, name in named.items():
        if name is None:
            continue
        why = policy.problem(name)
        if why is not None:
            found.append(UnsafeName(role, escaped(_clipped(name)), why))
    return tuple(found)


def _clipped(name: str) -> str:
    # A refused name is shown, not stored: a megabyte of it helps nobody.
    return name if len(name) <= MAX_NAME_LENGTH else f"{name[:MAX_NAME_LENGTH]}..."
