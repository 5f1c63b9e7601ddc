"""Figures of an lm-eval results file (the `results_<date>.json` `lm-eval run` writes).

The model below is written from lm-eval 0.4's own file: `lm_eval_version`, and
`results.<task>` holding the task's (or group's) scores under keys `"<metric>,<filter>"`
(`"acc,none"`, `"acc_stderr,none"`, `"exact_match,strict-match"`) beside keys without a
comma that describe the task (`name`, `alias`, `sample_len`). Only these fields are read;
another release line is refused.

Each score is the figure `lm_eval.<task>.<metric>`, its filter mapped so:

- the filter `none` (lm-eval's name for "no filter", by far the most common) is dropped:
  `"acc,none"` is `lm_eval.<task>.acc`;
- any other filter is kept after a dot: `"exact_match,strict-match"` is
  `lm_eval.<task>.exact_match.strict-match`, so two filters of one metric stay apart.

Standard errors (`"acc_stderr,none"`) are figures of their own, named the same way
(`lm_eval.<task>.acc_stderr`): a score without its error bar overstates what a small
sample shows, and the name says which is which. lm-eval writes `"N/A"` where it has no
value (a group's standard error, `bootstrap_iters=0`): no figure for it. Any other value
that is not a number is refused, as are two keys that would give one name.

Only `RESULTS_MEMBERS` of the file's top level are read: a file's reader
(`pipeline_tasks.results_files`) need not decode the rest (the task configs, samples
logged inline).
"""

from __future__ import annotations

import math
import re
from typing import Final

from pydantic import Field, field_validator

from registry_sync.domain.escaping import is_unsafe_character
from registry_sync.domain.run_figures import (
    Figure,
    ResultsFormatError,
    StrictModel,
    validated,
)

TOOL: Final = "lm-eval"
# The lm-eval release line whose results format the model below is written from.
SUPPORTED_LM_EVAL_VERSION: Final = re.compile(r"0\.4\.\d+")
NAME_PREFIX: Final = "lm_eval"
# lm-eval's filter name for scores taken without a filter: dropped from figure names.
NO_FILTER: Final = "none"
# lm-eval's value for a score it could not compute.
NOT_AVAILABLE: Final = "N/A"
# A task, metric or filter name longer than this is not lm-eval's.
MAX_NAME_LENGTH: Final = 200


class EvaluationResults(StrictModel):
    lm_eval_version: str
    # task → key → value; the values are judged one by one in `results_figures`, so that
    # an error names the very key that is wrong.
    results: dict[str, dict[str, object]] = Field(min_length=1)

    @field_validator("lm_eval_version")
    @classmethod
    def _supported(cls, value: str) -> str:
        if SUPPORTED_LM_EVAL_VERSION.fullmatch(value) is None:
            raise ValueError(f"lm-eval {value} is not supported (reads lm-eval 0.4.x results)")
        return value


# The top-level members read; any other may be left out of the document given below.
RESULTS_MEMBERS: Final = frozenset(EvaluationResults.model_fields)


def evaluation_results_figures(document: object, path: str) -> tuple[Figure, ...]:
    """The figures of lm-eval results (see the module docstring), task by task and key by
    key in the file's order. `document` is the file's top level, decoded whole or with only
    its `RESULTS_MEMBERS` (a top level that is not an object: its `stand_in`).
    `ResultsFormatError` naming `path` and the field for anything that is not lm-eval 0.4
    results; never raises anything else."""
    return results_figures(validated(EvaluationResults, document, path), path)


def results_figures(results: EvaluationResults, path: str) -> tuple[Figure, ...]:
    """The figures of parsed lm-eval results; `path` names the file in errors."""
    figures: dict[str, Figure] = {}
    for task, scores in results.results.items():
        _check_name(task, path, f"results.{task}", "task")
        for key, value in scores.items():
            if "," not in key:
                continue  # `name`, `alias`, `sample_len`: about the task, not a score
            field = f"results.{task}.{key}"
            name = f"{NAME_PREFIX}.{task}.{figure_metric(key, path, field)}"
            if value == NOT_AVAILABLE:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ResultsFormatError(path, field, 'a score is a number or "N/A"')
            try:
                number = float(value)
            except OverflowError:  # an integer beyond any float
                number = math.inf
            if not math.isfinite(number):
                raise ResultsFormatError(path, field, "a score is a finite number")
            if name in figures:
                raise ResultsFormatError(path, field, f"another key already gives {name}")
            figures[name] = Figure(
                name=name,
                value=number,
                unit="",
                tool=TOOL,
                tool_version=results.lm_eval_version,
            )
    return tuple(figures.values())


def figure_metric(key: str, path: str, field: str) -> str:
    """The metric part of a figure name for an lm-eval score key `"<metric>,<filter>"`:
    `metric` for the filter `none`, `metric.filter` otherwise."""
    metric, _, filter_name = key.partition(",")
    _check_name(metric, path, field, "metric")
    _check_name(filter_name, path, field, "filter")
    return metric if filter_name == NO_FILTER else f"{metric}.{filter_name}"


def _check_name(name: str, path: str, field: str, what: str) -> None:
    # A name becomes part of a recorded metric's name: no spaces, no characters a reader
    # of the registry could be fooled by, nothing empty or endless.
    if not name:
        raise ResultsFormatError(path, field, f"the {what} name is empty")
    if len(name) > MAX_NAME_LENGTH:
        raise ResultsFormatError(path, field, f"the {what} name is over {MAX_NAME_LENGTH} long")
    if any(character.isspace() or is_unsafe_character(character) for character in name):
        raise ResultsFormatError(path, field, f"the {what} name has spaces or control characters")
