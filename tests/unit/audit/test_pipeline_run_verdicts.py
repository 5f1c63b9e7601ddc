"""How the audit finds model-testing PipelineRuns, their target, and judges their params."""

from __future__ import annotations

from typing import Any

import pytest

from registry_sync.audit.findings import PipelineRunFinding, PipelineRunVerdict, TargetSource
from registry_sync.audit.pipeline_run_verdicts import is_model_testing_run
from registry_sync.audit.verdicts import audit_namespace
from registry_sync.domain.params import ParamNames
from registry_sync.domain.pipeline_run import RunStatus, read_run_status
from unit.audit.scenario import (
    INCIDENT_PARAMS,
    ISVC,
    NAMESPACE,
    RIGHT_LABELS,
    RIGHT_PARAMS,
    TARGET_LABEL,
    UNREGISTERED_URI,
    inference_service,
    labelled_run,
    pipeline_run,
    snapshot,
)

V = PipelineRunVerdict
CUSTOM_NAMES = ParamNames("served", "model", "version")


def judge(
    run: dict[str, Any],
    services: list[dict[str, Any]] | None = None,
    param_names: ParamNames | None = None,
) -> PipelineRunFinding:
    report = audit_namespace(
        NAMESPACE,
        [inference_service(labels=RIGHT_LABELS)] if services is None else services,
        [run],
        snapshot(),
        param_names=param_names,
    )
    (finding,) = report.pipeline_runs
    return finding


SELECTION: list[tuple[str, dict[str, Any], ParamNames, bool]] = [
    # (case, PipelineRun, configured param names, is a model-testing run)
    ("opt-in label, no params", pipeline_run(labels={TARGET_LABEL: ISVC}), ParamNames(), True),
    ("all three params", pipeline_run(params=RIGHT_PARAMS), ParamNames(), True),
    (
        "inference_service_name beside one of them",
        pipeline_run(params={"inference_service_name": ISVC, "vllm_model_name": ISVC}),
        ParamNames(),
        True,
    ),
    ("one of them alone", pipeline_run(params={"model_name": "m"}), ParamNames(), False),
    (
        "two of them, no target",
        pipeline_run(params={"model_name": "m", "version_name": "v"}),
        ParamNames(),
        False,
    ),
    (
        "inference_service_name alone",
        pipeline_run(params={"inference_service_name": ISVC}),
        ParamNames(),
        False,
    ),
    ("unrelated params", pipeline_run(params={"git-url": "https://x"}), ParamNames(), False),
    (
        "configured names, not the defaults",
        pipeline_run(params={"served": "a", "model": "b", "version": "c"}),
        CUSTOM_NAMES,
        True,
    ),
    ("default names under custom ones", pipeline_run(params=RIGHT_PARAMS), CUSTOM_NAMES, False),
    (
        "params not a list",
        {"metadata": {"name": "x"}, "spec": {"params": "oops"}},
        ParamNames(),
        False,
    ),
]


@pytest.mark.parametrize(
    ("run", "names", "selected"),
    [case[1:] for case in SELECTION],
    ids=[case[0] for case in SELECTION],
)
def test_model_testing_runs_are_those_opted_in_or_carrying_the_params(
    run: dict[str, Any], names: ParamNames, selected: bool
) -> None:
    assert is_model_testing_run(run, names) is selected


def test_runs_that_are_not_model_testing_runs_are_left_out_of_the_report() -> None:
    report = audit_namespace(
        NAMESPACE, [], [pipeline_run(params={"git-url": "https://x"})], snapshot()
    )

    assert report.pipeline_runs == ()


TARGETS: list[tuple[str, dict[str, Any], str | None, TargetSource | None]] = [
    ("the label", labelled_run(RIGHT_PARAMS), ISVC, TargetSource.LABEL),
    (
        "the inference_service_name param",
        pipeline_run(params={**RIGHT_PARAMS, "inference_service_name": ISVC}),
        ISVC,
        TargetSource.PARAM,
    ),
    (
        "the label before the param",
        pipeline_run(
            params={**RIGHT_PARAMS, "inference_service_name": "other"},
            labels={TARGET_LABEL: ISVC},
        ),
        ISVC,
        TargetSource.LABEL,
    ),
    ("neither", pipeline_run(params=RIGHT_PARAMS), None, None),
]


