"""Figures of a finished model-testing run, and what the result parsers share.

A model-testing run leaves files written by its tools (a guidellm benchmark report, an
lm-eval results file). `benchmark_report` and `evaluation_results` turn their decoded
contents into `Figure`s: a name, a value and the context a publisher needs to record where
the value came from. This module holds the `Figure`, the one error every reader raises on a
file it cannot read (`ResultsFormatError`), the validation they share, and the stand-in
that takes the place of a JSON value nobody needs decoded. The files themselves are read
(streamed, their size bounded) by `pipeline_tasks.results_files`.

Every file read here was written by a tool run inside someone's pipeline: its text reaches
messages only escaped and cut short.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from registry_sync.domain.escaping import escaped

# A field path or a problem longer than this is shown cut: it came from the file.
_SHOWN_LENGTH: Final = 200


@dataclass(frozen=True, slots=True)
class Figure:
    """One named value of a run.

    `name` is what a publisher records (e.g. `ttft_p90@rate=2`, `lm_eval.arc_easy.acc`);
    `unit` says what `value` counts (`ms`, `tokens/s`, `requests/s`, or `""` for a score);
    `tool` and `tool_version` say which tool wrote the file; `profile` is the load profile a
    benchmark figure was measured under (`rate=2`, `concurrency=4`), `None` for accuracy.
    """

    name: str
    value: float
    unit: str
    tool: str
    tool_version: str
    profile: str | None = None


class ResultsFormatError(Exception):
    """A results file that is not what the parser reads: another format or version, a
    missing or mistyped field, or a file too large or unreadable.

    `path` names the file (as the caller gave it), `field` the offending field as a dotted
    path (`benchmarks[0].metrics.request_latency`), or `None` when the file as a whole is the
    problem; `problem` says what is wrong. All three are already escaped and cut short.
    """

    def __init__(self, path: str, field: str | None, problem: str) -> None:
        self.path = _shown(path)
        self.field = None if field is None else _shown(field)
        self.problem = _shown(problem)
        where = self.path if self.field is None else f"{self.path}: field {self.field}"
        super().__init__(f"{where}: {self.problem}")


class StrictModel(BaseModel):
    """The base of the tools' file models: strict types (no `"1"` for `1`, no `true` for a
    number), unknown fields ignored (the tools add fields between releases), immutable."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


M = TypeVar("M", bound="StrictModel")


def validated(model: type[M], document: object, path: str, at: tuple[int | str, ...] = ()) -> M:
    """`document` validated as `model`, or `ResultsFormatError` naming the first field that
    is wrong; `at` is where `document` sits in the file (`("benchmarks", 3)`), so that the
    field is named from the file's top. Never raises anything else."""
    try:
        return model.model_validate(document)
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        location = (*at, *first["loc"])
        raise ResultsFormatError(path, field_path(location), first["msg"]) from None
    except RecursionError:
        raise ResultsFormatError(path, None, "the JSON nests too deeply") from None


def field_path(location: tuple[int | str, ...]) -> str:
    """A pydantic error location as a dotted path: `("benchmarks", 0, "config")` reads
    `benchmarks[0].config`; the document itself reads `(document)`."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(document)"


def stand_in(value: object) -> object:
    """What takes the place of a JSON value whose content is not read: an empty object or
    array of the same kind (a reader that checks only its kind sees what it would have
    seen), a scalar as it is."""
    if isinstance(value, dict):
        return {}
    if isinstance(value, list):
        return []
    return value


def _shown(text: str) -> str:
    cut = text if len(text) <= _SHOWN_LENGTH else text[:_SHOWN_LENGTH] + "…"
    return escaped(cut)
