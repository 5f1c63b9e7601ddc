"""What registry-sync's own code costs per admission review, apart from Kopf and the network.

The admission benchmark compares whole creates, where registry-sync and the bare Kopf webhook
make the same writes; the difference it finds is registry-sync's code on the review path plus
whatever else its process does meanwhile. This measures the first part alone, in-process,
on the review the admission benchmark sends (the demo's seed run, opted in, its params to be
corrected): the checks every review passes before Kopf reads it (`webhook.review`: envelope,
params count, object shape and depth) and the decision (`domain.admission.decide_admission`:
the target, the binding, the params plan, the annotations). For scale, a JSON round trip
of the same review (what parsing it costs at least). Each is timed `--number` times, the
best of `--repeat` rounds reported (the least disturbed by other work), per call.

Run from the repository root (a few seconds):

    .venv/bin/python bench/review_cost.py

It writes bench/results/review-cost.md and .json.
"""

from __future__ import annotations

import json
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from common import (
    RESULTS,
    command_line,
    load_average,
    load_line,
    machine_facts,
    machine_line,
    utc_now,
)

from registry_sync.demo.seed import ISVC_NAME, seed_pipeline_run
from registry_sync.domain.admission import Admitted, BindingView, decide_admission
from registry_sync.domain.metadata import TARGET_LABEL
from registry_sync.domain.params import ParamNames
from registry_sync.webhook.review import review_problem, too_many_params


def seed_review(namespace: str) -> dict[str, Any]:
    """The AdmissionReview of the admission benchmark's opted-in run."""
    run = seed_pipeline_run(namespace)
    run["metadata"] = {
        "generateName": "bench-run-",
        "namespace": namespace,
        "labels": {TARGET_LABEL: ISVC_NAME, "registry-sync-bench/group": "registry-sync"},
    }
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "00000000-0000-0000-0000-000000000000",
            "namespace": namespace,
            "resource": {"group": "tekton.dev", "version": "v1", "resource": "pipelineruns"},
            "operation": "CREATE",
            "userInfo": {"username": "admin"},
            "object": run,
            "oldObject": None,
        },
    }


def ready_binding() -> BindingView:
    """A Ready binding of the seed's InferenceService naming another version than its run."""
    return BindingView(
        inference_service=ISVC_NAME,
        kind="InferenceService",
        ready=True,
        reason="Resolved",
        message="resolved",
        served_name=ISVC_NAME,
        model_name="Mistral-Small-24B-Instruct",
        version_name="quantized-w4a16-2501",
        version_id="2",
    )


def per_call_us(work: Callable[[], object], number: int, repeat: int) -> float:
    return min(timeit.repeat(work, number=number, repeat=repeat)) / number * 1e6


@click.command()
@click.option("--number", default=20000, show_default=True, help="Calls per round.")
@click.option("--repeat", default=5, show_default=True, help="Rounds; the best is reported.")
@click.option("--output", type=click.Path(path_type=Path), default=RESULTS / "review-cost.md")
def main(number: int, repeat: int, output: Path) -> None:
    namespace = "bench-registry-sync"
    review = seed_review(namespace)
    run, binding, names = review["request"]["object"], ready_binding(), ParamNames()
    decision = decide_admission(run, binding, names)
    if not isinstance(decision, Admitted) or not decision.changed:
        raise click.ClickException(f"the seed review is not corrected as benchmarked: {decision}")
    if review_problem(review, namespace) is not None or too_many_params(review) is not None:
        raise click.ClickException("the seed review does not pass the checks")
    body = json.dumps(review)
    load = load_average()
    figures = {
        "checks": per_call_us(
            lambda: (review_problem(review, namespace), too_many_params(review)), number, repeat
        ),
        "decision": per_call_us(lambda: decide_admission(run, binding, names), number, repeat),
        "json round trip": per_call_us(lambda: json.dumps(json.loads(body)), number, repeat),
    }
    facts = machine_facts()
    rows = "\n".join(f"| {what} | {us:.1f} |" for what, us in figures.items())
    output.write_text(
        f"""# registry-sync's own work per admission review

Command (from the repository root): `{command_line("review_cost.py")}`

Run: {utc_now()}. Machine: {machine_line(facts)}. Load average (1 / 5 / 15 min) at start:
{load_line(load)}.

The admission benchmark's opted-in review ({len(body)} bytes of JSON), its params corrected
(changed: {", ".join(decision.changed)}). Best of {repeat} rounds of {number:,} calls, per call.

| work | µs per review |
|---|---:|
{rows}
"""
    )
    output.with_suffix(".json").write_text(
        json.dumps(
            {"machine": facts, "load": load, "body_bytes": len(body), "per_call_us": figures},
            indent=2,
        )
        + "\n"
    )
    click.echo(output.read_text())


if __name__ == "__main__":
    main()
