"""Scale: cold start to every opted-in InferenceService converged, and the operator's memory,
registry-sync against a bare Kopf operator, on the same objects in the same run.

For each size N (InferenceServices; default 100, 500 and 2,000), one namespace of a local
control plane (etcd + kube-apiserver + kube-controller-manager) and one registry stand-in
seeded so that every InferenceService's storage URI resolves (one version each):

1. N opted-in InferenceServices are created with stale modelregistry labels.
2. *bare*: `bench/bare_operator.py` (same writes per InferenceService, answers from a fixed
   table) runs against the InferenceServices alone.
   *floor*: `bench/write-floor` (Go, client-go v0.34.4) makes the same three writes per
   InferenceService and nothing else, from a plan made beforehand, with 32 workers and
   with one: the physical floor of those writes on this machine (`--no-floor` skips it;
   it needs Go to build once).
3. M PipelineRuns are created (default 5 per InferenceService: 10,000 at N = 2,000): a share
   are model-testing runs with the opt-in label `registry-sync.io/inference-service` and
   the right params, most finished, some still running; the rest are other pipelines.
4. *registry-sync (webhook)*: `registry-sync run` (INFO logging, as deployed).
5. *registry-sync (no webhook)*: `registry-sync run --webhook off`, which watches the
   opted-in runs.

Before each operator run every ModelBinding is deleted and every InferenceService's labels
are made stale again, so each run starts from the same state. A run is measured from the
operator's launch (cold start: imports, login, registry snapshot, listings) until a
LIST+WATCH of InferenceServices and ModelBindings (run by this client, timestamps at
arrival) has seen every InferenceService with the right labels and every binding Ready
naming the right version. Memory: the operator's VmHWM (peak RSS) and the median VmRSS over
the settle period after convergence, from /proc. After the no-webhook run every
PipelineRun is checked: none may have been cancelled or replaced (their params are right).

Run from the repository root (about 15 minutes at the default sizes on 2 cores):

    .venv/bin/python bench/scale.py [--sizes 100,500,2000] [--runs-per-service 5]

It writes bench/results/scale.md, scale.json and scale.png (convergence against size).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import click
from bare_operator import binding_status, expected_labels
from common import (
    BENCH,
    BINDING_PATH,
    ISVC_PATH,
    MERGE,
    REGISTRY_NAME,
    RESULTS,
    RUN_PATH,
    TARGET_LABEL,
    Answer,
    BareProcess,
    BenchError,
    ConvergenceTracker,
    LoggedProcess,
    MemorySamples,
    RegistrySyncProcess,
    api_session,
    bench_uri,
    command_line,
    count_objects,
    cpu_seconds,
    create_inference_services,
    list_and_watch,
    load_average,
    load_line,
    local_cluster,
    machine_facts,
    request,
    run_concurrently,
    run_lines,
    sample_memory,
    seed_registry_file,
    stale_labels,
    utc_now,
    wait_for_line,
    write_table,
)

from registry_sync.domain.metadata import new_model_binding
from support.cluster import Cluster
from support.devregistry import start_dev_registry

BARE: Final = "bare"
WEBHOOK: Final = "registry-sync (webhook)"
NO_WEBHOOK: Final = "registry-sync (no webhook)"
DIGESTS_OFF: Final = "registry-sync (webhook, digest check off)"
FLOOR_WORKERS: Final = (32, 1)
FLOOR_READY_LINE: Final = "write-floor: "
FLOOR_BUILD: Final = BENCH / "write-floor" / "build.sh"


def floor_name(workers: int) -> str:
    return f"floor (client-go, {workers} worker{'s' if workers > 1 else ''})"


POD_PATH: Final = "/api/v1/namespaces/{ns}/pods"
RUNNING_DIGEST: Final = "sha256:" + "0" * 64
CANCELLED_BECAUSE: Final = "registry-sync.io/cancelled-because"
REPLACEMENT_OF: Final = "registry-sync.io/replacement-of"
# Targets: cold start ≤ 1.0x bare (stretch: ≤ 2x the floor with 32 workers); RSS ≤ 1.1x
# bare's with the InferenceServices alone; stretch 120 MiB.
TIME_RATIO_TARGET: Final = 1.0
FLOOR_RATIO_STRETCH: Final = 2.0
RSS_RATIO_TARGET: Final = 1.1
RSS_STRETCH_MIB: Final = 120.0


@dataclass
class RunResult:
    size: int
    configuration: str
    pipeline_runs: int
    ready_line_s: float  # launch → the start-up handlers finished
    first_ready_s: float | None  # launch → the first binding Ready
    converged_s: float  # launch → everything converged
    cpu_s: float  # operator CPU seconds at convergence
    peak_rss_mib: float  # VmHWM at the end of the settle period
    steady_rss_mib: float  # median VmRSS over the settle period
    load_before: list[float]
    load_after: list[float]
    events_posted: int = 0  # Events the operator posted during the run
    events_at_converged: int = 0  # of them, posted by the moment everything converged
    start_up_cpu_s: float = 0.0  # operator CPU seconds at the end of start-up
    registry_start_up_cpu_s: float = 0.0  # the registry stand-in's CPU seconds meanwhile
    notes: list[str] = field(default_factory=list)


# -- objects -------------------------------------------------------------------------------


def service_name(number: int) -> str:
    return f"isvc-{number:05d}"


def pipeline_run(
    namespace: str, number: int, size: int, opted_in: int, answers: Sequence[Answer]
) -> dict[str, Any]:
    """Run `number`: the first `opted_in` are model-testing runs of InferenceService
    number % size with the right params; the others are unrelated pipelines."""
    name = f"run-{number:06d}"
    if number >= opted_in:
        return {
            "apiVersion": "tekton.dev/v1",
            "kind": "PipelineRun",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": "build"}},
            "spec": {
                "pipelineRef": {"name": "build-image"},
                "params": [{"name": "git-revision", "value": f"r{number}"}],
            },
        }
    target = number % size
    answer = answers[target]
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {TARGET_LABEL: service_name(target), "app": "model-testing"},
        },
        "spec": {
            "pipelineRef": {"name": "model-testing"},
            "params": [
                {"name": "inference_service_name", "value": service_name(target)},
                {"name": "vllm_model_name", "value": service_name(target)},
                {"name": "model_name", "value": answer.registered_model_name},
                {"name": "version_name", "value": answer.model_version_name},
            ],
        },
    }


FINISHED_STATUS: Final = {
    "status": {
        "startTime": "2026-11-01T10:00:00Z",
        "completionTime": "2026-11-01T10:20:00Z",
        "conditions": [
            {
                "type": "Succeeded",
                "status": "True",
                "reason": "Succeeded",
                "message": "Tasks Completed: 3 (Failed: 0, Cancelled 0), Skipped: 0",
            }
        ],
    }
}


async def create_runs(
    cluster: Cluster,
    namespace: str,
    count: int,
    opted_in: int,
    running: int,
    answers: Sequence[Answer],
    concurrency: int,
) -> None:
    """Create the runs; the opted-in ones after the first `running` get a finished status."""
    url = cluster.server + RUN_PATH.format(ns=namespace)
    size = len(answers)
    async with api_session(cluster) as session:

        def job(number: int) -> Any:
            async def create() -> None:
                await request(
                    session, "POST", url, pipeline_run(namespace, number, size, opted_in, answers)
                )
                if running <= number < opted_in:
                    name = f"run-{number:06d}"
                    await request(
                        session, "PATCH", f"{url}/{name}/status", FINISHED_STATUS, headers=MERGE
                    )

            return create

        await run_concurrently([job(n) for n in range(count)], concurrency)


async def create_model_pods(
    cluster: Cluster, namespace: str, answers: Sequence[Answer], concurrency: int
) -> None:
    """One running predictor pod per InferenceService, its ModelCar status written as a
    kubelet would (no kubelet runs here)."""
    url = cluster.server + POD_PATH.format(ns=namespace)
    async with api_session(cluster) as session:

        def job(number: int) -> Any:
            image = answers[number].uri.removeprefix("oci://")
            name = f"{service_name(number)}-predictor-0"
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": name,
                    "labels": {"serving.kserve.io/inferenceservice": service_name(number)},
                },
                "spec": {
                    "containers": [
                        {"name": "kserve-container", "image": "vllm/vllm-openai:v0.9"},
                        {"name": "modelcar", "image": image},
                    ]
                },
            }
            status = {
                "status": {
                    "phase": "Running",
                    "containerStatuses": [
                        {
                            "name": "modelcar",
                            "image": image,
                            "imageID": f"{image.rsplit(':', 1)[0]}@{RUNNING_DIGEST}",
                            "ready": True,
                            "restartCount": 0,
                            "state": {"running": {}},
                        }
                    ],
                }
            }

            async def create() -> None:
                await request(session, "POST", url, pod)
                await request(session, "PATCH", f"{url}/{name}/status", status, headers=MERGE)

            return create

        await run_concurrently([job(n) for n in range(len(answers))], concurrency)


async def reset(cluster: Cluster, namespace: str, size: int, concurrency: int) -> None:
    """Delete every ModelBinding and make every InferenceService's labels stale again."""
    bindings = cluster.server + BINDING_PATH.format(ns=namespace)
    services = cluster.server + ISVC_PATH.format(ns=namespace)
    async with api_session(cluster) as session:
        await request(session, "DELETE", bindings)
        patch = {"metadata": {"labels": stale_labels()}}

        def job(number: int) -> Any:
            url = f"{services}/{service_name(number)}"
            return lambda: request(session, "PATCH", url, patch, headers=MERGE)

        await run_concurrently([job(n) for n in range(size)], concurrency)
        deadline = time.monotonic() + 300
        while await count_objects(session, cluster.server, BINDING_PATH.format(ns=namespace)):
            if time.monotonic() > deadline:
                raise BenchError(f"ModelBindings of {namespace} still there after 300 s")
            await asyncio.sleep(0.5)


