"""The admission decision for a model-testing PipelineRun CREATE.

Specification: DESIGN.md, "Model-testing PipelineRuns". A run is admitted only with the names
of a Ready binding (its params corrected, the replaced values recorded); anything unclear is a
denial that names the run, says why and says what to do. The run in the incident (`seed.py`)
published to model 8 / version 10; the binding says model 4 / version 5.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_sync.domain.admission import Admitted, BindingView, Denied, decide_admission
from registry_sync.domain.escaping import escaped
from registry_sync.domain.metadata import (
    ORIGINAL_PARAMS_ANNOTATION,
    TARGET_LABEL,
    VERSION_ANNOTATION,
)
from registry_sync.domain.params import ParamNames
from registry_sync.domain.pipeline_run import label_target
from unit.domain.seed import (
    INFERENCE_SERVICE_NAME,
    NAMESPACE,
    READY_BINDING,
    seed_pipeline_run_params,
)
from unit.domain.strategies import JSON_SCALARS, json_values

RUN_NAME = "model-test-x7k2p"
NAMES = ParamNames()

AMBIGUOUS_BINDING = BindingView(
    inference_service=INFERENCE_SERVICE_NAME,
    ready=False,
    reason="Ambiguous",
    message="2 live versions hold the deployed artifact: 4/5, 8/10",
)

RIGHT_PARAMS = [
    {"name": "vllm_model_name", "value": "mistral-24b-quantized"},
    {"name": "model_name", "value": "Mistral-Small-24B-Instruct"},
    {"name": "version_name", "value": "quantized-w4a16-2501"},
]


def param(name: str, value: Any) -> dict[str, Any]:
    return {"name": name, "value": value}


def seed_run_params() -> list[dict[str, Any]]:
    """The incident's params, with the vLLM name it was (rightly) given."""
    return [
        param("inference_service_name", INFERENCE_SERVICE_NAME),
        param("model_name", "Mistral-24B-Instruct"),
        param("version_name", "24b-w4a16-1gpu"),
        param("vllm_model_name", "mistral-24b-quantized"),
        param("benchmark_profile", "sweep"),
    ]


def pipeline_run(
    params: object = None,
    *,
    name: str | None = RUN_NAME,
    target: object = INFERENCE_SERVICE_NAME,
) -> dict[str, Any]:
    """A model-testing PipelineRun as the webhook receives it on CREATE."""
    metadata: dict[str, Any] = {"namespace": NAMESPACE, "labels": {TARGET_LABEL: target}}
    if name is not None:
        metadata["name"] = name
    spec: dict[str, Any] = {"pipelineRef": {"name": "model-testing"}}
    if params is not None:
        spec["params"] = params
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": metadata,
        "spec": spec,
    }


def admit(
    run: object,
    binding: BindingView | None = READY_BINDING,
    param_names: ParamNames = NAMES,
    *,
    inference_service_exists: bool = False,
) -> Admitted:
    decision = decide_admission(
        run, binding, param_names, inference_service_exists=inference_service_exists
    )
    assert isinstance(decision, Admitted), decision
    return decision


def deny(
    run: object,
    binding: BindingView | None = READY_BINDING,
    param_names: ParamNames = NAMES,
    *,
    inference_service_exists: bool = False,
) -> Denied:
    decision = decide_admission(
        run, binding, param_names, inference_service_exists=inference_service_exists
    )
    assert isinstance(decision, Denied), decision
    return decision


# Admitted: the seed run and runs already right --------------------------------------------------


def test_the_seed_run_is_admitted_with_the_bindings_names_in_its_own_param_order() -> None:
    decision = admit(pipeline_run(seed_run_params()))
    assert decision.params == [
        param("inference_service_name", INFERENCE_SERVICE_NAME),
        param("model_name", "Mistral-Small-24B-Instruct"),
        param("version_name", "quantized-w4a16-2501"),
        param("vllm_model_name", "mistral-24b-quantized"),
        param("benchmark_profile", "sweep"),
    ]


