"""The binding decision: which labels to write, what the ModelBinding status says, which Events.

Specification: DESIGN.md, "Applying the truth to the InferenceService" and "ModelBinding:
status you read with `oc get`". Resolutions come from `resolve` on the incident's registry
(`seed.py`), so the decision is exercised on the answers the operator really gets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_sync.domain.answer import Candidate, Outcome, Resolution, format_instant
from registry_sync.domain.binding import (
    BindingDecision,
    CorrectionHistory,
    EventNote,
    GitOpsPolicy,
    decide_binding,
    expected_labels,
)
from registry_sync.domain.inference_service import (
    DeployedModel,
    InferenceServiceFacts,
    MissingStorageUri,
    Mode,
    ServedName,
    ServedNameSource,
    StorageUri,
    UnsupportedStorage,
    is_opted_in,
    read_inference_service,
)
from registry_sync.domain.metadata import LabelKeys
from registry_sync.domain.resolution import resolve
from registry_sync.domain.snapshot import ModelArtifact, RegistrySnapshot
from unit.domain.seed import (
    DEPLOYED_URI,
    INFERENCE_SERVICE_NAME,
    SNAPSHOT_TAKEN_AT_MS,
    seed_inference_service,
    seed_snapshot,
)
from unit.domain.strategies import JSON_SCALARS, json_values

KEYS = LabelKeys()
REGISTRY_NAME = "private-ai-registry"
GENERATION = 7
NOW_MS = SNAPSHOT_TAKEN_AT_MS + 60_000
MINUTE_MS = 60_000
POLICY = GitOpsPolicy(max_corrections=3, window_ms=600_000)

ENABLED = "registry-sync.io/enabled"
MODE = "registry-sync.io/mode"
PIN = "registry-sync.io/model-version-id"

# What the incident's InferenceService carried, and what the registry says it deploys.
WRONG_LABELS = {KEYS.registered_model_id: "4", KEYS.model_version_id: "9"}
CORRECT_LABELS = {
    KEYS.registered_model_id: "4",
    KEYS.model_version_id: "5",
    KEYS.registry_name: REGISTRY_NAME,
}
UNREGISTERED_URI = "oci://quay.io/example/unknown:v1"

WRITABLE_OUTCOMES = frozenset({Outcome.RESOLVED, Outcome.PINNED})


# Building the inputs -------------------------------------------------------------------------


def inference_service(
    *,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    model: Mapping[str, Any] | None = None,
    generation: int = GENERATION,
) -> dict[str, Any]:
    """The incident's InferenceService, with the given labels, extra annotations and model."""
    body = seed_inference_service()
    metadata = body["metadata"]
    metadata["generation"] = generation
    if labels is not None:
        metadata["labels"] = dict(labels)
    metadata["annotations"] = {ENABLED: "true", **(annotations or {})}
    if model is not None:
        body["spec"]["predictor"]["model"] = dict(model)
    return body


def facts_of(body: Mapping[str, Any]) -> InferenceServiceFacts:
    return read_inference_service(body, KEYS)


def ambiguous_snapshot() -> RegistrySnapshot:
    """The seed registry where version 10 also claims the deployed URI (tag reuse)."""
    seed = seed_snapshot()
    reused = ModelArtifact(id="5", name="reused", uri=DEPLOYED_URI, model_version_id="10")
    return RegistrySnapshot(
        models=seed.models,
        versions=seed.versions,
        artifacts=(*seed.artifacts, reused),
        taken_at_ms=seed.taken_at_ms,
    )


def resolution_of(
    facts: InferenceServiceFacts,
    registry: RegistrySnapshot | None = None,
    *,
    current: bool = True,
    previous: Resolution | None = None,
    now_ms: int = NOW_MS,
) -> Resolution:
    """What the resolver answers for these facts (the seed registry unless one is given)."""
    return resolve(
        facts.deployed.storage,
        seed_snapshot() if registry is None else registry,
        snapshot_current=current,
        now_ms=now_ms,
        pin=facts.pin,
        previous=previous,
    )


def decide(
    facts: InferenceServiceFacts,
    resolution: Resolution,
    *,
    history: CorrectionHistory | None = None,
    previous_status: Mapping[str, Any] | None = None,
    now_ms: int = NOW_MS,
    registry_name: str | None = REGISTRY_NAME,
    policy: GitOpsPolicy = POLICY,
    label_patch_error: str | None = None,
) -> BindingDecision:
    return decide_binding(
        facts,
        resolution,
        keys=KEYS,
        registry_name=registry_name,
        history=CorrectionHistory() if history is None else history,
        policy=policy,
        previous_status=previous_status,
        now_ms=now_ms,
        label_patch_error=label_patch_error,
    )


def condition(decision: BindingDecision, kind: str) -> Mapping[str, Any]:
    (found,) = [c for c in decision.status["conditions"] if c["type"] == kind]
    return found


# One case per outcome, each built the way the operator meets it.

SCENARIOS = (
    "resolved",
    "pinned",
    "ambiguous",
    "not-registered",
    "pin-mismatch",
    "invalid-storage-uri",
    "unparsable-storage-uri",
    "unsupported-storage",
    "registry-unavailable-with-previous-answer",
    "registry-unavailable-stale-data-no-previous-answer",
    "registry-never-reached",
)
NOT_WRITABLE_SCENARIOS = [s for s in SCENARIOS if s not in ("resolved", "pinned")]
ANSWERLESS_SCENARIOS = [
    s for s in NOT_WRITABLE_SCENARIOS if s != "registry-unavailable-with-previous-answer"
]


def scenario(
    name: str, *, labels: Mapping[str, str] | None = None, mode: str | None = None
) -> tuple[InferenceServiceFacts, Resolution]:
    """The facts and the resolver's answer for one named case."""
    annotations = {MODE: mode} if mode is not None else {}
    model: Mapping[str, Any] | None = None
    if name == "pinned":
        annotations[PIN] = "5"
    elif name == "pin-mismatch":
        annotations[PIN] = "9"
    elif name == "not-registered":
        model = {"modelFormat": {"name": "vLLM"}, "storageUri": UNREGISTERED_URI}
    elif name == "invalid-storage-uri":
        model = {"modelFormat": {"name": "vLLM"}}
    elif name == "unparsable-storage-uri":
        model = {"modelFormat": {"name": "vLLM"}, "storageUri": "ftp://models/mistral"}
    elif name == "unsupported-storage":
        model = {"modelFormat": {"name": "vLLM"}, "storage": {"key": "s3", "path": "m/"}}
    facts = facts_of(inference_service(labels=labels, annotations=annotations, model=model))

    if name == "ambiguous":
        return facts, resolution_of(facts, ambiguous_snapshot())
    if name == "registry-unavailable-with-previous-answer":
        earlier = resolution_of(facts, now_ms=SNAPSHOT_TAKEN_AT_MS)
        return facts, resolution_of(facts, current=False, previous=earlier)
    if name == "registry-unavailable-stale-data-no-previous-answer":
        return facts, resolution_of(facts, current=False)
    if name == "registry-never-reached":
        return facts, resolve(
            facts.deployed.storage, None, snapshot_current=False, now_ms=NOW_MS, pin=facts.pin
        )
    return facts, resolution_of(facts)


