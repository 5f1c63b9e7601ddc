"""What the demo's model-testing run leaves behind: a small guidellm benchmark report and an
lm-eval results file, in those tools' formats (guidellm 0.8 report version 2, lm-eval 0.4),
with made-up figures. Only the members `publish` reads are filled in; real files hold much
more (request samples, the tools' configuration), which `publish` reads past.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

GUIDELLM_VERSION: Final = "0.8.1"
LM_EVAL_VERSION: Final = "0.4.13"


def _statistics(mean: float, spread: float) -> dict[str, Any]:
    """One metric's statistics over the successful requests, as guidellm writes them."""
    percentiles = {
        "p001": mean - spread,
        "p01": mean - spread * 0.9,
        "p05": mean - spread * 0.7,
        "p10": mean - spread * 0.5,
        "p25": mean - spread * 0.25,
        "p50": mean,
        "p75": mean + spread * 0.25,
        "p90": mean + spread * 0.5,
        "p95": mean + spread * 0.7,
        "p99": mean + spread * 0.9,
        "p999": mean + spread,
    }
    statistics = {
        "mean": mean,
        "median": mean,
        "mode": mean,
        "variance": (spread / 2) ** 2,
        "std_dev": spread / 2,
        "min": mean - spread,
        "max": mean + spread,
        "count": 40,
        "total_sum": mean * 40,
        "percentiles": percentiles,
    }
    return {"successful": statistics, "errored": None, "incomplete": None, "total": statistics}


def _benchmark(rate: float, slowdown: float) -> dict[str, Any]:
    return {
        "type_": "generative_benchmark",
        "config": {
            "strategy": {
                "type_": "constant",
                "worker_count": 10,
                "max_concurrency": 10240,
                "rate": rate,
                "rampup_duration": 0.0,
            }
        },
        "metrics": {
            "time_to_first_token_ms": _statistics(180.0 * slowdown, 40.0),
            "inter_token_latency_ms": _statistics(21.0 * slowdown, 4.0),
            "time_per_output_token_ms": _statistics(22.0 * slowdown, 4.0),
            "request_latency": _statistics(2.9 * slowdown, 0.6),  # seconds
            "output_tokens_per_second": _statistics(44.0 * rate / slowdown, 5.0),
            "tokens_per_second": _statistics(90.0 * rate / slowdown, 9.0),
            "requests_per_second": _statistics(rate * 0.98, 0.05),
        },
    }


def benchmark_report() -> dict[str, Any]:
    """A guidellm report of two constant-rate benchmarks (2 and 4 requests per second)."""
    return {
        "metadata": {"version": 2, "guidellm_version": GUIDELLM_VERSION},
        "config": {"profile": {"type_": "constant", "rate": [2.0, 4.0]}},
        "benchmarks": [_benchmark(2.0, 1.0), _benchmark(4.0, 1.3)],
    }


def evaluation_results() -> dict[str, Any]:
    """lm-eval results of two tasks, with their standard errors."""
    return {
        "results": {
            "gsm8k": {
                "alias": "gsm8k",
                "exact_match,strict-match": 0.71,
                "exact_match_stderr,strict-match": 0.0125,
            },
            "arc_easy": {
                "alias": "arc_easy",
                "acc,none": 0.83,
                "acc_stderr,none": 0.0077,
                "acc_norm,none": 0.79,
                "acc_norm_stderr,none": 0.0083,
            },
        },
        "lm_eval_version": LM_EVAL_VERSION,
    }


def write_results(folder: Path) -> tuple[Path, Path]:
    """Write the two files into `folder`; return (guidellm report, lm-eval results)."""
    report = folder / "guidellm-report.json"
    results = folder / "lm-eval-results.json"
    report.write_text(json.dumps(benchmark_report(), indent=1))
    results.write_text(json.dumps(evaluation_results(), indent=1))
    return report, results
