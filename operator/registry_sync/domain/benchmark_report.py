"""Figures of a guidellm benchmark report (the JSON `guidellm run --output kind=json` writes).

The models below are written from guidellm 0.8's own report (`metadata.version` 2): each
entry of `benchmarks` is one load profile (`config.strategy`: `type_` and `rate` or
`streams`), and each metric sits at `metrics.<name>.successful` (statistics over the
successful requests only) with `mean`, `count` and `percentiles.{p50,p90,p95,p99}`. Only
the fields read are modelled; others are ignored. Another report version or guidellm
release line is refused: a changed format must be read on purpose, not half-read.

Figures, named as the Model Catalog names its performance metrics:

- `ttft_{mean,p50,p90,p95,p99}`: time to first token (`time_to_first_token_ms`), ms;
- `itl_{...}`: inter-token latency (`inter_token_latency_ms`), ms;
- `e2e_{...}`: request latency (`request_latency`, which guidellm reports in **seconds**:
  converted to ms so that every name above means milliseconds);
- `tps_{mean,p90}`: output tokens per second (`output_tokens_per_second`);
- `requests_per_second`: the mean of `requests_per_second`.

A report with several profiles (a rate list, a sweep) suffixes every name with its profile:
`@rate=R` (constant, poisson), `@concurrency=C` (concurrent: C streams; synchronous: 1) or
`@throughput`; a report with one profile has plain names. A metric with no successful
request (`count` 0) gives no figures: guidellm writes zeros there, which are not values.
"""

from __future__ import annotations

import math
import re
from typing import Final, Literal

from pydantic import Field, FiniteFloat, StrictInt, field_validator

from registry_sync.domain.run_figures import (
    Figure,
    ResultsFormatError,
    StrictModel,
    decode_json,
    validated,
)

TOOL: Final = "guidellm"
# The guidellm release line whose report format the models below are written from.
SUPPORTED_GUIDELLM_VERSION: Final = re.compile(r"0\.8\.\d+")
SUPPORTED_REPORT_VERSION: Final = 2

_MS_PER_SECOND: Final = 1000.0
_RATE_STRATEGIES: Final = frozenset({"constant", "poisson"})


class Percentiles(StrictModel):
    p50: FiniteFloat
    p90: FiniteFloat
    p95: FiniteFloat
    p99: FiniteFloat


class Statistics(StrictModel):
    mean: FiniteFloat
    count: StrictInt = Field(ge=0)
    percentiles: Percentiles


class ByStatus(StrictModel):
    """A metric's statistics per request status; only the successful requests are read."""

    successful: Statistics


class Metrics(StrictModel):
    time_to_first_token_ms: ByStatus
    inter_token_latency_ms: ByStatus
    request_latency: ByStatus  # seconds
    output_tokens_per_second: ByStatus
    requests_per_second: ByStatus


class Strategy(StrictModel):
    kind: str = Field(alias="type_")
    rate: FiniteFloat | None = Field(default=None, gt=0)
    streams: StrictInt | None = Field(default=None, ge=1)


class BenchmarkConfig(StrictModel):
    strategy: Strategy


class Benchmark(StrictModel):
    config: BenchmarkConfig
    metrics: Metrics


class ReportMetadata(StrictModel):
    version: Literal[2]
    guidellm_version: str

    @field_validator("guidellm_version")
    @classmethod
    def _supported(cls, value: str) -> str:
        if SUPPORTED_GUIDELLM_VERSION.fullmatch(value) is None:
            raise ValueError(f"guidellm {value} is not supported (reads guidellm 0.8.x reports)")
        return value


class BenchmarkReport(StrictModel):
    metadata: ReportMetadata
    benchmarks: list[Benchmark] = Field(min_length=1)


def parse_benchmark_report(data: bytes | str, path: str) -> BenchmarkReport:
    """The guidellm report in `data`, or `ResultsFormatError` naming `path` and the field
    that is wrong. Never raises anything else."""
    return validated(BenchmarkReport, decode_json(data, path), path)


