"""Figures of a guidellm benchmark report: the names and units the Model Catalog uses, one
suffix per profile, and a clear refusal of anything that is not a guidellm 0.8 report.

The real reports are read from the third-party samples (guidellm 0.8.1, made against
guidellm's mock server); the small reports below are written in their shape. Here reports
are given decoded; reading the file (streamed, bounded, JSON faults) is
tests/unit/pipeline_tasks/test_results_files.py's.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
from functools import cache
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_sync.domain.benchmark_report import (
    BENCHMARK_FIELDS,
    TOOL,
    ReportReading,
    benchmark_report_figures,
)
from registry_sync.domain.run_figures import Figure, ResultsFormatError
from support.third_party import require_upstream_file

PATH = "work/out/report.json"
LATENCIES = ("ttft", "itl", "e2e")
STATISTICS = ("mean", "p50", "p90", "p95", "p99")
PLAIN_NAMES = (
    *(f"{latency}_{statistic}" for latency in LATENCIES for statistic in STATISTICS),
    "tps_mean",
    "tps_p90",
    "requests_per_second",
)


def statistics(mean: float, count: int = 10, spread: float = 1.0) -> dict[str, Any]:
    """A guidellm `StatusDistributionSummary` entry's statistics, as the report writes them."""
    return {
        "mean": mean,
        "median": mean,
        "min": mean - spread,
        "max": mean + 4 * spread,
        "count": count,
        "std_dev": spread,
        "percentiles": {
            "p001": mean - spread,
            "p50": mean,
            "p90": mean + spread,
            "p95": mean + 2 * spread,
            "p99": mean + 3 * spread,
            "p999": mean + 4 * spread,
        },
    }


def by_status(mean: float, count: int = 10) -> dict[str, Any]:
    return {
        "successful": statistics(mean, count),
        "errored": statistics(0.0, 0),
        "incomplete": statistics(0.0, 0),
        "total": statistics(mean, count),
    }


def benchmark(strategy: dict[str, Any]) -> dict[str, Any]:
    return {
        "type_": "generative_benchmark",
        "config": {"strategy": strategy},
        "metrics": {
            "time_to_first_token_ms": by_status(100.0),
            "inter_token_latency_ms": by_status(10.0),
            "request_latency": by_status(0.5),  # seconds
            "output_tokens_per_second": by_status(64.0),
            "requests_per_second": by_status(2.0),
        },
    }


def report(*strategies: dict[str, Any], guidellm_version: str = "0.8.1") -> dict[str, Any]:
    return {
        "metadata": {"version": 2, "guidellm_version": guidellm_version},
        "config": {},
        "benchmarks": [benchmark(strategy) for strategy in strategies],
        "conclusions": [],
    }


CONSTANT_2 = {"type_": "constant", "rate": 2.0, "worker_count": 10}


def figures_of(document: object) -> tuple[Figure, ...]:
    return benchmark_report_figures(document, PATH)


def refusal(document: object) -> ResultsFormatError:
    with pytest.raises(ResultsFormatError) as caught:
        figures_of(document)
    return caught.value


# One profile ---------------------------------------------------------------------------------


def test_a_one_profile_report_gives_the_catalog_names_without_a_suffix() -> None:
    figures = figures_of(report(CONSTANT_2))

    assert tuple(figure.name for figure in figures) == PLAIN_NAMES
    assert {figure.profile for figure in figures} == {"rate=2"}
    assert {(figure.tool, figure.tool_version) for figure in figures} == {(TOOL, "0.8.1")}


def test_latencies_are_milliseconds_and_request_latency_is_converted_from_seconds() -> None:
    values = {figure.name: (figure.value, figure.unit) for figure in figures_of(report(CONSTANT_2))}

    assert values["ttft_mean"] == (100.0, "ms")
    assert values["ttft_p99"] == (103.0, "ms")
    assert values["itl_p90"] == (11.0, "ms")
    assert values["e2e_mean"] == (500.0, "ms")
    assert values["e2e_p95"] == (2500.0, "ms")  # (0.5 + 2) s
    assert values["tps_mean"] == (64.0, "tokens/s")
    assert values["tps_p90"] == (65.0, "tokens/s")
    assert values["requests_per_second"] == (2.0, "requests/s")


