"""What a model-testing pipeline's own tasks decide: `verify-run` before the tests, and what
`publish` writes to the registry after them. Pure: the commands read the run, its
ModelBinding, the registry's version and the result files, and apply what is decided here.

Both go by the webhook's rules (`decide_admission`): a run passes when the webhook would
admit it as it is (its params already the binding's) and the binding is Ready. `publish`
adds what only the end of a run can check: the run carries the version id it was admitted
for (`registry-sync.io/model-version-id`), that id is still what its binding names (the
deployment did not move while the run ran), the registry's version of that id has the
names of the run's params, and no newer run's figures would be written over.

Figures become metric artifacts of the version, one value per name (the registry upserts a
metric by name within its version), so each run also keeps its own record: a doc artifact
named after the run, holding all its figures. Publishing a run again writes only what
differs from what is stored; publishing it unchanged writes nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from registry_sync.domain.admission import Admitted, BindingView, Denied, decide_admission
from registry_sync.domain.answer import format_instant
from registry_sync.domain.escaping import escaped
from registry_sync.domain.metadata import CANCELLED_BECAUSE_ANNOTATION, VERSION_ANNOTATION
from registry_sync.domain.params import ParamNames
from registry_sync.domain.pipeline_run import (
    annotations_of,
    created_ms,
    is_stopped,
    metadata_of,
    param_values,
    shortened,
    shown_name,
)
from registry_sync.domain.run_figures import Figure

RECORD_PREFIX: Final = "pipelinerun:"
"""A run's own record is the doc artifact `pipelinerun:<namespace>/<name>:<uid>`."""
# At most this many figure names are quoted in one refusal; the count says the rest.
_SHOWN_FIGURES: Final = 5


# -- what the commands read ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegisteredVersion:
    """The registry's model version a run's stamp names, with its registered model."""

    id: str
    name: str
    model_name: str


@dataclass(frozen=True, slots=True)
class StoredMetric:
    """A metric artifact already on the version. `run_uid` and `timestamp_ms` are None when
    it was not written by `publish` (or they cannot be read)."""

    id: str
    name: str
    value: float | None
    timestamp_ms: int | None
    run: str | None
    run_uid: str | None


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A doc artifact already on the version, with its string custom properties."""

    id: str
    name: str
    properties: Mapping[str, str]


# -- what they decide ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refused:
    """The run's names or version disagree, or publishing would overwrite newer figures:
    nothing is written. `message` says what and what to do; it is escaped here, once."""

    reason: str
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", escaped(self.message))


@dataclass(frozen=True, slots=True)
class Verified:
    """The run's params are its Ready binding's; `version_id` is the version they name."""

    run: str
    inference_service: str
    version_id: str
    served_name: str
    model_name: str
    version_name: str


@dataclass(frozen=True, slots=True)
class MetricWrite:
    """Upsert the metric `name` on the version with `value`, `timestamp_ms` and `properties`."""

    name: str
    value: float
    timestamp_ms: int
    properties: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class RecordWrite:
    """Create (`existing_id` None) or update the run's own doc artifact."""

    name: str
    description: str
    properties: Mapping[str, str]
    existing_id: str | None


@dataclass(frozen=True, slots=True)
class Publication:
    """What to write on `version_id`: metrics first, then the run's record (so a record on
    the version says its run was published whole). `unchanged` are figures stored already
    with this run's value; `superseded` those a newer run has written over since this run
    was published (its record keeps them)."""

    version_id: str
    model_name: str
    version_name: str
    metrics: tuple[MetricWrite, ...]
    record: RecordWrite | None
    unchanged: tuple[str, ...]
    superseded: tuple[str, ...]

    @property
    def writes_nothing(self) -> bool:
        return not self.metrics and self.record is None


# -- verify-run ------------------------------------------------------------------------------