async def count_events(cluster: Cluster, namespace: str) -> int:
    """Events in the namespace posted by either operator (`source.component`)."""
    async with api_session(cluster) as session:
        total = 0
        for component in ("registry-sync", "bench-bare"):
            path = f"/api/v1/namespaces/{namespace}/events?fieldSelector=source%3D{component}"
            total += await count_objects(session, cluster.server, path)
    return total


async def check_runs(cluster: Cluster, namespace: str) -> tuple[int, int]:
    """(cancelled, replacement copies) among the namespace's PipelineRuns."""
    async with api_session(cluster) as session:
        answer = await request(session, "GET", cluster.server + RUN_PATH.format(ns=namespace))
    cancelled = replaced = 0
    for run in answer.get("items", []):
        metadata = run.get("metadata", {})
        if CANCELLED_BECAUSE in (metadata.get("annotations") or {}):
            cancelled += 1
        if REPLACEMENT_OF in (metadata.get("labels") or {}):
            replaced += 1
    return cancelled, replaced


# -- the floor: the same writes from client-go, nothing else --------------------------------


async def floor_plan(
    cluster: Cluster, namespace: str, table: Mapping[str, Mapping[str, str]]
) -> list[dict[str, Any]]:
    """Per opted-in InferenceService as listed now: the labels, the ModelBinding and the
    status the bare operator would write (its own functions), and the resource version."""
    async with api_session(cluster) as session:
        listed = await request(session, "GET", cluster.server + ISVC_PATH.format(ns=namespace))
    plan = []
    for body in listed.get("items", []):
        metadata = body["metadata"]
        uri = body["spec"]["predictor"]["model"]["storageUri"]
        answer = table[uri]
        plan.append(
            {
                "name": metadata["name"],
                "labels": expected_labels(answer, REGISTRY_NAME),
                "resourceVersion": metadata["resourceVersion"],
                "binding": new_model_binding(metadata["name"], metadata["uid"], namespace),
                "status": binding_status(body, uri, answer, REGISTRY_NAME),
            }
        )
    return plan


