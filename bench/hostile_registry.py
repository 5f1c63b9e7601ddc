"""One registry refresh against a hostile registry: peak memory, and how long a hang takes
to be noticed, at the operator's default settings.

The hostile registry is the test suite's fault proxy (`support.faultproxy`) in a child
process, answering every request with one fault:

- oversized: `Huge(mib)`, a well-formed page of `--answer-mib` MiB (chunked, no
  Content-Length), generated while it is sent;
- hang: `Hang`, a registry that accepts the connection and never answers.

This process only runs `RegistrySnapshotSource(RegistryClient(url)).refresh()` as the
operator builds them (defaults everywhere), and reports its peak RSS (`ru_maxrss`) before
and after the refresh, the refresh's outcome and its wall time.

Run from the repository root:

    .venv/bin/python bench/hostile_registry.py --answer-mib 400

It writes bench/results/hostile-registry.md (command, date, machine, load) and the
numbers beside it (.json).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY / "tests"))

from registry_sync.registry.client import RegistryClient  # noqa: E402
from registry_sync.registry.snapshot_source import RegistrySnapshotSource  # noqa: E402

# The proxy never forwards (every request gets the fault): nothing listens upstream.
_NOWHERE = "http://127.0.0.1:9"


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _one_refresh(url: str) -> dict[str, Any]:
    before = _peak_rss_mib()
    started = time.monotonic()
    async with RegistryClient(url) as client:
        source = RegistrySnapshotSource(client)
        try:
            await source.refresh()
            outcome = "succeeded"
        except Exception as error:  # the outcome is a figure of this benchmark
            outcome = f"{type(error).__name__}: {str(error)[:200]}"
    return {
        "seconds": round(time.monotonic() - started, 2),
        "peak_rss_before_mib": round(before, 1),
        "peak_rss_after_mib": round(_peak_rss_mib(), 1),
        "outcome": outcome,
    }


def _serve(fault: str, mib: int) -> None:
    """The child: a fault proxy answering every request with `fault`, until stdin closes."""
    from support.faultproxy import Hang, Huge, fault_proxy_in_thread

    standing = Huge(mib=mib) if fault == "oversized" else Hang(seconds=3600)
    with fault_proxy_in_thread(_NOWHERE) as proxy:
        proxy.start_outage(standing)
        print(proxy.url, flush=True)
        sys.stdin.read()


def _measure(fault: str, mib: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--serve", fault, "--answer-mib", str(mib)]
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None and child.stdin is not None
        url = child.stdout.readline().strip()
        try:
            return {"fault": fault, **asyncio.run(_one_refresh(url))}
        finally:
            child.stdin.close()
            child.wait(30)


def _machine() -> str:
    model = "unknown CPU"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} cores ({model}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def _report(results: list[dict[str, Any]], run: dict[str, Any]) -> str:
    rows = "\n".join(
        f"| {r['fault']} | {r['peak_rss_before_mib']} | {r['peak_rss_after_mib']} | "
        f"{r['seconds']} | {r['outcome'].replace('|', '/')} |"
        for r in results
    )
    return f"""# One registry refresh against a hostile registry

Command (from the repository root): `{run["command"]}`

Run: {run["date"]}. Machine: {run["machine"]}. Load average (1 / 5 / 15 min) at start:
{" / ".join(f"{v:.2f}" for v in run["load_start"])}.

The registry is the fault proxy in a child process; this process runs one
`RegistrySnapshotSource(RegistryClient(url)).refresh()` with the operator's defaults.
`oversized`: a well-formed page of {run["answer_mib"]} MiB (chunked). `hang`: the
connection is accepted and never answered. Peak RSS is `ru_maxrss` of this process.

| fault | peak RSS before (MiB) | peak RSS after (MiB) | refresh wall time (s) | outcome |
|---|---:|---:|---:|---|
{rows}
"""


@click.command()
@click.option("--answer-mib", default=400, show_default=True, help="Size of the oversized answer.")
@click.option("--faults", default="oversized,hang", show_default=True)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=REPOSITORY / "bench" / "results" / "hostile-registry.md",
    show_default=True,
)
@click.option("--serve", type=click.Choice(["oversized", "hang"]), hidden=True)
def main(answer_mib: int, faults: str, output: Path, serve: str | None) -> None:
    if serve is not None:
        _serve(serve, answer_mib)
        return
    run: dict[str, Any] = {
        "command": shlex.join([".venv/bin/python", "bench/hostile_registry.py", *sys.argv[1:]]),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": _machine(),
        "load_start": os.getloadavg(),
        "answer_mib": answer_mib,
    }
    # Each fault in its own process: ru_maxrss is a high-water mark.
    results = []
    for fault in faults.split(","):
        measured = subprocess.run(
            [sys.executable, "-c", _ONE, str(REPOSITORY / "bench"), fault, str(answer_mib)],
            check=True,
            capture_output=True,
            text=True,
        )
        results.append(json.loads(measured.stdout.strip().splitlines()[-1]))
        click.echo(json.dumps(results[-1]))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(_report(results, run))
    output.with_suffix(".json").write_text(json.dumps({"run": run, "results": results}, indent=2))
    click.echo(f"wrote {output}")


_ONE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import hostile_registry
print(json.dumps(hostile_registry._measure(sys.argv[2], int(sys.argv[3]))))
"""

if __name__ == "__main__":
    main()