def test_original_params_records_only_the_values_it_replaced() -> None:
    decision = admit(pipeline_run(seed_run_params()))
    assert json.loads(decision.annotations[ORIGINAL_PARAMS_ANNOTATION]) == {
        "model_name": "Mistral-24B-Instruct",
        "version_name": "24b-w4a16-1gpu",
    }


def test_admitted_names_the_params_it_changed() -> None:
    decision = admit(pipeline_run(seed_run_params()))
    assert decision.changed == ("model_name", "version_name")


def test_a_missing_param_is_appended_and_recorded_as_null() -> None:
    decision = admit(pipeline_run(seed_pipeline_run_params()))
    assert decision.params is not None
    assert decision.params[-1] == param("vllm_model_name", "mistral-24b-quantized")
    assert json.loads(decision.annotations[ORIGINAL_PARAMS_ANNOTATION]) == {
        "vllm_model_name": None,
        "model_name": "Mistral-24B-Instruct",
        "version_name": "24b-w4a16-1gpu",
    }


def test_a_run_without_params_gets_all_three_appended() -> None:
    decision = admit(pipeline_run(None))
    assert decision.params == RIGHT_PARAMS


def test_a_corrected_run_records_the_injected_version_id() -> None:
    decision = admit(pipeline_run(seed_run_params()))
    assert decision.annotations[VERSION_ANNOTATION] == "5"


def test_a_run_already_right_is_admitted_with_its_params_left_alone() -> None:
    decision = admit(pipeline_run(RIGHT_PARAMS))
    assert decision.params is None
    assert decision.changed == ()


def test_a_run_already_right_gets_no_original_params_annotation() -> None:
    decision = admit(pipeline_run(RIGHT_PARAMS))
    assert ORIGINAL_PARAMS_ANNOTATION not in decision.annotations


def test_a_run_already_right_still_records_the_version_id() -> None:
    decision = admit(pipeline_run(RIGHT_PARAMS))
    assert decision.annotations == {VERSION_ANNOTATION: "5"}


def test_configured_param_names_are_the_ones_set() -> None:
    names = ParamNames("served", "registry_model", "registry_version")
    run = pipeline_run([param("model_name", "left alone"), param("registry_model", "Old")])
    decision = admit(run, param_names=names)
    assert decision.params == [
        param("model_name", "left alone"),
        param("registry_model", "Mistral-Small-24B-Instruct"),
        param("served", "mistral-24b-quantized"),
        param("registry_version", "quantized-w4a16-2501"),
    ]
    assert json.loads(decision.annotations[ORIGINAL_PARAMS_ANNOTATION]) == {
        "served": None,
        "registry_model": "Old",
        "registry_version": None,
    }


def test_a_ready_binding_with_the_registry_unreachable_still_admits() -> None:
    binding = replace(READY_BINDING, reason="RegistryUnavailable", message="answer is 2m old")
    assert admit(pipeline_run(seed_run_params()), binding).annotations[VERSION_ANNOTATION] == "5"


# Denied: every reason names the run, says why and what to do -----------------------------------


@pytest.mark.parametrize(
    "run",
    [
        pytest.param(pipeline_run(RIGHT_PARAMS, target=""), id="empty-label"),
        pytest.param(pipeline_run(RIGHT_PARAMS, target=5), id="label-not-a-string"),
        pytest.param(
            {"metadata": {"name": RUN_NAME, "labels": {}}, "spec": {}}, id="no-target-label"
        ),
        pytest.param({"metadata": {"name": RUN_NAME}, "spec": {}}, id="no-labels"),
        pytest.param(
            {"metadata": {"name": RUN_NAME, "labels": ["x"]}, "spec": {}}, id="labels-not-a-map"
        ),
    ],
)
def test_a_run_without_a_target_is_denied_naming_the_label(run: dict[str, Any]) -> None:
    decision = deny(run)
    assert decision.reason == "NoTarget"
    assert RUN_NAME in decision.message
    assert f"label {TARGET_LABEL} must name the InferenceService" in decision.message