def build_floor() -> Path:
    """The write-floor binary (built once into the cache; BenchError when it cannot be)."""
    try:
        built = subprocess.run(
            ["bash", str(FLOOR_BUILD)], check=True, capture_output=True, text=True
        )
    except (OSError, subprocess.CalledProcessError) as error:
        output = getattr(error, "stderr", "") or str(error)
        raise BenchError(
            f"building {FLOOR_BUILD}: {output.strip()} (or run with --no-floor)"
        ) from None
    return Path(built.stdout.strip().splitlines()[-1]) / "write-floor"


class FloorProcess(LoggedProcess):
    """`write-floor` with a plan and a number of workers; it exits once it has written."""

    ready_line = FLOOR_READY_LINE

    def __init__(
        self, cluster: Cluster, namespace: str, binary: Path, plan: Path, workers: int, log: Path
    ) -> None:
        super().__init__(log)
        self.cluster = cluster
        self.command = [
            str(binary), "--namespace", namespace, "--plan", str(plan),
            "--workers", str(workers),
        ]  # fmt: skip

    def launch(self) -> tuple[list[str], dict[str, str]]:
        return self.command, self.cluster.env()

    @property
    def returncode(self) -> int | None:
        # Exiting is what it does: only a failed exit ends the wait for its line early.
        code = super().returncode
        return code if code else None