EXPECTED_OUTCOME = {
    "resolved": Outcome.RESOLVED,
    "pinned": Outcome.PINNED,
    "ambiguous": Outcome.AMBIGUOUS,
    "not-registered": Outcome.NOT_REGISTERED,
    "pin-mismatch": Outcome.PIN_MISMATCH,
    "invalid-storage-uri": Outcome.INVALID_STORAGE_URI,
    "unparsable-storage-uri": Outcome.INVALID_STORAGE_URI,
    "unsupported-storage": Outcome.UNSUPPORTED_STORAGE,
    "registry-unavailable-with-previous-answer": Outcome.REGISTRY_UNAVAILABLE,
    "registry-unavailable-stale-data-no-previous-answer": Outcome.REGISTRY_UNAVAILABLE,
    "registry-never-reached": Outcome.REGISTRY_UNAVAILABLE,
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_each_scenario_resolves_to_the_outcome_it_is_named_for(name: str) -> None:
    _, resolution = scenario(name)
    assert resolution.outcome is EXPECTED_OUTCOME[name]


# Opt-in --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotations", "opted_in"),
    [
        pytest.param({ENABLED: "true"}, True, id="true"),
        pytest.param({ENABLED: "True"}, True, id="True"),
        pytest.param({ENABLED: "TRUE"}, True, id="TRUE"),
        pytest.param({}, False, id="no-annotation"),
        pytest.param({ENABLED: "false"}, False, id="false"),
        pytest.param({ENABLED: ""}, False, id="empty"),
        pytest.param({ENABLED: "yes"}, False, id="yes"),
        pytest.param({ENABLED: "1"}, False, id="one"),
        pytest.param({ENABLED: "on"}, False, id="on"),
        pytest.param({ENABLED: "truee"}, False, id="truee"),
        pytest.param({ENABLED: True}, False, id="boolean-not-string"),
        pytest.param({"registry-sync.io/Enabled": "true"}, False, id="key-case-differs"),
        pytest.param({"example.com/enabled": "true"}, False, id="other-prefix"),
    ],
)
def test_only_the_enabled_annotation_set_to_true_opts_in(
    annotations: Mapping[str, object], opted_in: bool
) -> None:
    body = {"metadata": {"name": "m", "annotations": dict(annotations)}}
    assert is_opted_in(body) is opted_in


@pytest.mark.parametrize("value", [" true", "true ", "\ttrue\n"], ids=repr)
def test_the_enabled_annotation_with_surrounding_whitespace_does_not_opt_in(value: str) -> None:
    assert not is_opted_in({"metadata": {"annotations": {ENABLED: value}}})


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(None, id="none"),
        pytest.param([], id="list"),
        pytest.param({}, id="empty"),
        pytest.param({"metadata": None}, id="metadata-none"),
        pytest.param({"metadata": {"annotations": ["true"]}}, id="annotations-a-list"),
    ],
)
def test_a_body_without_readable_annotations_is_not_opted_in(body: object) -> None:
    assert not is_opted_in(body)


# Reading the InferenceService ----------------------------------------------------------------


def inference_service_bodies() -> st.SearchStrategy[Any]:
    """Bodies shaped like an InferenceService with anything anywhere, or not shaped at all."""
    annotation_keys = st.sampled_from([ENABLED, MODE, PIN]) | st.text(max_size=12)
    label_keys = st.sampled_from([*KEYS.all(), "app"]) | st.text(max_size=12)
    text_or_garbage = st.text(max_size=12) | json_values()
    metadata = st.fixed_dictionaries(
        {},
        optional={
            "name": text_or_garbage,
            "namespace": text_or_garbage,
            "uid": text_or_garbage,
            "generation": JSON_SCALARS,
            "resourceVersion": text_or_garbage,
            "annotations": st.dictionaries(annotation_keys, text_or_garbage, max_size=5)
            | json_values(),
            "labels": st.dictionaries(label_keys, text_or_garbage, max_size=5) | json_values(),
        },
    )
    shaped = st.fixed_dictionaries(
        {}, optional={"metadata": metadata | json_values(), "spec": json_values()}
    )
    return shaped | json_values()


@given(body=inference_service_bodies())
def test_reading_any_body_never_raises(body: object) -> None:
    facts = read_inference_service(body, KEYS)
    assert isinstance(facts, InferenceServiceFacts)


def string_labels_of(body: object) -> dict[str, str]:
    """The labels of a body that are strings, read independently of the code under test."""
    metadata = body.get("metadata") if isinstance(body, dict) else None
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    if not isinstance(labels, dict):
        return {}
    return {k: v for k, v in labels.items() if isinstance(v, str)}


@given(body=inference_service_bodies())
def test_the_facts_keep_exactly_the_three_label_keys_with_their_values(body: object) -> None:
    labels = string_labels_of(body)
    expected = {key: labels[key] for key in KEYS.all() if key in labels}
    assert read_inference_service(body, KEYS).labels == expected


def test_the_facts_keep_the_label_keys_of_the_configured_prefix_only() -> None:
    upstream = LabelKeys("modelregistry.kubeflow.org")
    body = inference_service(
        labels={
            "modelregistry.kubeflow.org/registered-model-id": "4",
            "modelregistry.kubeflow.org/model-version-id": "5",
            "modelregistry.kubeflow.org/name": "upstream",
            "modelregistry.kubeflow.org/other": "x",
            "modelregistry.opendatahub.io/model-version-id": "9",
            "app": "mistral",
        }
    )
    assert read_inference_service(body, upstream).labels == {
        "modelregistry.kubeflow.org/registered-model-id": "4",
        "modelregistry.kubeflow.org/model-version-id": "5",
        "modelregistry.kubeflow.org/name": "upstream",
    }


@pytest.mark.parametrize(
    ("annotation", "mode", "has_problem"),
    [
        pytest.param(None, Mode.ENFORCE, False, id="absent-is-enforce"),
        pytest.param("enforce", Mode.ENFORCE, False, id="enforce"),
        pytest.param("audit", Mode.AUDIT, False, id="audit"),
        pytest.param("Audit", Mode.AUDIT, False, id="audit-any-case"),
        pytest.param("", Mode.ENFORCE, False, id="empty-reads-as-absent"),
        pytest.param("enforced", Mode.AUDIT, True, id="garbage-is-audit-with-a-problem"),
        pytest.param("dry-run", Mode.AUDIT, True, id="unknown-word-is-audit-with-a-problem"),
    ],
)
def test_the_mode_annotation_selects_the_mode(
    annotation: str | None, mode: Mode, has_problem: bool
) -> None:
    annotations = {MODE: annotation} if annotation is not None else {}
    facts = facts_of(inference_service(annotations=annotations))
    assert (facts.mode, facts.mode_problem is not None) == (mode, has_problem)


def test_an_unreadable_mode_is_reported_naming_the_annotation_and_its_value() -> None:
    facts = facts_of(inference_service(annotations={MODE: "enforced"}))
    assert facts.mode_problem is not None
    assert MODE in facts.mode_problem
    assert "'enforced'" in facts.mode_problem
    assert "audit" in facts.mode_problem


@pytest.mark.parametrize(
    ("annotations", "pin"),
    [
        pytest.param({PIN: "5"}, "5", id="pinned"),
        pytest.param({PIN: " 5 "}, "5", id="surrounding-space-ignored"),
        pytest.param({PIN: ""}, None, id="empty-is-no-pin"),
        pytest.param({PIN: "  "}, None, id="blank-is-no-pin"),
        pytest.param({}, None, id="absent"),
        pytest.param({"example.com/model-version-id": "5"}, None, id="other-prefix"),
    ],
)
def test_the_pin_annotation_names_a_model_version(
    annotations: Mapping[str, str], pin: str | None
) -> None:
    assert facts_of(inference_service(annotations=annotations)).pin == pin


