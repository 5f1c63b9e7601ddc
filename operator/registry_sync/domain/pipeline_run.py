"""Reading a PipelineRun body: the one reader the webhook, the no-webhook guard and the audit
share. Never raises, whatever the body holds; odd fields read as absent.

A run names its InferenceService in two ways, kept apart here because callers differ on
purpose: admission and the guard go by the opt-in label alone (the label is what scopes
the webhook), while the audit falls back to the `inference_service_name` param.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from registry_sync.domain.metadata import TARGET_LABEL, TARGET_PARAM

_STOPPED_SPEC_STATUSES = frozenset(
    {"Cancelled", "CancelledRunFinally", "StoppedRunFinally", "PipelineRunCancelled"}
)
PENDING: str = "PipelineRunPending"


@dataclass(frozen=True, slots=True)
class RunStatus:
    """Tekton's `Succeeded` condition (empty when there is none yet) and whether the run ended."""

    succeeded: str | None = None
    reason: str | None = None
    finished: bool = False


@dataclass(frozen=True, slots=True)
class PipelineRunFacts:
    name: str
    generate_name: str
    namespace: str
    uid: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    spec_is_object: bool
    """False when `spec` is present but not an object (a run nothing can be planned for)."""
    spec_params: object
    """`spec.params` exactly as given (the param plan checks its shape)."""
    params: Mapping[str, object]
    """`spec.params` as {name: value}; the first entry of a name wins, odd entries skipped."""
    spec_status: str | None
    status: RunStatus = field(default_factory=RunStatus)

    @property
    def label_target(self) -> str | None:
        """The InferenceService the opt-in label names."""
        return self.labels.get(TARGET_LABEL) or None

    @property
    def param_target(self) -> str | None:
        """The InferenceService the `inference_service_name` param names (audit only)."""
        value = self.params.get(TARGET_PARAM)
        return value if isinstance(value, str) and value else None

    @property
    def shown_name(self) -> str:
        """The name to show a person: the name, else the generateName, else `(unnamed)`."""
        return self.name or self.generate_name or "(unnamed)"

    @property
    def stopped(self) -> bool:
        """Cancelled (or stopped) through `spec.status`."""
        return self.spec_status in _STOPPED_SPEC_STATUSES

    @property
    def pending(self) -> bool:
        return self.spec_status == PENDING


def read_pipeline_run(body: object) -> PipelineRunFacts:
    """The facts of a PipelineRun body."""
    run = body if isinstance(body, Mapping) else {}
    metadata = _mapping(run.get("metadata"))
    spec = run.get("spec")
    spec_map = _mapping(spec)
    spec_status = spec_map.get("status")
    return PipelineRunFacts(
        name=_text(metadata.get("name")),
        generate_name=_text(metadata.get("generateName")),
        namespace=_text(metadata.get("namespace")),
        uid=_text(metadata.get("uid")),
        labels=string_map(metadata.get("labels")),
        annotations=string_map(metadata.get("annotations")),
        spec_is_object=spec is None or isinstance(spec, Mapping),
        spec_params=spec_map.get("params"),
        params=_param_entries(spec_map.get("params")),
        spec_status=spec_status if isinstance(spec_status, str) else None,
        status=read_run_status(run.get("status")),
    )


def read_run_status(status: object) -> RunStatus:
    """Tekton's Succeeded condition, and whether it is final (True or False) or a
    completion time is set."""
    if not isinstance(status, Mapping):
        return RunStatus()
    completed = bool(status.get("completionTime"))
    conditions = status.get("conditions")
    for condition in conditions if isinstance(conditions, list) else ():
        if isinstance(condition, Mapping) and condition.get("type") == "Succeeded":
            succeeded, reason = condition.get("status"), condition.get("reason")
            return RunStatus(
                succeeded=succeeded if isinstance(succeeded, str) else None,
                reason=reason if isinstance(reason, str) else None,
                finished=completed or succeeded in ("True", "False"),
            )
    return RunStatus(finished=completed)


def string_map(value: object) -> dict[str, str]:
    """A map of strings (labels, annotations): entries of other types are dropped."""
    if not isinstance(value, Mapping):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def _param_entries(params: object) -> dict[str, object]:
    values: dict[str, object] = {}
    if not isinstance(params, list):
        return values
    for entry in params:
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
            values.setdefault(entry["name"], entry.get("value"))
    return values


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