# -- one measured operator run ---------------------------------------------------------------


async def measure(
    cluster: Cluster,
    namespace: str,
    process: RegistrySyncProcess | BareProcess | FloorProcess,
    answers: Sequence[Answer],
    *,
    size: int,
    configuration: str,
    pipeline_runs: int,
    settle_s: float,
    timeout_s: float,
    registry_pid: int | None = None,
) -> RunResult:
    """One operator run; `registry_pid`: the registry stand-in's process, whose CPU during
    the operator's start-up is reported (it shares the cores)."""
    expected = {service_name(n): answers[n] for n in range(size)}
    tracker = ConvergenceTracker(expected)
    load_before = load_average()
    events_before = await count_events(cluster, namespace)
    async with api_session(cluster, limit=8) as session:
        listed = [asyncio.Event(), asyncio.Event()]
        watches = [
            asyncio.create_task(
                list_and_watch(
                    session,
                    cluster.server,
                    ISVC_PATH.format(ns=namespace),
                    tracker.on_inference_service,
                    listed[0],
                )
            ),
            asyncio.create_task(
                list_and_watch(
                    session,
                    cluster.server,
                    BINDING_PATH.format(ns=namespace),
                    tracker.on_binding,
                    listed[1],
                )
            ),
        ]
        memory = MemorySamples()
        sampler: asyncio.Task[None] | None = None
        try:
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in listed)), 120)
            if tracker.labels_ok or tracker.bindings_ok:
                raise BenchError(f"{namespace} was not reset before {configuration}")
            launched = time.monotonic()
            registry_cpu_before = cpu_seconds(registry_pid) if registry_pid else 0.0
            pid = process.start()
            sampler = asyncio.create_task(sample_memory(pid, memory))
            ready_at = await asyncio.wait_for(
                wait_for_line(
                    process.log_path, process.ready_line, lambda: process.returncode is not None
                ),
                timeout_s,
            )
            start_up_cpu = cpu_seconds(pid)
            registry_cpu = cpu_seconds(registry_pid) - registry_cpu_before if registry_pid else 0.0
            remaining = timeout_s - (time.monotonic() - launched)
            try:
                await asyncio.wait_for(tracker.done.wait(), max(remaining, 1))
            except TimeoutError:
                raise BenchError(
                    f"{configuration} at N={size}: {len(tracker.labels_ok)} labels and "
                    f"{len(tracker.bindings_ok)} bindings of {size} right after {timeout_s:g} s; "
                    f"log: {process.log_path}"
                ) from None
            assert tracker.done_at is not None
            converged_s = tracker.done_at - launched
            cpu = cpu_seconds(pid)
            # Counted after the moment, so it takes nothing from the time measured.
            events_at_converged = await count_events(cluster, namespace) - events_before
            settle_from = time.monotonic()
            await asyncio.sleep(settle_s)
            if not tracker.done.is_set():
                raise BenchError(f"{configuration} at N={size}: un-converged while settling")
            steady = memory.steady_mib(settle_from)
            peak = memory.peak_mib
        finally:
            if sampler is not None:
                sampler.cancel()
            for task in watches:
                task.cancel()
            await asyncio.gather(*watches, *([sampler] if sampler else []), return_exceptions=True)
            process.stop()
    first = tracker.first_ready_at
    events_posted = await count_events(cluster, namespace) - events_before
    return RunResult(
        size=size,
        configuration=configuration,
        pipeline_runs=pipeline_runs,
        ready_line_s=ready_at - launched,
        first_ready_s=None if first is None else first - launched,
        converged_s=converged_s,
        cpu_s=cpu,
        peak_rss_mib=peak,
        steady_rss_mib=steady,
        load_before=load_before,
        load_after=load_average(),
        events_posted=events_posted,
        events_at_converged=events_at_converged,
        start_up_cpu_s=start_up_cpu,
        registry_start_up_cpu_s=registry_cpu,
    )


