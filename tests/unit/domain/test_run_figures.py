"""What the result readers share: the one error and how it names a field, and the stand-in
of a value that is not decoded. (The files are read by pipeline_tasks.results_files.)"""

from __future__ import annotations

import pytest

from registry_sync.domain.run_figures import (
    ResultsFormatError,
    StrictModel,
    field_path,
    stand_in,
    validated,
)


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


class _Point(StrictModel):
    x: float


def test_a_validation_error_names_the_field_from_the_top_of_the_file() -> None:
    with pytest.raises(ResultsFormatError) as caught:
        validated(_Point, {"x": "1"}, "report.json", ("benchmarks", 3, "at"))

    assert caught.value.field == "benchmarks[3].at.x"


@pytest.mark.parametrize(
    ("value", "expected"),
    [({"a": [1]}, {}), ([{"a": 1}], []), ("text", "text"), (2.5, 2.5), (None, None)],
)
def test_a_stand_in_keeps_the_kind_of_a_value_and_drops_its_content(
    value: object, expected: object
) -> None:
    assert stand_in(value) == expected
    assert type(stand_in(value)) is type(expected)
