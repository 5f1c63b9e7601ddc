"""Webhook abuse: how long a normal admission review takes while other clients flood the port.

Anything in the cluster that reaches the webhook port can POST to it. This benchmark starts a
local control plane, the registry stand-in with the seed registered, and the operator as
deployed (`--webhook service`, a serving certificate, the seed InferenceService's binding
Ready). Then, per phase, a client POSTs the seed's run as an AdmissionReview every 50 ms, as
the apiserver would, and records how long the answer takes:

- `quiet`: nothing else.
- `attacked`: meanwhile `--attackers` (10) clients in another process POST large reviews in a
  loop, each as soon as the last was answered: the seed run with 22,000 params (0.95 MiB,
  just under the 1 MiB that Kopf's server accepted before), with 31,000 params (1.3 MiB), a
  review for another namespace (2 MiB) and one just under 3 MiB.
- `attacked-passing` (only with `--passing`): the same flood of 1-3 MiB reviews that pass
  every check (this namespace, few params, a large embedded pipelineSpec): what is left
  once the cheap refusals are in place.

An answer after 5 s is one the apiserver would not wait for (the webhook's timeout; with
`failurePolicy: Fail` the create is denied). With `--baseline-source DIR` the same phases run
first against the operator in DIR/operator (e.g. `git archive` of an older commit), so one
report compares the two.

Run from the repository root (about 1.5 minutes with a baseline):

    .venv/bin/python bench/webhook_abuse.py [--baseline-source DIR] [--seconds 20]

It writes bench/results/webhook-abuse.md and the raw figures beside it (.json).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import ssl
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp
import click

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests"))

from common import (  # noqa: E402
    command_line,
    deploy_seed_inference_service,
    local_cluster,
    machine_facts,
    machine_line,
    utc_now,
)

from integration.install.scenario import (  # noqa: E402
    register_webhook_as_admin,
    service_mode_args,
    webhook_certificate,
)
from registry_sync.demo.seed import ISVC_NAME, SeedIds, register_seed, seed_pipeline_run  # noqa: E402
from registry_sync.registry.client import RegistryClient  # noqa: E402
from registry_sync.webhook.configuration import HANDLER_ID  # noqa: E402
from support.cluster import Cluster  # noqa: E402
from support.devregistry import start_dev_registry  # noqa: E402
from support.operator import RunningOperator, free_port, start_operator  # noqa: E402

APISERVER_TIMEOUT_S: Final = 5.0  # the webhook configuration's timeoutSeconds
NORMAL_EVERY_S: Final = 0.05
CLIENT_TIMEOUT_S: Final = 30.0
MIB: Final = 1024 * 1024


# -- reviews ---------------------------------------------------------------------------------


def admission_review(namespace: str, run: dict[str, Any], uid: str) -> bytes:
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "tekton.dev", "version": "v1", "kind": "PipelineRun"},
            "resource": {"group": "tekton.dev", "version": "v1", "resource": "pipelineruns"},
            "requestKind": {"group": "tekton.dev", "version": "v1", "kind": "PipelineRun"},
            "requestResource": {"group": "tekton.dev", "version": "v1", "resource": "pipelineruns"},
            "name": run["metadata"].get("name", ""),
            "namespace": namespace,
            "operation": "CREATE",
            "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
            "object": run,
            "oldObject": None,
            "dryRun": False,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        },
    }
    return json.dumps(review).encode()


def run_with_params(namespace: str, extra: int) -> dict[str, Any]:
    run = seed_pipeline_run(namespace)
    run["spec"]["params"] += [{"name": f"p{i}", "value": "v" * 12} for i in range(extra)]
    return run


def run_with_pipeline_spec(namespace: str, size_bytes: int) -> dict[str, Any]:
    """The seed run with an embedded pipelineSpec of about `size_bytes`: few params."""
    run = seed_pipeline_run(namespace)
    task = {"name": "t", "taskRef": {"name": "model-test"}, "runAfter": ["s"]}
    count = size_bytes // len(json.dumps(task))
    run["spec"].pop("pipelineRef")
    run["spec"]["pipelineSpec"] = {
        "tasks": [{**task, "name": f"t{i}"} for i in range(count)],
    }
    return run


def refused_bodies(namespace: str) -> list[tuple[str, bytes]]:
    """Large reviews the operator should refuse on sight."""
    return [
        (
            # Under aiohttp's default 1 MiB body limit: read, copied and diffed whole before.
            "22k params, 0.95 MiB",
            admission_review(namespace, run_with_params(namespace, int(0.95 * MIB) // 44), "u"),
        ),
        (
            "31k params, 1.3 MiB",
            admission_review(namespace, run_with_params(namespace, 31_000), "a"),
        ),
        (
            "other namespace, 2 MiB",
            admission_review("elsewhere", run_with_params("elsewhere", 2 * MIB // 44), "b"),
        ),
        (
            "params, 2.9 MiB",
            admission_review(namespace, run_with_params(namespace, int(2.9 * MIB) // 44), "c"),
        ),
    ]


def passing_bodies(namespace: str) -> list[tuple[str, bytes]]:
    """Large reviews that pass every check: this namespace, few params, deep enough only."""
    return [
        (
            f"pipelineSpec, {size:g} MiB",
            admission_review(
                namespace, run_with_pipeline_spec(namespace, int(size * MIB)), f"p{size}"
            ),
        )
        for size in (1.0, 2.0, 2.9)
    ]


# -- the attackers, in a process of their own ----------------------------------------------


@dataclass
class AttackTally:
    requests: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    median_s: float = float("nan")
    by_body: dict[str, int] = field(default_factory=dict)


def attack(
    url: str, ca_pem: str, bodies: list[tuple[str, bytes]], attackers: int, seconds: float
) -> AttackTally:
    """`attackers` clients, each POSTing the bodies in turn until `seconds` have passed."""

    async def flood() -> AttackTally:
        statuses: Counter[str] = Counter()
        by_body: Counter[str] = Counter()
        took: list[float] = []
        deadline = time.monotonic() + seconds
        tls = ssl.create_default_context(cadata=ca_pem)

        async def one(number: int) -> None:
            timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                turn = number
                while time.monotonic() < deadline:
                    name, body = bodies[turn % len(bodies)]
                    turn += 1
                    started = time.monotonic()
                    try:
                        async with session.post(url, data=body, ssl=tls) as answer:
                            await answer.read()
                            statuses[str(answer.status)] += 1
                    except (aiohttp.ClientError, TimeoutError) as error:
                        statuses[type(error).__name__] += 1
                    took.append(time.monotonic() - started)
                    by_body[name] += 1

        await asyncio.gather(*(one(n) for n in range(attackers)))
        return AttackTally(
            requests=len(took),
            statuses=dict(statuses),
            median_s=sorted(took)[len(took) // 2] if took else float("nan"),
            by_body=dict(by_body),
        )

    return asyncio.run(flood())


def _attack_in_child(
    queue: multiprocessing.Queue[AttackTally], *arguments: Any
) -> None:  # pragma: no cover - runs in the child
    queue.put(attack(*arguments))


# -- normal reviews --------------------------------------------------------------------------


@dataclass
class Phase:
    operator: str
    name: str
    seconds: float
    latencies_s: list[float] = field(default_factory=list)
    wrong: int = 0  # answers that were not a 200 admitting the run with a patch
    attack: AttackTally | None = None

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies_s)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def late(self) -> int:
        return sum(1 for value in self.latencies_s if value > APISERVER_TIMEOUT_S)


async def normal_reviews(url: str, ca_pem: str, namespace: str, phase: Phase) -> None:
    """One review of the seed run every NORMAL_EVERY_S (or as soon as the last answered)."""
    tls = ssl.create_default_context(cadata=ca_pem)
    timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)
    run = seed_pipeline_run(namespace)
    deadline = time.monotonic() + phase.seconds
    async with aiohttp.ClientSession(timeout=timeout) as session:
        number = 0
        while time.monotonic() < deadline:
            number += 1
            body = admission_review(namespace, run, f"normal-{number}")
            started = time.monotonic()
            try:
                async with session.post(url, data=body, ssl=tls) as answer:
                    payload = await answer.read()
                    good = answer.status == 200 and _admitted_with_patch(payload)
            except (aiohttp.ClientError, TimeoutError):
                good = False
            took = time.monotonic() - started
            phase.latencies_s.append(took)
            phase.wrong += not good
            await asyncio.sleep(max(0.0, NORMAL_EVERY_S - took))


def _admitted_with_patch(payload: bytes) -> bool:
    response = json.loads(payload).get("response", {})
    return bool(response.get("allowed")) and "patch" in response


def run_phase(
    url: str,
    ca_pem: str,
    namespace: str,
    phase: Phase,
    bodies: list[tuple[str, bytes]] | None,
    attackers: int,
) -> Phase:
    child = None
    queue: multiprocessing.Queue[AttackTally] | None = None
    if bodies:
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        child = context.Process(
            target=_attack_in_child,
            args=(queue, url, ca_pem, bodies, attackers, phase.seconds),
            daemon=True,
        )
        child.start()
        time.sleep(1.0)  # the flood is under way before the first normal review
    asyncio.run(normal_reviews(url, ca_pem, namespace, phase))
    if child is not None and queue is not None:
        phase.attack = queue.get(timeout=CLIENT_TIMEOUT_S + 30)
        child.join(10)
    return phase


# -- one operator under test ----------------------------------------------------------------


@contextmanager
def operator_in(
    cluster: Cluster, registry_url: str, source: Path | None, logs: Path, label: str
) -> Iterator[tuple[RunningOperator, str, str]]:
    """The operator from `source` (None: this checkout) in a namespace of its own, as the
    Deployment runs it, with its webhook configuration applied as an admin would."""
    namespace = cluster.create_namespace(f"bench-abuse-{label}")
    certificate = webhook_certificate(logs / f"certs-{label}")
    port = free_port()
    register_webhook_as_admin(cluster, namespace, port, certificate)
    env = {"PYTHONPATH": str(source / "operator")} if source is not None else {}
    with start_operator(
        cluster, namespace, registry_url, logs / f"operator-{label}.log",
        extra_args=service_mode_args(certificate), env=env, webhook_port=port, verbose=False,
    ) as operator:  # fmt: skip
        yield operator, namespace, certificate.ca_pem.decode()


# -- the report -------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def report(phases: Sequence[Phase], command: str, facts: dict[str, Any], wall_s: float) -> str:
    lines = [
        "# Webhook abuse: normal admission latency under a flood of large reviews",
        "",
        f"Run {utc_now()} with `{command}` ({wall_s:.0f} s). {machine_line(facts)}.",
        "",
        "A normal review is the seed run's AdmissionReview POSTed straight to the webhook "
        f"every {NORMAL_EVERY_S * 1000:g} ms, as the apiserver sends it; a right answer admits "
        "it with the corrected params. `> 5 s` counts answers the apiserver would not have "
        "waited for (it then denies the create: `failurePolicy: Fail`). The attackers POST "
        "large reviews in a loop from another process, each as soon as its last was answered.",
        "",
        "| operator | phase | normal reviews | p50 | p99 | max | > 5 s | not admitted |"
        " attack requests | attack answers | attack median |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for phase in phases:
        attack_cells = ["", "", ""]
        if phase.attack is not None:
            statuses = ", ".join(f"{k}: {v}" for k, v in sorted(phase.attack.statuses.items()))
            attack_cells = [str(phase.attack.requests), statuses, _ms(phase.attack.median_s)]
        lines.append(
            f"| {phase.operator} | {phase.name} | {len(phase.latencies_s)} | "
            f"{_ms(phase.quantile(0.5))} | {_ms(phase.quantile(0.99))} | "
            f"{_ms(max(phase.latencies_s, default=float('nan')))} | {phase.late} | "
            f"{phase.wrong} | " + " | ".join(attack_cells) + " |"
        )
    lines += ["", "Attack bodies sent, per phase:", ""]
    for phase in phases:
        if phase.attack is not None:
            sent = ", ".join(f"{k}: {v}" for k, v in phase.attack.by_body.items())
            lines.append(f"- {phase.operator} / {phase.name}: {sent}")
    return "\n".join(lines) + "\n"


async def _register_seed(registry_url: str) -> SeedIds:
    async with RegistryClient(registry_url) as client:
        return await register_seed(client)


@click.command()
@click.option("--seconds", default=20.0, show_default=True, type=click.FloatRange(min=1),
              help="Length of the attacked phase(s).")  # fmt: skip
@click.option("--quiet-seconds", default=8.0, show_default=True, type=click.FloatRange(min=1))
@click.option("--attackers", default=10, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--baseline-source",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="A tree whose operator/ is measured first, for comparison (e.g. an older commit).",
)
@click.option("--baseline-label", default="before", show_default=True)
@click.option("--label", default="after", show_default=True, help="This checkout's label.")
@click.option("--passing", is_flag=True, help="Also flood with reviews that pass the checks.")
@click.option(
    "--output",
    default=str(BENCH / "results" / "webhook-abuse.md"),
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
)
def main(
    seconds: float,
    quiet_seconds: float,
    attackers: int,
    baseline_source: Path | None,
    baseline_label: str,
    label: str,
    passing: bool,
    output: Path,
) -> None:
    """Measure normal webhook latency with and without a flood of large reviews."""
    began = time.monotonic()
    command = command_line("webhook_abuse.py")
    facts = machine_facts()
    logs = Path(tempfile.mkdtemp(prefix="registry-sync-bench-abuse-"))
    click.echo(f"load average {os.getloadavg()}; operator logs in {logs}")
    sources: list[tuple[str, Path | None]] = [(label, None)]
    if baseline_source is not None:
        sources.insert(0, (baseline_label, baseline_source.resolve()))
    phases: list[Phase] = []
    with local_cluster() as cluster, start_dev_registry() as registry:
        ids = asyncio.run(_register_seed(registry.url))
        for name, source in sources:
            with operator_in(cluster, registry.url, source, logs, name) as (op, namespace, ca):
                deploy_seed_inference_service(cluster, namespace, ids)
                url = f"https://127.0.0.1:{op.webhook_port}/{HANDLER_ID}"
                plan: list[tuple[str, float, list[tuple[str, bytes]] | None]] = [
                    ("quiet", quiet_seconds, None),
                    ("attacked", seconds, refused_bodies(namespace)),
                ]
                if passing:
                    plan.append(("attacked-passing", seconds, passing_bodies(namespace)))
                for phase_name, length, bodies in plan:
                    phase = run_phase(
                        url, ca, namespace, Phase(name, phase_name, length), bodies, attackers
                    )
                    phases.append(phase)
                    click.echo(
                        f"{name} {phase_name}: p50 {_ms(phase.quantile(0.5))}, p99 "
                        f"{_ms(phase.quantile(0.99))}, > 5 s: {phase.late}, wrong: {phase.wrong}"
                    )
                if not op.running:
                    raise click.ClickException(f"operator {name} died; see {op.log_path}")
    wall_s = time.monotonic() - began
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report(phases, command, facts, wall_s))
    output.with_suffix(".json").write_text(
        json.dumps(
            {
                "command": command,
                "machine": facts,
                "target": ISVC_NAME,
                "phases": [asdict(phase) for phase in phases],
            },
            separators=(",", ":"),
        )
    )
    click.echo(f"wrote {output} and {output.with_suffix('.json')}")


if __name__ == "__main__":
    sys.exit(main())