def test_the_facts_carry_the_identity_and_generation_of_the_object() -> None:
    body = inference_service(generation=12)
    body["metadata"].update(uid="uid-1", resourceVersion="481")
    facts = facts_of(body)
    assert (facts.namespace, facts.name, facts.uid, facts.generation, facts.resource_version) == (
        "private-ai-demo",
        INFERENCE_SERVICE_NAME,
        "uid-1",
        12,
        "481",
    )


# Labels --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "labels", "patch"),
    [
        pytest.param(
            "resolved",
            WRONG_LABELS,
            {KEYS.model_version_id: "5", KEYS.registry_name: REGISTRY_NAME},
            id="resolved-wrong-version-only-differing-keys",
        ),
        pytest.param("resolved", {}, CORRECT_LABELS, id="resolved-no-labels-all-keys"),
        pytest.param(
            "pinned",
            {KEYS.registered_model_id: "8", KEYS.model_version_id: "10"},
            CORRECT_LABELS,
            id="pinned-other-model",
        ),
        pytest.param(
            "resolved",
            {**CORRECT_LABELS, KEYS.registry_name: "another-registry"},
            {KEYS.registry_name: REGISTRY_NAME},
            id="resolved-wrong-registry-name",
        ),
    ],
)
def test_enforce_mode_patches_exactly_the_labels_that_differ(
    name: str, labels: Mapping[str, str], patch: Mapping[str, str]
) -> None:
    facts, resolution = scenario(name, labels=labels)
    assert decide(facts, resolution).label_patch == patch


@pytest.mark.parametrize("name", ["resolved", "pinned"])
def test_labels_that_already_match_are_not_patched(name: str) -> None:
    facts, resolution = scenario(name, labels=CORRECT_LABELS)
    assert decide(facts, resolution).label_patch is None


def test_the_pinned_version_is_what_the_labels_are_set_to() -> None:
    facts = facts_of(inference_service(labels=WRONG_LABELS, annotations={PIN: "10"}))
    decision = decide(facts, resolution_of(facts, ambiguous_snapshot()))
    assert decision.label_patch == {
        KEYS.registered_model_id: "8",
        KEYS.model_version_id: "10",
        KEYS.registry_name: REGISTRY_NAME,
    }


def test_without_a_registry_name_the_name_label_is_neither_set_nor_touched() -> None:
    labels = {**WRONG_LABELS, KEYS.registry_name: "someone-elses"}
    facts, resolution = scenario("resolved", labels=labels)
    decision = decide(facts, resolution, registry_name=None)
    assert decision.label_patch == {KEYS.model_version_id: "5"}


def test_without_a_registry_name_the_ids_alone_are_expected() -> None:
    _, resolution = scenario("resolved")
    assert expected_labels(resolution, KEYS, None) == {
        KEYS.registered_model_id: "4",
        KEYS.model_version_id: "5",
    }


def test_labels_outside_the_three_keys_are_never_in_a_patch() -> None:
    facts, resolution = scenario("resolved", labels={**WRONG_LABELS, "app": "mistral"})
    patch = decide(facts, resolution).label_patch
    assert patch is not None
    assert set(patch) <= set(KEYS.all())


def test_the_configured_label_prefix_is_the_one_patched() -> None:
    upstream = LabelKeys("modelregistry.kubeflow.org")
    body = inference_service(labels=WRONG_LABELS)
    facts = read_inference_service(body, upstream)
    decision = decide_binding(
        facts,
        resolution_of(facts),
        keys=upstream,
        registry_name=None,
        history=CorrectionHistory(),
        policy=POLICY,
        previous_status=None,
        now_ms=NOW_MS,
    )
    assert decision.label_patch == {
        "modelregistry.kubeflow.org/registered-model-id": "4",
        "modelregistry.kubeflow.org/model-version-id": "5",
    }


LABEL_SETS = {
    "no-labels": {},
    "wrong-labels": WRONG_LABELS,
    "labels-of-the-deployed-version": CORRECT_LABELS,
    "only-a-registry-name": {KEYS.registry_name: "x"},
}


@pytest.mark.parametrize("labels", list(LABEL_SETS), ids=str)
@pytest.mark.parametrize("name", NOT_WRITABLE_SCENARIOS)
def test_outcomes_other_than_resolved_or_pinned_never_patch_labels(name: str, labels: str) -> None:
    facts, resolution = scenario(name, labels=LABEL_SETS[labels])
    assert decide(facts, resolution).label_patch is None


@pytest.mark.parametrize("mode", ["audit", "Audit", "not-a-mode"])
@pytest.mark.parametrize("name", ["resolved", "pinned"])
def test_audit_mode_never_patches_labels(name: str, mode: str) -> None:
    facts, resolution = scenario(name, labels=WRONG_LABELS, mode=mode)
    assert decide(facts, resolution).label_patch is None


@pytest.mark.parametrize("name", ["resolved", "pinned"])
def test_audit_mode_reports_labels_out_of_sync_with_reason_audit_mode(name: str) -> None:
    facts, resolution = scenario(name, labels=WRONG_LABELS, mode="audit")
    labels = condition(decide(facts, resolution), "LabelsInSync")
    assert (labels["status"], labels["reason"]) == ("False", "AuditMode")


def test_audit_mode_says_which_labels_the_object_should_carry() -> None:
    facts, resolution = scenario("resolved", labels=WRONG_LABELS, mode="audit")
    message = condition(decide(facts, resolution), "LabelsInSync")["message"]
    assert all(f"{key}={value}" in message for key, value in CORRECT_LABELS.items())


@pytest.mark.parametrize("name", ["resolved", "pinned"])
def test_audit_mode_is_still_ready(name: str) -> None:
    facts, resolution = scenario(name, labels=WRONG_LABELS, mode="audit")
    decision = decide(facts, resolution)
    assert (decision.ready, condition(decision, "Ready")["status"]) == (True, "True")


def test_an_unreadable_mode_reports_the_problem_in_labels_in_sync() -> None:
    facts, resolution = scenario("resolved", labels=WRONG_LABELS, mode="enforced")
    labels = condition(decide(facts, resolution), "LabelsInSync")
    assert (labels["status"], labels["reason"]) == ("False", "InvalidMode")
    assert "'enforced'" in labels["message"]


@pytest.mark.parametrize(
    ("labels", "mode", "status", "reason"),
    [
        pytest.param(CORRECT_LABELS, None, "True", "LabelsMatch", id="matching"),
        pytest.param(WRONG_LABELS, None, "True", "LabelsMatch", id="being-corrected"),
        pytest.param(CORRECT_LABELS, "audit", "True", "LabelsMatch", id="matching-in-audit"),
        pytest.param(WRONG_LABELS, "audit", "False", "AuditMode", id="wrong-in-audit"),
    ],
)
def test_labels_in_sync_says_whether_the_labels_are_or_will_be_right(
    labels: Mapping[str, str], mode: str | None, status: str, reason: str
) -> None:
    facts, resolution = scenario("resolved", labels=labels, mode=mode)
    found = condition(decide(facts, resolution), "LabelsInSync")
    assert (found["status"], found["reason"]) == (status, reason)


