"""What the admission webhook answers for one model-testing PipelineRun CREATE.

Fail closed: a run is admitted only with the names of a Ready binding; anything unclear is a
denial that says why and what to do. Results must never be published to a guessed model.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from registry_sync.domain.escaping import escaped
from registry_sync.domain.metadata import (
    ORIGINAL_PARAMS_ANNOTATION,
    TARGET_LABEL,
    TARGET_PARAM,
    VERSION_ANNOTATION,
)
from registry_sync.domain.name_clash import NAME_CLASH, NameClash
from registry_sync.domain.params import ModelNames, ParamNames, ParamPlanError, plan_params
from registry_sync.domain.pipeline_run import (
    label_target,
    param_values,
    shortened,
    shown_name,
)


@dataclass(frozen=True, slots=True)
class BindingView:
    """What the webhook needs to know about the binding of the run's target deployment
    (`inference_service` names it; `kind` is InferenceService or LLMInferenceService)."""

    inference_service: str
    ready: bool
    reason: str
    message: str
    served_name: str | None = None
    model_name: str | None = None
    version_name: str | None = None
    version_id: str | None = None
    kind: str = "InferenceService"


def clash_view(clash: NameClash) -> BindingView:
    """A name two kinds of deployment use, as the binding a run naming it meets: not Ready."""
    return BindingView(clash.name, ready=False, reason=NAME_CLASH, message=clash.message)


@dataclass(frozen=True, slots=True)
class Admitted:
    """Admit with these params and annotations (`params` None: leave spec.params alone)."""

    params: list[dict[str, object]] | None
    annotations: Mapping[str, str] = field(default_factory=dict)
    changed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Denied:
    """Deny, saying why. The message is escaped here, once for every denial: it quotes names
    and params written by other people, and the person creating the run reads it raw."""

    reason: str
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", escaped(self.message))


AdmissionDecision = Admitted | Denied

TARGET_MISMATCH = "TargetMismatch"


def decide_admission(
    run: object,
    binding: BindingView | None,
    param_names: ParamNames,
    *,
    inference_service_exists: bool = False,
) -> AdmissionDecision:
    """Admit `run` with the binding's names, or deny it with a message a person can act on.

    `binding` is the target's binding, None when the operator knows no opted-in
    InferenceService of that name; `inference_service_exists` then says whether one
    exists without the opt-in annotation. Never raises.
    """
    run_name = shown_name(run)
    target = label_target(run)
    if target is None:
        return Denied(
            "NoTarget",
            f"PipelineRun {run_name}: label {TARGET_LABEL} must name the InferenceService "
            "under test",
        )
    mismatch = target_mismatch(run, run_name, target)
    if mismatch is not None:
        return mismatch
    if binding is None:
        return Denied(
            "UnknownInferenceService",
            _unknown_target(run_name, shortened(target), inference_service_exists),
        )
    if binding.reason == NAME_CLASH and not binding.ready:
        return Denied(
            NAME_CLASH,
            f"PipelineRun {run_name}: refused rather than guessed: {binding.message}; then "
            "create the run again.",
        )
    if not binding.ready:
        return Denied(
            binding.reason or "NotReady",
            f"PipelineRun {run_name}: the ModelBinding of {binding.kind} {target} is not "
            f"Ready ({binding.reason}): {binding.message}. The run would publish results to "
            f"a guessed model, so it is refused; see `oc describe mb {target}`, fix the cause, "
            "and create the run again.",
        )
    names = _names(binding)
    if names is None:
        return Denied(
            "IncompleteBinding",
            f"PipelineRun {run_name}: the ModelBinding of {binding.kind} {target} names no "
            "complete model version (vLLM name, model, version and version id), so the run "
            f"is refused rather than guessed; see `oc describe mb {target}`.",
        )
    spec = run.get("spec") if isinstance(run, Mapping) else None
    if spec is not None and not isinstance(spec, Mapping):
        return Denied("InvalidPipelineRun", f"PipelineRun {run_name}: spec is not an object")
    try:
        plan = plan_params(spec.get("params") if spec else None, names, param_names)
    except ParamPlanError as error:
        return Denied("InvalidParams", f"PipelineRun {run_name}: {error}")
    annotations = {VERSION_ANNOTATION: binding.version_id or ""}
    if plan.changed:
        annotations[ORIGINAL_PARAMS_ANNOTATION] = json.dumps(plan.originals, sort_keys=True)
    return Admitted(
        params=plan.params if plan.changed else None,
        annotations=annotations,
        changed=tuple(change.name for change in plan.changes),
    )


def target_mismatch(run: object, run_name: str, target: str) -> Denied | None:
    """A run whose `inference_service_name` param names another deployment than its label.

    The label decides which binding gives the names; a pipeline sends its requests to the
    deployment the param names. Disagreeing, they would benchmark one model and publish the
    figures on the other's version. A param that is absent is fine (the label alone names
    the target); one that is present must be the label's name, as a string.
    """
    values = param_values(run)
    if TARGET_PARAM not in values:
        return None
    named = values[TARGET_PARAM]
    if named == target:
        return None
    shown = shortened(named) if isinstance(named, str) else "a value that is not a string"
    return Denied(
        TARGET_MISMATCH,
        f"PipelineRun {run_name}: its label {TARGET_LABEL} names {shortened(target)} but its "
        f"param {TARGET_PARAM} names {shown}: the run would test one deployment and publish "
        "its results on the other's model version. Make both name the deployment under test, "
        "then create the run again.",
    )


def _names(binding: BindingView) -> ModelNames | None:
    if binding.served_name and binding.model_name and binding.version_name and binding.version_id:
        return ModelNames(binding.served_name, binding.model_name, binding.version_name)
    return None


def _unknown_target(run_name: str, target: str, exists: bool) -> str:
    if exists:
        problem = (
            f"InferenceService {target} is not managed by registry-sync (add the annotation "
            'registry-sync.io/enabled: "true")'
        )
    else:
        problem = (
            f"no InferenceService or LLMInferenceService named {target} with the annotation "
            'registry-sync.io/enabled: "true" exists in this namespace'
        )
    return (
        f"PipelineRun {run_name}: {problem}. Results must not be published to a guessed model: "
        f"fix the label {TARGET_LABEL} or opt the deployment in, then create the run again."
    )