def stored_binding_view(name: str, binding: object) -> BindingView | None:
    """A stored ModelBinding's status as the webhook's `BindingView`; None when `binding` is
    not an object (no binding). Never raises: odd fields read as absent, and a binding
    without a readable True Ready condition is not Ready."""
    if not isinstance(binding, Mapping):
        return None
    spec = binding.get("spec")
    status = binding.get("status")
    spec = spec if isinstance(spec, Mapping) else {}
    status = status if isinstance(status, Mapping) else {}
    conditions = status.get("conditions")
    ready = next(
        (
            condition
            for condition in (conditions if isinstance(conditions, list) else ())
            if isinstance(condition, Mapping) and condition.get("type") == "Ready"
        ),
        {},
    )
    kind = spec.get("kind")
    return BindingView(
        inference_service=name,
        ready=ready.get("status") == "True",
        reason=_text(ready.get("reason")) or "NotReady",
        message=_text(ready.get("message")) or "the binding has no Ready condition yet",
        served_name=_text(status.get("vllmModelName")),
        model_name=_text(status.get("registeredModelName")),
        version_name=_text(status.get("modelVersionName")),
        version_id=_text(status.get("modelVersionId")),
        kind=kind if isinstance(kind, str) and kind else "InferenceService",
    )


def verify_run(
    run: Mapping[str, Any], binding: BindingView | None, param_names: ParamNames
) -> Verified | Refused:
    """Whether `run` may go on: the webhook would admit it unchanged, its binding being Ready,
    and a stamp it carries names the binding's version. Pure; never raises."""
    run_name = shown_name(run)
    if is_stopped(run):
        return _cancelled(run, run_name)
    decision = decide_admission(run, binding, param_names)
    if isinstance(decision, Denied):
        return Refused(decision.reason, decision.message)
    assert binding is not None  # admitted: the binding is Ready and names a version
    stamp = annotations_of(run).get(VERSION_ANNOTATION)
    if stamp is not None and stamp != binding.version_id:
        return Refused(
            "DeploymentMoved",
            f"PipelineRun {run_name} was admitted for model version {shortened(stamp)} "
            f"({VERSION_ANNOTATION}), but {binding.kind} {binding.inference_service} now "
            f"runs version {binding.version_id} ({binding.model_name} / "
            f"{binding.version_name}): the deployment changed while the run was running. Its "
            "figures would land on a version it did not test: run the tests again.",
        )
    if decision.params is not None:
        return Refused("WrongParams", _wrong_params(run_name, decision, binding))
    return Verified(
        run=run_name,
        inference_service=binding.inference_service,
        version_id=binding.version_id or "",
        served_name=binding.served_name or "",
        model_name=binding.model_name or "",
        version_name=binding.version_name or "",
    )


def _cancelled(run: Mapping[str, Any], run_name: str) -> Refused:
    why = annotations_of(run).get(CANCELLED_BECAUSE_ANNOTATION)
    return Refused(
        "RunCancelled",
        f"PipelineRun {run_name} was cancelled"
        + (f" ({shortened(why)})" if why else "")
        + ": its results must not be published.",
    )


def _wrong_params(run_name: str, decision: Admitted, binding: BindingView) -> str:
    given = param_values({"spec": {"params": decision.params}})
    wanted = ", ".join(f"{name}={_shown(given.get(name))}" for name in decision.changed)
    return (
        f"PipelineRun {run_name}: its params ({', '.join(decision.changed)}) are not the names "
        f"of what {binding.kind} {binding.inference_service} runs ({wanted}). The run would "
        "publish its results to the wrong model: create it again with these params, or with "
        "the webhook installed (it sets them)."
    )


# -- publish ---------------------------------------------------------------------------------


