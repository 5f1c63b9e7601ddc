"""How long a registry that stops answering takes to show on a binding, at default settings;
and the silences of a large registry read, which the stall bound must never cut.

Detection: a local control plane, the registry stand-in with the seed registered, the fault
proxy (`support.faultproxy`, in a thread of this process) in front of it, and
`registry-sync run` at its defaults (refresh every 30 s, stall bound 10 s, INFO logging)
reading through the proxy; the seed InferenceService's binding Ready (`Resolved`). Each
trial waits for a refresh to begin (its first request reaches the proxy), waits `phase`
seconds more, then makes the proxy accept every request and never answer (the stall), and
polls the binding every 50 ms until its Ready reason is `RegistryUnavailable` (reported).
Two times: from the stall to reported (what a person waits), and from the first request the
stalled registry left unanswered to reported (what the stall bound promises). Then the
proxy answers again and the binding is `Resolved` before the next trial.

Large registry: a stand-in holding `--versions` versions (one artifact each), one cold
refresh with the operator's defaults in this process: its wall time and the gaps between
the answers it received (the stall bound counts silence between answers).

Run from the repository root:

    .venv/bin/python bench/registry_stall.py

It writes bench/results/registry-stall.md (command, date, machine, load) and .json.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click
from common import (
    RESULTS,
    BenchError,
    RegistrySyncProcess,
    bench_uri,
    command_line,
    deploy_seed_inference_service,
    load_average,
    local_cluster,
    machine_facts,
    run_lines,
    seed_registry_file,
    utc_now,
)

from registry_sync.demo.seed import ISVC_NAME, SeedIds, register_seed
from registry_sync.registry.client import RegistryClient
from registry_sync.registry.snapshot_source import (
    DEFAULT_STALL_TIMEOUT_S,
    RegistrySnapshotSource,
)
from registry_sync.registry.transport import RequestEvent
from support.bindings import binding_or_none, condition
from support.cluster import Cluster
from support.devregistry import start_dev_registry
from support.faultproxy import FaultProxy, Hang, fault_proxy_in_thread

REFRESH_SECONDS = 30.0  # the operator's default; the operator is given no refresh setting
POLL_S = 0.05
FIRST_LISTING = "/model_versions"  # a refresh's first request


@dataclass(frozen=True)
class Trial:
    phase_s: float  # when the stall began, seconds after a refresh began
    from_stall_s: float
    from_first_unanswered_s: float
    message: str


@dataclass(frozen=True)
class LargeRead:
    versions: int
    requests: int
    wall_s: float
    longest_gap_s: float
    gap_p99_s: float


def _ready(cluster: Cluster, namespace: str) -> dict[str, Any] | None:
    return condition(binding_or_none(cluster.api_client, namespace, ISVC_NAME), "Ready")


def _wait_for_reason(cluster: Cluster, namespace: str, reason: str, timeout: float) -> float:
    """Poll the binding until its Ready reason is `reason`; the monotonic time it was seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = _ready(cluster, namespace)
        if ready is not None and ready["reason"] == reason:
            return time.monotonic()
        time.sleep(POLL_S)
    raise BenchError(f"binding {namespace}/{ISVC_NAME} not {reason} within {timeout:g} s")


def _next_refresh_start(proxy: FaultProxy, timeout: float) -> float:
    """The monotonic time the next refresh's first request reaches the proxy."""
    seen = len(proxy.seen)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for request in proxy.seen[seen:]:
            if request.path.endswith(FIRST_LISTING):
                return request.received_at
        time.sleep(0.01)
    raise BenchError(f"no registry refresh began within {timeout:g} s")


def _trial(cluster: Cluster, namespace: str, proxy: FaultProxy, phase_s: float) -> Trial:
    _wait_for_reason(cluster, namespace, "Resolved", 3 * REFRESH_SECONDS)
    began = _next_refresh_start(proxy, 3 * REFRESH_SECONDS)
    time.sleep(max(0.0, began + phase_s - time.monotonic()))
    seen = len(proxy.seen)
    proxy.start_outage(Hang(seconds=3600))
    stalled = time.monotonic()
    try:
        limit = REFRESH_SECONDS + DEFAULT_STALL_TIMEOUT_S + 60
        reported = _wait_for_reason(cluster, namespace, "RegistryUnavailable", limit)
    finally:
        proxy.end_outage()
    first_unanswered = next(r.received_at for r in proxy.seen[seen:] if r.fault is not None)
    ready = _ready(cluster, namespace) or {}
    return Trial(
        phase_s,
        round(reported - stalled, 2),
        round(reported - first_unanswered, 2),
        str(ready.get("message", "")),
    )


async def _register(registry_url: str) -> SeedIds:
    async with RegistryClient(registry_url) as client:
        return await register_seed(client)


def measure_detection(phases: Sequence[float], workdir: Path) -> list[Trial]:
    trials = []
    with (
        local_cluster() as cluster,
        start_dev_registry() as registry,
        fault_proxy_in_thread(registry.url) as proxy,
    ):
        ids = asyncio.run(_register(registry.url))
        namespace = cluster.create_namespace("registry-stall")
        operator = RegistrySyncProcess(
            cluster, namespace, proxy.url, workdir / "registry-sync.log", webhook=True
        )
        operator.start()
        try:
            deploy_seed_inference_service(cluster, namespace, ids)
            for phase in phases:
                trial = _trial(cluster, namespace, proxy, phase)
                click.echo(
                    f"stall {phase:g} s into a refresh: reported {trial.from_stall_s:.2f} s "
                    f"after the stall, {trial.from_first_unanswered_s:.2f} s after the first "
                    "unanswered request"
                )
                trials.append(trial)
        finally:
            operator.stop()
    return trials


