"""Figures of an lm-eval results file: `lm_eval.<task>.<metric>` with the filter mapped as
the module says (`none` dropped, any other kept after a dot), standard errors as figures of
their own, and a clear refusal of anything that is not lm-eval 0.4 results. Here files
are given decoded; reading them is tests/unit/pipeline_tasks/test_results_files.py's.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_sync.domain.evaluation_results import (
    RESULTS_MEMBERS,
    TOOL,
    evaluation_results_figures,
)
from registry_sync.domain.run_figures import Figure, ResultsFormatError
from support.third_party import require_upstream_file

PATH = "work/out/results.json"


def results(tasks: dict[str, dict[str, Any]], version: str = "0.4.13") -> dict[str, Any]:
    """An lm-eval results file, in the shape lm-eval 0.4 writes it."""
    return {
        "results": {
            task: {"name": task, "alias": task, "sample_len": 10, **scores}
            for task, scores in tasks.items()
        },
        "group_subtasks": {},
        "versions": dict.fromkeys(tasks, 1.0),
        "config": {"model": "hf"},
        "lm_eval_version": version,
        "model_name": "mistral",
    }


def figures_of(document: object) -> tuple[Figure, ...]:
    return evaluation_results_figures(document, PATH)


def named(document: object) -> dict[str, float]:
    return {figure.name: figure.value for figure in figures_of(document)}


def refusal(document: object) -> ResultsFormatError:
    with pytest.raises(ResultsFormatError) as caught:
        figures_of(document)
    return caught.value


def test_the_filter_none_is_dropped_and_any_other_filter_is_kept_after_a_dot() -> None:
    document = results(
        {
            "arc_easy": {"acc,none": 0.8, "acc_norm,none": 0.75},
            "gsm8k": {"exact_match,strict-match": 0.4, "exact_match,flexible-extract": 0.45},
        }
    )

    assert named(document) == {
        "lm_eval.arc_easy.acc": 0.8,
        "lm_eval.arc_easy.acc_norm": 0.75,
        "lm_eval.gsm8k.exact_match.strict-match": 0.4,
        "lm_eval.gsm8k.exact_match.flexible-extract": 0.45,
    }


def test_standard_errors_are_figures_of_their_own_and_not_available_ones_are_skipped() -> None:
    document = results(
        {
            "arc_easy": {"acc,none": 0.8, "acc_stderr,none": 0.01},
            "mmlu": {"acc,none": 0.6, "acc_stderr,none": "N/A"},  # a group: no stderr
            "gsm8k": {"exact_match,strict-match": 0.4, "exact_match_stderr,strict-match": 0.02},
        }
    )

    assert named(document) == {
        "lm_eval.arc_easy.acc": 0.8,
        "lm_eval.arc_easy.acc_stderr": 0.01,
        "lm_eval.mmlu.acc": 0.6,
        "lm_eval.gsm8k.exact_match.strict-match": 0.4,
        "lm_eval.gsm8k.exact_match_stderr.strict-match": 0.02,
    }


def test_figures_carry_the_tool_and_its_version_and_no_profile() -> None:
    (figure,) = figures_of(results({"piqa": {"acc,none": 1}}))

    assert figure == Figure(
        name="lm_eval.piqa.acc", value=1.0, unit="", tool=TOOL, tool_version="0.4.13"
    )
    assert isinstance(figure.value, float)


def test_keys_without_a_comma_describe_the_task_and_give_no_figures() -> None:
    document = results({"piqa": {"acc,none": 0.5, "samples": 3, "note": "x"}})

    assert list(named(document)) == ["lm_eval.piqa.acc"]


@pytest.mark.parametrize(
    ("tasks", "field"),
    [
        ({"piqa": {"acc,none": "0.5"}}, "results.piqa.acc,none"),
        ({"piqa": {"acc,none": True}}, "results.piqa.acc,none"),
        ({"piqa": {"acc,none": None}}, "results.piqa.acc,none"),
        ({"piqa": {"acc,none": 10**400}}, "results.piqa.acc,none"),
        ({"piqa": {",none": 0.5}}, "results.piqa.,none"),
        ({"piqa": {"acc,": 0.5}}, "results.piqa.acc,"),
        ({"piqa": {"acc x,none": 0.5}}, "results.piqa.acc x,none"),
        ({"pi\x1b[2Jqa": {"acc,none": 0.5}}, "results.pi\\x1b[2Jqa"),
        ({"": {"acc,none": 0.5}}, "results."),
        # two keys giving one name: `acc.strict` twice
        ({"piqa": {"acc,strict": 0.5, "acc.strict,none": 0.6}}, "results.piqa.acc.strict,none"),
    ],
)
def test_a_score_that_cannot_be_a_figure_is_refused_naming_its_key(
    tasks: dict[str, dict[str, Any]], field: str
) -> None:
    error = refusal(results(tasks))

    assert (error.path, error.field) == (PATH, field)
    assert "\x1b" not in str(error)


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (results({"piqa": {"acc,none": 0.5}}, version="0.3.0"), "lm_eval_version"),
        (results({"piqa": {"acc,none": 0.5}}, version="1.0.0"), "lm_eval_version"),
        (results({}), "results"),
        ({"results": {"piqa": {"acc,none": 0.5}}}, "lm_eval_version"),
        ({"lm_eval_version": "0.4.13", "results": []}, "results"),
        ({"lm_eval_version": "0.4.13", "results": {"piqa": [0.5]}}, "results.piqa"),
        ({"metadata": {"version": 2, "guidellm_version": "0.8.1"}}, "lm_eval_version"),
        ([], "(document)"),
    ],
)
def test_another_format_or_version_is_refused_naming_the_file_and_the_field(
    document: object, field: str
) -> None:
    error = refusal(document)

    assert (error.path, error.field) == (PATH, field)


def test_only_the_version_and_the_results_are_read() -> None:
    document = results({"piqa": {"acc,none": 0.5}})

    read = {key: document[key] for key in RESULTS_MEMBERS}

    assert {"lm_eval_version", "results"} == RESULTS_MEMBERS
    assert figures_of(read) == figures_of(document)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["results", "lm_eval_version", "acc,none", "N/A"])
            | st.text(max_size=8),
            inner,
            max_size=4,
        )
    ),
    max_leaves=30,
)


@given(JSON)
def test_any_json_value_is_read_or_refused_with_the_one_error(document: object) -> None:
    with contextlib.suppress(ResultsFormatError):
        figures_of(document)


@given(
    st.dictionaries(
        st.text(max_size=12), st.dictionaries(st.text(max_size=12), JSON, max_size=5), max_size=4
    )
)
def test_any_results_of_a_supported_version_are_read_or_refused_with_the_one_error(
    tasks: dict[str, dict[str, Any]],
) -> None:
    try:
        figures = figures_of({"lm_eval_version": "0.4.2", "results": tasks})
    except ResultsFormatError:
        return
    assert len({figure.name for figure in figures}) == len(figures)
    assert all(figure.name.startswith("lm_eval.") for figure in figures)


@pytest.mark.upstream
def test_the_real_lm_eval_results_give_each_score_and_its_standard_error() -> None:
    path = require_upstream_file("samples/lm-eval/results-dummy.json")

    document = json.loads(path.read_bytes())

    figures = evaluation_results_figures(document, str(path))

    assert {figure.name: figure.value for figure in figures} == {
        "lm_eval.toy_mc_local.acc": 0.2,
        "lm_eval.toy_mc_local.acc_stderr": pytest.approx(0.1333333),
        "lm_eval.toy_mc_local.acc_norm": 0.1,
        "lm_eval.toy_mc_local.acc_norm_stderr": pytest.approx(0.1),
        "lm_eval.toy_qa_local.exact_match": 0.0,
        "lm_eval.toy_qa_local.exact_match_stderr": 0.0,
    }
    assert {(figure.tool, figure.tool_version, figure.unit) for figure in figures} == {
        (TOOL, "0.4.13", "")
    }


@pytest.mark.upstream
def test_the_real_guidellm_report_is_not_read_as_lm_eval_results() -> None:
    path = require_upstream_file("samples/guidellm/concurrent_1_4.json")

    with pytest.raises(ResultsFormatError) as caught:
        evaluation_results_figures(json.loads(path.read_bytes()), str(path))

    assert caught.value.field == "lm_eval_version"
