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

A report of a long sweep holds many benchmarks, each with its request samples (megabytes):
`ReportReading` takes the report a piece at a time in the file's order, so that the file's
reader (`pipeline_tasks.results_files`) decodes and holds one benchmark, and of it only
`BENCHMARK_FIELDS`, at a time. `benchmark_report_figures` gives the same figures for a
report already decoded whole.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final, Literal

from pydantic import Field, FiniteFloat, StrictInt, field_validator

from registry_sync.domain.run_figures import (
    Figure,
    ResultsFormatError,
    StrictModel,
    stand_in,
    validated,
)

TOOL: Final = "guidellm"
# The guidellm release line whose report format the models below are written from.
SUPPORTED_GUIDELLM_VERSION: Final = re.compile(r"0\.8\.\d+")
SUPPORTED_REPORT_VERSION: Final = 2
# The report's top-level members that are read: the rest (its config, conclusions) is not.
METADATA: Final = "metadata"
BENCHMARKS: Final = "benchmarks"

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


# What is read of a benchmark: the rest of it (its request samples, most of a report's bytes)
# need not be decoded.
BENCHMARK_FIELDS: Final = frozenset(Benchmark.model_fields)


@dataclass(frozen=True, slots=True)
class _Profile:
    """One benchmark, read: its profile's name and its values, before the metadata says
    which guidellm wrote them."""

    name: str
    values: tuple[tuple[str, float, str], ...]


class ReportReading:
    """A guidellm report, read one piece at a time in the file's order: `document` (the top
    level, as a `stand_in`), then for each top-level member `member` (its key and stand-in)
    followed, for `metadata`, by `metadata` with its content, and for a `benchmarks` array
    by `entry` for each of its entries; `figures` at the end. Any order of the members is
    read alike; what is kept between pieces is the metadata and each benchmark's figures.

    Of a report with several faults, the one raised is the one the whole document shows
    first: the metadata's (a report of another version is refused as that, however its
    benchmarks look), then the benchmarks' in order. The metadata is checked where it is
    met (guidellm writes it first); a fault met before it is held until it is known.
    Every method raises `ResultsFormatError` and nothing else.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._members: set[str] = set()
        self._metadata: ReportMetadata | None = None
        self._held: ResultsFormatError | None = None
        self._entries = 0
        self._profiles: list[_Profile] = []

    def document(self, top: object) -> None:
        """The top level of the file, as a stand-in: a report is a JSON object."""
        if not isinstance(top, dict):
            raise ResultsFormatError(self._path, "(document)", "a report is a JSON object")

    def member(self, key: str, value: object) -> None:
        """A top-level member begins: its key and its value's stand-in."""
        if key in self._members:
            # JSON readers disagree on which of the two counts: neither is read.
            raise ResultsFormatError(self._path, key, "appears twice at the top level")
        self._members.add(key)
        if key == BENCHMARKS and not isinstance(value, list):
            self._fault(ResultsFormatError(self._path, key, "the benchmarks are not a list"))

    def metadata(self, value: object) -> None:
        """The content of the report's `metadata`."""
        self._metadata = validated(ReportMetadata, value, self._path, (METADATA,))
        if self._held is not None:
            raise self._held

    def entry(self, value: object) -> None:
        """The next entry of `benchmarks`: the entry whole, or only its `BENCHMARK_FIELDS`
        (or, when it is not an object, its stand-in)."""
        index = self._entries
        self._entries += 1
        if self._held is not None:
            return
        try:
            benchmark = validated(Benchmark, value, self._path, (BENCHMARKS, index))
            field = f"{BENCHMARKS}[{index}].config.strategy"
            name = profile_of(benchmark.config.strategy, self._path, field)
            if any(profile.name == name for profile in self._profiles):
                # Two entries would publish the same names: neither value could be trusted.
                raise ResultsFormatError(self._path, field, f"profile {name} appears twice")
            metrics = f"{BENCHMARKS}[{index}].metrics"
            values = _benchmark_values(benchmark.metrics, self._path, metrics)
        except ResultsFormatError as error:
            self._fault(error)
            return
        self._profiles.append(_Profile(name, tuple(values)))

    def figures(self) -> tuple[Figure, ...]:
        """The report has ended: its figures (see the module docstring), profile by profile
        in the report's order."""
        if self._metadata is None:
            problem = "missing: a guidellm report says its version there"
            raise ResultsFormatError(self._path, METADATA, problem)
        if self._held is not None:
            raise self._held
        if BENCHMARKS not in self._members:
            raise ResultsFormatError(self._path, BENCHMARKS, "missing")
        if not self._profiles:
            raise ResultsFormatError(self._path, BENCHMARKS, "the report has no benchmarks")
        several = len(self._profiles) > 1
        return tuple(
            Figure(
                name=f"{name}@{profile.name}" if several else name,
                value=value,
                unit=unit,
                tool=TOOL,
                tool_version=self._metadata.guidellm_version,
                profile=profile.name,
            )
            for profile in self._profiles
            for name, value, unit in profile.values
        )

    def _fault(self, error: ResultsFormatError) -> None:
        if self._metadata is not None:
            raise error
        if self._held is None:
            self._held = error


def benchmark_report_figures(document: object, path: str) -> tuple[Figure, ...]:
    """The figures of a guidellm report decoded whole (`ReportReading` fed its pieces in
    the document's order); `ResultsFormatError` naming `path` and the field for anything
    that is not a guidellm 0.8 report, and nothing else."""
    reading = ReportReading(path)
    reading.document(stand_in(document))  # refuses anything but an object
    members = document.items() if isinstance(document, dict) else ()
    for key, value in members:
        reading.member(key, stand_in(value))
        if key == METADATA:
            reading.metadata(value)
        elif key == BENCHMARKS and isinstance(value, list):
            for entry in value:
                reading.entry(entry)
    return reading.figures()


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
