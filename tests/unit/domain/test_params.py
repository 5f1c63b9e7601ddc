"""The param plan: a model-testing run's params set to the resolved names."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_sync.domain.params import (
    InvalidParamNames,
    ModelNames,
    ParamChange,
    ParamNames,
    ParamPlanError,
    plan_params,
)
from unit.domain.strategies import json_values

NAMES = ModelNames(served_name="llm", model_name="Model", version_name="v1")
OURS = ("vllm_model_name", "model_name", "version_name")


def param(name: str, value: Any) -> dict[str, Any]:
    return {"name": name, "value": value}


def test_missing_params_are_appended_in_fixed_order() -> None:
    plan = plan_params([param("other", "x")], NAMES)
    assert plan.params == [
        param("other", "x"),
        param("vllm_model_name", "llm"),
        param("model_name", "Model"),
        param("version_name", "v1"),
    ]
    assert plan.changes == (
        ParamChange("vllm_model_name", None, "llm"),
        ParamChange("model_name", None, "Model"),
        ParamChange("version_name", None, "v1"),
    )


def test_present_params_are_replaced_where_they_stand() -> None:
    params = [
        param("version_name", "old-v"),
        param("a", "1"),
        param("model_name", "Old"),
        param("b", ["x", "y"]),
    ]
    plan = plan_params(params, NAMES)
    assert plan.params == [
        param("version_name", "v1"),
        param("a", "1"),
        param("model_name", "Model"),
        param("b", ["x", "y"]),
        param("vllm_model_name", "llm"),
    ]


def test_changes_record_the_original_values() -> None:
    plan = plan_params([param("model_name", "Old"), param("version_name", "old-v")], NAMES)
    assert plan.originals == {"vllm_model_name": None, "model_name": "Old", "version_name": "old-v"}


def test_params_already_right_are_not_changes() -> None:
    params = [
        param("vllm_model_name", "llm"),
        param("model_name", "Model"),
        param("version_name", "v1"),
    ]
    plan = plan_params(params, NAMES)
    assert plan.params == params
    assert plan.changes == ()
    assert not plan.changed


@pytest.mark.parametrize("params", [None, []], ids=["none", "empty"])
def test_no_params_gets_all_three(params: object) -> None:
    plan = plan_params(params, NAMES)
    assert [entry["name"] for entry in plan.params] == list(OURS)


def test_configured_param_names_are_used() -> None:
    names = ParamNames("served", "registry_model", "registry_version")
    plan = plan_params([param("model_name", "untouched")], NAMES, names)
    assert plan.params == [
        param("model_name", "untouched"),
        param("served", "llm"),
        param("registry_model", "Model"),
        param("registry_version", "v1"),
    ]


def test_extra_keys_of_our_entries_are_kept() -> None:
    plan = plan_params([{"name": "model_name", "value": "Old", "note": "kept"}], NAMES)
    assert plan.params[0] == {"name": "model_name", "value": "Model", "note": "kept"}


# Found by tests/fuzz: a copy recurses once per level, and the call stack ends first.
@pytest.mark.parametrize("depth", [40, 5000])
def test_an_entry_nested_far_deeper_than_a_param_is_refused_naming_it(depth: int) -> None:
    value: Any = "x"
    for _ in range(depth):
        value = {"k": value}
    with pytest.raises(ParamPlanError, match=r"spec.params\[1\] nests more than \d+ levels"):
        plan_params([param("model_name", "Old"), param("other", value)], NAMES)


def test_an_object_param_of_strings_is_not_too_deep() -> None:
    plan = plan_params([param("other", {"k": "v"}), param("list", ["a", "b"])], NAMES)
    assert plan.params[:2] == [param("other", {"k": "v"}), param("list", ["a", "b"])]


def test_the_input_is_never_modified_and_the_plan_shares_nothing_with_it() -> None:
    params = [param("model_name", "Old"), param("other", {"k": ["v"]})]
    before = copy.deepcopy(params)
    plan = plan_params(params, NAMES)
    assert params == before
    plan.params[1]["value"]["k"].append("changed")  # type: ignore[index]
    assert params == before


@pytest.mark.parametrize(
    ("params", "in_message"),
    [
        pytest.param([param("model_name", ["a"])], "param 'model_name' holds an array", id="array"),
        pytest.param(
            [param("version_name", {"a": "b"})], "param 'version_name' holds an object", id="object"
        ),
        pytest.param([param("model_name", 5)], "param 'model_name' holds a number", id="number"),
        pytest.param([{"name": "model_name"}], "param 'model_name' holds no value", id="no-value"),
        pytest.param(
            [param("model_name", "a"), param("x", "y"), param("model_name", "b")],
            "holds param 'model_name' more than once (again at position 2)",
            id="duplicate",
        ),
        pytest.param(
            {"model_name": "a"}, "spec.params is an object, expected a list", id="not-a-list"
        ),
        pytest.param("model_name=a", "spec.params is a string", id="a-string"),
        pytest.param(
            [param("x", "y"), "model_name"], "spec.params[1] is a string", id="entry-not-a-mapping"
        ),
    ],
)
def test_what_cannot_be_corrected_safely_is_an_error_naming_it(
    params: object, in_message: str
) -> None:
    with pytest.raises(ParamPlanError) as raised:
        plan_params(params, NAMES)
    assert in_message in str(raised.value)


def test_a_non_string_value_of_another_param_is_not_an_error() -> None:
    plan = plan_params([param("matrix", {"a": ["b"]}), param("count", 3)], NAMES)
    assert plan.params[:2] == [param("matrix", {"a": ["b"]}), param("count", 3)]


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        pytest.param("vllm_model_name,model_name,version_name", ParamNames(), id="default"),
        pytest.param(
            " served , model.name , version-name ",
            ParamNames("served", "model.name", "version-name"),
            id="spaces",
        ),
        pytest.param("_a,_b,_c", ParamNames("_a", "_b", "_c"), id="leading-underscores"),
    ],
)
def test_param_names_setting_is_parsed(setting: str, expected: ParamNames) -> None:
    assert ParamNames.parse(setting) == expected


@pytest.mark.parametrize(
    ("setting", "in_message"),
    [
        pytest.param("a,b", "must be three comma-separated names", id="two"),
        pytest.param("a,b,c,d", "must be three comma-separated names", id="four"),
        pytest.param("", "must be three comma-separated names", id="empty"),
        pytest.param("a,,c", "'' not a valid Tekton param name", id="empty-name"),
        pytest.param("a,1b,c", "'1b' not a valid Tekton param name", id="leading-digit"),
        pytest.param("a,b c,d", "'b c' not a valid Tekton param name", id="inner-space"),
        pytest.param("a,b,a", "must be three different names", id="duplicate"),
        pytest.param(None, "must be a comma-separated string", id="not-a-string"),
    ],
)
def test_invalid_param_names_settings_are_rejected(setting: Any, in_message: str) -> None:
    with pytest.raises(InvalidParamNames) as raised:
        ParamNames.parse(setting)
    assert in_message in str(raised.value)


def test_invalid_param_names_is_a_value_error() -> None:
    assert issubclass(InvalidParamNames, ValueError)


PARAM_ENTRIES = st.one_of(
    st.fixed_dictionaries(
        {"name": st.sampled_from([*OURS, "other", "x", "model"]), "value": st.text(max_size=8)}
    ),
    st.fixed_dictionaries(
        {"name": st.sampled_from(["other", "x", "model"]), "value": json_values()}
    ),
    st.fixed_dictionaries({}, optional={"name": json_values(), "value": json_values()}),
)
ARBITRARY_PARAMS = st.one_of(json_values(), st.lists(PARAM_ENTRIES | json_values(), max_size=8))


@given(ARBITRARY_PARAMS)
def test_arbitrary_params_raise_nothing_but_param_plan_error(params: Any) -> None:
    before = copy.deepcopy(params)
    try:
        plan_params(params, NAMES)
    except ParamPlanError as error:
        assert str(error)
    assert params == before


@given(st.lists(PARAM_ENTRIES, max_size=8))
def test_a_plan_keeps_other_params_in_order_and_holds_each_of_ours_once(params: Any) -> None:
    try:
        plan = plan_params(params, NAMES)
    except ParamPlanError:
        return

    def is_ours(entry: Any) -> bool:
        return entry.get("name") in OURS

    assert [entry for entry in plan.params if not is_ours(entry)] == [
        entry for entry in params if not is_ours(entry)
    ]
    names = [entry["name"] for entry in plan.params if is_ours(entry)]
    assert sorted(names) == sorted(OURS)
    values = {entry["name"]: entry["value"] for entry in plan.params if is_ours(entry)}
    assert values == {"vllm_model_name": "llm", "model_name": "Model", "version_name": "v1"}