async def _cold_read(url: str) -> tuple[int, float, list[float]]:
    answered: list[float] = []

    def note(event: RequestEvent) -> None:
        if event.status is not None:
            answered.append(time.monotonic())

    async with RegistryClient(url, observers=(note,)) as client:
        source = RegistrySnapshotSource(client)
        began = time.monotonic()
        await source.refresh()
        ended = time.monotonic()
        assert source.last_refresh is not None
        moments = [began, *answered, ended]
        gaps = [later - earlier for earlier, later in itertools.pairwise(moments)]
        return source.last_refresh.requests, ended - began, gaps


def measure_large_read(versions: int, workdir: Path) -> LargeRead:
    data_file = workdir / "large-registry.json"
    seed_registry_file(data_file, [bench_uri(n) for n in range(versions)])
    with start_dev_registry(data_file=data_file) as registry:
        requests, wall_s, gaps = asyncio.run(_cold_read(registry.url))
    ordered = sorted(gaps)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return LargeRead(versions, requests, round(wall_s, 2), round(max(gaps), 3), round(p99, 3))


def report(
    trials: Sequence[Trial], large: LargeRead | None, facts: dict[str, Any], meta: dict[str, Any]
) -> str:
    lines = [
        "# A registry that stops answering: time until the binding says so",
        "",
        *run_lines(meta, facts, "the times below include the machine's other work"),
        f"The operator at its defaults: refresh every {REFRESH_SECONDS:g} s, stall bound "
        f"{DEFAULT_STALL_TIMEOUT_S:g} s (`--registry-stall-seconds`), INFO logging; it reads "
        "the registry stand-in through the fault proxy. A stall begins *phase* seconds after "
        "a refresh began (its first request reached the proxy): from then on the proxy accepts "
        "every request and never answers. *Reported*: the binding's Ready reason is "
        f"`RegistryUnavailable` (polled every {POLL_S * 1000:g} ms).",
        "",
        "| phase (s) | stall → reported (s) | first unanswered request → reported (s) |",
        "|---:|---:|---:|",
    ]
    lines += [
        f"| {t.phase_s:g} | {t.from_stall_s:.2f} | {t.from_first_unanswered_s:.2f} |"
        for t in trials
    ]
    if trials:
        worst = max(trials, key=lambda t: t.from_stall_s)
        lines += [
            "",
            f"Worst from the stall: {worst.from_stall_s:.2f} s; from the first unanswered "
            f"request: {max(t.from_first_unanswered_s for t in trials):.2f} s at most, "
            f"{min(t.from_first_unanswered_s for t in trials):.2f} s at least. "
            f"The binding's message (last trial): {trials[-1].message}",
        ]
    if large is not None:
        lines += [
            "",
            f"## A large registry: {large.versions:,} versions, one cold refresh",
            "",
            "The refresh at the operator's defaults in the benchmark's process, against a "
            f"stand-in holding {large.versions:,} versions (one model artifact each): "
            f"{large.requests:,} requests in {large.wall_s:.2f} s. The longest silence between "
            f"two answers (or before the first): {large.longest_gap_s:.3f} s; 99% of them "
            f"under {large.gap_p99_s:.3f} s; the stall bound is {DEFAULT_STALL_TIMEOUT_S:g} s.",
        ]
    lines.append("")
    return "\n".join(lines)


@click.command()
@click.option(
    "--phases",
    default="1,8,15,22,29",
    show_default=True,
    help="Seconds after a refresh began at which the stalls begin, one trial each.",
)
@click.option(
    "--versions",
    default=2000,
    show_default=True,
    type=int,
    help="Versions of the large registry read once (0: skip).",
)
@click.option(
    "--output-dir",
    default=str(RESULTS),
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
)
def main(phases: str, versions: int, output_dir: Path) -> None:
    """Measure how long a stalled registry takes to show on a binding."""
    meta: dict[str, Any] = {
        "command": command_line("registry_stall.py"),
        "date": utc_now(),
        "load_start": load_average(),
    }
    facts = machine_facts()
    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="registry-sync-stall-"))
    phase_list = [float(value) for value in phases.split(",") if value.strip()]
    trials = measure_detection(phase_list, workdir) if phase_list else []
    large = measure_large_read(versions, workdir) if versions else None
    if large is not None:
        click.echo(
            f"{large.versions} versions: {large.requests} requests in {large.wall_s} s, "
            f"longest silence {large.longest_gap_s} s"
        )
    meta["wall_s"] = time.monotonic() - began
    meta["load_end"] = load_average()
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "registry-stall.json").write_text(
        json.dumps(
            {
                **meta,
                "machine": facts,
                "stall_bound_s": DEFAULT_STALL_TIMEOUT_S,
                "refresh_seconds": REFRESH_SECONDS,
                "trials": [asdict(t) for t in trials],
                "large_read": asdict(large) if large else None,
            },
            indent=1,
        )
    )
    (output_dir / "registry-stall.md").write_text(report(trials, large, facts, meta))
    written = output_dir / "registry-stall.md"
    click.echo(f"wrote {written} and registry-stall.json; logs in {workdir}")


if __name__ == "__main__":
    main()