@pytest.mark.parametrize(
    ("exists", "problem"),
    [
        pytest.param(
            True,
            f"InferenceService {INFERENCE_SERVICE_NAME} is not managed by registry-sync "
            '(add the annotation registry-sync.io/enabled: "true")',
            id="exists-not-opted-in",
        ),
        pytest.param(
            False,
            f"no InferenceService or LLMInferenceService named {INFERENCE_SERVICE_NAME} with "
            'the annotation registry-sync.io/enabled: "true" exists',
            id="does-not-exist",
        ),
    ],
)
def test_a_run_for_an_unknown_inference_service_is_denied_saying_which_case(
    exists: bool, problem: str
) -> None:
    decision = deny(pipeline_run(RIGHT_PARAMS), None, inference_service_exists=exists)
    assert decision.reason == "UnknownInferenceService"
    assert RUN_NAME in decision.message
    assert problem in decision.message
    assert "then create the run again" in decision.message


def test_the_two_unknown_target_messages_differ() -> None:
    run = pipeline_run(RIGHT_PARAMS)
    exists = deny(run, None, inference_service_exists=True)
    missing = deny(run, None, inference_service_exists=False)
    assert exists.message != missing.message


def test_a_binding_not_ready_denies_with_its_reason_and_message() -> None:
    decision = deny(pipeline_run(seed_run_params()), AMBIGUOUS_BINDING)
    assert decision.reason == "Ambiguous"
    assert RUN_NAME in decision.message
    assert "is not Ready (Ambiguous)" in decision.message
    assert AMBIGUOUS_BINDING.message in decision.message


def test_a_binding_not_ready_tells_how_to_see_why() -> None:
    decision = deny(pipeline_run(seed_run_params()), AMBIGUOUS_BINDING)
    assert f"`oc describe mb {INFERENCE_SERVICE_NAME}`" in decision.message
    assert "create the run again" in decision.message


def test_a_binding_not_ready_denies_a_run_already_right_too() -> None:
    decision = deny(pipeline_run(RIGHT_PARAMS), AMBIGUOUS_BINDING)
    assert decision.reason == "Ambiguous"


def test_a_binding_not_ready_without_a_reason_denies_as_not_ready() -> None:
    decision = deny(pipeline_run(RIGHT_PARAMS), replace(AMBIGUOUS_BINDING, reason=""))
    assert decision.reason == "NotReady"


INCOMPLETE = [
    pytest.param(field, blank, id=f"{field}-{'none' if blank is None else 'empty'}")
    for field in ("served_name", "model_name", "version_name", "version_id")
    for blank in (None, "")
]


@pytest.mark.parametrize(("field", "blank"), INCOMPLETE)
def test_a_ready_binding_missing_a_name_or_id_is_denied_not_guessed(
    field: str, blank: str | None
) -> None:
    blanked: dict[str, Any] = {field: blank}
    binding = replace(READY_BINDING, **blanked)
    decision = deny(pipeline_run(seed_run_params()), binding)
    assert RUN_NAME in decision.message
    assert f"oc describe mb {INFERENCE_SERVICE_NAME}" in decision.message


def test_a_ready_binding_missing_names_is_denied_as_incomplete_not_as_not_ready() -> None:
    binding = replace(READY_BINDING, version_id=None)
    decision = deny(pipeline_run(seed_run_params()), binding)
    assert decision.reason == "IncompleteBinding"
    assert "is not Ready" not in decision.message


