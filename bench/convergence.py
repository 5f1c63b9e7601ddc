"""Convergence: an InferenceService's storage URI changes → its labels and its ModelBinding
Ready again with the new version, p50/p99 over many changes.

One local control plane, one namespace with K opted-in InferenceServices (default 50), a
registry stand-in in which every InferenceService's current URI and the URI it is changed
to are both registered beforehand (the new URI is already known: no registry wait is
measured, only the operator). For each configuration (registry-sync as deployed, INFO
logging, webhook mode; then the bare Kopf operator of `bench/bare_operator.py` for
reference) it waits until everything has converged, then makes `--changes` changes one
after the other: a merge patch of `spec.predictor.model.storageUri` of the next
InferenceService (round-robin), switching between its two URIs.

Times come from one LIST+WATCH of InferenceServices and one of ModelBindings, stamped on
arrival in this client (no polling): a change's latency runs from the watch event that
carries the new URI (the moment the operator's own watch can see it) to the later of the
event with the new labels and the event with the binding Ready naming the new version.
The latency from sending the patch is reported too.

Run from the repository root (about 3 minutes):

    .venv/bin/python bench/convergence.py [--services 50] [--changes 200]

It writes bench/results/convergence.md and convergence.json.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import click
from common import (
    BINDING_PATH,
    ISVC_PATH,
    MERGE,
    RESULTS,
    Answer,
    BareProcess,
    BenchError,
    RegistrySyncProcess,
    api_session,
    bench_uri,
    binding_ready_for,
    command_line,
    create_inference_services,
    labels_match,
    list_and_watch,
    load_average,
    load_line,
    local_cluster,
    machine_facts,
    quantile,
    request,
    run_lines,
    seed_registry_file,
    utc_now,
    wait_for_line,
    write_table,
)

from support.cluster import Cluster
from support.devregistry import start_dev_registry

REGISTRY_SYNC: Final = "registry-sync"
BARE: Final = "bare"
P50_TARGET_S: Final = 1.0
P99_TARGET_S: Final = 3.0
CHANGE_TIMEOUT_S: Final = 60.0


def storage_uri(obj: Mapping[str, Any]) -> str | None:
    uri = obj.get("spec", {}).get("predictor", {}).get("model", {}).get("storageUri")
    return uri if isinstance(uri, str) else None


@dataclass
class Tracker:
    """Per InferenceService: the answer expected now, and when the watches saw the change,
    the right labels and the Ready binding."""

    expected: dict[str, Answer]
    labels_ok: set[str] = field(default_factory=set)
    bindings_ok: set[str] = field(default_factory=set)
    change_seen_at: dict[str, float] = field(default_factory=dict)
    labels_at: dict[str, float] = field(default_factory=dict)
    binding_at: dict[str, float] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def expect(self, name: str, answer: Answer) -> None:
        self.expected[name] = answer
        self.labels_ok.discard(name)
        self.bindings_ok.discard(name)
        for times in (self.change_seen_at, self.labels_at, self.binding_at):
            times.pop(name, None)

    def on_inference_service(self, kind: str, obj: Mapping[str, Any], at: float) -> None:
        name = obj.get("metadata", {}).get("name", "")
        answer = self.expected.get(name)
        if answer is None or kind == "DELETED":
            return
        if storage_uri(obj) != answer.uri:
            return
        self.change_seen_at.setdefault(name, at)
        if labels_match(obj, answer.labels()):
            if name not in self.labels_ok:
                self.labels_ok.add(name)
                self.labels_at[name] = at
        else:
            self.labels_ok.discard(name)
            self.labels_at.pop(name, None)
        self.changed.set()

    def on_binding(self, kind: str, obj: Mapping[str, Any], at: float) -> None:
        name = obj.get("metadata", {}).get("name", "")
        answer = self.expected.get(name)
        if answer is None:
            return
        if kind != "DELETED" and binding_ready_for(obj, answer):
            if name not in self.bindings_ok:
                self.bindings_ok.add(name)
                self.binding_at[name] = at
        else:
            self.bindings_ok.discard(name)
            self.binding_at.pop(name, None)
        self.changed.set()

    def converged(self, name: str) -> bool:
        return name in self.labels_ok and name in self.bindings_ok

    def all_converged(self) -> bool:
        return all(self.converged(name) for name in self.expected)

    async def wait(self, done: Any, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            self.changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BenchError(f"{what} not converged within {timeout_s:g} s")
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except TimeoutError:
                continue


@dataclass(frozen=True)
class Change:
    number: int
    service: str
    from_event_s: float  # watch event with the new URI → labels and binding right
    from_patch_s: float  # patch sent → labels and binding right
    labels_s: float  # watch event with the new URI → labels right
    binding_s: float  # watch event with the new URI → binding Ready


@dataclass
class Phase:
    configuration: str
    changes: list[Change] = field(default_factory=list)
    load_before: list[float] = field(default_factory=list)
    load_after: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        found: dict[str, float] = {}
        for key in ("from_event_s", "from_patch_s", "labels_s", "binding_s"):
            ordered = sorted(getattr(c, key) for c in self.changes)
            found[f"{key}_p50"] = quantile(ordered, 0.50)
            found[f"{key}_p90"] = quantile(ordered, 0.90)
            found[f"{key}_p99"] = quantile(ordered, 0.99)
            found[f"{key}_max"] = ordered[-1]
        return found


def service_name(number: int) -> str:
    return f"conv-{number:04d}"


async def run_phase(
    cluster: Cluster,
    namespace: str,
    process: RegistrySyncProcess | BareProcess,
    pairs: Sequence[tuple[Answer, Answer]],
    current: list[int],
    changes: int,
    configuration: str,
) -> Phase:
    """Start the operator, wait for everything to converge, then make the changes."""
    tracker = Tracker({service_name(n): pairs[n][current[n]] for n in range(len(pairs))})
    phase = Phase(configuration)
    services = cluster.server + ISVC_PATH.format(ns=namespace)
    async with api_session(cluster, limit=8) as session:
        listed = [asyncio.Event(), asyncio.Event()]
        watches = [
            asyncio.create_task(
                list_and_watch(session, cluster.server, path.format(ns=namespace), handler, event)
            )
            for path, handler, event in (
                (ISVC_PATH, tracker.on_inference_service, listed[0]),
                (BINDING_PATH, tracker.on_binding, listed[1]),
            )
        ]
        try:
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in listed)), 120)
            process.start()
            await asyncio.wait_for(
                wait_for_line(
                    process.log_path, process.ready_line, lambda: process.returncode is not None
                ),
                300,
            )
            await tracker.wait(tracker.all_converged, 300, f"{configuration}: the initial state")
            await asyncio.sleep(2)  # let start-up work (Events, metrics) drain
            phase.load_before = load_average()
            for number in range(changes):
                index = number % len(pairs)
                name = service_name(index)
                current[index] = 1 - current[index]
                answer = pairs[index][current[index]]
                tracker.expect(name, answer)
                patch = {"spec": {"predictor": {"model": {"storageUri": answer.uri}}}}
                sent = time.monotonic()
                await request(session, "PATCH", f"{services}/{name}", patch, headers=MERGE)
                await tracker.wait(
                    lambda name=name: tracker.converged(name) and name in tracker.change_seen_at,
                    CHANGE_TIMEOUT_S,
                    f"{configuration}: change {number} of {name}",
                )
                seen = tracker.change_seen_at[name]
                labels_at, binding_at = tracker.labels_at[name], tracker.binding_at[name]
                done = max(labels_at, binding_at)
                phase.changes.append(
                    Change(
                        number,
                        name,
                        from_event_s=done - seen,
                        from_patch_s=done - sent,
                        labels_s=labels_at - seen,
                        binding_s=binding_at - seen,
                    )
                )
            phase.load_after = load_average()
        finally:
            for task in watches:
                task.cancel()
            await asyncio.gather(*watches, return_exceptions=True)
            process.stop()
    return phase


def report(phases: Sequence[Phase], facts: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    lines = [
        "# Convergence: storage URI changed → labels and ModelBinding Ready",
        "",
        *run_lines(meta, facts, "other test runs share this machine"),
        f"Setup: {meta['services']} opted-in InferenceServices in one namespace; each has two "
        "URIs registered in the stand-in registry beforehand (the new URI is already known). "
        f"{meta['changes']} changes one after the other, round-robin over the "
        "InferenceServices, each a merge patch of `spec.predictor.model.storageUri`; the next "
        "change is made once the previous one converged. Converged: this client's watches saw "
        "the InferenceService with the new version's labels and its ModelBinding Ready naming "
        "the new version. registry-sync runs as deployed (INFO logging, webhook mode, default "
        "30 s registry refresh); *bare* is `bench/bare_operator.py` (same writes, fixed table).",
        "",
        "| configuration | changes | p50 (s) | p90 (s) | p99 (s) | max (s) | p50 from patch (s) "
        "| p99 from patch (s) | labels p50 / p99 (s) | binding p50 / p99 (s) | load before |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for phase in phases:
        s = phase.summary()
        lines.append(
            f"| {phase.configuration} | {len(phase.changes)} | {s['from_event_s_p50']:.3f} "
            f"| {s['from_event_s_p90']:.3f} | {s['from_event_s_p99']:.3f} "
            f"| {s['from_event_s_max']:.3f} | {s['from_patch_s_p50']:.3f} "
            f"| {s['from_patch_s_p99']:.3f} | {s['labels_s_p50']:.3f} / {s['labels_s_p99']:.3f} "
            f"| {s['binding_s_p50']:.3f} / {s['binding_s_p99']:.3f} "
            f"| {load_line(phase.load_before)} |"
        )
    ours = next((p for p in phases if p.configuration == REGISTRY_SYNC), None)
    if ours is not None:
        s = ours.summary()
        lines += [
            "",
            "## Verdict",
            "",
            f"- p50 ≤ {P50_TARGET_S:g} s: measured {s['from_event_s_p50']:.3f} s: "
            f"**{'met' if s['from_event_s_p50'] <= P50_TARGET_S else 'missed'}**.",
            f"- p99 ≤ {P99_TARGET_S:g} s: measured {s['from_event_s_p99']:.3f} s: "
            f"**{'met' if s['from_event_s_p99'] <= P99_TARGET_S else 'missed'}**.",
        ]
    lines += [
        "",
        "Latency runs from the watch event carrying the new URI to the later of the labels "
        "event and the binding event; *from patch* starts when this client sent the patch. "
        "Raw per-change numbers: `convergence.json`.",
        "",
    ]
    return "\n".join(lines)


@click.command()
@click.option("--services", default=50, show_default=True, type=int)
@click.option("--changes", default=200, show_default=True, type=int)
@click.option("--baseline/--no-baseline", default=True, show_default=True,
              help="Also measure the bare Kopf operator.")  # fmt: skip
@click.option("--output-dir", default=str(RESULTS), show_default=True,
              type=click.Path(file_okay=False, path_type=Path))  # fmt: skip
def main(services: int, changes: int, baseline: bool, output_dir: Path) -> None:
    """Measure how fast a storage URI change converges (labels + binding Ready)."""
    meta: dict[str, Any] = {
        "command": command_line("convergence.py"),
        "date": utc_now(),
        "load_start": load_average(),
        "services": services,
        "changes": changes,
    }
    facts = machine_facts()
    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="registry-sync-convergence-"))
    uris = [bench_uri(n) for n in range(2 * services)]
    data_file = workdir / "registry.json"
    answers = seed_registry_file(data_file, uris)
    table = workdir / "table.json"
    write_table(table, answers)
    pairs = [(answers[uris[2 * n]], answers[uris[2 * n + 1]]) for n in range(services)]
    current = [0] * services
    phases: list[Phase] = []
    with local_cluster() as cluster, start_dev_registry(data_file=data_file) as registry:
        namespace = cluster.create_namespace("convergence")
        first_uris = [(service_name(n), first.uri) for n, (first, _) in enumerate(pairs)]
        asyncio.run(create_inference_services(cluster, namespace, first_uris, 16))
        operator = RegistrySyncProcess(
            cluster, namespace, registry.url, workdir / "registry-sync.log", webhook=True
        )
        phases.append(
            asyncio.run(
                run_phase(cluster, namespace, operator, pairs, current, changes, REGISTRY_SYNC)
            )
        )
        click.echo(_phase_line(phases[-1]))
        if baseline:
            bare = BareProcess(cluster, namespace, table, workdir / "bare.log")
            phases.append(
                asyncio.run(run_phase(cluster, namespace, bare, pairs, current, changes, BARE))
            )
            click.echo(_phase_line(phases[-1]))
    meta["wall_s"] = time.monotonic() - began
    meta["load_end"] = load_average()
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "convergence.json").write_text(
        json.dumps(
            {
                **meta,
                "machine": facts,
                "summary": {p.configuration: p.summary() for p in phases},
                "phases": [asdict(p) for p in phases],
            },
            indent=1,
        )
    )
    (output_dir / "convergence.md").write_text(report(phases, facts, meta))
    click.echo(f"wrote {output_dir / 'convergence.md'} and convergence.json; logs in {workdir}")


def _phase_line(phase: Phase) -> str:
    s = phase.summary()
    return (
        f"{phase.configuration}: {len(phase.changes)} changes, p50 {s['from_event_s_p50']:.3f} s, "
        f"p99 {s['from_event_s_p99']:.3f} s, max {s['from_event_s_max']:.3f} s"
    )


if __name__ == "__main__":
    sys.exit(main())
