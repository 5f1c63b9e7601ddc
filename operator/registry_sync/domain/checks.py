"""Checks of what actually runs, beside the registry answer: the image digest the pods
run (domain/digest_check.py) and the name vLLM serves (domain/served_names.py).

Each gives the binding decision (domain/binding.py) one `Check`: a condition of its own,
whether it blocks Ready, and the fields it adds to the ModelBinding's status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Check:
    """A finding about what actually runs, beside the registry answer: its condition (of
    type `condition_type`), the Ready reason and message when it blocks, and the fields it
    adds to the binding's status."""

    condition_type: str
    condition: Mapping[str, str] | None  # None: the check is off (its old fields go)
    blocker: tuple[str, str] | None = None
    status_fields: Mapping[str, object] = field(default_factory=dict)
    # A blocker that is the Ready reason even when the registry gives no answer (a name
    # clash: whatever the answer, no run may be sent to that name).
    blocks_without_answer: bool = False
    # False for a state that passes by itself (a first lookup under way, no pod yet): shown
    # on the binding, but not worth a Warning Event.
    announce: bool = True


def checks_gist(checks: tuple[Check, ...]) -> tuple[object, ...]:
    """What the checks say, without their messages (a cached digest's age only grows)."""
    return tuple(
        (
            check.condition_type,
            None if check.condition is None else check.condition.get("status"),
            None if check.condition is None else check.condition.get("reason"),
            check.blocker is not None,
            check.announce,  # "not looked up yet" turning into a failure is news
            tuple(sorted((k, repr(v)) for k, v in check.status_fields.items())),
        )
        for check in checks
    )