def test_a_refused_label_patch_is_not_proposed_again_in_the_same_decision() -> None:
    facts, resolution = scenario("resolved", labels=WRONG_LABELS)
    decision = decide(facts, resolution, label_patch_error="forbidden: cannot patch")
    assert decision.label_patch is None


def test_a_refused_label_patch_reports_labels_in_sync_false_with_the_error() -> None:
    facts, resolution = scenario("resolved", labels=WRONG_LABELS)
    error = 'inferenceservices "mistral-24b-quantized" is forbidden: cannot patch'
    labels = condition(decide(facts, resolution, label_patch_error=error), "LabelsInSync")
    assert (labels["status"], labels["reason"]) == ("False", "LabelPatchFailed")
    assert error in labels["message"]


def test_a_refused_label_patch_does_not_count_as_a_correction() -> None:
    facts, resolution = scenario("resolved", labels=WRONG_LABELS)
    decision = decide(facts, resolution, label_patch_error="forbidden")
    assert decision.history.times_ms == ()


def test_a_resolved_answer_without_ids_proposes_no_patch_and_counts_no_correction() -> None:
    facts, _ = scenario("resolved", labels=WRONG_LABELS)
    decision = decide(facts, Resolution(Outcome.RESOLVED, "resolved, but names nothing"))
    assert (decision.label_patch, decision.history.times_ms) == (None, ())


# Ready ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "ready", "reason"),
    [
        pytest.param("resolved", True, "Resolved", id="resolved"),
        pytest.param("pinned", True, "Pinned", id="pinned"),
        pytest.param(
            "registry-unavailable-with-previous-answer",
            True,
            "RegistryUnavailable",
            id="registry-unavailable-with-previous-answer",
        ),
        pytest.param("ambiguous", False, "Ambiguous", id="ambiguous"),
        pytest.param("not-registered", False, "NotRegistered", id="not-registered"),
        pytest.param("pin-mismatch", False, "PinMismatch", id="pin-mismatch"),
        pytest.param("invalid-storage-uri", False, "InvalidStorageUri", id="invalid-storage-uri"),
        pytest.param(
            "unparsable-storage-uri", False, "InvalidStorageUri", id="unparsable-storage-uri"
        ),
        pytest.param("unsupported-storage", False, "UnsupportedStorage", id="unsupported-storage"),
        pytest.param(
            "registry-unavailable-stale-data-no-previous-answer",
            False,
            "RegistryUnavailable",
            id="registry-unavailable-no-previous-answer",
        ),
        pytest.param(
            "registry-never-reached", False, "RegistryUnavailable", id="registry-never-reached"
        ),
    ],
)
def test_ready_and_its_reason_follow_the_outcome(name: str, ready: bool, reason: str) -> None:
    facts, resolution = scenario(name, labels=CORRECT_LABELS)
    decision = decide(facts, resolution)
    found = condition(decision, "Ready")
    assert (decision.ready, decision.ready_reason) == (ready, reason)
    assert (found["status"], found["reason"]) == ("True" if ready else "False", reason)


def test_ready_through_an_outage_says_how_old_the_kept_answer_is() -> None:
    facts = facts_of(inference_service(labels=CORRECT_LABELS))
    earlier = resolution_of(facts, now_ms=SNAPSHOT_TAKEN_AT_MS)
    now_ms = SNAPSHOT_TAKEN_AT_MS + 5 * MINUTE_MS
    outage = resolution_of(facts, current=False, previous=earlier, now_ms=now_ms)
    decision = decide(facts, outage, now_ms=now_ms)
    assert decision.ready
    assert "5m0s" in decision.ready_message


def test_ready_for_a_resolved_model_names_model_version_and_vllm_name() -> None:
    facts, resolution = scenario("resolved", labels=CORRECT_LABELS)
    message = decide(facts, resolution).ready_message
    for part in ("Mistral-Small-24B-Instruct", "quantized-w4a16-2501", INFERENCE_SERVICE_NAME):
        assert part in message


def test_not_ready_says_what_the_resolution_found() -> None:
    facts, resolution = scenario("ambiguous")
    assert resolution.message in decide(facts, resolution).ready_message


def test_not_ready_during_an_outage_does_not_claim_the_registry_was_never_reached() -> None:
    facts, resolution = scenario("registry-unavailable-stale-data-no-previous-answer")
    assert "never been reached" not in decide(facts, resolution).ready_message


# Conditions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("resolved", "True"),
        ("pinned", "True"),
        ("registry-unavailable-with-previous-answer", "True"),
        ("registry-never-reached", "Unknown"),
        ("registry-unavailable-stale-data-no-previous-answer", "Unknown"),
        ("ambiguous", "False"),
        ("not-registered", "False"),
        ("pin-mismatch", "False"),
        ("invalid-storage-uri", "False"),
        ("unsupported-storage", "False"),
    ],
)
def test_the_resolved_condition_says_whether_a_version_is_known(name: str, status: str) -> None:
    facts, resolution = scenario(name)
    found = condition(decide(facts, resolution), "Resolved")
    assert (found["status"], found["reason"]) == (status, resolution.outcome.value)


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_status_has_one_condition_of_each_type_with_every_field(name: str) -> None:
    facts, resolution = scenario(name)
    conditions = decide(facts, resolution).status["conditions"]
    assert [c["type"] for c in conditions] == ["Resolved", "LabelsInSync", "Ready"]
    for found in conditions:
        assert set(found) == {
            "type",
            "status",
            "reason",
            "message",
            "lastTransitionTime",
            "observedGeneration",
        }
        assert found["status"] in ("True", "False", "Unknown")
        assert found["reason"] and found["message"]


def test_conditions_and_status_carry_the_inference_service_generation() -> None:
    facts = facts_of(inference_service(generation=42))
    status = decide(facts, resolution_of(facts)).status
    assert status["observedGeneration"] == 42
    assert {c["observedGeneration"] for c in status["conditions"]} == {42}


def test_a_first_status_dates_every_condition_now_in_rfc3339() -> None:
    facts, resolution = scenario("resolved")
    conditions = decide(facts, resolution, now_ms=NOW_MS).status["conditions"]
    assert {c["lastTransitionTime"] for c in conditions} == {"2026-01-01T00:01:00Z"}


@pytest.mark.parametrize(
    ("before", "after", "kept"),
    [
        pytest.param("resolved", "resolved", True, id="same-answer-kept"),
        pytest.param(
            "resolved",
            "registry-unavailable-with-previous-answer",
            True,
            id="reason-changes-status-stays-kept",
        ),
        pytest.param("resolved", "not-registered", False, id="true-to-false-now"),
        pytest.param("ambiguous", "pinned", False, id="false-to-true-now"),
        pytest.param("ambiguous", "not-registered", True, id="false-to-false-kept"),
    ],
)
def test_the_ready_transition_time_moves_only_when_its_status_changes(
    before: str, after: str, kept: bool
) -> None:
    earlier_facts, earlier_resolution = scenario(before, labels=CORRECT_LABELS)
    earlier = decide(earlier_facts, earlier_resolution, now_ms=NOW_MS)
    later_ms = NOW_MS + 10 * MINUTE_MS
    facts, resolution = scenario(after, labels=CORRECT_LABELS)
    later = decide(facts, resolution, previous_status=earlier.status, now_ms=later_ms)
    expected = format_instant(NOW_MS) if kept else format_instant(later_ms)
    assert condition(later, "Ready")["lastTransitionTime"] == expected


