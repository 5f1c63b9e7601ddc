"""Reading a run's result files for `publish`: streamed, bounded in size, and every fault of
the file (missing, too large, not JSON, cut short, another format or version) one
`ResultsFormatError` naming the file and, where a part is to blame, the field.

The real files are the third-party samples (guidellm 0.8.1, lm-eval 0.4.13); they are read
from there and changed only in memory, the changed copies written to tmp_path.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_sync.domain.benchmark_report import benchmark_report_figures
from registry_sync.domain.evaluation_results import evaluation_results_figures
from registry_sync.domain.run_figures import Figure, ResultsFormatError
from registry_sync.pipeline_tasks.results_files import (
    DEFAULT_MAX_INPUT_MIB,
    read_guidellm_figures,
    read_lm_eval_figures,
)
from support.third_party import require_upstream_file

MIB = 1024 * 1024
GUIDELLM_SAMPLES = ("constant_2_4.json", "concurrent_1_4.json")
LM_EVAL_SAMPLE = "samples/lm-eval/results-dummy.json"
Reader = Callable[[Path, int], tuple[Figure, ...]]
READERS = pytest.mark.parametrize(
    "read", [read_guidellm_figures, read_lm_eval_figures], ids=["guidellm", "lm-eval"]
)


def guidellm_sample(name: str = "concurrent_1_4.json") -> Path:
    return require_upstream_file(f"samples/guidellm/{name}")


def written(folder: Path, content: object, name: str = "results.json") -> Path:
    """A file of `content`: bytes as they are, anything else as its JSON."""
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    return path


def refusal(read: Reader, path: Path, max_input_mib: int = DEFAULT_MAX_INPUT_MIB) -> Any:
    with pytest.raises(ResultsFormatError) as caught:
        read(path, max_input_mib)
    assert caught.value.path == str(path)
    return caught.value


def small_report(**metadata: object) -> dict[str, Any]:
    """A guidellm report of one profile, in the shape guidellm 0.8 writes it."""
    statistics = {"mean": 1.0, "count": 3, "percentiles": {f"p{p}": 1.0 for p in (50, 90, 95, 99)}}
    by_status = {"successful": statistics, "errored": statistics}
    names = (
        "time_to_first_token_ms",
        "inter_token_latency_ms",
        "request_latency",
        "output_tokens_per_second",
        "requests_per_second",
    )
    report = {
        "metadata": {"version": 2, "guidellm_version": "0.8.1", **metadata},
        "config": {},
        "benchmarks": [
            {
                "config": {"strategy": {"type_": "concurrent", "streams": 2}},
                "metrics": dict.fromkeys(names, by_status),
                "requests": {"successful": [{"prompt": "hello"}]},
            }
        ],
    }
    return json.loads(json.dumps(report))  # every part its own, to be changed alone


def small_results(version: str = "0.4.13") -> dict[str, Any]:
    return {
        "results": {"piqa": {"alias": "piqa", "acc,none": 0.5, "acc_stderr,none": 0.1}},
        "samples": {"piqa": [{"doc": {"goal": "x"}}]},
        "lm_eval_version": version,
    }


# The same figures as the whole file gives --------------------------------------------------


@pytest.mark.upstream
@pytest.mark.parametrize("name", GUIDELLM_SAMPLES)
def test_a_real_guidellm_report_streamed_gives_the_figures_of_the_whole_document(
    name: str,
) -> None:
    path = guidellm_sample(name)
    whole = benchmark_report_figures(json.loads(path.read_bytes()), str(path))

    streamed = read_guidellm_figures(path, DEFAULT_MAX_INPUT_MIB)

    assert streamed == whole
    assert len(streamed) == 2 * 18  # two profiles, every figure of each


@pytest.mark.upstream
def test_the_real_lm_eval_results_streamed_give_the_figures_of_the_whole_document() -> None:
    path = require_upstream_file(LM_EVAL_SAMPLE)
    whole = evaluation_results_figures(json.loads(path.read_bytes()), str(path))

    streamed = read_lm_eval_figures(path, DEFAULT_MAX_INPUT_MIB)

    assert streamed == whole
    assert {figure.name for figure in streamed} >= {"lm_eval.toy_mc_local.acc"}


@pytest.mark.upstream
def test_a_report_with_its_metadata_last_gives_the_same_figures(tmp_path: Path) -> None:
    path = guidellm_sample()
    document = json.loads(path.read_bytes())
    assert next(iter(document)) == "metadata"  # where guidellm writes it
    metadata = document.pop("metadata")
    reordered = written(tmp_path, {**document, "metadata": metadata})

    assert read_guidellm_figures(reordered, 4) == read_guidellm_figures(path, 4)


@pytest.mark.upstream
def test_lm_eval_results_with_their_version_first_give_the_same_figures(tmp_path: Path) -> None:
    path = require_upstream_file(LM_EVAL_SAMPLE)
    document = json.loads(path.read_bytes())
    assert list(document).index("lm_eval_version") > list(document).index("results")
    reordered = written(tmp_path, {"lm_eval_version": document.pop("lm_eval_version"), **document})

    assert read_lm_eval_figures(reordered, 1) == read_lm_eval_figures(path, 1)


def test_what_is_not_read_may_be_anything_json(tmp_path: Path) -> None:
    report = small_report()
    report["benchmarks"][0]["requests"] = [[[{"deep": [None, True, -1.5e300, "é"]}]]] * 50
    report["conclusions"] = {"text": "\u2028" * 10}
    results = small_results()
    results["samples"] = {"piqa": [[[]]] * 50}

    assert len(read_guidellm_figures(written(tmp_path, report, "g.json"), 1)) == 18
    assert len(read_lm_eval_figures(written(tmp_path, results, "l.json"), 1)) == 2


# The size bound ------------------------------------------------------------------------------


@READERS
def test_a_file_within_the_limit_is_read(tmp_path: Path, read: Reader) -> None:
    document = small_report() if read is read_guidellm_figures else small_results()
    text = json.dumps(document)
    path = written(tmp_path, (text + " " * (MIB - len(text))).encode())  # exactly 1 MiB

    assert read(path, 1)
    assert DEFAULT_MAX_INPUT_MIB == 512


@READERS
def test_a_file_over_the_limit_is_refused_naming_it_and_the_limit(
    tmp_path: Path, read: Reader
) -> None:
    path = written(tmp_path, b" " * MIB + b"{}")

    error = refusal(read, path, max_input_mib=1)

    assert error.field is None
    assert error.problem == "the file is larger than the limit of 1 MiB"


def test_a_large_sparse_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as stream:
        stream.truncate((DEFAULT_MAX_INPUT_MIB + 1) * MIB)  # sparse: costs no disk

    error = refusal(read_guidellm_figures, path)

    assert "larger than the limit of 512 MiB" in error.problem


@contextlib.contextmanager
def pipe_fed(folder: Path, chunks: Iterator[bytes]) -> Iterator[Path]:
    """A named pipe a thread writes `chunks` to; what the reader leaves unread is dropped."""
    path = folder / "pipe.json"
    os.mkfifo(path)

    def feed() -> None:
        with contextlib.suppress(BrokenPipeError), path.open("wb") as stream:
            for chunk in chunks:
                stream.write(chunk)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        yield path
    finally:
        writer.join(timeout=10)


def test_a_pipe_is_counted_while_it_is_read_and_refused_past_the_limit(tmp_path: Path) -> None:
    # A pipe's size says nothing: only counting the bytes that come can stop it.
    endless = (b'{"config": [' if i == 0 else b"[1, 2, 3]," * 1000 for i in range(10**9))
    with pipe_fed(tmp_path, endless) as path:
        error = refusal(read_guidellm_figures, path, max_input_mib=1)

    assert error.problem == "the file is larger than the limit of 1 MiB"


def test_a_pipe_within_the_limit_is_read(tmp_path: Path) -> None:
    with pipe_fed(tmp_path, iter([json.dumps(small_report()).encode()])) as path:
        assert len(read_guidellm_figures(path, 1)) == 18


# A file that cannot be read -----------------------------------------------------------------


@READERS
@pytest.mark.parametrize(
    ("name", "problem"),
    [("missing.json", "No such file or directory"), (".", "Is a directory")],
)
def test_a_file_that_cannot_be_read_is_refused_naming_it(
    tmp_path: Path, read: Reader, name: str, problem: str
) -> None:
    error = refusal(read, tmp_path / name)

    assert error.field is None
    assert error.problem == f"cannot be read ({problem})"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file of mode 000")
def test_a_file_without_read_permission_is_refused_naming_it(tmp_path: Path) -> None:
    path = written(tmp_path, small_report())
    path.chmod(0)

    assert refusal(read_guidellm_figures, path).problem == "cannot be read (Permission denied)"


# Not JSON, cut short ------------------------------------------------------------------------


@READERS
@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"", None),
        (b"   ", None),
        (b"\xff\xfe{}", None),
        (b"\xef\xbb\xbf{}", None),  # a byte-order mark
        (b"NaN", None),
        (b"{} {}", None),
        (b"{}x", None),
        (b"{'a': 1}", None),
        (b'{"metadata": "\xff"}', "metadata"),
        (b'{"results": 1e999}', "results"),
        (b'{"a": 123456789012345678901234567890}', "a"),
        (b'{"a": "\x00"}', "a"),
        (b'{"a": [1 2]}', "a"),
        (b'{"config": ' + b"[" * 100_000, "config"),
    ],
)
def test_what_is_not_json_is_refused_naming_where_it_broke(
    tmp_path: Path, read: Reader, data: bytes, field: str | None
) -> None:
    error = refusal(read, written(tmp_path, data))

    assert error.field == field
    assert error.problem.startswith(("the file is not JSON (", "the file ends inside its JSON"))


def test_what_is_not_json_in_a_benchmark_is_refused_naming_the_benchmark(tmp_path: Path) -> None:
    data = b'{"benchmarks": [{}, {"requests": [1], "metrics": {"x": tru}}]}'

    assert refusal(read_guidellm_figures, written(tmp_path, data)).field == "benchmarks[1]"


@pytest.mark.upstream
@pytest.mark.parametrize("fraction", [0.0001, 0.1, 0.3, 0.5, 0.9, 0.99999])
def test_a_real_report_cut_short_is_refused_naming_where_it_broke_off(
    tmp_path: Path, fraction: float
) -> None:
    data = guidellm_sample().read_bytes()
    cut = written(tmp_path, data[: int(len(data) * fraction)])

    error = refusal(read_guidellm_figures, cut)

    assert error.problem == "the file ends inside its JSON (cut short?)"
    # Where in the file: the member or benchmark being read when it broke off (None:
    # between two members).
    assert error.field in {"metadata", "benchmarks[0]", "benchmarks[1]", "conclusions", None}


@pytest.mark.upstream
def test_a_real_report_cut_in_its_second_benchmark_names_it(tmp_path: Path) -> None:
    data = guidellm_sample().read_bytes()
    second = data.index(b'"type_": "generative_benchmark"', data.index(b'"benchmarks"') + 100)

    error = refusal(read_guidellm_figures, written(tmp_path, data[: second + 1000]))

    assert error.field == "benchmarks[1]"


@pytest.mark.upstream
def test_real_lm_eval_results_cut_short_are_refused(tmp_path: Path) -> None:
    data = require_upstream_file(LM_EVAL_SAMPLE).read_bytes()

    for end in range(0, len(data) - 1, 97):
        error = refusal(read_lm_eval_figures, written(tmp_path, data[:end]))
        # yajl calls a few cuts (after a backslash) a lexical error rather than an early end
        assert error.problem.startswith(("the file ends inside", "the file is not JSON ("))


# Another format or version ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (small_report(version=1), "metadata.version"),
        (small_report(version="2"), "metadata.version"),
        (small_report(guidellm_version="0.9.0"), "metadata.guidellm_version"),
        (small_report(guidellm_version=8), "metadata.guidellm_version"),
        ({**small_report(), "metadata": [2]}, "metadata"),
        ({**small_report(), "benchmarks": []}, "benchmarks"),
        ({**small_report(), "benchmarks": {"0": {}}}, "benchmarks"),
        ({"config": {}}, "metadata"),
        ({"metadata": small_report()["metadata"]}, "benchmarks"),
        (small_results(), "metadata"),  # lm-eval results are not a report
        ([small_report()], "(document)"),
        ("report", "(document)"),
        (None, "(document)"),
    ],
)
def test_a_file_that_is_not_a_guidellm_0_8_report_is_refused_naming_the_field(
    tmp_path: Path, document: object, field: str
) -> None:
    error = refusal(read_guidellm_figures, written(tmp_path, document))

    assert error.field == field
    assert str(error).startswith(f"{tmp_path / 'results.json'}: field {field}: ")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            lambda b: b["metrics"]["request_latency"]["successful"].update(mean="1"),
            "benchmarks[0].metrics.request_latency.successful.mean",
        ),
        (lambda b: b.pop("metrics"), "benchmarks[0].metrics"),
        (lambda b: b["config"].update(strategy=[]), "benchmarks[0].config.strategy"),
        (lambda b: b.clear(), "benchmarks[0].config"),
    ],
)
def test_a_benchmark_of_the_wrong_types_is_refused_naming_the_field(
    tmp_path: Path, change: Callable[[dict[str, Any]], object], field: str
) -> None:
    document = small_report()
    change(document["benchmarks"][0])

    assert refusal(read_guidellm_figures, written(tmp_path, document)).field == field


def test_an_entry_that_is_not_an_object_is_refused_naming_it(tmp_path: Path) -> None:
    document = small_report()
    document["benchmarks"].append([1, 2])

    assert refusal(read_guidellm_figures, written(tmp_path, document)).field == "benchmarks[1]"


def test_a_report_giving_a_top_level_member_twice_is_refused(tmp_path: Path) -> None:
    # json.loads would keep the second: which one counts is not for a reader to guess.
    text = json.dumps(small_report())
    twice = text[:-1] + ', "benchmarks": []}'

    error = refusal(read_guidellm_figures, written(tmp_path, twice.encode()))

    assert (error.field, error.problem) == ("benchmarks", "appears twice at the top level")


@pytest.mark.upstream
def test_a_real_report_of_a_newer_release_written_after_its_benchmarks_is_refused_as_such(
    tmp_path: Path,
) -> None:
    document = json.loads(guidellm_sample().read_bytes())
    metadata = document.pop("metadata")
    metadata["version"] = 3
    path = written(tmp_path, {**document, "metadata": metadata})

    assert refusal(read_guidellm_figures, path).field == "metadata.version"


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (small_results(version="0.3.0"), "lm_eval_version"),
        (small_results(version="1.0.0"), "lm_eval_version"),
        ({**small_results(), "lm_eval_version": 0.4}, "lm_eval_version"),
        ({"results": small_results()["results"]}, "lm_eval_version"),
        ({**small_results(), "results": {}}, "results"),
        ({**small_results(), "results": [1]}, "results"),
        ({**small_results(), "results": {"piqa": {"acc,none": "high"}}}, "results.piqa.acc,none"),
        (small_report(), "lm_eval_version"),  # a guidellm report is not lm-eval results
        ([small_results()], "(document)"),
        (0.5, "(document)"),
    ],
)
def test_a_file_that_is_not_lm_eval_0_4_results_is_refused_naming_the_field(
    tmp_path: Path, document: object, field: str
) -> None:
    error = refusal(read_lm_eval_figures, written(tmp_path, document))

    assert error.field == field


@pytest.mark.upstream
def test_the_real_guidellm_report_is_not_read_as_lm_eval_results_and_back() -> None:
    report = guidellm_sample()
    results = require_upstream_file(LM_EVAL_SAMPLE)

    assert refusal(read_lm_eval_figures, report).field == "lm_eval_version"
    assert refusal(read_guidellm_figures, results).field == "metadata"


# Garbage ----------------------------------------------------------------------------------


@cache
def _valid_files() -> tuple[bytes, bytes]:
    return json.dumps(small_report()).encode(), json.dumps(small_results()).encode()


def _read_bytes(read: Reader, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "results.json"
        path.write_bytes(data)
        with contextlib.suppress(ResultsFormatError):
            read(path, 1)


@given(st.binary(max_size=300), st.booleans())
def test_any_bytes_are_read_or_refused_with_the_one_error(data: bytes, guidellm: bool) -> None:
    _read_bytes(read_guidellm_figures if guidellm else read_lm_eval_figures, data)


@given(st.data(), st.booleans())
def test_a_valid_file_with_bytes_changed_cut_or_added_is_read_or_refused_with_the_one_error(
    data: st.DataObject, guidellm: bool
) -> None:
    original = bytearray(_valid_files()[0 if guidellm else 1])
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(original)))
        match data.draw(st.sampled_from(["replace", "cut", "insert"])):
            case "replace" if at < len(original):
                original[at] = data.draw(st.integers(0, 255))
            case "cut":
                del original[at : at + data.draw(st.integers(1, 40))]
            case _:
                original[at:at] = data.draw(st.binary(min_size=1, max_size=8))
    _read_bytes(read_guidellm_figures if guidellm else read_lm_eval_figures, bytes(original))
