"""What the operator process holds once started: RSS after start-up, this tree against another.

Starts a local control plane and the registry stand-in (empty: the figure is the process's
own weight, not its data; with `--versions N`, N registered versions, so that the
difference to an empty registry is what the registry's answers hold), then, for each
source tree and mode (`--webhook off`, and `url`, which also makes a serving certificate),
runs `registry-sync run` `--runs` times with that tree's `operator/` first on PYTHONPATH,
waits for start-up to finish plus `--settle` seconds, and reads VmRSS and VmHWM (peak) from
/proc. The median of the runs is reported. The same is done for each tree's bare baseline
operator (`bench/bare_operator.py`, an empty answer table): the benchmarks' ratios to the
bare operator depend on it staying bare.

Run from the repository root (about 2 minutes):

    .venv/bin/python bench/startup_memory.py --baseline-source DIR [--runs 5] [--versions N]

DIR is a checkout of an older commit (e.g. `git worktree add /tmp/before <commit>`). It
writes bench/results/startup-memory.md and the raw figures beside it (.json).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from common import (  # noqa: E402
    REPOSITORY,
    BareProcess,
    BenchError,
    bench_uri,
    command_line,
    load_average,
    load_line,
    local_cluster,
    log_tail,
    machine_facts,
    machine_line,
    read_memory,
    seed_registry_file,
    utc_now,
)

from support.cluster import Cluster  # noqa: E402
from support.devregistry import start_dev_registry  # noqa: E402
from support.operator import RunningOperator  # noqa: E402

MODES = {"no webhook": ["--webhook", "off"], "webhook (url)": []}
BARE = "bare baseline operator"


def measure_bare(cluster: Cluster, source: Path, settle_s: float, run: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MiB of `source`'s bare operator, once started and settled."""
    namespace = cluster.create_namespace(f"startup-memory-bare-{run}")
    with tempfile.TemporaryDirectory() as folder:
        table, log_path = Path(folder) / "table.json", Path(folder) / "bare.log"
        table.write_text("{}")
        bare = BareProcess(cluster, namespace, table, log_path, source=source)
        pid = bare.start()
        try:
            deadline = time.monotonic() + 120
            while bare.ready_line not in log_path.read_text(errors="replace"):
                if bare.returncode is not None or time.monotonic() > deadline:
                    raise BenchError(
                        f"the bare operator of {source} did not start:\n" + log_tail(log_path)
                    )
                time.sleep(0.1)
            time.sleep(settle_s)
            found = read_memory(pid)
            if found is None:
                raise BenchError(f"the bare operator of {source} exited:\n" + log_tail(log_path))
            return found
        finally:
            bare.stop()


def measure(
    cluster: Cluster, registry_url: str, source: Path, mode: list[str], settle_s: float, run: int
) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MiB of one operator from `source`, once started and settled."""
    namespace = cluster.create_namespace(f"startup-memory-{run}")
    with tempfile.TemporaryDirectory() as folder:
        operator = RunningOperator(
            cluster,
            namespace,
            registry_url,
            Path(folder) / "operator.log",
            mode,
            {"PYTHONPATH": str(source / "operator")},
            verbose=False,
        )
        operator.start(timeout=120)
        try:
            time.sleep(settle_s)
            assert operator.process is not None
            found = read_memory(operator.process.pid)
            if found is None:
                raise BenchError(f"the operator from {source} exited:\n{operator.log()[-2000:]}")
            return found
        finally:
            operator.stop()
            if not mode:  # url mode registered its webhook configuration
                cluster.admission.delete_mutating_webhook_configuration(
                    f"registry-sync-{namespace}"
                )


def summary(source: Path, samples: list[tuple[float, float]]) -> dict[str, Any]:
    return {
        "source": str(source),
        "rss_mib": [round(rss, 1) for rss, _ in samples],
        "peak_mib": [round(peak, 1) for _, peak in samples],
        "rss_median_mib": round(statistics.median(r for r, _ in samples), 1),
        "peak_median_mib": round(statistics.median(p for _, p in samples), 1),
    }


@click.command()
@click.option("--baseline-source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--runs", default=5, show_default=True)
@click.option("--settle", "settle_s", default=3.0, show_default=True, help="Seconds after start.")
@click.option(
    "--versions",
    default=0,
    show_default=True,
    help="Versions registered in the stand-in (one OCI artifact each), as the scale benchmark's.",
)
@click.option(
    "--output", type=click.Path(path_type=Path), default=BENCH / "results" / "startup-memory.md"
)
def main(
    baseline_source: Path | None, runs: int, settle_s: float, versions: int, output: Path
) -> None:
    sources = {"this tree": REPOSITORY}
    if baseline_source is not None:
        sources = {"baseline": baseline_source.resolve(), **sources}
    load_at_start = load_average()
    figures: dict[str, dict[str, Any]] = {}
    workdir = Path(tempfile.mkdtemp(prefix="registry-sync-startup-memory-"))
    data_file = None
    if versions:
        data_file = workdir / "registry.json"
        seed_registry_file(data_file, [bench_uri(n) for n in range(versions)])
    with local_cluster() as cluster, start_dev_registry(data_file=data_file) as registry:
        for label, source in sources.items():
            for mode_name, mode in MODES.items():
                samples = [
                    measure(cluster, registry.url, source, mode, settle_s, run)
                    for run in range(runs)
                ]
                figures[f"{label} / {mode_name}"] = summary(source, samples)
            bare = [measure_bare(cluster, source, settle_s, run) for run in range(runs)]
            figures[f"{label} / {BARE}"] = summary(source, bare)
    facts = machine_facts()
    rows = "\n".join(
        f"| {name} | {f['rss_median_mib']} | {f['peak_median_mib']} | "
        f"{', '.join(map(str, f['rss_mib']))} |"
        for name, f in figures.items()
    )
    registry_line = (
        f"a registry stand-in holding {versions} versions (one OCI artifact each)"
        if versions
        else "an empty registry stand-in"
    )
    sources_line = "; ".join(f"{label}: `{path}`" for label, path in sources.items())
    output.write_text(
        f"""# Operator memory after start-up

Command (from the repository root): `{command_line("startup_memory.py")}`

Run: {utc_now()}. Machine: {machine_line(facts)}. Load average (1 / 5 / 15 min) at start:
{load_line(load_at_start)}.

Each operator: `registry-sync run` against {registry_line} and a namespace with
no objects, INFO logging, {settle_s:g} s after start-up finished; median of {runs} runs.
Sources: {sources_line}.

| source / mode | VmRSS (MiB) | VmHWM, peak (MiB) | VmRSS of each run |
|---|---:|---:|---|
{rows}
"""
    )
    output.with_suffix(".json").write_text(
        json.dumps(
            {
                "machine": facts,
                "load_at_start": load_at_start,
                "versions": versions,
                "figures": figures,
            },
            indent=2,
        )
        + "\n"
    )
    click.echo(output.read_text())


if __name__ == "__main__":
    main()