def plan_publication(
    run: Mapping[str, Any],
    binding: BindingView | None,
    version: RegisteredVersion | None,
    figures: Iterable[Figure],
    stored_metrics: Iterable[StoredMetric],
    stored_records: Iterable[StoredRecord],
    param_names: ParamNames,
    running_digest: str | None = None,
) -> Publication | Refused:
    """What to write for `run`'s `figures`, or why nothing may be. Pure; never raises.

    `version` is the registry's version of the run's stamp (None: no such version);
    `stored_*` are the artifacts that version holds now.
    """
    run_name = shown_name(run)
    stamp = annotations_of(run).get(VERSION_ANNOTATION)
    if stamp is None:
        return Refused(
            "NotStamped",
            f"PipelineRun {run_name} has no annotation {VERSION_ANNOTATION}: it was not "
            "admitted by registry-sync (no webhook, or created while the operator was down), so "
            "which version it tested is not known. Its figures are not published to a guessed "
            "version: run the tests again with registry-sync running.",
        )
    if is_stopped(run):
        return _cancelled(run, run_name)
    names_disagree = _names_disagree(run_name, stamp, version, param_values(run), param_names)
    if names_disagree is not None:
        return names_disagree
    verdict = verify_run(run, binding, param_names)
    if isinstance(verdict, Refused):
        return verdict
    uid = _text(metadata_of(run).get("uid"))
    started_ms = _started_ms(run)
    if uid is None or started_ms is None:
        return Refused(
            "RunUnreadable",
            f"PipelineRun {run_name} has no uid or no readable start or creation time: its "
            "figures could not be ordered against other runs'.",
        )
    figures = tuple(figures)
    unpublishable = [f.name for f in figures if not math.isfinite(f.value)]
    if unpublishable:
        return Refused(
            "NotANumber",
            f"PipelineRun {run_name}: figures {_listed(unpublishable)} are not finite numbers; "
            "the registry stores numbers only.",
        )
    identity = _RunIdentity(verdict.run, _run_label(run), uid, started_ms)
    return _publication(identity, verdict, figures, stored_metrics, stored_records, running_digest)


@dataclass(frozen=True, slots=True)
class _RunIdentity:
    shown: str
    label: str  # namespace/name
    uid: str
    started_ms: int


def _names_disagree(
    run_name: str,
    stamp: str,
    version: RegisteredVersion | None,
    params: Mapping[str, object],
    param_names: ParamNames,
) -> Refused | None:
    """The run's own names against the registry's names of the version it was stamped for."""
    if version is None:
        return Refused(
            "VersionNotFound",
            f"PipelineRun {run_name} was admitted for model version {shortened(stamp)}, which "
            "the registry does not hold: nothing is published.",
        )
    named = (params.get(param_names.model_name), params.get(param_names.version_name))
    if version.id != stamp or named != (version.model_name, version.name):
        return Refused(
            "NamesDisagree",
            f"PipelineRun {run_name} names {_shown(named[0])} / {_shown(named[1])} but "
            f"was admitted for model version {shortened(stamp)}, which the registry calls "
            f"{version.model_name} / {version.name}: the names and the id disagree (renamed "
            "in the registry since, or an annotation set by hand). Nothing is published; "
            "check the registry and run the tests again.",
        )
    return None


def _publication(
    run: _RunIdentity,
    verdict: Verified,
    figures: tuple[Figure, ...],
    stored_metrics: Iterable[StoredMetric],
    stored_records: Iterable[StoredRecord],
    running_digest: str | None,
) -> Publication | Refused:
    record_name = run_record_name(run.label, run.uid)
    record = next((r for r in stored_records if r.name == record_name), None)
    published_before = _recorded_figures(record)
    by_name = {metric.name: metric for metric in stored_metrics}
    writes: list[MetricWrite] = []
    unchanged: list[str] = []
    superseded: list[str] = []
    newer: list[str] = []
    foreign: list[str] = []
    for figure in figures:
        stored = by_name.get(figure.name)
        if stored is None:
            writes.append(_metric_write(figure, run, verdict, running_digest))
        elif stored.run_uid == run.uid:
            if _same(stored.value, figure.value):
                unchanged.append(figure.name)
            else:
                writes.append(_metric_write(figure, run, verdict, running_digest))
        elif stored.run_uid is None or stored.timestamp_ms is None:
            if _same(stored.value, figure.value):
                unchanged.append(figure.name)
            else:
                foreign.append(figure.name)
        elif stored.timestamp_ms > run.started_ms:
            if _same(published_before.get(figure.name), figure.value):
                superseded.append(figure.name)
            else:
                newer.append(f"{figure.name} (run {stored.run or stored.run_uid})")
        else:
            writes.append(_metric_write(figure, run, verdict, running_digest))
    if newer:
        return Refused(
            "NewerResults",
            f"PipelineRun {run.shown} started before the runs whose figures model version "
            f"{verdict.version_id} holds for {_listed(newer)}: an older run's figures are not "
            "written over a newer run's. Nothing is published.",
        )
    if foreign:
        return Refused(
            "FiguresNotOurs",
            f"Model version {verdict.version_id} holds metrics {_listed(foreign)} with other "
            "values, not written by `registry-sync publish` (no run on them): they are not "
            "overwritten. Nothing is published; rename or remove them in the registry first.",
        )
    record_write = _record_write(run, verdict, figures, running_digest, record)
    return Publication(
        verdict.version_id,
        verdict.model_name,
        verdict.version_name,
        tuple(writes),
        record_write,
        tuple(unchanged),
        tuple(superseded),
    )


