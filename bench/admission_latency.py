"""Admission latency: what the PipelineRun webhook adds to a create, against a bare Kopf webhook.

One local control plane (etcd + kube-apiserver + kube-controller-manager, the project's test
CRDs), one namespace per configuration:

- `registry-sync`: the operator as a process (`registry-sync run`, default INFO logging), the
  seed registered in a Model Registry stand-in and the seed InferenceService's binding Ready;
  opted-in runs go through its webhook, which corrects their params.
- `bare`: `bench/bare_webhook_operator.py`, a Kopf webhook that sets the same params and
  annotations registry-sync set on a dry-run create of the same run (read before the
  phases) and does nothing else, with the same webhook configuration (selectors, timeout,
  failure policy): the baseline.
- `none`: runs without the opt-in label; no webhook is called.
- `kyverno` (unless `--no-kyverno`): Kyverno's admission controller with one mutate policy
  that reads the run's ModelBinding through an `apiCall` context and writes the three params
  (`bench/kyverno_webhook.py`): the generic tool beside the specific one.

At each rate (creates per second over all groups) it sends a short unrecorded warm-up,
then creates open-loop (scheduled by the clock, not by completions) for `--seconds`, round-robin
over the groups in a shuffled order per round, through aiohttp with the admin client
certificate. Per request it records the latency until the whole response is read, and checks
the stored run (corrected, written, untouched). Between phases every run is deleted.

The operator-side time is the operator's own `registry_sync_admission_duration_seconds`
histogram, scraped before and after each phase: percentiles are estimated from buckets (as
Prometheus' `histogram_quantile` does), the share at or under 5 ms is exact (a bucket bound).

Run from the repository root (about 3.5 minutes with the defaults):

    .venv/bin/python bench/admission_latency.py [--seconds 60] [--rates 25,50]

It writes bench/results/admission-latency.md and the raw samples beside it (.json).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import aiohttp
import click
from bare_webhook_operator import READY_LINE, configuration_name
from common import (
    BENCH,
    RESULTS,
    BenchError,
    command_line,
    cpu_seconds,
    deploy_seed_inference_service,
    load_line,
    local_cluster,
    log_tail,
    machine_facts,
    quantile,
    start_logged,
    stop_process_group,
    utc_now,
    wait_until_mutating,
)
from kubernetes.client.exceptions import ApiException
from kyverno_webhook import copy_binding, kyverno_webhook
from prometheus_client.parser import text_string_to_metric_families

from registry_sync.demo.seed import (
    ISVC_NAME,
    MISTRAL_MODEL,
    SMALL_MODEL,
    SeedIds,
    register_seed,
    seed_pipeline_run,
)
from registry_sync.domain.metadata import TARGET_LABEL, VERSION_ANNOTATION
from registry_sync.domain.params import ParamNames
from registry_sync.registry.client import RegistryClient
from support.cluster import Cluster
from support.cluster_objects import PIPELINE_RUNS
from support.devregistry import start_dev_registry
from support.operator import RunningOperator, free_port, start_operator

GROUP_LABEL: Final = "registry-sync-bench/group"
OPERATOR_HISTOGRAM: Final = "registry_sync_admission_duration_seconds"
TARGET_SECONDS: Final = 0.005
QUANTILES: Final = (0.50, 0.90, 0.99)
BOOTSTRAP_ROUNDS: Final = 1000
REQUEST_TIMEOUT_SECONDS: Final = 30.0
# The figures DESIGN.md measured for a bare Kopf webhook at 50 creates/s, for the verdict.
DESIGN_BARE_ADDED_MS: Final = {"p50": 3.0, "p99": 10.0}
CLIENT: Final = "bench client"
MACHINE_BUSY: Final = "machine busy"
MACHINE_TOTAL: Final = "machine total"


# -- the three configurations ------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    """One configuration: where its runs go and what the stored run must look like."""

    key: str
    namespace: str
    opted_in: bool
    check: Callable[[Mapping[str, Any]], str | None]

    def run_body(self) -> dict[str, Any]:
        """The seed run (right vLLM name, wrong registry target) with a generated name and a
        label naming the group; opted in (the target label) where the group is."""
        body = seed_pipeline_run(self.namespace)
        labels = {GROUP_LABEL: self.key}
        if self.opted_in:
            labels[TARGET_LABEL] = ISVC_NAME
        body["metadata"] = {
            "generateName": "bench-run-",
            "namespace": self.namespace,
            "labels": labels,
        }
        return body


def _params(stored: Mapping[str, Any]) -> dict[str, Any]:
    return {p.get("name"): p.get("value") for p in stored.get("spec", {}).get("params", [])}


def corrected_by_registry_sync(stored: Mapping[str, Any]) -> str | None:
    params = _params(stored)
    if params.get("model_name") != SMALL_MODEL:
        return f"model_name {params.get('model_name')!r}, expected {SMALL_MODEL!r}"
    if VERSION_ANNOTATION not in stored.get("metadata", {}).get("annotations", {}):
        return f"no {VERSION_ANNOTATION} annotation"
    return None


def registry_sync_writes(sent: Mapping[str, Any], stored: Mapping[str, Any]) -> dict[str, Any]:
    """What registry-sync's webhook set on `sent`: the params whose value it changed or
    added, and the annotations it added (the bare webhook's answer)."""
    before, after = _params(sent), _params(stored)
    sent_annotations = sent.get("metadata", {}).get("annotations", {})
    return {
        "params": {name: value for name, value in after.items() if before.get(name) != value},
        "annotations": {
            key: value
            for key, value in stored.get("metadata", {}).get("annotations", {}).items()
            if sent_annotations.get(key) != value
        },
    }


def written_by_bare_webhook(writes: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], str | None]:
    """The check of the bare group: the stored run carries `writes`."""

    def check(stored: Mapping[str, Any]) -> str | None:
        written = registry_sync_writes({}, stored)
        if any(written["params"].get(k) != v for k, v in writes["params"].items()) or any(
            written["annotations"].get(k) != v for k, v in writes["annotations"].items()
        ):
            return f"stored {written}, expected {dict(writes)} written"
        return None

    return check