def test_a_metric_without_successful_requests_gives_no_figures() -> None:
    document = report(CONSTANT_2)
    document["benchmarks"][0]["metrics"]["request_latency"] = by_status(0.0, count=0)
    document["benchmarks"][0]["metrics"]["requests_per_second"] = by_status(0.0, count=0)

    names = {figure.name for figure in figures_of(document)}

    assert not any(name.startswith("e2e_") for name in names)
    assert "requests_per_second" not in names
    assert "ttft_mean" in names


# Several profiles -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategies", "suffixes"),
    [
        (
            [{"type_": "constant", "rate": 2.0}, {"type_": "constant", "rate": 0.5}],
            ["@rate=2", "@rate=0.5"],
        ),
        (
            [{"type_": "concurrent", "streams": 1}, {"type_": "concurrent", "streams": 4}],
            ["@concurrency=1", "@concurrency=4"],
        ),
        (  # a sweep mixes strategy types
            [
                {"type_": "synchronous"},
                {"type_": "throughput", "max_concurrency": 512},
                {"type_": "poisson", "rate": 3.25},
            ],
            ["@concurrency=1", "@throughput", "@rate=3.25"],
        ),
    ],
)
def test_each_profile_of_a_report_suffixes_its_names(
    strategies: list[dict[str, Any]], suffixes: list[str]
) -> None:
    figures = figures_of(report(*strategies))

    expected = [name + suffix for suffix in suffixes for name in PLAIN_NAMES]
    assert [figure.name for figure in figures] == expected
    assert [figure.profile for figure in figures[:: len(PLAIN_NAMES)]] == [
        suffix.removeprefix("@") for suffix in suffixes
    ]


def test_two_entries_of_one_profile_are_refused_rather_than_overwriting_each_other() -> None:
    error = refusal(report(CONSTANT_2, {"type_": "poisson", "rate": 3.0}, CONSTANT_2))

    assert error.field == "benchmarks[2].config.strategy"
    assert "rate=2" in error.problem


@pytest.mark.parametrize(
    ("strategy", "field"),
    [
        ({"type_": "constant"}, "benchmarks[0].config.strategy.rate"),
        ({"type_": "concurrent"}, "benchmarks[0].config.strategy.streams"),
        ({"type_": "trace"}, "benchmarks[0].config.strategy.type_"),
        ({"type_": "constant", "rate": 0}, "benchmarks[0].config.strategy.rate"),
        ({"type_": "concurrent", "streams": "4"}, "benchmarks[0].config.strategy.streams"),
        ({"rate": 2.0}, "benchmarks[0].config.strategy.type_"),
    ],
)
def test_a_strategy_that_cannot_be_named_is_refused_naming_its_field(
    strategy: dict[str, Any], field: str
) -> None:
    error = refusal(report(strategy))

    assert (error.path, error.field) == (PATH, field)


# Refusals --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["metadata"].update(version=1), "metadata.version"),
        (lambda d: d["metadata"].update(guidellm_version="0.9.0"), "metadata.guidellm_version"),
        (lambda d: d["metadata"].update(guidellm_version="0.8.1 "), "metadata.guidellm_version"),
        (lambda d: d.pop("metadata"), "metadata"),
        (lambda d: d.update(benchmarks=[]), "benchmarks"),
        (
            lambda d: d["benchmarks"][0]["metrics"].pop("request_latency"),
            "benchmarks[0].metrics.request_latency",
        ),
        (
            lambda d: d["benchmarks"][0]["metrics"]["time_to_first_token_ms"]["successful"][
                "percentiles"
            ].pop("p95"),
            "benchmarks[0].metrics.time_to_first_token_ms.successful.percentiles.p95",
        ),
        (
            lambda d: d["benchmarks"][0]["metrics"]["inter_token_latency_ms"]["successful"].update(
                mean="10"
            ),
            "benchmarks[0].metrics.inter_token_latency_ms.successful.mean",
        ),
        (
            lambda d: d["benchmarks"][0]["metrics"]["requests_per_second"]["successful"].update(
                count=True
            ),
            "benchmarks[0].metrics.requests_per_second.successful.count",
        ),
        (
            lambda d: d["benchmarks"][0]["metrics"]["request_latency"]["successful"].update(
                mean=1e306
            ),
            "benchmarks[0].metrics.request_latency.successful",  # too large once in ms
        ),
    ],
)
def test_another_format_or_version_is_refused_naming_the_file_and_the_field(
    change: Any, field: str
) -> None:
    document = report(CONSTANT_2)
    change(document)

    error = refusal(document)

    assert (error.path, error.field) == (PATH, field)
    assert str(error).startswith(f"{PATH}: field {field}: ")


