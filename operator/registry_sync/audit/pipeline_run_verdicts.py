"""The audit's rules for model-testing PipelineRuns: which runs are judged, their target,
and whether the names they were given match what their InferenceService serves.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from registry_sync.audit.findings import (
    ClaimState,
    InferenceServiceFinding,
    ParamClaim,
    PipelineRunFinding,
    PipelineRunVerdict,
    TargetSource,
)
from registry_sync.domain.metadata import TARGET_LABEL, TARGET_PARAM
from registry_sync.domain.params import ModelNames, ParamNames, ParamPlanError, plan_params
from registry_sync.domain.pipeline_run import (
    label_target,
    labels_of,
    metadata_of,
    param_target,
    param_values,
    read_run_status,
)

# -- PipelineRuns --------------------------------------------------------------------------


def is_model_testing_run(body: object, param_names: ParamNames) -> bool:
    """Whether a PipelineRun is a model-testing run the audit judges.

    It is when it carries the opt-in label, or all three configured params, or an
    `inference_service_name` param together with at least one of them.
    """
    if TARGET_LABEL in labels_of(body):
        return True
    carried = set(param_values(body))
    ours = set(param_names.as_tuple())
    return ours <= carried or (TARGET_PARAM in carried and bool(ours & carried))


def _judge_pipeline_run(
    body: object,
    services: Mapping[str, InferenceServiceFinding],
    param_names: ParamNames,
) -> PipelineRunFinding:
    name = _text(metadata_of(body).get("name"))
    values = param_values(body)
    target, source = _target_of(body, values)
    finding = services.get(target) if target is not None else None
    answer = finding.resolution if finding is not None and finding.resolution.has_answer else None
    served = (finding.served_name or finding.name) if finding is not None else None
    expected = (
        ModelNames(
            served_name=served or "",
            model_name=answer.registered_model_name or "",
            version_name=answer.model_version_name or "",
        )
        if answer is not None
        else None
    )
    claims = (
        ParamClaim(param_names.served_name, _shown(values, param_names.served_name), served),
        ParamClaim(
            param_names.model_name,
            _shown(values, param_names.model_name),
            expected.model_name if expected else None,
        ),
        ParamClaim(
            param_names.version_name,
            _shown(values, param_names.version_name),
            expected.version_name if expected else None,
        ),
    )
    problems: list[str] = []
    verdict = _run_verdict(body, target, source, finding, expected, claims, param_names, problems)
    return PipelineRunFinding(
        name=name,
        inference_service=target,
        targeted_by=source,
        vllm_model_name=claims[0],
        model_name=claims[1],
        version_name=claims[2],
        status=read_run_status(body),
        verdict=verdict,
        problems=tuple(problems),
    )


def _run_verdict(
    body: object,
    target: str | None,
    source: TargetSource | None,
    finding: InferenceServiceFinding | None,
    expected: ModelNames | None,
    claims: tuple[ParamClaim, ParamClaim, ParamClaim],
    param_names: ParamNames,
    problems: list[str],
) -> PipelineRunVerdict:
    if target is None:
        problems.append(
            f"names no InferenceService: give it the label {TARGET_LABEL}=<name> "
            f"(or a {TARGET_PARAM} param)"
        )
        return PipelineRunVerdict.UNKNOWN_INFERENCE_SERVICE
    named = param_values(body).get(TARGET_PARAM, target)
    if source is TargetSource.LABEL and named != target:
        shown = named if isinstance(named, str) else json.dumps(named, default=str)
        problems.append(
            f"its label {TARGET_LABEL} names {target} but its param {TARGET_PARAM} names "
            f"{shown}: it would test one deployment and publish on the other's version "
            "(the webhook, the guard and verify-run refuse such a run)"
        )
        return PipelineRunVerdict.TARGET_MISMATCH
    if finding is None:
        where = f"label {TARGET_LABEL}" if source is TargetSource.LABEL else f"param {TARGET_PARAM}"
        problems.append(f"its {where} names InferenceService {target}, which does not exist here")
        return PipelineRunVerdict.UNKNOWN_INFERENCE_SERVICE
    if expected is not None:
        spec = body.get("spec") if isinstance(body, Mapping) else None
        params = spec.get("params") if isinstance(spec, Mapping) else None
        try:
            plan_params(params, expected, param_names)
        except ParamPlanError as error:
            problems.append(f"{error}")
            return PipelineRunVerdict.INVALID_PARAMS
    served, model, version = claims
    verdict = PipelineRunVerdict.OK
    if expected is None:
        problems.append(
            f"InferenceService {target} does not resolve to one model version "
            f"({finding.verdict.value}), so the registry target cannot be checked: "
            f"{finding.resolution.message}"
        )
        verdict = PipelineRunVerdict.UNRESOLVED_TARGET
    registry_wrong = [claim for claim in (model, version) if claim.state is not ClaimState.OK]
    if registry_wrong and expected is not None:
        problems.append(
            f"publishes to model {model.value or '(missing)'} version "
            f"{version.value or '(missing)'}, but InferenceService {target} serves model "
            f"{expected.model_name} version {expected.version_name}: set "
            + ", ".join(f"{claim.param}={claim.expected}" for claim in registry_wrong)
        )
        verdict = PipelineRunVerdict.WRONG_REGISTRY_TARGET
    if served.state is not ClaimState.OK:
        problems.append(
            f"benchmarks vLLM model {served.value or '(missing)'}, but InferenceService "
            f"{target} serves it as {served.expected}: set {served.param}={served.expected}"
        )
        if verdict is PipelineRunVerdict.OK:
            verdict = PipelineRunVerdict.WRONG_VLLM_NAME
    return verdict


def _target_of(
    body: object, values: Mapping[str, object]
) -> tuple[str | None, TargetSource | None]:
    labelled = label_target(body)
    if labelled is not None:
        return labelled, TargetSource.LABEL
    named = param_target(values)
    if named is not None:
        return named, TargetSource.PARAM
    return None, None


def _shown(values: Mapping[str, object], name: str) -> str | None:
    """A param's value as text: strings as they are, arrays and objects as compact JSON."""
    if name not in values:
        return None
    value = values[name]
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