def run_record_name(run_label: str, uid: str) -> str:
    """The doc artifact that is a run's own record on the version it tested."""
    return f"{RECORD_PREFIX}{run_label}:{uid}"


def _metric_write(
    figure: Figure, run: _RunIdentity, verdict: Verified, running_digest: str | None
) -> MetricWrite:
    properties = {
        "run": run.label,
        "run_uid": run.uid,
        "served_name": verdict.served_name,
        "tool": figure.tool,
        "tool_version": figure.tool_version,
        "unit": figure.unit,
    }
    if figure.profile is not None:
        properties["profile"] = figure.profile
    if running_digest:
        properties["running_digest"] = running_digest
    return MetricWrite(figure.name, figure.value, run.started_ms, properties)


def _record_write(
    run: _RunIdentity,
    verdict: Verified,
    figures: tuple[Figure, ...],
    running_digest: str | None,
    stored: StoredRecord | None,
) -> RecordWrite | None:
    tools = sorted({f"{figure.tool} {figure.tool_version}" for figure in figures})
    properties = {
        "run": run.label,
        "run_uid": run.uid,
        "started": format_instant(run.started_ms),
        "inference_service": verdict.inference_service,
        "served_name": verdict.served_name,
        "model_version_id": verdict.version_id,
        "tools": ", ".join(tools),
        # Every figure of the run, whichever later run writes over the metrics of a name.
        "figures": json.dumps({f.name: f.value for f in figures}, sort_keys=True),
    }
    if running_digest:
        properties["running_digest"] = running_digest
    if stored is not None and _same_record(stored.properties, properties):
        return None
    return RecordWrite(
        name=run_record_name(run.label, run.uid),
        description=f"Figures of PipelineRun {run.label}, published by registry-sync",
        properties=properties,
        existing_id=stored.id if stored is not None else None,
    )


def _same_record(stored: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    """Whether a stored record says what `wanted` says; its figures compared as numbers
    (the registry may give 190 back for 190.0)."""
    if {k: v for k, v in stored.items() if k != "figures"} != {
        k: v for k, v in wanted.items() if k != "figures"
    }:
        return False
    before = _figures_of(stored.get("figures"))
    after = _figures_of(wanted.get("figures"))
    return before.keys() == after.keys() and all(_same(before[k], after[k]) for k in after)


def _recorded_figures(record: StoredRecord | None) -> dict[str, float]:
    return _figures_of(record.properties.get("figures")) if record is not None else {}


def _figures_of(text: str | None) -> dict[str, float]:
    """The figures a record holds; a record that cannot be read holds none."""
    try:
        document = json.loads(text) if text else {}
    except ValueError:
        return {}
    if not isinstance(document, dict):
        return {}
    return {
        name: float(value)
        for name, value in document.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def _same(stored: float | None, value: float) -> bool:
    return stored is not None and math.isclose(stored, value, rel_tol=1e-12, abs_tol=0.0)


def _started_ms(run: Mapping[str, Any]) -> int | None:
    """When the run started (`status.startTime`), else when it was created."""
    status = run.get("status")
    start = status.get("startTime") if isinstance(status, Mapping) else None
    if isinstance(start, str):
        try:
            moment = datetime.fromisoformat(start)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return int(moment.timestamp() * 1000)
    return created_ms(run)


def _run_label(run: Mapping[str, Any]) -> str:
    metadata = metadata_of(run)
    return f"{_text(metadata.get('namespace')) or ''}/{_text(metadata.get('name')) or ''}"


def _listed(names: list[str]) -> str:
    shown = ", ".join(shortened(name) for name in names[:_SHOWN_FIGURES])
    more = len(names) - _SHOWN_FIGURES
    return shown + (f" and {more} more" if more > 0 else "")


def _shown(value: object) -> str:
    return shortened(value) if isinstance(value, str) else json.dumps(value)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