@pytest.mark.parametrize(
    ("run", "target", "source"),
    [case[1:] for case in TARGETS],
    ids=[case[0] for case in TARGETS],
)
def test_a_run_targets_the_inference_service_its_label_or_param_names(
    run: dict[str, Any], target: str | None, source: TargetSource | None
) -> None:
    finding = judge(run)

    assert (finding.inference_service, finding.targeted_by) == (target, source)


VERDICTS: list[tuple[str, dict[str, Any], list[dict[str, Any]] | None, V]] = [
    # (case, PipelineRun, InferenceServices (None: the deployed one, rightly labelled), verdict)
    ("params as they should be", labelled_run(RIGHT_PARAMS), None, V.OK),
    ("the incident's run", labelled_run(INCIDENT_PARAMS), None, V.WRONG_REGISTRY_TARGET),
    (
        "label and inference_service_name disagree",
        labelled_run({**RIGHT_PARAMS, "inference_service_name": "granite-8b"}),
        None,
        V.TARGET_MISMATCH,
    ),
    (
        "label and inference_service_name agree",
        labelled_run({**RIGHT_PARAMS, "inference_service_name": ISVC}),
        None,
        V.OK,
    ),
    (
        "wrong version only",
        labelled_run({**RIGHT_PARAMS, "version_name": "24b-w4a16-1gpu"}),
        None,
        V.WRONG_REGISTRY_TARGET,
    ),
    (
        "registry name given to vLLM",
        labelled_run({**RIGHT_PARAMS, "vllm_model_name": "Mistral-Small-24B-Instruct"}),
        None,
        V.WRONG_VLLM_NAME,
    ),
    (
        "both wrong: the registry target first",
        labelled_run({**INCIDENT_PARAMS, "vllm_model_name": "Mistral-24B-Instruct"}),
        None,
        V.WRONG_REGISTRY_TARGET,
    ),
    ("params missing", labelled_run(None), None, V.WRONG_REGISTRY_TARGET),
    (
        "only the vLLM name missing",
        labelled_run({k: v for k, v in RIGHT_PARAMS.items() if k != "vllm_model_name"}),
        None,
        V.WRONG_VLLM_NAME,
    ),
    ("no target", pipeline_run(params=RIGHT_PARAMS), None, V.UNKNOWN_INFERENCE_SERVICE),
    (
        "target does not exist",
        labelled_run(RIGHT_PARAMS, target="gone"),
        None,
        V.UNKNOWN_INFERENCE_SERVICE,
    ),
    (
        "target not registered",
        labelled_run(RIGHT_PARAMS),
        [inference_service(uri=UNREGISTERED_URI)],
        V.UNRESOLVED_TARGET,
    ),
    (
        "a param twice",
        labelled_run(
            [
                *({"name": k, "value": v} for k, v in RIGHT_PARAMS.items()),
                {"name": "model_name", "value": "again"},
            ]
        ),
        None,
        V.INVALID_PARAMS,
    ),
    (
        "an array where a name belongs",
        labelled_run({**RIGHT_PARAMS, "model_name": ["a", "b"]}),
        None,
        V.INVALID_PARAMS,
    ),
    (
        "a served name from the predictor args",
        labelled_run({**RIGHT_PARAMS, "vllm_model_name": "mistral"}),
        [inference_service(labels=RIGHT_LABELS, args=["--served-model-name", "mistral"])],
        V.OK,
    ),
    (
        "the InferenceService name where args rename it",
        labelled_run(RIGHT_PARAMS),
        [inference_service(labels=RIGHT_LABELS, args=["--served-model-name", "mistral"])],
        V.WRONG_VLLM_NAME,
    ),
    (
        "labels wrong on the InferenceService do not matter to the run",
        labelled_run(RIGHT_PARAMS),
        [inference_service()],
        V.OK,
    ),
]