# -- one size ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    runs_per_service: int
    opted_in_share: float
    running_share: float
    concurrency: int
    settle_s: float
    timeout_s: float
    model_pods: bool = False
    floor_binary: Path | None = None  # write-floor, when the floor is measured


def bench_size(cluster: Cluster, size: int, plan: Plan, workdir: Path) -> list[RunResult]:
    namespace = cluster.create_namespace(f"scale-{size}")
    uris = [bench_uri(n) for n in range(size)]
    data_file = workdir / f"registry-{size}.json"
    seeded = seed_registry_file(data_file, uris)
    answers = [seeded[uri] for uri in uris]
    table = workdir / f"table-{size}.json"
    write_table(table, seeded)
    run_count = plan.runs_per_service * size
    opted_in = round(run_count * plan.opted_in_share)
    running = round(opted_in * plan.running_share)
    results: list[RunResult] = []
    common = {"size": size, "settle_s": plan.settle_s, "timeout_s": plan.timeout_s}
    with start_dev_registry(data_file=data_file) as registry:
        started = time.monotonic()
        uris = [(service_name(n), answer.uri) for n, answer in enumerate(answers)]
        asyncio.run(create_inference_services(cluster, namespace, uris, plan.concurrency))
        click.echo(
            f"N={size}: {size} InferenceServices created in {time.monotonic() - started:.0f} s"
        )
        if plan.model_pods:
            started = time.monotonic()
            asyncio.run(create_model_pods(cluster, namespace, answers, plan.concurrency))
            click.echo(f"N={size}: {size} model pods created in {time.monotonic() - started:.0f} s")

        bare = BareProcess(cluster, namespace, table, workdir / f"bare-{size}.log")
        results.append(
            asyncio.run(
                measure(
                    cluster,
                    namespace,
                    bare,
                    answers,
                    configuration=BARE,
                    pipeline_runs=0,
                    **common,
                )
            )
        )
        click.echo(_line(results[-1]))
        if plan.floor_binary is not None:
            table_entries = json.loads(table.read_text())
            for workers in FLOOR_WORKERS:
                asyncio.run(reset(cluster, namespace, size, plan.concurrency))
                writes = workdir / f"floor-plan-{size}.json"
                writes.write_text(
                    json.dumps(asyncio.run(floor_plan(cluster, namespace, table_entries)))
                )
                floor = FloorProcess(
                    cluster,
                    namespace,
                    plan.floor_binary,
                    writes,
                    workers,
                    workdir / f"floor-{workers}-{size}.log",
                )
                results.append(
                    asyncio.run(
                        measure(
                            cluster,
                            namespace,
                            floor,
                            answers,
                            configuration=floor_name(workers),
                            pipeline_runs=0,
                            **common,
                        )
                    )
                )
                click.echo(_line(results[-1]))

        started = time.monotonic()
        asyncio.run(reset(cluster, namespace, size, plan.concurrency))
        asyncio.run(
            create_runs(cluster, namespace, run_count, opted_in, running, answers, plan.concurrency)
        )
        click.echo(
            f"N={size}: {run_count} PipelineRuns ({opted_in} opted in, {running} of them running) "
            f"created in {time.monotonic() - started:.0f} s"
        )
        configurations: list[tuple[str, bool, list[str]]] = [
            (WEBHOOK, True, []),
            (NO_WEBHOOK, False, []),
        ]
        if plan.model_pods:
            configurations.append((DIGESTS_OFF, True, ["--digest-check", "off"]))
        for configuration, webhook, extra_args in configurations:
            slug = configuration.split("(")[1].rstrip(")").replace(", ", "-").replace(" ", "-")
            log = workdir / f"registry-sync-{slug}-{size}.log"
            operator = RegistrySyncProcess(
                cluster, namespace, registry.url, log, webhook, extra_args
            )
            result = asyncio.run(
                measure(
                    cluster,
                    namespace,
                    operator,
                    answers,
                    configuration=configuration,
                    pipeline_runs=run_count,
                    registry_pid=registry.pid,
                    **common,
                )
            )
            cancelled, replaced = asyncio.run(check_runs(cluster, namespace))
            if cancelled or replaced:
                result.notes.append(
                    f"{cancelled} PipelineRuns cancelled and {replaced} replacement copies made, "
                    "though every run's params were right"
                )
            results.append(result)
            click.echo(_line(results[-1]))
            asyncio.run(reset(cluster, namespace, size, plan.concurrency))
    return results