@pytest.mark.parametrize(
    ("params", "in_message"),
    [
        pytest.param({"model_name": "x"}, "spec.params is an object", id="params-a-map"),
        pytest.param("model_name=x", "spec.params is a string", id="params-a-string"),
        pytest.param([param("a", "b"), "model_name"], "spec.params[1] is a string", id="entry"),
        pytest.param(
            [param("model_name", ["x"])], "param 'model_name' holds an array", id="array-value"
        ),
        pytest.param(
            [param("version_name", {"k": "v"})],
            "param 'version_name' holds an object",
            id="object-value",
        ),
        pytest.param(
            [param("model_name", "a"), param("model_name", "b")],
            "holds param 'model_name' more than once",
            id="duplicate",
        ),
    ],
)
def test_params_that_cannot_be_corrected_safely_are_denied_as_invalid(
    params: object, in_message: str
) -> None:
    decision = deny(pipeline_run(params))
    assert decision.reason == "InvalidParams"
    assert decision.message.startswith(f"PipelineRun {RUN_NAME}: ")
    assert in_message in decision.message


def test_an_array_value_of_another_param_is_not_ours_to_judge() -> None:
    run = pipeline_run([param("prompts", ["a", "b"]), *RIGHT_PARAMS])
    assert admit(run).params is None


@pytest.mark.parametrize("spec", [[], "spec", 3], ids=["list", "string", "number"])
def test_a_spec_that_is_not_an_object_is_denied(spec: object) -> None:
    run = {**pipeline_run(), "spec": spec}
    decision = deny(run)
    assert decision.reason == "InvalidPipelineRun"
    assert decision.message == f"PipelineRun {RUN_NAME}: spec is not an object"


def test_a_run_without_a_name_yet_is_named_by_its_generate_name() -> None:
    run = pipeline_run(RIGHT_PARAMS, name=None, target="")
    run["metadata"]["generateName"] = "model-test-"
    assert deny(run).message.startswith("PipelineRun model-test-: ")


def test_a_run_without_any_name_is_called_unnamed() -> None:
    run = pipeline_run(RIGHT_PARAMS, name=None, target="")
    assert deny(run).message.startswith("PipelineRun (unnamed): ")


# Found by tests/fuzz: names are validated only after admission, so any length arrives.
def test_a_huge_run_name_is_shortened_in_the_denial() -> None:
    decision = deny(pipeline_run(RIGHT_PARAMS, name="n" * 300_000), binding=None)
    assert decision.message.startswith("PipelineRun nnn")
    assert len(decision.message) < 1000


def test_a_huge_target_name_is_shortened_in_the_denial() -> None:
    decision = deny(pipeline_run(RIGHT_PARAMS, target="t" * 300_000), binding=None)
    assert "ttt..." in decision.message
    assert len(decision.message) < 1000


def test_a_param_nested_deeper_than_any_tekton_param_is_denied_not_copied() -> None:
    value: Any = "x"
    for _ in range(2000):  # deeper than a recursive copy can go
        value = [value]
    decision = deny(pipeline_run([param("prompts", value), *RIGHT_PARAMS]))
    assert decision.reason == "InvalidParams"
    assert "levels deep" in decision.message


# label_target -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("run", "target"),
    [
        pytest.param(pipeline_run(), INFERENCE_SERVICE_NAME, id="labelled"),
        pytest.param(pipeline_run(target=""), None, id="empty"),
        pytest.param(pipeline_run(target=["x"]), None, id="not-a-string"),
        pytest.param({"metadata": {"labels": None}}, None, id="labels-null"),
        pytest.param({"metadata": "x"}, None, id="metadata-not-a-map"),
        pytest.param(["metadata"], None, id="run-not-a-map"),
        pytest.param(None, None, id="none"),
    ],
)
def test_target_of_reads_only_a_non_empty_string_label(run: object, target: str | None) -> None:
    assert label_target(run) == target


# Invariants ----------------------------------------------------------------------------------

