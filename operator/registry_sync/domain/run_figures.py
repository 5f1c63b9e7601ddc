"""Figures of a finished model-testing run, and what the result parsers share.

A model-testing run leaves files written by its tools (a guidellm benchmark report, an
lm-eval results file). `benchmark_report` and `evaluation_results` turn them into
`Figure`s: a name, a value and the context a publisher needs to record where the value
came from. This module holds the `Figure`, the one error every parser raises on a file it
cannot read (`ResultsFormatError`), the reading of a file with its size bounded
(`read_results_file`, the only I/O of the result parsers) and the JSON decoding they share.

Every file read here was written by a tool run inside someone's pipeline: its text reaches
messages only escaped and cut short.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from registry_sync.domain.escaping import escaped

DEFAULT_MAX_INPUT_MIB: Final = 512
_MIB: Final = 1024 * 1024
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


def read_results_file(path: Path, max_input_mib: int = DEFAULT_MAX_INPUT_MIB) -> bytes:
    """The bytes of the file at `path`, refused with `ResultsFormatError` when it is larger
    than `max_input_mib` MiB (checked before reading, and again while reading, since the
    file may grow) or cannot be read. Never raises anything else."""
    limit = max_input_mib * _MIB
    too_large = f"the file is larger than the limit of {max_input_mib} MiB"
    try:
        if path.stat().st_size > limit:
            raise ResultsFormatError(str(path), None, too_large)
        with path.open("rb") as stream:
            data = stream.read(limit + 1)
    except OSError as error:
        raise ResultsFormatError(str(path), None, f"cannot be read ({error.strerror})") from None
    if len(data) > limit:
        raise ResultsFormatError(str(path), None, too_large)
    return data


def decode_json(data: bytes | str, path: str) -> object:
    """The JSON value in `data`, or `ResultsFormatError` saying why there is none."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise ResultsFormatError(path, None, "the file is not UTF-8 text") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise ResultsFormatError(path, None, "the JSON nests too deeply") from None
    except ValueError as error:
        # json.JSONDecodeError, and ValueError for an integer of too many digits.
        raise ResultsFormatError(path, None, f"the file is not JSON ({error})") from None


class StrictModel(BaseModel):
    """The base of the tools' file models: strict types (no `"1"` for `1`, no `true` for a
    number), unknown fields ignored (the tools add fields between releases), immutable."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


M = TypeVar("M", bound="StrictModel")


def validated(model: type[M], document: object, path: str) -> M:
    """`document` validated as `model`, or `ResultsFormatError` naming the first field that
    is wrong. Never raises anything else."""
    try:
        return model.model_validate(document)
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        raise ResultsFormatError(path, field_path(first["loc"]), first["msg"]) from None
    except RecursionError:
        raise ResultsFormatError(path, None, "the JSON nests too deeply") from None


def field_path(location: tuple[int | str, ...]) -> str:
    """A pydantic error location as a dotted path: `("benchmarks", 0, "config")` reads
    `benchmarks[0].config`; the document itself reads `(document)`."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(document)"


def _shown(text: str) -> str:
    cut = text if len(text) <= _SHOWN_LENGTH else text[:_SHOWN_LENGTH] + "…"
    return escaped(cut)
