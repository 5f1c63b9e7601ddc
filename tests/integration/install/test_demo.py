"""`registry-sync demo` (what `make demo` runs): the incident shown corrected, nothing left
running afterwards."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from integration.install.installation import REPO_ROOT
from registry_sync.demo.seed import MISTRAL_MODEL, ONE_GPU_VERSION, SMALL_MODEL, SMALL_VERSION
from support.cluster import REQUIRE_CLUSTER_VARIABLE
from support.cluster_local import CONTROL_PLANE_DIR_VARIABLE, control_plane_binaries

pytestmark = pytest.mark.cluster


def processes_mentioning(text: str) -> list[int]:
    """Pids of running processes whose command line contains `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command_line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in command_line:
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def demo_output() -> Iterator[str]:
    binaries = control_plane_binaries()
    problem = binaries.problem()
    if problem is not None:
        if os.environ.get(REQUIRE_CLUSTER_VARIABLE) == "1":
            pytest.fail(f"{problem} ({REQUIRE_CLUSTER_VARIABLE}=1 forbids skipping)")
        pytest.skip(problem)
    environment = {**os.environ, CONTROL_PLANE_DIR_VARIABLE: str(binaries.folder)}
    finished = subprocess.run(
        [sys.executable, "-m", "registry_sync.cli", "demo", "--keep-files"],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = finished.stdout + finished.stderr
    kept = re.search(r"files kept in (\S+)", output)
    try:
        assert finished.returncode == 0, output
        assert kept is not None, output
        # Every child's command line names the demo's folder: none may outlive the demo.
        assert processes_mentioning(kept.group(1)) == []
        yield output
    finally:
        if kept is not None:
            shutil.rmtree(kept.group(1), ignore_errors=True)


def test_the_demo_shows_the_labels_corrected_and_the_binding_ready(demo_output: str) -> None:
    (binding_row,) = [
        line for line in demo_output.splitlines() if "Resolved" in line and "True" in line
    ]

    assert binding_row.split()[2:7] == [
        SMALL_MODEL, SMALL_VERSION, "mistral-24b-quantized", "True", "Resolved",
    ]  # fmt: skip


def test_the_demo_shows_the_run_stored_with_corrected_params(demo_output: str) -> None:
    assert f"model_name={SMALL_MODEL}\n" in demo_output
    assert f"version_name={SMALL_VERSION}\n" in demo_output
    assert f'{{"model_name": "{MISTRAL_MODEL}", "version_name": "{ONE_GPU_VERSION}"}}' in (
        demo_output
    )


def test_the_demo_stops_every_process_it_started(demo_output: str) -> None:
    assert "all 4 processes stopped" in demo_output


def test_the_demo_publishes_on_the_deployed_version_and_nothing_on_the_one_first_named(
    demo_output: str,
) -> None:
    counts = {
        (model, version): int(count)
        for model, version, count in re.findall(
            r"^\s+(\S+) / (\S+) \(version \d+\): (\d+) metrics$", demo_output, re.MULTILINE
        )
    }

    assert counts[(SMALL_MODEL, SMALL_VERSION)] > 0
    assert counts[(MISTRAL_MODEL, ONE_GPU_VERSION)] == 0
    assert "its run's record: pipelinerun:" in demo_output


def test_the_demo_audits_a_mismatch_before_and_none_after(demo_output: str) -> None:
    verdicts = re.findall(r"^\s+RESULT: (.*)$", demo_output, re.MULTILINE)

    assert len(verdicts) == 2
    assert verdicts[0].startswith("2 mismatches") and "wrong-labels" in verdicts[0]
    assert "registry records: 1 wrong-version" in verdicts[0]
    assert verdicts[1] == "no mismatches"


def test_the_demo_ends_with_the_registrys_record_on_the_deployed_version(
    demo_output: str,
) -> None:
    (found,) = re.findall(
        r"record of the deployment \(serving .*\): .* \((\S+)\)$", demo_output, re.M
    )
    (after,) = re.findall(
        r"the registry's record \S+: model \S+ version \S+ \((\S+)\)$", demo_output, re.M
    )

    assert (found, after) == (ONE_GPU_VERSION, SMALL_VERSION)