def corrected_by_kyverno(stored: Mapping[str, Any]) -> str | None:
    params = _params(stored)
    if params.get("model_name") != SMALL_MODEL:
        return f"model_name {params.get('model_name')!r}, expected {SMALL_MODEL!r}"
    return None


def left_alone(stored: Mapping[str, Any]) -> str | None:
    params = _params(stored)
    if params.get("model_name") != MISTRAL_MODEL:
        return f"params {params} were changed, but no webhook should have been called"
    return None


# -- the cluster and the processes under test ---------------------------------------------


@contextlib.contextmanager
def registry_sync_operator(
    cluster: Cluster, namespace: str, registry_url: str, log_path: Path
) -> Iterator[RunningOperator]:
    """The operator for `namespace`, its webhook answering; stopped and unregistered on exit.

    At INFO level, as deployed: the test helper's default `--verbose` (debug logging on every
    admission request) would charge the operator for log lines production does not write."""
    with start_operator(
        cluster,
        namespace,
        registry_url,
        log_path,
        extra_args=["--registry-name", "demo-registry"],
        verbose=False,
    ) as operator:
        yield operator


@contextlib.contextmanager
def bare_webhook_operator(
    cluster: Cluster, group: Group, writes: Path, log_path: Path, timeout: float = 60.0
) -> Iterator[subprocess.Popen[bytes]]:
    """The bare webhook operator for the group's namespace, writing what the `writes` file
    names, answering; stopped on exit."""
    command = [
        sys.executable,
        str(BENCH / "bare_webhook_operator.py"),
        "--namespace",
        group.namespace,
        "--port",
        str(free_port()),
        "--writes",
        str(writes),
    ]
    process = start_logged(command, cluster.env(), log_path)
    try:
        wait_until_mutating(
            cluster,
            group.namespace,
            group.run_body,
            group.check,
            process,
            log_path,
            who="the bare webhook operator",
            timeout=timeout,
            started=lambda: READY_LINE in log_tail(log_path, 100_000),
        )
        yield process
    finally:
        stop_process_group(process)
        with contextlib.suppress(ApiException):
            cluster.admission.delete_mutating_webhook_configuration(
                configuration_name(group.namespace)
            )


# -- load ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One create: its group, when it was due (s from phase start), how late it was sent and
    how long the apiserver took to answer (ms), the HTTP status and what was wrong, if any."""

    group: str
    due_s: float
    lag_ms: float
    latency_ms: float
    status: int
    problem: str | None


def round_robin(groups: Sequence[Group], count: int, rng: random.Random) -> list[Group]:
    """`count` groups, every group once per round, in a shuffled order in each round (so no
    group always follows the same other one)."""
    order: list[Group] = []
    while len(order) < count:
        round_ = list(groups)
        rng.shuffle(round_)
        order.extend(round_)
    return order[:count]


async def create_run(
    session: aiohttp.ClientSession, server: str, group: Group, due_s: float, due: float
) -> Sample:
    url = f"{server}/apis/{PIPELINE_RUNS.api_version}/namespaces/{group.namespace}/pipelineruns"
    payload = json.dumps(group.run_body()).encode()
    loop = asyncio.get_running_loop()
    lag_ms = (loop.time() - due) * 1000
    started = time.perf_counter()
    try:
        async with session.post(
            url, data=payload, headers={"Content-Type": "application/json"}
        ) as response:
            answer = await response.read()
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as error:
        latency_ms = (time.perf_counter() - started) * 1000
        return Sample(group.key, due_s, lag_ms, latency_ms, 0, f"{type(error).__name__}: {error}")
    latency_ms = (time.perf_counter() - started) * 1000
    if status != 201:
        return Sample(
            group.key, due_s, lag_ms, latency_ms, status, answer.decode(errors="replace")[:300]
        )
    return Sample(group.key, due_s, lag_ms, latency_ms, status, group.check(json.loads(answer)))


async def drive(
    session: aiohttp.ClientSession,
    server: str,
    groups: Sequence[Group],
    rate: float,
    seconds: float,
    rng: random.Random,
) -> list[Sample]:
    """Send `rate` creates per second for `seconds`, each at its own time, without waiting
    for earlier ones to finish (open loop); return every create's sample."""
    loop = asyncio.get_running_loop()
    order = round_robin(groups, round(rate * seconds), rng)
    begin = loop.time() + 0.1
    pending: list[asyncio.Task[Sample]] = []
    for index, group in enumerate(order):
        due = begin + index / rate
        wait = due - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        pending.append(asyncio.create_task(create_run(session, server, group, due - begin, due)))
    return list(await asyncio.gather(*pending))


