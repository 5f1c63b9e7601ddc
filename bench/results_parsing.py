"""Result parsing: the time and memory of reading a large guidellm report for `publish`.

A synthetic report is written to a temporary folder: the real sample's metadata and config
(third-party `samples/guidellm/concurrent_1_4.json`, guidellm 0.8.1) and its larger
benchmark entry (about 0.7 MB, most of it request samples) repeated until the file reaches
each size, each copy a profile of its own (`concurrent`, 1, 2, 3... streams). Each size is
read by `pipeline_tasks.results_files.read_guidellm_figures` (streamed) and, up to
`--whole-up-to-mb`, the way it was read before (the file read whole, `json.loads`, then the
domain's figures), for comparison. Each reading is done twice: once timed (wall and CPU),
once under tracemalloc for its peak of Python allocations (ijson's C parser allocates a
64 KiB buffer and yajl's state outside it). Both readings must give the same figures.

Run from the repository root:

    .venv/bin/python bench/results_parsing.py [--sizes-mb 50,500] [--whole-up-to-mb 50]

It writes bench/results/results-parsing.md and .json.
"""

from __future__ import annotations

import gc
import json
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import click
from common import RESULTS, command_line, load_average, load_line, machine_facts, utc_now

from registry_sync.domain.benchmark_report import benchmark_report_figures
from registry_sync.domain.run_figures import Figure
from registry_sync.pipeline_tasks.results_files import read_guidellm_figures
from support.third_party import third_party_dir

SAMPLE = "samples/guidellm/concurrent_1_4.json"
MB = 1000 * 1000
MIB = 1024 * 1024
LIMIT_MIB = 2048  # above every size measured: the limit is not what is measured here


@dataclass(frozen=True)
class Reading:
    how: str
    file_mb: float
    benchmarks: int
    figures: int
    wall_s: float
    cpu_s: float
    peak_mib: float


def write_report(path: Path, size_mb: int) -> int:
    """A guidellm report of about `size_mb` MB at `path`; the number of benchmarks."""
    sample = json.loads((third_party_dir() / SAMPLE).read_bytes())
    entry = max(sample["benchmarks"], key=lambda benchmark: len(json.dumps(benchmark)))
    entry["config"]["strategy"] = {"type_": "concurrent", "streams": "<streams>"}
    # One serialisation, its streams count replaced per copy: fast at hundreds of copies.
    before, after = json.dumps(entry).split('"<streams>"')
    head = json.dumps({"metadata": sample["metadata"], "config": sample["config"]})[:-1]
    count = 0
    with path.open("w") as out:
        out.write(head + ', "benchmarks": [')
        while out.tell() < size_mb * MB:
            out.write((", " if count else "") + before + str(count + 1) + after)
            count += 1
        out.write('], "conclusions": []}')
    return count


def whole_file(path: Path) -> tuple[Figure, ...]:
    """The report read as before: the file whole, decoded whole, then the figures."""
    return benchmark_report_figures(json.loads(path.read_bytes()), str(path))


def streamed(path: Path) -> tuple[Figure, ...]:
    return read_guidellm_figures(path, LIMIT_MIB)


def measure(
    how: str, read: Callable[[Path], tuple[Figure, ...]], path: Path, benchmarks: int
) -> tuple[Reading, tuple[Figure, ...]]:
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    figures = read(path)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    del figures
    gc.collect()
    tracemalloc.start()
    figures = read(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    reading = Reading(
        how=how,
        file_mb=round(path.stat().st_size / MB, 1),
        benchmarks=benchmarks,
        figures=len(figures),
        wall_s=round(wall, 2),
        cpu_s=round(cpu, 2),
        peak_mib=round(peak / MIB, 1),
    )
    print(reading, flush=True)
    return reading, figures


@click.command()
@click.option("--sizes-mb", default="50,500", show_default=True)
@click.option("--whole-up-to-mb", default=50, show_default=True)
def main(sizes_mb: str, whole_up_to_mb: int) -> None:
    load_before = load_average()
    readings: list[Reading] = []
    with tempfile.TemporaryDirectory(prefix="bench-results-") as folder:
        for size in (int(text) for text in sizes_mb.split(",")):
            path = Path(folder) / f"report-{size}mb.json"
            started = time.perf_counter()
            benchmarks = write_report(path, size)
            print(f"wrote {path} in {time.perf_counter() - started:.1f} s", flush=True)
            reading, figures = measure("streamed", streamed, path, benchmarks)
            readings.append(reading)
            if size <= whole_up_to_mb:
                whole, whole_figures = measure("whole file", whole_file, path, benchmarks)
                readings.append(whole)
                if whole_figures != figures:
                    raise click.ClickException(f"{path}: the two readings' figures differ")
            path.unlink()
    facts = machine_facts()
    entry_mb = readings[0].file_mb / readings[0].benchmarks
    lines = [
        "# Result parsing: a large guidellm report read for `publish`",
        "",
        f"Command: `{command_line('results_parsing.py')}` (defaults: --sizes-mb 50,500 "
        "--whole-up-to-mb 50)",
        f"Date: {utc_now()}. Machine: {facts['cpu']}, {facts['cores']} cores, "
        f"{facts['memory_gib']} GiB, Python {facts['python']}. Load average (1 / 5 / 15 min) "
        f"at start: {load_line(load_before)}.",
        "",
        f"A synthetic report: `{SAMPLE}`'s larger benchmark entry ({entry_mb:.2f} MB, mostly "
        "request samples) repeated, each copy its own profile. *streamed*: "
        "`read_guidellm_figures` (ijson events; a benchmark's config and metrics decoded, "
        "one benchmark at a time). *whole file*: the file read, `json.loads`, the figures "
        "(the reading before). Peak: Python allocations under tracemalloc (a second run); "
        "times from the first, untraced run.",
        "",
        "| reading | file (MB) | benchmarks | figures | wall (s) | CPU (s) | peak (MiB) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.how} | {r.file_mb} | {r.benchmarks} | {r.figures} | {r.wall_s} | {r.cpu_s} | "
        f"{r.peak_mib} |"
        for r in readings
    ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "results-parsing.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "results-parsing.json").write_text(
        json.dumps(
            {
                "command": command_line("results_parsing.py"),
                "date": utc_now(),
                "machine": facts,
                "load_before": load_before,
                "readings": [asdict(reading) for reading in readings],
            },
            indent=2,
        )
        + "\n"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