def test_a_lm_eval_file_is_not_read_as_a_benchmark_report() -> None:
    error = refusal({"lm_eval_version": "0.4.13", "results": {"task": {"acc,none": 0.5}}})

    assert error.field == "metadata"


@pytest.mark.parametrize("document", [None, [], "report", 2, [report(CONSTANT_2)]])
def test_a_document_that_is_not_an_object_is_refused_as_the_whole_document(
    document: object,
) -> None:
    error = refusal(document)

    assert (error.path, error.field) == (PATH, "(document)")


def test_non_finite_numbers_are_refused() -> None:
    document = report(CONSTANT_2)
    document["benchmarks"][0]["metrics"]["time_to_first_token_ms"]["successful"]["mean"] = math.nan

    error = refusal(document)

    assert error.field == "benchmarks[0].metrics.time_to_first_token_ms.successful.mean"


# Read a piece at a time -------------------------------------------------------------------


def test_the_metadata_may_come_after_the_benchmarks() -> None:
    document = report(CONSTANT_2, {"type_": "concurrent", "streams": 4})
    reordered = {key: document[key] for key in ("config", "benchmarks", "conclusions", "metadata")}

    assert figures_of(reordered) == figures_of(document)


def test_a_wrong_version_is_refused_as_such_even_after_benchmarks_it_cannot_read() -> None:
    # Another version's benchmarks look wrong to this one: the version is what to report.
    document = {
        "benchmarks": [{"config": {}, "metrics": {}}],
        "metadata": {"version": 3, "guidellm_version": "0.9.0"},
    }

    assert refusal(document).field == "metadata.version"


def test_a_fault_of_a_benchmark_before_the_metadata_is_raised_once_the_metadata_is_read() -> None:
    document = report(CONSTANT_2)
    document["benchmarks"][0]["metrics"].pop("request_latency")
    reordered = {"benchmarks": document["benchmarks"], "metadata": document["metadata"]}

    assert refusal(reordered).field == "benchmarks[0].metrics.request_latency"


def test_a_fault_of_a_benchmark_after_the_metadata_is_raised_where_it_is_met() -> None:
    reading = ReportReading(PATH)
    reading.document({})
    reading.member("metadata", {})
    reading.metadata(report()["metadata"])
    reading.member("benchmarks", [])
    reading.entry(benchmark(CONSTANT_2))

    with pytest.raises(ResultsFormatError) as caught:
        reading.entry({"config": {"strategy": CONSTANT_2}})  # no metrics

    assert caught.value.field == "benchmarks[1].metrics"


def test_a_benchmark_is_read_from_its_benchmark_fields_alone() -> None:
    entry = benchmark(CONSTANT_2)
    entry["requests"] = {"successful": [{"prompt": "x" * 100}] * 100}
    reading = ReportReading(PATH)
    reading.document({})
    reading.member("metadata", {})
    reading.metadata(report()["metadata"])
    reading.member("benchmarks", [])
    reading.entry({field: entry[field] for field in BENCHMARK_FIELDS})

    assert {"config", "metrics"} == BENCHMARK_FIELDS
    assert reading.figures() == figures_of(report(CONSTANT_2))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.update(benchmarks={"0": d["benchmarks"][0]}), "benchmarks"),
        (lambda d: d.update(benchmarks=None), "benchmarks"),
        (lambda d: d.pop("benchmarks"), "benchmarks"),
    ],
)
def test_benchmarks_that_are_not_a_list_of_entries_are_refused(change: Any, field: str) -> None:
    document = report(CONSTANT_2)
    change(document)

    assert refusal(document).field == field