async def delete_runs(session: aiohttp.ClientSession, server: str, namespace: str) -> None:
    """Delete every PipelineRun of `namespace` and check that none is left."""
    url = f"{server}/apis/{PIPELINE_RUNS.api_version}/namespaces/{namespace}/pipelineruns"
    async with session.delete(url) as response:
        if response.status != 200:
            raise BenchError(f"deleting the runs of {namespace}: HTTP {response.status}")
        await response.read()
    async with session.get(url, params={"limit": "1"}) as response:
        left = (await response.json())["items"]
    if left:
        raise BenchError(f"runs of {namespace} are left after deletion: {left[0]['metadata']}")


# -- measurements around a phase -----------------------------------------------------------


@dataclass(frozen=True)
class Histogram:
    """Cumulative bucket counts by upper bound (s), with the observations' count and sum."""

    buckets: dict[float, float]
    count: float
    total: float

    def minus(self, earlier: Histogram) -> Histogram:
        return Histogram(
            {le: n - earlier.buckets.get(le, 0.0) for le, n in self.buckets.items()},
            self.count - earlier.count,
            self.total - earlier.total,
        )

    def quantile(self, q: float) -> float:
        """Estimate as Prometheus' histogram_quantile: linear within the bucket holding the
        rank; a rank in the +Inf bucket answers the highest finite bound."""
        if self.count <= 0:
            return float("nan")
        rank = q * self.count
        lower, below = 0.0, 0.0
        finite = sorted(le for le in self.buckets if le != float("inf"))
        for le in finite:
            cumulative = self.buckets[le]
            if cumulative >= rank:
                inside = cumulative - below
                return lower + (le - lower) * ((rank - below) / inside if inside else 1.0)
            lower, below = le, cumulative
        return finite[-1] if finite else float("nan")

    def share_at_most(self, bound: float) -> float:
        """Exact share of observations ≤ `bound` (a bucket bound)."""
        return self.buckets[bound] / self.count if self.count else float("nan")


async def scrape_histogram(session: aiohttp.ClientSession, metrics_url: str) -> Histogram:
    async with session.get(metrics_url) as response:
        text = await response.text()
    for family in text_string_to_metric_families(text):
        if family.name != OPERATOR_HISTOGRAM:
            continue
        buckets: dict[float, float] = {}
        count = total = 0.0
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                buckets[float(sample.labels["le"])] = sample.value
            elif sample.name.endswith("_count"):
                count = sample.value
            elif sample.name.endswith("_sum"):
                total = sample.value
        return Histogram(buckets, count, total)
    raise BenchError(f"{metrics_url} has no {OPERATOR_HISTOGRAM} histogram")


def control_plane_pids(workdir: Path) -> dict[str, int]:
    """The pids of this control plane's components, found by their command lines (which
    name its working folder)."""
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(workdir).encode() in b" ".join(argv):
            name = Path(argv[0].decode(errors="replace")).name
            if name in ("etcd", "kube-apiserver", "kube-controller-manager"):
                found[name] = int(entry.name)
    return found


def machine_cpu_seconds() -> tuple[float, float]:
    """Busy and total CPU seconds of all cores since boot (Linux /proc/stat)."""
    first_line = Path("/proc/stat").read_text().split("\n", 1)[0]
    ticks = [int(value) for value in first_line.split()[1:9]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    hertz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - idle) / hertz, sum(ticks) / hertz


def busy_share_over(seconds: float) -> float:
    """The share of all cores' time spent busy during the next `seconds`."""
    busy_before, total_before = machine_cpu_seconds()
    time.sleep(seconds)
    busy_after, total_after = machine_cpu_seconds()
    return (busy_after - busy_before) / max(total_after - total_before, 1e-9)