def _mib(value: float) -> str:
    """A steady RSS; "-" for the floor, which has exited by then."""
    return "-" if value != value else f"{value:.0f}"  # NaN is not equal to itself


def _line(result: RunResult) -> str:
    return (
        f"N={result.size} {result.configuration:<27} converged {result.converged_s:6.1f} s "
        f"(start-up {result.ready_line_s:5.1f} s), CPU {result.cpu_s:5.1f} s "
        f"({result.start_up_cpu_s:.1f} s in start-up"
        + (
            f"; registry stand-in meanwhile {result.registry_start_up_cpu_s:.1f} s"
            if result.registry_start_up_cpu_s
            else ""
        )
        + "), "
        f"peak {result.peak_rss_mib:5.0f} MiB, steady {result.steady_rss_mib:5.0f} MiB, "
        f"Events {result.events_posted} ({result.events_at_converged} by convergence)"
        + ("; " + "; ".join(result.notes) if result.notes else "")
    )


# -- the report --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    what: str
    target: str
    measured: str
    met: bool


def verdicts(results: Sequence[RunResult], size: int) -> list[Verdict]:
    at = {r.configuration: r for r in results if r.size == size}
    if BARE not in at:
        return []
    bare = at[BARE]
    found = []
    for configuration in (WEBHOOK, NO_WEBHOOK, DIGESTS_OFF):
        if configuration not in at:
            continue
        ours = at[configuration]
        ratio = ours.converged_s / bare.converged_s
        found.append(
            Verdict(
                f"cold start → all Ready, {configuration}, N={size:,}",
                f"≤ {TIME_RATIO_TARGET}x bare ({TIME_RATIO_TARGET * bare.converged_s:.1f} s)",
                f"{ours.converged_s:.1f} s = {ratio:.2f}x bare ({bare.converged_s:.1f} s)",
                ratio <= TIME_RATIO_TARGET,
            )
        )
        floor = at.get(floor_name(FLOOR_WORKERS[0]))
        if floor is not None:
            to_floor = ours.converged_s / floor.converged_s
            found.append(
                Verdict(
                    f"cold start → all Ready, {configuration}, N={size:,}, stretch",
                    f"≤ {FLOOR_RATIO_STRETCH:g}x the floor "
                    f"({FLOOR_RATIO_STRETCH * floor.converged_s:.1f} s)",
                    f"{to_floor:.2f}x the floor ({floor.converged_s:.1f} s)",
                    to_floor <= FLOOR_RATIO_STRETCH,
                )
            )
        for kind, value, reference in (
            ("peak", ours.peak_rss_mib, bare.peak_rss_mib),
            ("steady", ours.steady_rss_mib, bare.steady_rss_mib),
        ):
            rss_ratio = value / reference
            found.append(
                Verdict(
                    f"RSS ({kind}), {configuration}, N={size:,} + {ours.pipeline_runs:,} runs",
                    f"≤ {RSS_RATIO_TARGET}x bare's {kind} with the InferenceServices alone "
                    f"({RSS_RATIO_TARGET * reference:.0f} MiB); stretch {RSS_STRETCH_MIB:.0f} MiB",
                    f"{value:.0f} MiB = {rss_ratio:.2f}x bare ({reference:.0f} MiB); stretch "
                    + ("met" if value <= RSS_STRETCH_MIB else "missed"),
                    rss_ratio <= RSS_RATIO_TARGET,
                )
            )
        if ours.notes:
            found.append(Verdict(f"PipelineRuns left alone, {configuration}", "0 touched",
                                 "; ".join(ours.notes), False))  # fmt: skip
    return found


