"""Reading a PipelineRun body: the one reader the webhook, the no-webhook guard and the audit
share. Never raises, whatever the body holds; odd fields read as absent.

A run names its InferenceService in two ways, kept apart here because callers differ on
purpose: admission and the guard go by the opt-in label alone (`label_target`: the label
is what scopes the webhook), while the audit falls back to the `inference_service_name`
param (`param_target`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from registry_sync.domain.metadata import TARGET_LABEL, TARGET_PARAM

PENDING: Final = "PipelineRunPending"
CANCELLED: Final = "Cancelled"
_SHOWN_NAME: Final = 253  # the longest valid object name
_STOPPED_SPEC_STATUSES: Final = frozenset(
    {"Cancelled", "CancelledRunFinally", "StoppedRunFinally", "PipelineRunCancelled"}
)


@dataclass(frozen=True, slots=True)
class RunStatus:
    """Tekton's `Succeeded` condition (status `True`/`False`/`Unknown`, and reason; empty
    when there is none yet) and whether the run has ended."""

    succeeded: str | None = None
    reason: str | None = None
    finished: bool = False


def metadata_of(run: object) -> Mapping[str, Any]:
    metadata = run.get("metadata") if isinstance(run, Mapping) else None
    return metadata if isinstance(metadata, Mapping) else {}


def string_map(value: object) -> dict[str, str]:
    """A map of strings (labels, annotations): entries of other types are dropped."""
    if not isinstance(value, Mapping):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def labels_of(run: object) -> dict[str, str]:
    return string_map(metadata_of(run).get("labels"))


def annotations_of(run: object) -> dict[str, str]:
    return string_map(metadata_of(run).get("annotations"))


def shown_name(run: object) -> str:
    """The run's name for a message: its name, else its generateName, else `(unnamed)`; at
    most 253 characters (names are validated only after admission, so a denial must not
    echo a megabyte of one back)."""
    for key in ("name", "generateName"):
        value = metadata_of(run).get(key)
        if isinstance(value, str) and value:
            return shortened(value)
    return "(unnamed)"


def shortened(text: str) -> str:
    """`text`, cut to the longest valid object name."""
    return text if len(text) <= _SHOWN_NAME else f"{text[: _SHOWN_NAME - 3]}..."


def label_target(run: object) -> str | None:
    """The InferenceService the run's opt-in label names, or None."""
    return labels_of(run).get(TARGET_LABEL) or None


def param_values(run: object) -> dict[str, object]:
    """`spec.params` as {name: value}; the first entry of a name wins, odd entries skipped."""
    spec = run.get("spec") if isinstance(run, Mapping) else None
    params = spec.get("params") if isinstance(spec, Mapping) else None
    values: dict[str, object] = {}
    if not isinstance(params, list):
        return values
    for entry in params:
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
            values.setdefault(entry["name"], entry.get("value"))
    return values


def param_target(values: Mapping[str, object]) -> str | None:
    """The InferenceService the `inference_service_name` param names (the audit's fallback)."""
    value = values.get(TARGET_PARAM)
    return value if isinstance(value, str) and value else None


def spec_status_of(run: object) -> str | None:
    spec = run.get("spec") if isinstance(run, Mapping) else None
    value = spec.get("status") if isinstance(spec, Mapping) else None
    return value if isinstance(value, str) else None


def is_stopped(run: object) -> bool:
    """Cancelled (or stopped) through `spec.status`."""
    return spec_status_of(run) in _STOPPED_SPEC_STATUSES


def read_run_status(run: object) -> RunStatus:
    """Tekton's Succeeded condition, and whether the run ended: that condition is True or
    False, or a completion time is set."""
    status = run.get("status") if isinstance(run, Mapping) else None
    if not isinstance(status, Mapping):
        return RunStatus()
    conditions = status.get("conditions")
    succeeded_conditions = [
        condition
        for condition in (conditions if isinstance(conditions, list) else ())
        if isinstance(condition, Mapping) and condition.get("type") == "Succeeded"
    ]
    finished = bool(status.get("completionTime")) or any(
        condition.get("status") in ("True", "False") for condition in succeeded_conditions
    )
    if not succeeded_conditions:
        return RunStatus(finished=finished)
    succeeded, reason = succeeded_conditions[0].get("status"), succeeded_conditions[0].get("reason")
    return RunStatus(
        succeeded=succeeded if isinstance(succeeded, str) else None,
        reason=reason if isinstance(reason, str) else None,
        finished=finished,
    )


def created_ms(run: object) -> int | None:
    """`metadata.creationTimestamp` in milliseconds since the epoch, None if unreadable."""
    text = metadata_of(run).get("creationTimestamp")
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return int(moment.timestamp() * 1000)
