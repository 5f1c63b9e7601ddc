"""The core the reconciler calls per InferenceService event (domain/reconcile.py).

The rule that keeps the shell simple: one call per event, plus at most one more after the
I/O step the first call asked for (a registry refresh first, or a label patch the apiserver
refused), and that second call never asks again.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from registry_sync.domain.answer import Outcome
from registry_sync.domain.inference_service import read_inference_service
from registry_sync.domain.metadata import LabelKeys
from registry_sync.domain.reconcile import (
    BindingRules,
    Decided,
    Known,
    RefreshFirst,
    RegistryView,
    reconcile_step,
    worth_reconciling_again,
)
from registry_sync.domain.reference_index import ReferenceIndex
from unit.domain.seed import SNAPSHOT_TAKEN_AT_MS, seed_inference_service, seed_snapshot

NOW_MS = SNAPSHOT_TAKEN_AT_MS + 60_000
RULES = BindingRules()
REGISTRY = RegistryView(ReferenceIndex.from_snapshot(seed_snapshot()), current=True)
UNREGISTERED_URI = "oci://quay.io/someone/not-registered:1"


def body(uri: str | None = None, **annotations: str) -> dict[str, Any]:
    deployed = copy.deepcopy(seed_inference_service())
    if uri is not None:
        deployed["spec"]["predictor"]["model"]["storageUri"] = uri
    deployed["metadata"].setdefault("annotations", {}).update(annotations)
    return deployed


def facts_of(deployed: dict[str, Any]) -> Any:
    return read_inference_service(deployed, LabelKeys())


BODIES = {
    "resolved, wrong labels": body(),
    "not registered": body(UNREGISTERED_URI),
    "unparseable URI": body("oci://"),
    "audit mode": body(**{"registry-sync.io/mode": "audit"}),
    "pinned to a missing version": body(**{"registry-sync.io/model-version-id": "999"}),
}


def test_an_unregistered_uri_asks_for_a_refresh_first() -> None:
    step = reconcile_step(facts_of(BODIES["not registered"]), Known(), REGISTRY, RULES, NOW_MS)

    assert step == RefreshFirst(UNREGISTERED_URI)


def test_a_registered_uri_is_decided_at_once_with_its_label_correction() -> None:
    step = reconcile_step(
        facts_of(BODIES["resolved, wrong labels"]), Known(), REGISTRY, RULES, NOW_MS
    )

    assert isinstance(step, Decided)
    assert step.resolution.outcome is Outcome.RESOLVED
    assert step.decision.label_patch  # the incident's wrong labels


@pytest.mark.parametrize("name", sorted(BODIES))
def test_after_a_refresh_the_second_call_never_asks_again(name: str) -> None:
    facts = facts_of(BODIES[name])
    for registry in (REGISTRY, RegistryView(None, current=False, problem="down")):
        step = reconcile_step(facts, Known(), registry, RULES, NOW_MS, refreshed=True)

        assert isinstance(step, Decided)


@pytest.mark.parametrize("name", sorted(BODIES))
def test_after_a_refused_patch_the_second_call_asks_for_no_patch_and_no_refresh(name: str) -> None:
    facts = facts_of(BODIES[name])

    step = reconcile_step(
        facts, Known(), REGISTRY, RULES, NOW_MS, label_patch_error="HTTP 403 forbidden"
    )

    assert isinstance(step, Decided)
    assert step.decision.label_patch is None


def test_the_refused_patch_is_what_the_binding_then_says() -> None:
    facts = facts_of(BODIES["resolved, wrong labels"])

    step = reconcile_step(
        facts, Known(), REGISTRY, RULES, NOW_MS, label_patch_error="HTTP 403 forbidden"
    )

    assert isinstance(step, Decided)
    labels = {c["type"]: c for c in step.decision.status["conditions"]}["LabelsInSync"]
    assert labels["status"] == "False" and "HTTP 403 forbidden" in labels["message"]


def test_a_refresh_is_worth_a_new_reconcile_only_for_news_or_pending_work() -> None:
    facts = facts_of(BODIES["resolved, wrong labels"])
    step = reconcile_step(facts, Known(), REGISTRY, RULES, NOW_MS)
    assert isinstance(step, Decided)
    answer = step.resolution
    later = reconcile_step(facts, Known(answer=answer), REGISTRY, RULES, NOW_MS + 5_000)
    assert isinstance(later, Decided)
    gone = reconcile_step(facts, Known(answer=answer), RegistryView(None, False), RULES, NOW_MS)
    assert isinstance(gone, Decided)

    assert not worth_reconciling_again(later.resolution, answer, pending=False)
    assert worth_reconciling_again(later.resolution, answer, pending=True)
    assert worth_reconciling_again(later.resolution, None, pending=False)
    # An outage keeps the answer: the same names, another outcome, so the binding says so.
    assert gone.resolution.outcome is Outcome.REGISTRY_UNAVAILABLE
    assert worth_reconciling_again(gone.resolution, answer, pending=False)
