"""What the result parsers share: the size-bounded file read, the one error and how it
names a field."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry_sync.domain.run_figures import (
    DEFAULT_MAX_INPUT_MIB,
    ResultsFormatError,
    field_path,
    read_results_file,
)

MIB = 1024 * 1024


def test_a_file_within_the_limit_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_bytes(b"x" * MIB)

    assert read_results_file(path, max_input_mib=1) == b"x" * MIB
    assert DEFAULT_MAX_INPUT_MIB == 512


def test_a_file_over_the_limit_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_bytes(b"x" * (MIB + 1))

    with pytest.raises(ResultsFormatError) as caught:
        read_results_file(path, max_input_mib=1)

    assert (caught.value.path, caught.value.field) == (str(path), None)
    assert "1 MiB" in caught.value.problem


def test_a_large_sparse_file_is_refused_without_being_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with path.open("wb") as stream:
        stream.truncate((DEFAULT_MAX_INPUT_MIB + 1) * MIB)  # sparse: costs no disk

    with pytest.raises(ResultsFormatError, match="larger than the limit of 512 MiB"):
        read_results_file(path)


@pytest.mark.parametrize("name", ["missing.json", "."])
def test_a_file_that_cannot_be_read_is_refused_with_the_one_error(
    tmp_path: Path, name: str
) -> None:
    with pytest.raises(ResultsFormatError) as caught:
        read_results_file(tmp_path / name)

    assert caught.value.field is None


def test_the_error_shows_the_file_and_field_escaped_and_cut_short() -> None:
    error = ResultsFormatError("run\n/report.json", "results.a\x1b]52;c;x\x07", "y" * 1000)

    assert "\n" not in str(error) and "\x1b" not in str(error)
    assert error.path == "run\\x0a/report.json"
    assert len(error.problem) < 300
    assert str(error).startswith("run\\x0a/report.json: field results.a\\x1b]52;c;x\\x07: ")


def test_a_field_path_reads_as_written_in_the_file() -> None:
    assert field_path(("benchmarks", 0, "config", "strategy")) == "benchmarks[0].config.strategy"
    assert field_path(()) == "(document)"
    assert field_path((3,)) == "[3]"