def report(
    results: Sequence[RunResult], plan: Plan, facts: Mapping[str, Any], meta: Mapping[str, Any]
) -> str:
    largest = max(r.size for r in results)
    lines = [
        "# Scale: cold start to all bindings Ready, and operator memory",
        "",
        *run_lines(
            meta,
            facts,
            "other test runs share this machine; the load before and after each operator run "
            "is in the json",
        ),
        "Setup per size N: one namespace, N opted-in InferenceServices (stale labels, one "
        "registered URI each; the stand-in registry holds exactly those N versions), "
        f"{plan.runs_per_service} PipelineRuns per InferenceService ({plan.opted_in_share:.0%} "
        "model-testing runs with the opt-in label and the right params, "
        f"{plan.running_share:.0%} of those still running, the rest finished; the others "
        "unrelated pipelines). *bare* and the *floor* (the same three writes from client-go, "
        "nothing else, from a plan made beforehand) run before the PipelineRuns exist. "
        "Before each run the "
        "ModelBindings are deleted and the labels made stale. Time: from the operator's "
        "launch until this client's watches saw every label right and every binding Ready "
        f"with the right version. Memory: VmHWM (peak) and median VmRSS over {plan.settle_s:g} s "
        "after convergence (steady), from /proc.",
        "",
        "| N | configuration | PipelineRuns | start-up (s) | first Ready (s) | all Ready (s) "
        "| x bare | operator CPU (s): all / start-up (registry stand-in's meanwhile) "
        "| peak RSS (MiB) | steady RSS (MiB) | Events posted (by all Ready) | load before |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    bare_by_size = {r.size: r for r in results if r.configuration == BARE}
    for r in results:
        bare = bare_by_size.get(r.size)
        ratio = f"{r.converged_s / bare.converged_s:.2f}" if bare else "-"
        first = f"{r.first_ready_s:.1f}" if r.first_ready_s is not None else "-"
        lines.append(
            f"| {r.size:,} | {r.configuration} | {r.pipeline_runs:,} | {r.ready_line_s:.1f} "
            f"| {first} | {r.converged_s:.1f} | {ratio} | {r.cpu_s:.1f} / {r.start_up_cpu_s:.1f}"
            + (f" ({r.registry_start_up_cpu_s:.1f})" if r.registry_start_up_cpu_s else "")
            + f" | {r.peak_rss_mib:.0f} "
            f"| {_mib(r.steady_rss_mib)} | {r.events_posted:,} ({r.events_at_converged:,}) "
            f"| {load_line(r.load_before)} |"
        )
    lines += ["", f"## Verdict at N = {largest:,}", ""]
    for v in verdicts(results, largest):
        lines.append(f"- {v.what}: target {v.target}; measured {v.measured}: "
                     f"**{'met' if v.met else 'missed'}**.")  # fmt: skip
    notes = [n for r in results for n in r.notes]
    if notes:
        lines += ["", "## Problems seen", ""]
        lines += [f"- N={r.size:,} {r.configuration}: {n}" for r in results for n in r.notes]
    lines += [
        "",
        "*start-up*: launch → the operator's start-up handlers finished (for registry-sync "
        "this includes reading the whole registry once: three listings and one request per "
        "version, see registry-refresh.md; the registry stand-in answering them runs on the same "
        "cores, its CPU meanwhile in brackets). *first Ready*: launch → the first binding Ready.",
        "",
        "Plot: `scale.png` (all Ready against N). Raw numbers: `scale.json`.",
        "",
    ]
    return "\n".join(lines)


def plot(results: Sequence[RunResult], path: Path) -> bool:
    """Draw the plot; False when matplotlib is missing (said on stderr)."""
    try:
        import matplotlib
    except ImportError:
        # The tables are written already: say what is missing instead of a traceback.
        click.echo(
            f"{path.name} not drawn: matplotlib is not installed (the bench extras: "
            "`make bench`, or `pip install -c constraints.txt -e '.[dev,bench]'`); "
            "redraw later with --replot",
            err=True,
        )
        return False

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5), dpi=120)
    styles = ((BARE, "o-"), (WEBHOOK, "s-"), (NO_WEBHOOK, "^--"),
              (floor_name(32), "x:"), (floor_name(1), "+:"))  # fmt: skip
    for configuration, style in styles:
        points = sorted(
            (r.size, r.converged_s) for r in results if r.configuration == configuration
        )
        if points:
            xs, ys = zip(*points, strict=True)
            axis.plot(xs, ys, style, label=configuration)
    axis.set_xlabel("opted-in InferenceServices (registry-sync: with the PipelineRuns present)")
    axis.set_ylabel("cold start → all bindings Ready (s)")
    axis.set_title("Convergence time against object count (2 cores)")
    axis.set_ylim(bottom=0)
    axis.grid(True, alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return True


@click.command()
@click.option("--sizes", default="100,500,2000", show_default=True)
@click.option("--runs-per-service", default=5, show_default=True, type=int)
@click.option("--opted-in-share", default=0.2, show_default=True, type=float,
              help="Share of the PipelineRuns that are opted-in model-testing runs.")  # fmt: skip
@click.option("--running-share", default=0.1, show_default=True, type=float,
              help="Share of the opted-in runs still running (the others finished).")  # fmt: skip
@click.option("--concurrency", default=32, show_default=True, type=int)
@click.option("--settle", "settle_s", default=15.0, show_default=True, type=float)
@click.option("--timeout", "timeout_s", default=900.0, show_default=True, type=float)
@click.option("--output-dir", default=str(RESULTS), show_default=True,
              type=click.Path(file_okay=False, path_type=Path))  # fmt: skip
@click.option("--model-pods", is_flag=True,
              help="Also one running model pod per InferenceService (the digest check reads "
                   "them), and a run with --digest-check off beside the default.")  # fmt: skip
@click.option("--floor/--no-floor", default=True, show_default=True,
              help="Also the floor: the same writes from client-go (Go builds it).")  # fmt: skip
@click.option("--replot", is_flag=True,
              help="Only redraw scale.png from the scale.json in --output-dir.")  # fmt: skip
def main(
    sizes: str,
    runs_per_service: int,
    opted_in_share: float,
    running_share: float,
    concurrency: int,
    settle_s: float,
    timeout_s: float,
    output_dir: Path,
    model_pods: bool,
    floor: bool,
    replot: bool,
) -> None:
    """Measure cold-start convergence and memory of registry-sync against a bare operator."""
    if replot:
        recorded = json.loads((output_dir / "scale.json").read_text())
        plot([RunResult(**r) for r in recorded["results"]], output_dir / "scale.png")
        return
    try:
        counts = sorted(int(size) for size in sizes.split(","))
    except ValueError:
        raise click.BadParameter(f"{sizes!r}: give comma-separated integers") from None
    plan = Plan(
        runs_per_service,
        opted_in_share,
        running_share,
        concurrency,
        settle_s,
        timeout_s,
        model_pods,
        build_floor() if floor else None,
    )
    meta: dict[str, Any] = {
        "command": command_line("scale.py"),
        "date": utc_now(),
        "load_start": load_average(),
    }
    facts = machine_facts()
    began = time.monotonic()
    results: list[RunResult] = []
    workdir = Path(tempfile.mkdtemp(prefix="registry-sync-scale-"))
    with local_cluster() as cluster:
        for size in counts:
            results.extend(bench_size(cluster, size, plan, workdir))
    meta["wall_s"] = time.monotonic() - began
    meta["load_end"] = load_average()
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "scale.json").write_text(
        json.dumps(
            {
                **meta,
                "machine": facts,
                "plan": asdict(plan),
                "results": [asdict(r) for r in results],
                "verdicts": [asdict(v) for v in verdicts(results, max(counts))],
            },
            indent=1,
            default=str,  # the floor binary's path
        )
    )
    (output_dir / "scale.md").write_text(report(results, plan, facts, meta))
    drawn = plot(results, output_dir / "scale.png")
    click.echo(
        f"wrote {output_dir / 'scale.md'}, scale.json{', scale.png' if drawn else ''}; "
        f"logs in {workdir}"
    )


if __name__ == "__main__":
    sys.exit(main())