def benchmark_report_figures(data: bytes | str, path: str) -> tuple[Figure, ...]:
    """The figures of the guidellm report in `data` (see the module docstring), profile by
    profile in the report's order. `ResultsFormatError` for a report that cannot be read,
    or whose profiles cannot be told apart; never raises anything else."""
    return report_figures(parse_benchmark_report(data, path), path)


def report_figures(report: BenchmarkReport, path: str) -> tuple[Figure, ...]:
    """The figures of a parsed report; `path` names it in errors."""
    profiles: list[str] = []
    for index, benchmark in enumerate(report.benchmarks):
        field = f"benchmarks[{index}].config.strategy"
        profile = profile_of(benchmark.config.strategy, path, field)
        if profile in profiles:
            # Two entries would publish the same names: neither value could be trusted.
            raise ResultsFormatError(path, field, f"profile {profile} appears twice")
        profiles.append(profile)
    several = len(profiles) > 1
    figures: list[Figure] = []
    for index, (benchmark, profile) in enumerate(zip(report.benchmarks, profiles, strict=True)):
        suffix = f"@{profile}" if several else ""
        values = _benchmark_values(benchmark.metrics, path, f"benchmarks[{index}].metrics")
        figures.extend(
            Figure(
                name=name + suffix,
                value=value,
                unit=unit,
                tool=TOOL,
                tool_version=report.metadata.guidellm_version,
                profile=profile,
            )
            for name, value, unit in values
        )
    return tuple(figures)


def profile_of(strategy: Strategy, path: str, field: str) -> str:
    """`rate=R`, `concurrency=C` or `throughput` for a strategy at `field` of the report at
    `path`; `ResultsFormatError` for a strategy that cannot be named."""
    if strategy.kind in _RATE_STRATEGIES:
        if strategy.rate is None:
            raise ResultsFormatError(path, f"{field}.rate", f"a {strategy.kind} strategy has none")
        return f"rate={_number(strategy.rate)}"
    if strategy.kind == "concurrent":
        if strategy.streams is None:
            raise ResultsFormatError(path, f"{field}.streams", "a concurrent strategy has none")
        return f"concurrency={strategy.streams}"
    if strategy.kind == "synchronous":
        return "concurrency=1"
    if strategy.kind == "throughput":
        return "throughput"
    raise ResultsFormatError(path, f"{field}.type_", f"unknown strategy type {strategy.kind!r}")


def _benchmark_values(metrics: Metrics, path: str, field: str) -> list[tuple[str, float, str]]:
    values: list[tuple[str, float, str]] = []
    latencies = (
        ("ttft", "time_to_first_token_ms", metrics.time_to_first_token_ms.successful, 1.0),
        ("itl", "inter_token_latency_ms", metrics.inter_token_latency_ms.successful, 1.0),
        ("e2e", "request_latency", metrics.request_latency.successful, _MS_PER_SECOND),
    )
    for prefix, metric, statistics, to_ms in latencies:
        if statistics.count == 0:
            continue
        percentiles = statistics.percentiles
        for suffix, value in (
            ("mean", statistics.mean),
            ("p50", percentiles.p50),
            ("p90", percentiles.p90),
            ("p95", percentiles.p95),
            ("p99", percentiles.p99),
        ):
            in_ms = value * to_ms
            if not math.isfinite(in_ms):
                raise ResultsFormatError(
                    path, f"{field}.{metric}.successful", "a value is too large to show in ms"
                )
            values.append((f"{prefix}_{suffix}", in_ms, "ms"))
    tokens = metrics.output_tokens_per_second.successful
    if tokens.count > 0:
        values.append(("tps_mean", tokens.mean, "tokens/s"))
        values.append(("tps_p90", tokens.percentiles.p90, "tokens/s"))
    requests = metrics.requests_per_second.successful
    if requests.count > 0:
        values.append(("requests_per_second", requests.mean, "requests/s"))
    return values


def _number(value: float) -> str:
    """A rate as a name shows it: `2`, not `2.0`; `0.5`; the shortest text that reads back
    as the same float otherwise."""
    if value.is_integer() and math.fabs(value) < 1e15:
        return str(int(value))
    return repr(value)
