"""The digest check's decisions (domain/digest_check.py), alone and through the binding
decision the reconciler applies (domain/reconcile.py), on the seed scenario's registry."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from registry_sync.domain.digest_check import (
    DigestCheck,
    LearnedDigest,
    RegisteredDigest,
    RegisteredDigests,
    UnlearnedDigest,
)
from registry_sync.domain.inference_service import read_inference_service
from registry_sync.domain.metadata import LabelKeys
from registry_sync.domain.reconcile import (
    BindingRules,
    Decided,
    Known,
    RegistryView,
    WhatRuns,
    reconcile_step,
    worth_reconciling_again,
)
from registry_sync.domain.reference_index import ReferenceIndex
from registry_sync.domain.references import OciReference, parse_storage_uri
from registry_sync.domain.running_image import PodFacts, read_pod
from unit.domain.seed import (
    DEPLOYED_URI,
    SNAPSHOT_TAKEN_AT_MS,
    seed_inference_service,
    seed_snapshot,
)

NOW_MS = SNAPSHOT_TAKEN_AT_MS + 60_000
RUNNING = "sha256:" + "1" * 64
OTHER = "sha256:" + "2" * 64
INDEX = ReferenceIndex.from_snapshot(seed_snapshot())
REGISTRY = RegistryView(INDEX, current=True)
DUPLICATE_URI = "oci://quay.io/adrina/private-ai:mistral-24b-quantized-w4a16-2501"


def pod_running(*digests: str) -> tuple[PodFacts, ...]:
    deployed = parse_storage_uri(DEPLOYED_URI)
    assert isinstance(deployed, OciReference)
    image = f"{deployed.registry}/{deployed.repository}"
    pods = []
    for number, digest in enumerate(digests):
        body = {
            "metadata": {
                "name": f"mistral-predictor-{number}",
                "labels": {"serving.kserve.io/inferenceservice": "mistral-24b-quantized"},
            },
            "status": {
                "phase": "Running",
                "containerStatuses": [
                    {
                        "name": "modelcar",
                        "image": f"{image}:w4a16-2501",
                        "imageID": f"{image}@{digest}",
                    }
                ],
            },
        }
        facts = read_pod(body)
        assert facts is not None
        pods.append(facts)
    return tuple(pods)


def registry_naming(known: dict[str, RegisteredDigest]) -> RegisteredDigests:
    """The digest cache as a map from URI to what is known of it; others never learned."""

    def lookup(reference: OciReference) -> RegisteredDigest:
        for uri, registered in known.items():
            if parse_storage_uri(uri) == reference:
                return registered
        return UnlearnedDigest("DigestUnknown", f"{reference.canonical}: lookup failed")

    return RegisteredDigests.of(INDEX, lookup)


def decide(
    mode: DigestCheck,
    pods: tuple[PodFacts, ...] | None,
    known: dict[str, RegisteredDigest],
    *,
    annotations: dict[str, str] | None = None,
    previous_status: dict[str, Any] | None = None,
) -> Decided:
    body = copy.deepcopy(seed_inference_service())
    body["metadata"].setdefault("annotations", {}).update(annotations or {})
    facts = read_inference_service(body, LabelKeys())
    step = reconcile_step(
        facts,
        Known(status=previous_status),
        REGISTRY,
        BindingRules(digest_check=mode),
        NOW_MS,
        runs=WhatRuns(pods=pods, digests=registry_naming(known)),
    )
    assert isinstance(step, Decided)
    return step


def condition(step: Decided, kind: str) -> dict[str, str]:
    return next(c for c in step.decision.status["conditions"] if c["type"] == kind)


def test_the_running_digest_equal_to_the_registered_one_is_verified() -> None:
    step = decide(DigestCheck.REPORT, pod_running(RUNNING), {DEPLOYED_URI: LearnedDigest(RUNNING)})

    assert condition(step, "DigestVerified")["status"] == "True"
    assert step.decision.ready and step.decision.ready_reason == "Resolved"
    assert step.decision.status["runningDigest"] == RUNNING
    assert step.decision.status["registeredDigest"] == RUNNING
    assert step.decision.label_patch  # the seed's wrong labels are still corrected


def test_a_digest_of_the_registered_index_is_verified() -> None:
    index = LearnedDigest(OTHER, children=frozenset({RUNNING}))

    step = decide(DigestCheck.REPORT, pod_running(RUNNING), {DEPLOYED_URI: index})

    assert condition(step, "DigestVerified")["status"] == "True"


@pytest.mark.parametrize("mode", [DigestCheck.REPORT, DigestCheck.ENFORCE])
def test_a_moved_tag_makes_ready_false_and_leaves_labels_alone(mode: DigestCheck) -> None:
    step = decide(mode, pod_running(RUNNING), {DEPLOYED_URI: LearnedDigest(OTHER)})

    assert not step.decision.ready
    assert step.decision.ready_reason == "TagMoved"
    assert RUNNING in step.decision.ready_message and OTHER in step.decision.ready_message
    assert step.decision.label_patch is None
    assert condition(step, "LabelsInSync")["reason"] == "TagMoved"


@pytest.mark.parametrize("mode", [DigestCheck.REPORT, DigestCheck.ENFORCE])
def test_two_digests_running_is_a_rollout_in_progress(mode: DigestCheck) -> None:
    step = decide(mode, pod_running(RUNNING, OTHER), {DEPLOYED_URI: LearnedDigest(RUNNING)})

    assert not step.decision.ready
    assert step.decision.ready_reason == "RolloutInProgress"
    assert step.decision.label_patch is None


def test_the_same_image_registered_twice_is_ambiguous_naming_both_versions() -> None:
    both = {DEPLOYED_URI: LearnedDigest(RUNNING), DUPLICATE_URI: LearnedDigest(RUNNING)}

    step = decide(DigestCheck.REPORT, pod_running(RUNNING), both)

    assert step.decision.status["outcome"] == "Ambiguous"
    assert not step.decision.ready and step.decision.ready_reason == "Ambiguous"
    assert {c["modelVersionId"] for c in step.decision.status["candidates"]} == {"5", "10"}
    assert "registered more than once" in step.decision.ready_message
    assert step.decision.label_patch is None


def test_different_images_under_similar_names_resolve_as_before() -> None:
    known = {DEPLOYED_URI: LearnedDigest(RUNNING), DUPLICATE_URI: LearnedDigest(OTHER)}

    step = decide(DigestCheck.REPORT, pod_running(RUNNING), known)

    assert step.decision.status["outcome"] == "Resolved"
    assert step.decision.status["modelVersionId"] == "5"
    assert step.decision.ready


def test_a_pin_decides_between_twins() -> None:
    both = {DEPLOYED_URI: LearnedDigest(RUNNING), DUPLICATE_URI: LearnedDigest(RUNNING)}

    step = decide(
        DigestCheck.REPORT,
        pod_running(RUNNING),
        both,
        annotations={"registry-sync.io/model-version-id": "5"},
    )

    assert step.decision.ready and step.decision.ready_reason == "Pinned"


def test_a_failed_lookup_keeps_the_last_digest_with_its_age() -> None:
    cached = LearnedDigest(RUNNING, learned_ms=NOW_MS - 3_600_000, failure="503 from quay.io")

    step = decide(DigestCheck.ENFORCE, pod_running(RUNNING), {DEPLOYED_URI: cached})

    verified = condition(step, "DigestVerified")
    assert verified["status"] == "True" and verified["reason"] == "DigestCached"
    assert "1h" in verified["message"] and "503 from quay.io" in verified["message"]
    assert step.decision.ready


@pytest.mark.parametrize(
    ("mode", "ready"), [(DigestCheck.REPORT, True), (DigestCheck.ENFORCE, False)]
)
def test_a_digest_never_learned_blocks_only_when_enforced(mode: DigestCheck, ready: bool) -> None:
    step = decide(mode, pod_running(RUNNING), {})

    verified = condition(step, "DigestVerified")
    assert verified["status"] == "Unknown" and verified["reason"] == "DigestUnknown"
    assert step.decision.ready is ready
    assert DUPLICATE_URI in step.decision.status["unverifiedCandidates"]


def test_an_unknown_digest_in_report_mode_is_announced_by_an_event() -> None:
    step = decide(DigestCheck.REPORT, pod_running(RUNNING), {})

    assert [(e.type, e.reason) for e in step.decision.events if e.reason == "DigestUnknown"] == [
        ("Warning", "DigestUnknown")
    ]
    again = decide(
        DigestCheck.REPORT, pod_running(RUNNING), {}, previous_status=dict(step.decision.status)
    )
    assert not [e for e in again.decision.events if e.reason == "DigestUnknown"]


def test_a_host_not_allowed_says_so() -> None:
    refused = UnlearnedDigest("HostNotAllowed", "image-registry... is not in --oci-hosts")

    step = decide(DigestCheck.ENFORCE, pod_running(RUNNING), {DEPLOYED_URI: refused})

    assert condition(step, "DigestVerified")["reason"] == "HostNotAllowed"
    assert step.decision.ready_reason == "HostNotAllowed"


def test_pods_that_cannot_be_read_give_their_own_reason() -> None:
    body = copy.deepcopy(seed_inference_service())
    step = reconcile_step(
        read_inference_service(body, LabelKeys()),
        Known(),
        REGISTRY,
        BindingRules(digest_check=DigestCheck.REPORT),
        NOW_MS,
        runs=WhatRuns(pods=None, pods_problem=("Forbidden", "the Role lacks pods list")),
    )

    assert isinstance(step, Decided)
    assert condition(step, "DigestVerified")["reason"] == "Forbidden"
    assert step.decision.ready


def test_off_judges_nothing_and_removes_the_old_fields() -> None:
    step = decide(
        DigestCheck.OFF, pod_running(RUNNING, OTHER), {DEPLOYED_URI: LearnedDigest(OTHER)}
    )

    assert step.decision.ready
    assert "DigestVerified" not in {c["type"] for c in step.decision.status["conditions"]}
    assert (
        "runningDigest" not in step.decision.status or step.decision.status["runningDigest"] is None
    )


def test_a_changed_check_is_worth_reconciling_again_an_ageing_one_is_not() -> None:
    fresh = decide(DigestCheck.REPORT, pod_running(RUNNING), {DEPLOYED_URI: LearnedDigest(OTHER)})
    known = decide(DigestCheck.REPORT, pod_running(RUNNING), {DEPLOYED_URI: LearnedDigest(RUNNING)})
    older = decide(
        DigestCheck.REPORT,
        pod_running(RUNNING),
        {DEPLOYED_URI: LearnedDigest(RUNNING, learned_ms=1, failure="down")},
    )
    oldest = decide(
        DigestCheck.REPORT,
        pod_running(RUNNING),
        {DEPLOYED_URI: LearnedDigest(RUNNING, learned_ms=0, failure="down")},
    )

    def worth(a: Decided, b: Decided) -> bool:
        return worth_reconciling_again(
            a.resolution,
            b.resolution,
            pending=False,
            fresh_checks=a.decision.checks,
            known_checks=b.decision.checks,
        )

    assert worth(fresh, known)
    assert not worth(older, oldest)


def test_states_that_pass_by_themselves_are_shown_but_not_announced() -> None:
    no_pod_yet = decide(DigestCheck.REPORT, (), {DEPLOYED_URI: LearnedDigest(RUNNING)})
    not_asked_yet = decide(
        DigestCheck.REPORT,
        pod_running(RUNNING),
        {DEPLOYED_URI: UnlearnedDigest("DigestUnknown", "not looked up yet", passing=True)},
    )

    for step in (no_pod_yet, not_asked_yet):
        assert condition(step, "DigestVerified")["status"] == "Unknown"
        assert not [e for e in step.decision.events if e.reason == "DigestUnknown"]


def test_a_first_lookup_that_fails_is_worth_deciding_again() -> None:
    under_way = decide(
        DigestCheck.REPORT,
        pod_running(RUNNING),
        {DEPLOYED_URI: UnlearnedDigest("DigestUnknown", "not looked up yet", passing=True)},
    )
    failed = decide(DigestCheck.REPORT, pod_running(RUNNING), {})

    assert worth_reconciling_again(
        failed.resolution,
        under_way.resolution,
        pending=False,
        fresh_checks=failed.decision.checks,
        known_checks=under_way.decision.checks,
    )