@pytest.mark.parametrize(
    ("run", "services", "verdict"),
    [case[1:] for case in VERDICTS],
    ids=[case[0] for case in VERDICTS],
)
def test_a_run_gets_the_verdict_of_its_case(
    run: dict[str, Any], services: list[dict[str, Any]] | None, verdict: V
) -> None:
    assert judge(run, services).verdict is verdict


def test_the_incidents_run_is_told_the_registry_names_of_the_deployed_version() -> None:
    finding = judge(labelled_run(INCIDENT_PARAMS))

    assert [(c.param, c.value, c.expected) for c in (finding.model_name, finding.version_name)] == [
        ("model_name", "Mistral-24B-Instruct", "Mistral-Small-24B-Instruct"),
        ("version_name", "24b-w4a16-1gpu", "quantized-w4a16-2501"),
    ]
    assert finding.problems == (
        "publishes to model Mistral-24B-Instruct version 24b-w4a16-1gpu, but InferenceService "
        f"{ISVC} serves model Mistral-Small-24B-Instruct version quantized-w4a16-2501: set "
        "model_name=Mistral-Small-24B-Instruct, version_name=quantized-w4a16-2501",
    )


def test_both_wrong_names_are_reported_as_problems() -> None:
    finding = judge(labelled_run({**INCIDENT_PARAMS, "vllm_model_name": "Mistral-24B-Instruct"}))

    assert len(finding.problems) == 2
    assert finding.problems[1].startswith("benchmarks vLLM model Mistral-24B-Instruct")


def test_an_unresolved_target_still_checks_the_vllm_name() -> None:
    finding = judge(
        labelled_run({**RIGHT_PARAMS, "vllm_model_name": "wrong"}),
        [inference_service(uri=UNREGISTERED_URI)],
    )

    assert finding.verdict is V.UNRESOLVED_TARGET
    assert finding.vllm_model_name.expected == ISVC
    assert finding.model_name.expected is None
    assert any(problem.startswith("benchmarks vLLM model wrong") for problem in finding.problems)


def test_configured_param_names_are_the_ones_judged() -> None:
    run = labelled_run(
        {
            "served": ISVC,
            "model": "Mistral-Small-24B-Instruct",
            "version": "quantized-w4a16-2501",
        }
    )

    finding = judge(run, param_names=CUSTOM_NAMES)

    assert finding.verdict is V.OK
    assert finding.vllm_model_name.param == "served"


def test_a_non_string_param_value_is_shown_as_json() -> None:
    finding = judge(labelled_run({**RIGHT_PARAMS, "model_name": ["a", "b"]}))

    assert finding.model_name.value == '["a","b"]'


STATUSES: list[tuple[str, dict[str, Any], RunStatus]] = [
    ("no status yet", pipeline_run(), RunStatus()),
    (
        "succeeded",
        pipeline_run(conditions=[{"type": "Succeeded", "status": "True", "reason": "Succeeded"}]),
        RunStatus("True", "Succeeded", finished=True),
    ),
    (
        "failed",
        pipeline_run(conditions=[{"type": "Succeeded", "status": "False", "reason": "Failed"}]),
        RunStatus("False", "Failed", finished=True),
    ),
    (
        "running",
        pipeline_run(conditions=[{"type": "Succeeded", "status": "Unknown", "reason": "Running"}]),
        RunStatus("Unknown", "Running"),
    ),
    (
        "another condition only",
        pipeline_run(conditions=[{"type": "Ready", "status": "True", "reason": "X"}]),
        RunStatus(),
    ),
    ("conditions not a list", {"status": {"conditions": "x"}}, RunStatus()),
    (
        "odd values",
        pipeline_run(conditions=[{"type": "Succeeded", "status": 1, "reason": None}]),
        RunStatus(),
    ),
]


@pytest.mark.parametrize(
    ("run", "status"), [case[1:] for case in STATUSES], ids=[case[0] for case in STATUSES]
)
def test_a_runs_status_is_tektons_succeeded_condition(
    run: dict[str, Any], status: RunStatus
) -> None:
    assert read_run_status(run) == status
