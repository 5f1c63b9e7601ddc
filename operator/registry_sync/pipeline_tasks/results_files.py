"""The result files of a model-testing run, read for `registry-sync publish`.

`read_guidellm_figures` and `read_lm_eval_figures` read a guidellm report or an lm-eval
results file as a stream of JSON events (ijson's C parser) and hand the domain's readers
(`domain.benchmark_report`, `domain.evaluation_results`) only the pieces they read, each
decoded on its own: a report's metadata, then one benchmark at a time and of it only what
is read (not its request samples); lm-eval's version and `results`. Everything else is
parsed but never decoded, so a report is held about one benchmark at a time however long
the sweep was.

A file larger than `max_input_mib` MiB is refused before it is parsed (its size) and while
it is read (the bytes that came so far, since a file may grow, or be a pipe).

Every failure is a `ResultsFormatError` naming the file (`path`) and, where a part of the
file is to blame, the field (`field`); nothing else is raised. The file itself: missing, a
directory or unreadable (field `None`, "cannot be read (…)"), or too large (field `None`).
Not JSON, or cut short: the field is the top-level member or benchmark being read when the
JSON broke off (`None` outside any). Not the format or version read: the field that says so
(`metadata.version`, `lm_eval_version`, `benchmarks[3].metrics.request_latency`). `publish`
reports any of them as a usage error (exit 2).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final

import ijson
from ijson.common import ObjectBuilder

from registry_sync.domain.benchmark_report import (
    BENCHMARK_FIELDS,
    BENCHMARKS,
    METADATA,
    ReportReading,
)
from registry_sync.domain.evaluation_results import RESULTS_MEMBERS, evaluation_results_figures
from registry_sync.domain.run_figures import Figure, ResultsFormatError

DEFAULT_MAX_INPUT_MIB: Final = 512
_MIB: Final = 1024 * 1024
_CHUNK_BYTES: Final = 64 * 1024
# ijson's C parser (yajl 2): the one whose refusals (numbers beyond 64 bits or a double,
# bytes that are not UTF-8, NaN) are described above; fails at import if it is missing.
_PARSER: Final[Any] = ijson.get_backend("yajl2_c")

_Event = tuple[str, Any]
_OPENS: Final = frozenset({"start_map", "start_array"})
_CLOSES: Final = frozenset({"end_map", "end_array"})


def read_guidellm_figures(path: Path, max_input_mib: int) -> tuple[Figure, ...]:
    """The figures of the guidellm 0.8 report at `path` (`domain.benchmark_report`),
    refused with `ResultsFormatError` as the module docstring says; nothing else raised."""
    reading = ReportReading(str(path))
    with _json_events(path, max_input_mib) as events:
        first = events.next()
        reading.document(_stand_in(first))
        if first[0] == "start_map":
            for key in _members(events):
                events.where = key
                start = events.next()
                reading.member(key, _stand_in(start))
                if key == METADATA:
                    reading.metadata(_decoded(events, start))
                elif key == BENCHMARKS and start[0] == "start_array":
                    for index, entry_start in enumerate(_entries(events)):
                        events.where = f"{BENCHMARKS}[{index}]"
                        reading.entry(_benchmark(events, entry_start))
                else:
                    _skipped(events, start)
                events.where = None
        events.end()
    return reading.figures()


def read_lm_eval_figures(path: Path, max_input_mib: int) -> tuple[Figure, ...]:
    """The figures of the lm-eval 0.4 results at `path` (`domain.evaluation_results`),
    refused with `ResultsFormatError` as the module docstring says; nothing else raised."""
    with _json_events(path, max_input_mib) as events:
        first = events.next()
        if first[0] != "start_map":  # refused as it is, without parsing the rest
            return evaluation_results_figures(_stand_in(first), str(path))
        document: dict[str, object] = {}
        for key in _members(events):
            events.where = key
            start = events.next()
            if key in RESULTS_MEMBERS:
                document[key] = _decoded(events, start)  # a key given twice: the last, as JSON
            else:
                _skipped(events, start)
            events.where = None
        events.end()
    return evaluation_results_figures(document, str(path))


class _BoundedReader:
    """A binary file read through a count: more than `limit` bytes is `ResultsFormatError`,
    and so is a failed read."""

    def __init__(self, stream: IO[bytes], limit: int, path: Path, max_input_mib: int) -> None:
        self._stream = stream
        self._limit = limit
        self._path = path
        self._max_input_mib = max_input_mib
        self._count = 0

    def read(self, size: int = -1) -> bytes:
        wanted = self._limit + 1 - self._count if size < 0 else size
        try:
            data = self._stream.read(wanted)
        except OSError as error:
            raise _unreadable(self._path, error) from None
        self._count += len(data)
        if self._count > self._limit:
            raise _too_large(self._path, self._max_input_mib)
        return data


class _Events:
    """The JSON events of one file, its parser's refusals raised as `ResultsFormatError`
    naming the file and `where`: the member or entry being read, set by the caller."""

    def __init__(self, reader: _BoundedReader, path: Path) -> None:
        self._events: Iterator[_Event] = _PARSER.basic_parse(
            reader, buf_size=_CHUNK_BYTES, use_float=True
        )
        self._path = path
        self.where: str | None = None

    def next(self) -> _Event:
        try:
            return next(self._events)
        except StopIteration:  # only after the top-level value, which callers do not pass
            raise self._refusal("the JSON ends early") from None
        except (ijson.JSONError, ValueError) as error:
            raise self._refusal(_parser_problem(error)) from None

    def end(self) -> None:
        """After the top-level value: nothing more may follow."""
        try:
            leftover = next(self._events, None)
        except (ijson.JSONError, ValueError) as error:
            raise self._refusal(_parser_problem(error)) from None
        if leftover is not None:  # the parser refuses a second value itself; kept for others
            raise self._refusal("more JSON follows the top-level value")

    def _refusal(self, problem: str) -> ResultsFormatError:
        return ResultsFormatError(str(self._path), self.where, problem)


@contextlib.contextmanager
def _json_events(path: Path, max_input_mib: int) -> Iterator[_Events]:
    """The JSON events of the file at `path`, read at most `max_input_mib` MiB."""
    limit = max_input_mib * _MIB
    try:
        stream = path.open("rb")
    except OSError as error:
        raise _unreadable(path, error) from None
    with stream:
        try:
            size = os.fstat(stream.fileno()).st_size
        except OSError as error:
            raise _unreadable(path, error) from None
        if size > limit:  # a regular file's size; a pipe's is counted while it is read
            raise _too_large(path, max_input_mib)
        yield _Events(_BoundedReader(stream, limit, path, max_input_mib), path)


def _members(events: _Events) -> Iterator[str]:
    """The keys of an object whose `start_map` was read; after each key the caller reads
    (or skips) its value before asking for the next."""
    while True:
        event, value = events.next()
        if event != "map_key":
            return  # end_map: the parser allows nothing else here
        yield value


def _entries(events: _Events) -> Iterator[_Event]:
    """The first event of each entry of an array whose `start_array` was read; the caller
    reads (or skips) the rest of each entry before asking for the next."""
    while (start := events.next())[0] != "end_array":
        yield start


def _decoded(events: _Events, start: _Event) -> object:
    """The value beginning with `start`, decoded whole."""
    builder = ObjectBuilder()
    depth = 0
    event, value = start
    while True:
        builder.event(event, value)
        depth += (event in _OPENS) - (event in _CLOSES)
        if depth == 0:
            return builder.value
        event, value = events.next()


def _skipped(events: _Events, start: _Event) -> None:
    """The value beginning with `start`, parsed to its end and not decoded."""
    depth = int(start[0] in _OPENS)
    while depth:
        event = events.next()[0]
        depth += (event in _OPENS) - (event in _CLOSES)


def _benchmark(events: _Events, start: _Event) -> object:
    """An entry of `benchmarks`: of an object, only `BENCHMARK_FIELDS`; else a stand-in."""
    if start[0] != "start_map":
        _skipped(events, start)
        return _stand_in(start)
    entry: dict[str, object] = {}
    for key in _members(events):
        value_start = events.next()
        if key in BENCHMARK_FIELDS:
            entry[key] = _decoded(events, value_start)
        else:
            _skipped(events, value_start)
    return entry


def _stand_in(start: _Event) -> object:
    """`domain.run_figures.stand_in` of the value beginning with `start`, from that event."""
    event, value = start
    if event == "start_map":
        return {}
    if event == "start_array":
        return []
    return value


def _parser_problem(error: Exception) -> str:
    # yajl's message is bytes or text, its first line the problem, the next ones an excerpt.
    message = error.args[0] if error.args else error
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    first_line = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    if "premature EOF" in first_line:
        return "the file ends inside its JSON (cut short?)"
    return f"the file is not JSON ({first_line})"


def _unreadable(path: Path, error: OSError) -> ResultsFormatError:
    return ResultsFormatError(str(path), None, f"cannot be read ({error.strerror or error})")


def _too_large(path: Path, max_input_mib: int) -> ResultsFormatError:
    problem = f"the file is larger than the limit of {max_input_mib} MiB"
    return ResultsFormatError(str(path), None, problem)