def test_each_condition_keeps_or_moves_its_own_transition_time() -> None:
    facts, resolution = scenario("resolved", labels=CORRECT_LABELS)
    earlier = decide(facts, resolution, now_ms=NOW_MS)
    later_ms = NOW_MS + MINUTE_MS
    audit_facts, _ = scenario("resolved", labels=WRONG_LABELS, mode="audit")
    later = decide(audit_facts, resolution, previous_status=earlier.status, now_ms=later_ms)
    assert condition(later, "Resolved")["lastTransitionTime"] == format_instant(NOW_MS)
    assert condition(later, "LabelsInSync")["lastTransitionTime"] == format_instant(later_ms)


@pytest.mark.parametrize(
    "previous_status",
    [
        pytest.param({"conditions": "Ready"}, id="conditions-not-a-list"),
        pytest.param({"conditions": [None, 3, {"status": "True"}]}, id="conditions-garbage"),
        pytest.param(
            {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": 5}]},
            id="time-not-a-string",
        ),
    ],
)
def test_an_unreadable_previous_status_dates_conditions_now(
    previous_status: Mapping[str, Any],
) -> None:
    facts, resolution = scenario("resolved", labels=CORRECT_LABELS)
    decision = decide(facts, resolution, previous_status=previous_status, now_ms=NOW_MS)
    assert condition(decision, "Ready")["lastTransitionTime"] == format_instant(NOW_MS)


# Status fields -------------------------------------------------------------------------------


def test_a_resolved_status_names_the_deployed_uri_the_ids_and_the_names() -> None:
    facts, resolution = scenario("resolved")
    status = decide(facts, resolution).status
    assert {
        key: status[key]
        for key in (
            "outcome",
            "storageUri",
            "registeredModelId",
            "registeredModelName",
            "modelVersionId",
            "modelVersionName",
            "modelArtifactId",
            "registryName",
            "vllmModelName",
        )
    } == {
        "outcome": "Resolved",
        "storageUri": DEPLOYED_URI,
        "registeredModelId": "4",
        "registeredModelName": "Mistral-Small-24B-Instruct",
        "modelVersionId": "5",
        "modelVersionName": "quantized-w4a16-2501",
        "modelArtifactId": "1",
        "registryName": REGISTRY_NAME,
        "vllmModelName": INFERENCE_SERVICE_NAME,
    }


def test_the_status_dates_the_registry_data_behind_the_answer() -> None:
    facts, resolution = scenario("registry-unavailable-with-previous-answer")
    assert decide(facts, resolution).status["registryDataTime"] == format_instant(
        SNAPSHOT_TAKEN_AT_MS
    )


@pytest.mark.parametrize(
    ("args", "vllm_name"),
    [
        pytest.param(None, INFERENCE_SERVICE_NAME, id="no-args-the-isvc-name"),
        pytest.param(["--max-model-len=8192"], INFERENCE_SERVICE_NAME, id="other-args"),
        pytest.param(["--served-model-name=mistral"], "mistral", id="served-model-name"),
        pytest.param(["--served-model-name", "a", "b"], "a", id="first-of-several-names"),
    ],
)
def test_the_vllm_model_name_is_the_served_name_else_the_inference_service_name(
    args: list[str] | None, vllm_name: str
) -> None:
    model: dict[str, Any] = {"modelFormat": {"name": "vLLM"}, "storageUri": DEPLOYED_URI}
    if args is not None:
        model["args"] = args
    facts = facts_of(inference_service(model=model))
    assert decide(facts, resolution_of(facts)).status["vllmModelName"] == vllm_name


def test_an_ambiguous_status_lists_every_claimant() -> None:
    facts, resolution = scenario("ambiguous")
    candidates = decide(facts, resolution).status["candidates"]
    assert [(c["registeredModelId"], c["modelVersionId"]) for c in candidates] == [
        ("4", "5"),
        ("8", "10"),
    ]
    assert {c["uri"] for c in candidates} == {DEPLOYED_URI}


@pytest.mark.parametrize("name", ANSWERLESS_SCENARIOS)
def test_ids_and_names_that_no_longer_apply_are_none_so_a_merge_patch_deletes_them(
    name: str,
) -> None:
    facts, resolution = scenario(name)
    status = decide(facts, resolution).status
    for key in (
        "registeredModelId",
        "registeredModelName",
        "modelVersionId",
        "modelVersionName",
        "modelArtifactId",
        "expectedLabels",
    ):
        assert key in status
        assert status[key] is None, key


def test_candidates_of_an_earlier_ambiguity_are_cleared_once_resolved() -> None:
    facts, ambiguous = scenario("ambiguous")
    earlier = decide(facts, ambiguous)
    resolved_facts, resolution = scenario("resolved")
    status = decide(resolved_facts, resolution, previous_status=earlier.status).status
    # An empty list replaces the old one in a merge patch just as None deletes it.
    assert status["candidates"] in (None, [])


@pytest.mark.parametrize(
    ("name", "uri"),
    [
        ("not-registered", UNREGISTERED_URI),
        ("unparsable-storage-uri", "ftp://models/mistral"),
        ("invalid-storage-uri", None),
        ("unsupported-storage", None),
    ],
)
def test_the_storage_uri_is_the_one_seen_on_the_inference_service(
    name: str, uri: str | None
) -> None:
    facts, resolution = scenario(name)
    assert decide(facts, resolution).status["storageUri"] == uri


def test_the_status_says_the_outcome_and_its_message() -> None:
    facts, resolution = scenario("pin-mismatch")
    status = decide(facts, resolution).status
    assert (status["outcome"], status["message"]) == ("PinMismatch", resolution.message)


# GitOps conflicts ----------------------------------------------------------------------------


@dataclass
class WatchedInferenceService:
    """One InferenceService reconciled over time, keeping what the operator keeps between runs."""

    history: CorrectionHistory = field(default_factory=CorrectionHistory)
    status: Mapping[str, Any] | None = None

    def reconcile(
        self, labels: Mapping[str, str], now_ms: int, *, mode: str | None = None
    ) -> BindingDecision:
        facts, resolution = scenario("resolved", labels=labels, mode=mode)
        decision = decide(
            facts, resolution, history=self.history, previous_status=self.status, now_ms=now_ms
        )
        self.history, self.status = decision.history, decision.status
        return decision


def revert_loop(isvc: WatchedInferenceService, times: int, start_ms: int = NOW_MS) -> int:
    """A GitOps tool reverting every correction at once; returns the time of the last one."""
    now_ms = start_ms
    for _ in range(times):
        isvc.reconcile(WRONG_LABELS, now_ms)
        now_ms += MINUTE_MS
    return now_ms - MINUTE_MS


def test_the_first_three_reverts_within_the_window_are_corrected() -> None:
    isvc = WatchedInferenceService()
    patches = [isvc.reconcile(WRONG_LABELS, NOW_MS + n * MINUTE_MS).label_patch for n in range(3)]
    assert all(patch is not None for patch in patches)


def test_the_fourth_needed_correction_within_the_window_is_not_made() -> None:
    isvc = WatchedInferenceService()
    revert_loop(isvc, 3)
    assert isvc.reconcile(WRONG_LABELS, NOW_MS + 3 * MINUTE_MS).label_patch is None


def test_a_gitops_conflict_is_not_ready_with_reason_gitops_conflict() -> None:
    isvc = WatchedInferenceService()
    revert_loop(isvc, 3)
    decision = isvc.reconcile(WRONG_LABELS, NOW_MS + 3 * MINUTE_MS)
    ready = condition(decision, "Ready")
    assert (decision.ready, ready["status"], ready["reason"]) == (False, "False", "GitOpsConflict")


def test_a_gitops_conflict_names_exactly_the_labels_to_commit() -> None:
    isvc = WatchedInferenceService()
    revert_loop(isvc, 3)
    decision = isvc.reconcile(WRONG_LABELS, NOW_MS + 3 * MINUTE_MS)
    assert decision.status["expectedLabels"] == CORRECT_LABELS
    assert decision.expected_labels == CORRECT_LABELS
    for key, value in CORRECT_LABELS.items():
        assert f"{key}={value}" in decision.ready_message


def test_a_gitops_conflict_reports_labels_in_sync_false() -> None:
    isvc = WatchedInferenceService()
    revert_loop(isvc, 3)
    labels = condition(isvc.reconcile(WRONG_LABELS, NOW_MS + 3 * MINUTE_MS), "LabelsInSync")
    assert (labels["status"], labels["reason"]) == ("False", "GitOpsConflict")


def test_a_gitops_conflict_lasts_while_the_labels_stay_reverted_within_the_window() -> None:
    isvc = WatchedInferenceService()
    revert_loop(isvc, 3)
    isvc.reconcile(WRONG_LABELS, NOW_MS + 3 * MINUTE_MS)
    decision = isvc.reconcile(WRONG_LABELS, NOW_MS + 5 * MINUTE_MS)
    assert (decision.label_patch, decision.ready_reason) == (None, "GitOpsConflict")


def test_correct_labels_right_after_the_operators_own_correction_keep_the_count() -> None:
    isvc = WatchedInferenceService()
    isvc.reconcile(WRONG_LABELS, NOW_MS)
    decision = isvc.reconcile(CORRECT_LABELS, NOW_MS + 1_000)
    assert decision.history.times_ms == (NOW_MS,)


def test_a_revert_loop_observed_between_reverts_stops_at_the_fourth_correction() -> None:
    isvc = WatchedInferenceService()
    patches = []
    for n in range(4):
        patches.append(isvc.reconcile(WRONG_LABELS, NOW_MS + n * MINUTE_MS).label_patch)
        # The operator's own patch lands and is seen before the GitOps tool reverts it.
        isvc.reconcile(CORRECT_LABELS, NOW_MS + n * MINUTE_MS + 1_000)
    assert [patch is not None for patch in patches] == [True, True, True, False]


def test_labels_found_correct_during_a_conflict_end_it() -> None:
    isvc = WatchedInferenceService()
    revert_loop(isvc, 3)
    isvc.reconcile(WRONG_LABELS, NOW_MS + 3 * MINUTE_MS)  # the conflict
    committed = isvc.reconcile(CORRECT_LABELS, NOW_MS + 4 * MINUTE_MS)
    assert committed.history.times_ms == ()
    assert (committed.ready, committed.ready_reason) == (True, "Resolved")


def test_after_a_committed_fix_a_new_revert_is_corrected_again() -> None:
    isvc = WatchedInferenceService()
    revert_loop(isvc, 3)
    isvc.reconcile(WRONG_LABELS, NOW_MS + 3 * MINUTE_MS)
    isvc.reconcile(CORRECT_LABELS, NOW_MS + 4 * MINUTE_MS)
    assert isvc.reconcile(WRONG_LABELS, NOW_MS + 5 * MINUTE_MS).label_patch is not None


def test_a_changed_mode_annotation_ends_a_conflict() -> None:
    isvc = WatchedInferenceService()
    revert_loop(isvc, 3)
    isvc.reconcile(WRONG_LABELS, NOW_MS + 3 * MINUTE_MS)
    decision = isvc.reconcile(WRONG_LABELS, NOW_MS + 4 * MINUTE_MS, mode="enforce")
    assert decision.label_patch is not None
    assert decision.ready_reason == "Resolved"


def test_switching_a_conflicted_object_to_audit_ends_the_conflict_without_patching() -> None:
    isvc = WatchedInferenceService()
    revert_loop(isvc, 3)
    isvc.reconcile(WRONG_LABELS, NOW_MS + 3 * MINUTE_MS)
    decision = isvc.reconcile(WRONG_LABELS, NOW_MS + 4 * MINUTE_MS, mode="audit")
    assert (decision.label_patch, decision.ready, decision.ready_reason) == (
        None,
        True,
        "Resolved",
    )


def test_a_conflict_holds_until_the_window_since_the_first_correction_has_passed() -> None:
    isvc = WatchedInferenceService()
    revert_loop(isvc, 3)
    just_before = NOW_MS + POLICY.window_ms - 1
    assert isvc.reconcile(WRONG_LABELS, just_before).ready_reason == "GitOpsConflict"


def test_once_the_window_has_passed_the_operator_corrects_again() -> None:
    isvc = WatchedInferenceService()
    revert_loop(isvc, 3)
    isvc.reconcile(WRONG_LABELS, NOW_MS + 3 * MINUTE_MS)
    decision = isvc.reconcile(WRONG_LABELS, NOW_MS + POLICY.window_ms)
    assert decision.label_patch is not None
    assert decision.ready_reason == "Resolved"


def test_reverts_slower_than_the_window_allows_are_always_corrected() -> None:
    isvc = WatchedInferenceService()
    every = POLICY.window_ms // 2
    patches = [isvc.reconcile(WRONG_LABELS, NOW_MS + n * every).label_patch for n in range(12)]
    assert all(patch is not None for patch in patches)


def test_the_correction_limit_is_the_policys() -> None:
    strict = GitOpsPolicy(max_corrections=1, window_ms=600_000)
    facts, resolution = scenario("resolved", labels=WRONG_LABELS)
    first = decide(facts, resolution, policy=strict, now_ms=NOW_MS)
    second = decide(facts, resolution, policy=strict, history=first.history, now_ms=NOW_MS + 1)
    assert (first.label_patch is not None, second.label_patch) == (True, None)


ONE_GPU_URI = "oci://quay.io/adrina/private-ai:mistral-24b-quantized-w4a16-2501"


def redeploy(uri: str, labels: Mapping[str, str]) -> InferenceServiceFacts:
    """The InferenceService deploying `uri` (a new deployment: new spec, new generation)."""
    model = {"modelFormat": {"name": "vLLM"}, "storageUri": uri}
    return facts_of(inference_service(labels=labels, model=model))


def test_labels_changed_for_new_deployments_are_not_counted_as_reverts() -> None:
    # Switching between two registered URIs needs new labels each time: that is the
    # operator following deployments, not a GitOps tool reverting its corrections.
    history, labels = CorrectionHistory(), dict(WRONG_LABELS)
    patched = []
    for n in range(6):
        facts = redeploy(ONE_GPU_URI if n % 2 else DEPLOYED_URI, labels)
        decision = decide(
            facts, resolution_of(facts), history=history, now_ms=NOW_MS + n * MINUTE_MS
        )
        patched.append(decision.label_patch is not None and decision.ready)
        history, labels = decision.history, {**labels, **(decision.label_patch or {})}
    assert patched == [True] * 6


def test_reverts_of_one_deployment_still_end_in_a_conflict_after_a_redeployment() -> None:
    history = CorrectionHistory()
    facts = redeploy(ONE_GPU_URI, WRONG_LABELS)  # its right labels are model 8 version 10
    first = decide(facts, resolution_of(facts), history=history, now_ms=NOW_MS)
    history = first.history
    facts = redeploy(DEPLOYED_URI, WRONG_LABELS)
    decisions = []
    for n in range(1, 5):
        decision = decide(
            facts, resolution_of(facts), history=history, now_ms=NOW_MS + n * MINUTE_MS
        )
        decisions.append(decision)
        history = decision.history
    assert [d.label_patch is not None for d in decisions] == [True, True, True, False]
    assert decisions[-1].ready_reason == "GitOpsConflict"


# Events --------------------------------------------------------------------------------------


def test_a_label_correction_posts_a_normal_event_naming_old_and_new_values() -> None:
    facts, resolution = scenario("resolved", labels=WRONG_LABELS)
    events = [e for e in decide(facts, resolution).events if e.reason == "LabelsCorrected"]
    assert [e.type for e in events] == ["Normal"]
    assert "model-version-id=5 (was 9)" in events[0].message
    assert f"name={REGISTRY_NAME} (was unset)" in events[0].message


def test_no_label_event_without_a_correction() -> None:
    facts, resolution = scenario("resolved", labels=CORRECT_LABELS)
    reasons = [e.reason for e in decide(facts, resolution).events]
    assert "LabelsCorrected" not in reasons


@pytest.mark.parametrize(
    ("before", "after", "event_type"),
    [
        pytest.param("resolved", "not-registered", "Warning", id="resolved-to-not-registered"),
        pytest.param("resolved", "pin-mismatch", "Warning", id="resolved-to-pin-mismatch"),
        pytest.param("not-registered", "resolved", "Normal", id="not-registered-to-resolved"),
        pytest.param("ambiguous", "pinned", "Normal", id="ambiguous-to-pinned"),
        pytest.param(
            "resolved",
            "registry-unavailable-with-previous-answer",
            "Normal",
            id="resolved-to-outage-still-ready",
        ),
        pytest.param(
            "resolved",
            "registry-unavailable-stale-data-no-previous-answer",
            "Warning",
            id="resolved-to-outage-not-ready",
        ),
    ],
)
def test_a_new_ready_reason_posts_one_event_warning_when_not_ready(
    before: str, after: str, event_type: str
) -> None:
    earlier_facts, earlier_resolution = scenario(before, labels=CORRECT_LABELS)
    earlier = decide(earlier_facts, earlier_resolution)
    facts, resolution = scenario(after, labels=CORRECT_LABELS)
    later = decide(facts, resolution, previous_status=earlier.status, now_ms=NOW_MS + MINUTE_MS)
    assert later.events == (EventNote(event_type, later.ready_reason, later.ready_message),)


def test_a_first_decision_announces_its_ready_reason() -> None:
    facts, resolution = scenario("ambiguous")
    decision = decide(facts, resolution, previous_status=None)
    assert decision.events == (EventNote("Warning", "Ambiguous", decision.ready_message),)


def test_entering_a_gitops_conflict_posts_a_warning() -> None:
    isvc = WatchedInferenceService()
    revert_loop(isvc, 3)
    decision = isvc.reconcile(WRONG_LABELS, NOW_MS + 3 * MINUTE_MS)
    assert decision.events == (EventNote("Warning", "GitOpsConflict", decision.ready_message),)


def test_staying_in_a_gitops_conflict_posts_nothing_more() -> None:
    isvc = WatchedInferenceService()
    revert_loop(isvc, 3)
    isvc.reconcile(WRONG_LABELS, NOW_MS + 3 * MINUTE_MS)
    assert isvc.reconcile(WRONG_LABELS, NOW_MS + 4 * MINUTE_MS).events == ()


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_same_decision_again_posts_no_event(name: str) -> None:
    facts, resolution = scenario(name, labels=CORRECT_LABELS)
    first = decide(facts, resolution, now_ms=NOW_MS)
    again = decide(facts, resolution, previous_status=first.status, now_ms=NOW_MS + MINUTE_MS)
    assert again.events == ()


@pytest.mark.parametrize(
    "name",
    [
        "registry-unavailable-with-previous-answer",
        "registry-unavailable-stale-data-no-previous-answer",
    ],
)
def test_an_outage_whose_message_only_ages_posts_no_new_event(name: str) -> None:
    facts = facts_of(inference_service(labels=CORRECT_LABELS))
    earlier = (
        resolution_of(facts, now_ms=SNAPSHOT_TAKEN_AT_MS)
        if name == "registry-unavailable-with-previous-answer"
        else None
    )
    first_ms, later_ms = NOW_MS, NOW_MS + 30 * MINUTE_MS
    first = decide(
        facts,
        resolution_of(facts, current=False, previous=earlier, now_ms=first_ms),
        now_ms=first_ms,
    )
    later = decide(
        facts,
        resolution_of(facts, current=False, previous=earlier, now_ms=later_ms),
        previous_status=first.status,
        now_ms=later_ms,
    )
    assert later.ready_message != first.ready_message  # the message did age
    assert later.events == ()


def test_ready_turning_false_during_an_outage_posts_a_warning() -> None:
    facts, kept_answer = scenario(
        "registry-unavailable-with-previous-answer", labels=CORRECT_LABELS
    )
    earlier = decide(facts, kept_answer)
    redeployed = facts_of(
        inference_service(
            labels=CORRECT_LABELS,
            model={"modelFormat": {"name": "vLLM"}, "storageUri": UNREGISTERED_URI},
        )
    )
    previous = resolution_of(facts, now_ms=SNAPSHOT_TAKEN_AT_MS)
    outage = resolution_of(redeployed, current=False, previous=previous)
    later = decide(redeployed, outage, previous_status=earlier.status, now_ms=NOW_MS + MINUTE_MS)
    assert (earlier.ready, later.ready) == (True, False)
    assert [(e.type, e.reason) for e in later.events] == [("Warning", "RegistryUnavailable")]


def test_a_new_answer_with_the_same_reason_is_announced() -> None:
    facts, resolution = scenario("pinned", labels=CORRECT_LABELS)
    earlier = decide(facts, resolution)
    repinned = facts_of(inference_service(labels=CORRECT_LABELS, annotations={PIN: "10"}))
    later = decide(
        repinned, resolution_of(repinned, ambiguous_snapshot()), previous_status=earlier.status
    )
    assert [(e.type, e.reason) for e in later.events if e.reason != "LabelsCorrected"] == [
        ("Normal", "Pinned")
    ]


# Invariants ----------------------------------------------------------------------------------

# Times as the operator's clock gives them: from the epoch to the year 9999.
CLOCK_MS = st.integers(min_value=0, max_value=253_402_300_799_000)
# Small vocabularies where any value serves (cheap to draw), free text where it matters.
IDS = st.sampled_from(["4", "5", "8", "9", "10"]) | st.text(max_size=4)
WORDS = st.sampled_from(["", "mistral", "Comparison-Test", REGISTRY_NAME])
MODE_ANNOTATIONS = st.none() | st.sampled_from(["enforce", "audit", " Audit ", "", "x"])

candidates = st.builds(
    Candidate,
    registered_model_id=IDS,
    registered_model_name=WORDS,
    model_version_id=IDS,
    model_version_name=WORDS,
    artifact_id=IDS,
    artifact_uri=st.just(DEPLOYED_URI),
)
any_resolutions = st.builds(
    Resolution,
    outcome=st.sampled_from(Outcome),
    message=WORDS,
    storage_uri=st.none() | st.just(DEPLOYED_URI),
    registered_model_id=st.none() | IDS,
    registered_model_name=st.none() | WORDS,
    model_version_id=st.none() | IDS,
    model_version_name=st.none() | WORDS,
    artifact_id=st.none() | IDS,
    candidates=st.lists(candidates, max_size=2).map(tuple),
    snapshot_taken_at_ms=st.none() | CLOCK_MS,
)
deployed_models = st.builds(
    DeployedModel,
    storage=st.one_of(
        st.builds(StorageUri, st.sampled_from([DEPLOYED_URI, "", "ftp://x"]), WORDS),
        st.builds(UnsupportedStorage, WORDS, WORDS),
        st.builds(MissingStorageUri, WORDS),
    ),
    served_name=st.builds(
        ServedName, st.none() | WORDS, st.sampled_from(ServedNameSource), st.just(())
    ),
)
label_maps = st.dictionaries(
    st.sampled_from([*KEYS.all(), "app"]) | st.text(max_size=8),
    IDS | st.just(REGISTRY_NAME),
    max_size=4,
)
facts_strategy = st.builds(
    InferenceServiceFacts,
    namespace=st.just("private-ai-demo"),
    name=st.sampled_from(["", INFERENCE_SERVICE_NAME]),
    uid=st.just("uid-1"),
    generation=st.integers(min_value=0, max_value=2**63 - 1),
    resource_version=st.just("1"),
    opted_in=st.booleans(),
    mode=st.sampled_from(Mode),
    mode_annotation=MODE_ANNOTATIONS,
    mode_problem=st.none() | WORDS,
    pin=st.none() | IDS,
    deployed=deployed_models,
    labels=label_maps,
)
policies = st.builds(
    GitOpsPolicy,
    max_corrections=st.integers(min_value=0, max_value=4),
    window_ms=st.integers(min_value=0, max_value=10**9),
)
CONDITION_TYPES = st.sampled_from(["Resolved", "LabelsInSync", "Ready"])
previous_conditions = st.fixed_dictionaries(
    {"type": CONDITION_TYPES | JSON_SCALARS},
    optional={
        "status": st.sampled_from(["True", "False", "Unknown"]) | JSON_SCALARS,
        "reason": st.sampled_from([o.value for o in Outcome]) | JSON_SCALARS,
        "message": WORDS | JSON_SCALARS,
        "lastTransitionTime": st.just("2026-01-01T00:00:00Z") | JSON_SCALARS,
    },
)
previous_statuses = (
    st.none()
    | json_values()
    | st.fixed_dictionaries(
        {"conditions": st.lists(previous_conditions | JSON_SCALARS, max_size=4)}
    )
)


@dataclass(frozen=True)
class DecisionInputs:
    facts: InferenceServiceFacts
    resolution: Resolution
    keys: LabelKeys
    registry_name: str | None
    history: CorrectionHistory
    policy: GitOpsPolicy
    previous_status: Any
    now_ms: int
    label_patch_error: str | None

    def decide(self) -> BindingDecision:
        return decide_binding(
            self.facts,
            self.resolution,
            keys=self.keys,
            registry_name=self.registry_name,
            history=self.history,
            policy=self.policy,
            previous_status=self.previous_status,
            now_ms=self.now_ms,
            label_patch_error=self.label_patch_error,
        )


@st.composite
def decision_inputs(draw: st.DrawFn) -> DecisionInputs:
    """Any inputs, with past corrections near `now_ms` so that conflicts do occur."""
    now_ms = draw(CLOCK_MS)
    policy = draw(policies)
    offsets = draw(st.lists(st.integers(0, 2 * policy.window_ms + 1), max_size=5))
    history = CorrectionHistory(
        times_ms=tuple(now_ms - offset for offset in offsets),
        mode_annotation=draw(MODE_ANNOTATIONS),
        stopped=draw(st.booleans()),
    )
    return DecisionInputs(
        facts=draw(facts_strategy),
        resolution=draw(any_resolutions),
        keys=draw(st.just(KEYS) | st.builds(LabelKeys, st.text(max_size=8))),
        registry_name=draw(st.none() | st.just(REGISTRY_NAME) | st.text(max_size=8)),
        history=history,
        policy=policy,
        previous_status=draw(previous_statuses),
        now_ms=now_ms,
        label_patch_error=draw(st.none() | st.just("forbidden") | st.text(max_size=8)),
    )


any_inputs = decision_inputs()


@given(inputs=any_inputs)
def test_deciding_never_raises_and_always_gives_three_conditions(inputs: DecisionInputs) -> None:
    decision = inputs.decide()
    assert [c["type"] for c in decision.status["conditions"]] == [
        "Resolved",
        "LabelsInSync",
        "Ready",
    ]


@given(inputs=any_inputs)
def test_no_outcome_but_resolved_or_pinned_ever_gets_a_label_patch(inputs: DecisionInputs) -> None:
    decision = inputs.decide()
    if inputs.resolution.outcome not in WRITABLE_OUTCOMES:
        assert decision.label_patch is None


@given(inputs=any_inputs)
def test_a_label_patch_only_sets_the_three_label_keys_to_new_values(inputs: DecisionInputs) -> None:
    patch = inputs.decide().label_patch
    for key, value in (patch or {}).items():
        assert key in inputs.keys.all()
        assert isinstance(value, str)  # a value, never a removal
        assert inputs.facts.labels.get(key) != value


@given(inputs=any_inputs)
def test_audit_mode_or_a_refused_patch_never_gets_a_label_patch(inputs: DecisionInputs) -> None:
    decision = inputs.decide()
    if inputs.facts.mode is Mode.AUDIT or inputs.label_patch_error is not None:
        assert decision.label_patch is None


@given(inputs=any_inputs)
def test_the_ready_condition_agrees_with_the_decision(inputs: DecisionInputs) -> None:
    decision = inputs.decide()
    ready = condition(decision, "Ready")
    assert ready["status"] == ("True" if decision.ready else "False")
    assert ready["reason"] == decision.ready_reason
    assert decision.ready_reason in {o.value for o in Outcome} | {
        "GitOpsConflict",
        "UnsafeRegistryName",
    }


@given(inputs=any_inputs)
def test_ready_never_holds_without_an_answer(inputs: DecisionInputs) -> None:
    if inputs.decide().ready:
        assert inputs.resolution.has_answer


@given(
    name=st.sampled_from(SCENARIOS),
    labels=label_maps,
    mode=st.none() | st.sampled_from(["enforce", "audit", "bogus"]),
    registry_name=st.none() | st.just(REGISTRY_NAME),
)
def test_real_resolutions_patch_only_when_writable_in_enforce_mode(
    name: str, labels: Mapping[str, str], mode: str | None, registry_name: str | None
) -> None:
    facts, resolution = scenario(name, labels=labels, mode=mode)
    patch = decide(facts, resolution, registry_name=registry_name).label_patch
    writable = resolution.outcome in WRITABLE_OUTCOMES and facts.mode is Mode.ENFORCE
    wanted = expected_labels(resolution, KEYS, registry_name)
    differing = {k: v for k, v in wanted.items() if facts.labels.get(k) != v}
    assert patch == (differing if writable and differing else None)