def test_a_top_level_member_given_twice_is_refused() -> None:
    # A decoded document cannot hold a key twice; a file can, and is read a piece at a time.
    reading = ReportReading(PATH)
    reading.document({})
    reading.member("benchmarks", [])

    with pytest.raises(ResultsFormatError) as caught:
        reading.member("benchmarks", [])

    assert (caught.value.field, caught.value.problem) == (
        "benchmarks",
        "appears twice at the top level",
    )


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["metadata", "benchmarks", "version", "config", "strategy", "rate"])
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


@cache
def _valid_report() -> str:
    return json.dumps(report({"type_": "concurrent", "streams": 2}))


@given(st.data())
def test_any_value_anywhere_in_a_report_is_read_or_refused_with_the_one_error(
    data: st.DataObject,
) -> None:
    # Arbitrary JSON at random places of an otherwise valid report reaches deep validation.
    document = json.loads(_valid_report())
    for _ in range(data.draw(st.integers(1, 3))):
        node: Any = document
        while isinstance(node, dict) and node:
            key = data.draw(st.sampled_from(sorted(node)))
            if not isinstance(node[key], dict) or data.draw(st.booleans()):
                node[key] = data.draw(JSON)
                break
            node = node[key]
    try:
        figures = figures_of(document)
    except ResultsFormatError:
        return
    assert all(isinstance(figure.value, float) for figure in figures)


# The real reports ----------------------------------------------------------------------------


@pytest.mark.upstream
@pytest.mark.parametrize(
    ("sample", "suffixes"),
    [
        ("constant_2_4.json", ["@rate=2", "@rate=4"]),
        ("concurrent_1_4.json", ["@concurrency=1", "@concurrency=4"]),
    ],
)
def test_the_real_guidellm_reports_give_every_figure_of_each_profile(
    sample: str, suffixes: list[str]
) -> None:
    path = require_upstream_file(f"samples/guidellm/{sample}")

    figures = benchmark_report_figures(json.loads(path.read_bytes()), str(path))

    assert [figure.name for figure in figures] == [
        name + suffix for suffix in suffixes for name in PLAIN_NAMES
    ]
    assert {(figure.tool, figure.tool_version) for figure in figures} == {(TOOL, "0.8.1")}


@pytest.mark.upstream
def test_the_real_constant_rate_report_gives_its_values_in_the_named_units() -> None:
    path = require_upstream_file("samples/guidellm/constant_2_4.json")
    document = json.loads(path.read_bytes())
    values = {figure.name: figure.value for figure in benchmark_report_figures(document, str(path))}

    metrics = document["benchmarks"][0]["metrics"]
    ttft = metrics["time_to_first_token_ms"]["successful"]
    latency = metrics["request_latency"]["successful"]
    assert values["ttft_p90@rate=2"] == ttft["percentiles"]["p90"]
    assert values["e2e_mean@rate=2"] == pytest.approx(latency["mean"] * 1000)
    # The mock server answers in about 0.4 s: seconds read as ms would show 0.4 here.
    assert 100 < values["e2e_p50@rate=2"] < 10_000
    assert values["requests_per_second@rate=2"] == pytest.approx(2.0)


@pytest.mark.upstream
def test_the_real_report_of_a_newer_release_line_is_refused() -> None:
    path = require_upstream_file("samples/guidellm/concurrent_1_4.json")
    document = json.loads(path.read_bytes())
    changed = copy.deepcopy(document)
    changed["metadata"]["guidellm_version"] = "0.9.0"

    with pytest.raises(ResultsFormatError) as caught:
        benchmark_report_figures(changed, str(path))

    assert caught.value.field == "metadata.guidellm_version"
    assert benchmark_report_figures(document, str(path))