def wait_for_quiet(max_busy: float, patience_s: float) -> tuple[float, float]:
    """Wait until the machine is at most `max_busy` busy over 5 s, or `patience_s` passed;
    return the last busy share seen and the seconds waited."""
    began = time.monotonic()
    while True:
        share = busy_share_over(5.0)
        waited = time.monotonic() - began
        if share <= max_busy or waited >= patience_s:
            return share, waited
        click.echo(f"machine {share:.0%} busy; waiting for <= {max_busy:.0%}")


def cpu_snapshot(pids: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each named process, this client, and the whole machine."""
    snapshot = {name: cpu_seconds(pid) for name, pid in pids.items()}
    own = os.times()
    snapshot[CLIENT] = own.user + own.system
    snapshot[MACHINE_BUSY], snapshot[MACHINE_TOTAL] = machine_cpu_seconds()
    return snapshot


@dataclass
class Phase:
    rate: float
    seconds: float
    samples: list[Sample] = field(default_factory=list)
    operator_histogram: Histogram | None = None
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    warmup_problems: int = 0


async def run_phases(
    cluster: Cluster,
    groups: Sequence[Group],
    metrics_url: str,
    pids: Mapping[str, int],
    rates: Sequence[float],
    seconds: float,
    warmup_seconds: float,
    rng: random.Random,
) -> list[Phase]:
    control_plane = cluster.control_plane
    assert control_plane is not None
    connector = aiohttp.TCPConnector(ssl=control_plane.admin_ssl_context(), limit=200)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    phases: list[Phase] = []
    async with (
        aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
        aiohttp.ClientSession(timeout=timeout) as metrics,
    ):
        for rate in rates:
            phase = Phase(rate, seconds)
            click.echo(f"{rate:g} creates/s: warm-up {warmup_seconds:g} s")
            warmup = await drive(session, cluster.server, groups, rate, warmup_seconds, rng)
            phase.warmup_problems = sum(1 for s in warmup if s.problem)
            phase.load_before = os.getloadavg()
            histogram_before = await scrape_histogram(metrics, metrics_url)
            cpu_before = cpu_snapshot(pids)
            click.echo(f"{rate:g} creates/s: measuring {seconds:g} s")
            phase.samples = await drive(session, cluster.server, groups, rate, seconds, rng)
            cpu_after = cpu_snapshot(pids)
            histogram_after = await scrape_histogram(metrics, metrics_url)
            phase.load_after = os.getloadavg()
            phase.operator_histogram = histogram_after.minus(histogram_before)
            phase.cpu_seconds = {k: cpu_after[k] - cpu_before[k] for k in cpu_before}
            for group in groups:
                await delete_runs(session, cluster.server, group.namespace)
            phases.append(phase)
            click.echo(_phase_line(phase, groups))
    return phases


# -- statistics ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    creates: int
    failed: int
    p50: float
    p90: float
    p99: float
    max: float

    def at(self, name: str) -> float:
        value: float = getattr(self, name)
        return value


def summarise(samples: Sequence[Sample]) -> Summary:
    """Percentiles over the creates that succeeded as expected; the rest are counted."""
    good = sorted(s.latency_ms for s in samples if s.problem is None)
    p50, p90, p99 = (quantile(good, q) for q in QUANTILES)
    return Summary(len(samples), len(samples) - len(good), p50, p90, p99, max(good, default=0.0))


def bootstrap_interval(
    a: Sequence[float], b: Sequence[float], q: float, rng: random.Random
) -> tuple[float, float]:
    """95% bootstrap interval of quantile(a) - quantile(b), resampling each independently."""
    differences = []
    for _ in range(BOOTSTRAP_ROUNDS):
        resampled_a = sorted(rng.choices(a, k=len(a)))
        resampled_b = sorted(rng.choices(b, k=len(b)))
        differences.append(quantile(resampled_a, q) - quantile(resampled_b, q))
    differences.sort()
    return quantile(differences, 0.025), quantile(differences, 0.975)


def latencies(phase: Phase, key: str) -> list[float]:
    return [s.latency_ms for s in phase.samples if s.group == key and s.problem is None]


def _phase_line(phase: Phase, groups: Sequence[Group]) -> str:
    parts = []
    for group in groups:
        summary = summarise([s for s in phase.samples if s.group == group.key])
        parts.append(f"{group.key} p50 {summary.p50:.1f} p99 {summary.p99:.1f} ms")
    return f"{phase.rate:g} creates/s: " + "; ".join(parts)


# -- the report ----------------------------------------------------------------------------


def machine() -> str:
    facts = machine_facts()
    return (
        f"{facts['cores']} cores ({facts['cpu']}), {facts['system']}, "
        f"Python {facts['python']}, Kopf {facts['kopf']}"
    )


def _ms(value: float) -> str:
    return f"{value:.1f}"


def _signed(value: float) -> str:
    return f"{value:+.1f}"


@dataclass(frozen=True)
class Comparison:
    """registry-sync's added latency against the bare webhook's at one percentile."""

    rate: float
    name: str
    registry_sync_added: float
    bare_added: float  # the reference's added latency (the bare webhook's, or Kyverno's)
    difference: float
    interval: tuple[float, float]
    reference: str = "bare"

    @property
    def met(self) -> bool:
        """ "No worse": the difference is not significantly above zero (its 95% interval
        reaches zero or lies below it)."""
        return self.interval[0] <= 0


def compare(phases: Sequence[Phase], rng: random.Random) -> list[Comparison]:
    """registry-sync against the bare webhook, and against Kyverno when it ran."""
    found = []
    for phase in phases:
        present = {s.group for s in phase.samples}
        ours, none = (sorted(latencies(phase, k)) for k in ("registry-sync", "none"))
        for reference in ("bare", "kyverno"):
            if reference not in present:
                continue
            theirs = sorted(latencies(phase, reference))
            for name, q in (("p50", 0.50), ("p99", 0.99)):
                added_ours = quantile(ours, q) - quantile(none, q)
                added_theirs = quantile(theirs, q) - quantile(none, q)
                found.append(
                    Comparison(
                        phase.rate,
                        name,
                        added_ours,
                        added_theirs,
                        added_ours - added_theirs,
                        bootstrap_interval(ours, theirs, q, rng),
                        reference,
                    )
                )
    return found


@dataclass
class RunInfo:
    """What the report says about the run as a whole."""

    command: str
    started_at: str
    seconds: float
    warmup_seconds: float
    load_start: tuple[float, float, float]
    load_end: tuple[float, float, float] = (0.0, 0.0, 0.0)
    wall_seconds: float = 0.0
    quiet: str = "not waited for"
    bare_writes: Mapping[str, Any] = field(default_factory=dict)


def _writes_line(writes: Mapping[str, Any]) -> str:
    params = ", ".join(f"`{name}`" for name in writes.get("params", {}))
    annotations = ", ".join(f"`{key}`" for key in writes.get("annotations", {}))
    return f"params {params or 'none'}; annotations {annotations or 'none'}"


def report(phases: Sequence[Phase], comparisons: Sequence[Comparison], run: RunInfo) -> str:
    present = {s.group for phase in phases for s in phase.samples}
    groups = [g for g in ("registry-sync", "bare", "kyverno", "none") if g in present]
    titles = {
        "registry-sync": "registry-sync webhook",
        "bare": "bare Kopf webhook",
        "kyverno": "Kyverno (mutate policy, apiCall)",
        "none": "no webhook",
    }
    lines = [
        "# Admission latency: the registry-sync webhook against a bare Kopf webhook",
        "",
        f"Command (from the repository root): `{run.command}`",
        "",
        f"Run: {run.started_at}, {run.wall_seconds:.0f} s wall time in all. Machine: {machine()}; "
        "etcd v3.6.16, kube-apiserver and kube-controller-manager v1.34.4 (local control "
        "plane), both operators and this client run on the same cores.",
        "",
        f"Load average (1 / 5 / 15 min): {load_line(run.load_start)} at start, "
        f"{load_line(run.load_end)} at end. Other work shares this machine (see *other work* "
        f"below); a quiet machine before the phases: {run.quiet}.",
        "",
        "Setup: one namespace per configuration. *registry-sync*: `registry-sync run` "
        "(INFO logging, default refresh), the seed registered in the stand-in registry, the "
        "seed InferenceService's binding Ready; each run is the seed's run, which the webhook "
        "corrects (params patch + annotations). *bare*: `bench/bare_webhook_operator.py`, a Kopf "
        "webhook that sets the params and annotations registry-sync set on a dry-run create of "
        f"the same run ({_writes_line(run.bare_writes)}) and nothing else, with the same "
        "webhook configuration. *none*: runs "
        "without the opt-in label. Creates are sent open-loop at the rate (all groups together), "
        "round-robin over the groups in a shuffled order per round, through aiohttp with "
        f"the admin client certificate; {run.warmup_seconds:g} s of unrecorded warm-up at the "
        f"same rate precede each {run.seconds:g} s phase; every run is deleted between phases. "
        "Latency: from sending the request to having read the whole response. Every stored run was "
        "checked (corrected / written / untouched); a create that failed the check is counted "
        "under *failed* and left out of the percentiles.",
        "",
        "## Create latency seen by the client (ms)",
        "",
        "| creates/s | configuration | creates | failed | p50 | p90 | p99 | max |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for phase in phases:
        for key in groups:
            s = summarise([x for x in phase.samples if x.group == key])
            lines.append(
                f"| {phase.rate:g} | {titles[key]} | {s.creates} | {s.failed} | {_ms(s.p50)} "
                f"| {_ms(s.p90)} | {_ms(s.p99)} | {_ms(s.max)} |"
            )
    lines += [
        "",
        "## Added create latency (webhook - no webhook, ms) and ratio (webhook / no webhook)",
        "",
        "| creates/s | webhook | +p50 | +p90 | +p99 | +max | ratio p50 | ratio p90 | ratio p99 |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for phase in phases:
        none = summarise([x for x in phase.samples if x.group == "none"])
        for key in (g for g in groups if g != "none"):
            s = summarise([x for x in phase.samples if x.group == key])
            added = [s.at(n) - none.at(n) for n in ("p50", "p90", "p99", "max")]
            ratios = [
                s.at(n) / none.at(n) if none.at(n) else float("nan") for n in ("p50", "p90", "p99")
            ]
            lines.append(
                f"| {phase.rate:g} | {titles[key]} | "
                + " | ".join(_signed(a) for a in added)
                + " | "
                + " | ".join(f"{r:.2f}" for r in ratios)
                + " |"
            )
    lines += [
        "",
        "## registry-sync against the bare webhook and Kyverno (ms)",
        "",
        "Difference of the added latencies = registry-sync - the other at the same percentile "
        "(the no-webhook group cancels out), with a 95% bootstrap interval "
        f"({BOOTSTRAP_ROUNDS} resamples of each group).",
        "",
        "| creates/s | against | percentile | registry-sync added | its added | difference "
        "| 95% interval | no worse? |",
        "|---:|---|---|---:|---:|---:|---|---|",
    ]
    for c in comparisons:
        lines.append(
            f"| {c.rate:g} | {titles[c.reference]} | {c.name} | {_signed(c.registry_sync_added)} "
            f"| {_signed(c.bare_added)} | {_signed(c.difference)} "
            f"| [{_signed(c.interval[0])}, {_signed(c.interval[1])}] "
            f"| {'yes' if c.met else 'no'} |"
        )
    lines += [
        "",
        "## Operator-side admission time (registry-sync's own histogram)",
        "",
        f"`{OPERATOR_HISTOGRAM}` times the review inside the handler (from receiving the "
        "run to the decision), not Kopf's request parsing, TLS or the response. Buckets: "
        "0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2, 5, 10, 25 ms, …: p50/p99 are estimates "
        "interpolated within a bucket (a p99 in the 0.4-0.5 ms bucket is known only to lie "
        "there); the mean (sum / count) and the "
        "share ≤ 5 ms (a bucket bound) are exact.",
        "",
        "| creates/s | reviews | mean (ms) | p50 est. (ms) | p99 est. (ms) "
        "| ≤ 1 ms | ≤ 2 ms | ≤ 5 ms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for phase in phases:
        h = phase.operator_histogram
        assert h is not None
        mean = h.total / h.count * 1000 if h.count else float("nan")
        lines.append(
            f"| {phase.rate:g} | {h.count:.0f} | {mean:.3f} | {h.quantile(0.5) * 1000:.2f} "
            f"| {h.quantile(0.99) * 1000:.2f} | {h.share_at_most(0.001):.1%} "
            f"| {h.share_at_most(0.002):.1%} | {h.share_at_most(0.005):.1%} |"
        )
    lines += cpu_table(phases)
    lines += ["", "## Verdict", "", *verdict(phases, comparisons), ""]
    return "\n".join(lines)


def cpu_table(phases: Sequence[Phase]) -> list[str]:
    """CPU seconds per process during each phase, the rest of the machine's work, and how
    late the client sent its creates (a late client would lower the real rate)."""
    machine_keys = (MACHINE_BUSY, MACHINE_TOTAL)
    names = [n for n in (phases[0].cpu_seconds if phases else {}) if n not in machine_keys]
    lines = [
        "",
        f"## Where the CPU went during each phase (CPU seconds, {os.cpu_count()} cores)",
        "",
        "*other work*: everything else the machine ran meanwhile (busy time of all cores minus "
        "the processes listed). *send lag*: how late the client sent creates against their "
        "schedule (not part of the latencies above).",
        "",
        "| creates/s | phase (s) | " + " | ".join(names) + " | other work | machine busy "
        "| load before | load after | send lag p99 / max (ms) |",
        "|---:|---:|" + "---:|" * len(names) + "---:|---:|---|---|---|",
    ]
    for phase in phases:
        cpu = phase.cpu_seconds
        ours = sum(cpu[n] for n in names)
        lags = sorted(sample.lag_ms for sample in phase.samples)
        lines.append(
            f"| {phase.rate:g} | {phase.seconds:g} | "
            + " | ".join(f"{cpu[n]:.1f}" for n in names)
            + f" | {max(cpu[MACHINE_BUSY] - ours, 0.0):.1f} "
            f"| {cpu[MACHINE_BUSY] / max(cpu[MACHINE_TOTAL], 1e-9):.0%} "
            f"| {load_line(phase.load_before)} | {load_line(phase.load_after)} "
            f"| {quantile(lags, 0.99):.1f} / {max(lags, default=0.0):.1f} |"
        )
    return lines


def verdict(phases: Sequence[Phase], comparisons: Sequence[Comparison]) -> list[str]:
    found = []
    for phase in phases:
        h = phase.operator_histogram
        assert h is not None
        share = h.share_at_most(TARGET_SECONDS)
        state = "met" if share >= 0.99 else "missed"
        found.append(
            f"- Operator-side p99 ≤ 5 ms at {phase.rate:g} creates/s: **{state}** "
            f"({share:.1%} of {h.count:.0f} reviews took ≤ 5 ms; estimated p99 "
            f"{h.quantile(0.99) * 1000:.2f} ms)."
        )
    for c in comparisons:
        state = "met" if c.met else "missed"
        if c.met and c.interval[1] > 0:
            state += ", no significant difference"
        if c.reference != "bare":
            found.append(
                f"- Beside Kyverno, {c.name} at {c.rate:g} creates/s: registry-sync "
                f"{_signed(c.registry_sync_added)} ms, Kyverno {_signed(c.bare_added)} ms "
                f"(difference {_signed(c.difference)} ms, 95% interval "
                f"[{_signed(c.interval[0])}, {_signed(c.interval[1])}]); recorded, no target."
            )
            continue
        found.append(
            f"- Added create latency no worse than the bare webhook, {c.name} at {c.rate:g} "
            f"creates/s: **{state}** (registry-sync {_signed(c.registry_sync_added)} ms, bare "
            f"{_signed(c.bare_added)} ms; difference {_signed(c.difference)} ms, 95% interval "
            f"[{_signed(c.interval[0])}, {_signed(c.interval[1])}])."
        )
    for phase in phases:
        failed = sum(1 for s in phase.samples if s.problem)
        if failed or phase.warmup_problems:
            found.append(
                f"- {failed} creates at {phase.rate:g} creates/s (and {phase.warmup_problems} "
                "in its warm-up) failed or were not stored as expected: see the JSON for why."
            )
    found.append(
        "- For reference, DESIGN.md measured a bare Kopf webhook at "
        f"+{DESIGN_BARE_ADDED_MS['p50']:g} ms p50 and +{DESIGN_BARE_ADDED_MS['p99']:g} ms p99 "
        "at 50 creates/s (half through the webhook)."
    )
    return found


def raw_results(phases: Sequence[Phase], command: str) -> dict[str, Any]:
    """Everything measured, samples as columns per group in sending order (ms rounded to
    10 µs), and the creates that failed with why."""
    return {
        "command": command,
        "machine": machine(),
        "phases": [
            {
                "rate": phase.rate,
                "seconds": phase.seconds,
                "load_before": phase.load_before,
                "load_after": phase.load_after,
                "cpu_seconds": phase.cpu_seconds,
                "warmup_problems": phase.warmup_problems,
                "operator_histogram": asdict(phase.operator_histogram)
                if phase.operator_histogram
                else None,
                "samples": {
                    key: _sample_columns([s for s in phase.samples if s.group == key])
                    for key in dict.fromkeys(s.group for s in phase.samples)
                },
            }
            for phase in phases
        ],
    }


def _sample_columns(samples: Sequence[Sample]) -> dict[str, Any]:
    return {
        "due_s": [round(s.due_s, 3) for s in samples],
        "lag_ms": [round(s.lag_ms, 2) for s in samples],
        "latency_ms": [round(s.latency_ms, 2) for s in samples],
        "status": [s.status for s in samples],
        "problems": {str(n): s.problem for n, s in enumerate(samples) if s.problem},
    }


# -- the command ---------------------------------------------------------------------------


def _parse_rates(text: str) -> list[float]:
    try:
        rates = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r}: give comma-separated creates per second") from None
    if not rates or any(rate <= 0 for rate in rates):
        raise click.BadParameter(f"{text!r}: give one or more positive rates, e.g. 25,50")
    return rates


@click.command()
@click.option("--seconds", default=60.0, show_default=True, type=click.FloatRange(min=1))
@click.option("--rates", default="25,50", show_default=True, help="Creates per second.")
@click.option("--warmup-seconds", default=5.0, show_default=True, type=click.FloatRange(min=0))
@click.option("--seed", default=1, show_default=True, type=int, help="Shuffling seed.")
@click.option(
    "--quiet-below",
    type=click.FloatRange(0, 100),
    default=None,
    help="Before measuring, wait until the machine's CPU is at most this % busy over 5 s.",
)
@click.option(
    "--quiet-patience",
    default=120.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds to wait for --quiet-below at most; then it measures anyway.",
)
@click.option(
    "--kyverno/--no-kyverno",
    default=True,
    show_default=True,
    help="Also Kyverno with a mutate policy (Go builds it once: bench/kyverno/build.sh).",
)
@click.option(
    "--output",
    default=str(RESULTS / "admission-latency.md"),
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The report; the raw samples go beside it as .json.",
)
def main(
    seconds: float,
    rates: str,
    warmup_seconds: float,
    seed: int,
    quiet_below: float | None,
    quiet_patience: float,
    kyverno: bool,
    output: Path,
) -> None:
    """Measure the create latency the PipelineRun webhook adds, against a bare Kopf webhook."""
    chosen_rates = _parse_rates(rates)
    rng = random.Random(seed)
    began = time.monotonic()
    run = RunInfo(
        command=command_line("admission_latency.py"),
        started_at=utc_now(),
        seconds=seconds,
        warmup_seconds=warmup_seconds,
        load_start=os.getloadavg(),
    )
    logs = Path(tempfile.mkdtemp(prefix="registry-sync-bench-logs-"))
    click.echo(f"load average {load_line(run.load_start)}; operator logs in {logs}")
    with local_cluster() as cluster, start_dev_registry() as registry:
        assert cluster.control_plane is not None
        groups = [
            Group("registry-sync", cluster.create_namespace("bench-registry-sync"), True,
                  corrected_by_registry_sync),
            # Its check, once registry-sync's writes are known (below).
            Group("bare", cluster.create_namespace("bench-bare-webhook"), True, left_alone),
            Group("none", cluster.create_namespace("bench-no-webhook"), False, left_alone),
        ]  # fmt: skip
        if kyverno:
            groups.insert(
                2,
                Group("kyverno", cluster.create_namespace("bench-kyverno"), True,
                      corrected_by_kyverno),
            )  # fmt: skip
        ids = asyncio.run(_register_seed(registry.url))
        with contextlib.ExitStack() as stack:
            operator = stack.enter_context(
                registry_sync_operator(
                    cluster, groups[0].namespace, registry.url, logs / "registry-sync.log"
                )
            )
            deploy_seed_inference_service(cluster, groups[0].namespace, ids)
            sent = groups[0].run_body()
            stored = PIPELINE_RUNS.create(
                cluster.api_client, groups[0].namespace, sent, dry_run=True
            )
            writes = registry_sync_writes(sent, stored)
            run.bare_writes = writes
            (logs / "bare-writes.json").write_text(json.dumps(writes))
            groups[1] = replace(groups[1], check=written_by_bare_webhook(writes))
            bare = stack.enter_context(
                bare_webhook_operator(
                    cluster, groups[1], logs / "bare-writes.json", logs / "bare-webhook.log"
                )
            )
            assert operator.process is not None and registry.pid is not None
            pids = dict(control_plane_pids(cluster.control_plane.workdir))
            pids["registry-sync operator"] = operator.process.pid
            pids["bare operator"] = bare.pid
            pids["registry stand-in"] = registry.pid
            if kyverno:
                group = groups[2]
                # The binding registry-sync made Ready, where Kyverno's policy reads it.
                copy_binding(cluster, groups[0].namespace, group.namespace, ISVC_NAME)
                kyverno_process = stack.enter_context(
                    kyverno_webhook(
                        cluster,
                        group.namespace,
                        group.run_body,
                        group.check,
                        ParamNames().as_tuple(),
                        logs / "kyverno.log",
                    )
                )
                pids["kyverno"] = kyverno_process.pid
            if quiet_below is not None:
                share, waited = wait_for_quiet(quiet_below / 100, quiet_patience)
                run.quiet = f"{share:.0%} busy over 5 s after waiting {waited:.0f} s " + (
                    f"(wanted <= {quiet_below:g}%)"
                )
            phases = asyncio.run(
                run_phases(
                    cluster,
                    groups,
                    f"http://127.0.0.1:{operator.metrics_port}/metrics",
                    pids,
                    chosen_rates,
                    seconds,
                    warmup_seconds,
                    rng,
                )
            )
    run.load_end = os.getloadavg()
    run.wall_seconds = time.monotonic() - began
    comparisons = compare(phases, rng)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report(phases, comparisons, run))
    output.with_suffix(".json").write_text(
        json.dumps(raw_results(phases, run.command), separators=(",", ":"))
    )
    click.echo(f"wrote {output} and {output.with_suffix('.json')}")


async def _register_seed(registry_url: str) -> SeedIds:
    async with RegistryClient(registry_url) as client:
        return await register_seed(client)


if __name__ == "__main__":
    main()