OURS = NAMES.as_tuple()
BINDING_VALUES = {
    "vllm_model_name": "mistral-24b-quantized",
    "model_name": "Mistral-Small-24B-Instruct",
    "version_name": "quantized-w4a16-2501",
}
BINDINGS = st.sampled_from(
    [
        READY_BINDING,
        AMBIGUOUS_BINDING,
        replace(READY_BINDING, model_name=None),
        replace(READY_BINDING, version_id=""),
        None,
    ]
)
USUALLY = st.sampled_from([True, True, True, False])
RIGHT_OR_WRONG = st.sampled_from(list(BINDING_VALUES.values())) | st.text(max_size=8)
OTHER_ENTRIES = st.fixed_dictionaries(
    {"name": st.sampled_from(["other", "x"]), "value": RIGHT_OR_WRONG | st.lists(st.text())}
)
ODD_ENTRIES = st.one_of(
    st.fixed_dictionaries({"name": st.sampled_from(OURS), "value": json_values()}),
    st.fixed_dictionaries({}, optional={"name": JSON_SCALARS, "value": JSON_SCALARS}),
    JSON_SCALARS,
)


@st.composite
def well_formed_params(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Params a run could really carry: ours at most once each, right or wrong, among others."""
    ours = []
    for name, right in BINDING_VALUES.items():
        held = draw(st.sampled_from(["right", "right", "wrong", "missing"]))
        if held != "missing":
            value = right if held == "right" else draw(RIGHT_OR_WRONG)
            ours.append({"name": name, "value": value})
    return draw(st.permutations([*ours, *draw(st.lists(OTHER_ENTRIES, max_size=3))]))


@st.composite
def any_params(draw: st.DrawFn) -> object:
    """Mostly well-formed lists (those reach an admission), sometimes anything at all."""
    if draw(USUALLY):
        return draw(st.none() | well_formed_params())
    return draw(st.lists(OTHER_ENTRIES | ODD_ENTRIES, max_size=6) | JSON_SCALARS)


# Odd values are mostly scalars: nested JSON in every slot makes generation slow, and the
# top-level `json_values()` runs already cover deep nesting.
ODD_VALUES = JSON_SCALARS | st.lists(JSON_SCALARS, max_size=2)


@st.composite
def pipeline_runs(draw: st.DrawFn) -> dict[str, Any]:
    """Runs shaped like PipelineRuns, with odd content in any slot the decision reads."""

    def mostly(usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> Any:
        return draw(usual) if draw(USUALLY) else draw(odd)

    labels = {TARGET_LABEL: mostly(st.just(INFERENCE_SERVICE_NAME), ODD_VALUES)}
    metadata = {
        "name": mostly(st.just(RUN_NAME), st.just("") | ODD_VALUES),
        "generateName": mostly(st.just("model-test-"), ODD_VALUES),
        "labels": mostly(st.just(labels), ODD_VALUES),
    }
    for key in draw(st.lists(st.sampled_from(list(metadata)), unique=True, max_size=1)):
        del metadata[key]
    spec = {"pipelineRef": {"name": "model-testing"}, "params": draw(any_params())}
    return {
        "metadata": mostly(st.just(metadata), ODD_VALUES),
        "spec": mostly(st.just(spec), ODD_VALUES),
    }


ARBITRARY_RUNS = st.one_of(json_values(), pipeline_runs())
# Labelled, named runs whose params vary: the runs that reach an admission.
LABELLED_RUNS = st.builds(pipeline_run, well_formed_params())


@given(ARBITRARY_RUNS, BINDINGS, st.booleans())
def test_decide_admission_never_raises_and_always_decides(
    run: Any, binding: BindingView | None, exists: bool
) -> None:
    decision = decide_admission(run, binding, NAMES, inference_service_exists=exists)
    assert isinstance(decision, Admitted | Denied)
    if isinstance(decision, Denied):
        assert decision.reason
        assert decision.message.startswith("PipelineRun ")


@given(ARBITRARY_RUNS, BINDINGS, st.booleans())
def test_decide_admission_never_modifies_the_run(
    run: Any, binding: BindingView | None, exists: bool
) -> None:
    before = copy.deepcopy(run)
    decide_admission(run, binding, NAMES, inference_service_exists=exists)
    assert run == before


@given(LABELLED_RUNS)
def test_corrected_params_hold_each_of_ours_once_with_the_bindings_values(run: Any) -> None:
    decision = decide_admission(run, READY_BINDING, NAMES)
    if not (isinstance(decision, Admitted) and decision.params is not None):
        return
    ours = [entry for entry in decision.params if entry.get("name") in OURS]
    assert sorted(str(entry["name"]) for entry in ours) == sorted(OURS)
    assert {entry["name"]: entry["value"] for entry in ours} == BINDING_VALUES


@given(LABELLED_RUNS)
def test_params_are_left_alone_exactly_when_they_already_hold_the_bindings_values(
    run: Any,
) -> None:
    decision = decide_admission(run, READY_BINDING, NAMES)
    if not isinstance(decision, Admitted):
        return
    spec = run["spec"] if isinstance(run["spec"], dict) else {}
    held = {
        entry["name"]: entry.get("value")
        for entry in spec.get("params") or []
        if isinstance(entry.get("name"), str)
    }
    already_right = all(held.get(name) == value for name, value in BINDING_VALUES.items())
    assert (decision.params is None) == already_right
    assert (ORIGINAL_PARAMS_ANNOTATION in decision.annotations) == (not already_right)


@given(pipeline_runs(), BINDINGS)
def test_a_denial_names_a_named_run(run: Any, binding: BindingView | None) -> None:
    decision = decide_admission(run, binding, NAMES)
    name = run["metadata"].get("name") if isinstance(run["metadata"], dict) else None
    if isinstance(decision, Denied) and isinstance(name, str) and name:
        # Shown escaped: names are validated only after admission.
        assert decision.message.startswith(f"PipelineRun {escaped(name)}: ")


def test_a_denial_shows_a_hostile_run_name_escaped() -> None:
    run = {"metadata": {"name": "run\n\x1b[2Jfake", "labels": {}}, "spec": {}}
    decision = decide_admission(run, None, NAMES)
    assert isinstance(decision, Denied)
    assert "run\\x0a\\x1b[2Jfake" in decision.message
    assert "\n" not in decision.message and "\x1b" not in decision.message


# The label and the inference_service_name param must name the same deployment ---------------


def test_a_run_whose_target_param_names_another_deployment_is_denied_naming_both() -> None:
    params = [param("inference_service_name", "granite-8b"), *RIGHT_PARAMS]

    denied = deny(pipeline_run(params))

    assert denied.reason == "TargetMismatch"
    assert INFERENCE_SERVICE_NAME in denied.message
    assert "granite-8b" in denied.message
    assert "inference_service_name" in denied.message


def test_a_target_mismatch_is_denied_even_when_the_binding_is_not_ready_or_unknown() -> None:
    params = [param("inference_service_name", "granite-8b")]

    assert deny(pipeline_run(params), AMBIGUOUS_BINDING).reason == "TargetMismatch"
    assert deny(pipeline_run(params), None).reason == "TargetMismatch"


@pytest.mark.parametrize("value", [None, 7, ["mistral"], {"name": "mistral"}, ""])
def test_a_target_param_that_is_not_the_labels_name_as_a_string_is_denied(value: object) -> None:
    denied = deny(pipeline_run([param("inference_service_name", value), *RIGHT_PARAMS]))

    assert denied.reason == "TargetMismatch"


def test_a_target_param_naming_the_labels_deployment_is_admitted() -> None:
    params = [param("inference_service_name", INFERENCE_SERVICE_NAME), *RIGHT_PARAMS]

    assert admit(pipeline_run(params)).params is None


def test_a_run_without_a_target_param_goes_by_its_label_alone() -> None:
    assert admit(pipeline_run(RIGHT_PARAMS)).params is None


def test_a_hostile_target_param_reaches_the_message_escaped_and_cut() -> None:
    hostile = "x\n\x1b[31m" + "y" * 5000

    denied = deny(pipeline_run([param("inference_service_name", hostile)]))

    assert "\x1b" not in denied.message and "\n" not in denied.message
    assert len(denied.message) < 1000
