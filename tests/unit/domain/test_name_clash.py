"""A name both kinds of deployment use: found, and deciding the binding (Ready False,
NameClash, no label patch) whatever the registry says."""

from __future__ import annotations

import pytest

from registry_sync.domain.answer import Outcome, Resolution
from registry_sync.domain.binding import CorrectionHistory, GitOpsPolicy, decide_binding
from registry_sync.domain.inference_service import read_inference_service
from registry_sync.domain.metadata import DeploymentKind, LabelKeys
from registry_sync.domain.name_clash import NAME_CLASH, find_name_clash, name_clash_check
from registry_sync.domain.reconcile import (
    BindingRules,
    Decided,
    Known,
    RegistryView,
    reconcile_step,
)

ISVC = DeploymentKind.INFERENCE_SERVICE
LLM = DeploymentKind.LLM_INFERENCE_SERVICE


@pytest.mark.parametrize(
    ("kinds", "clash"),
    [
        pytest.param([], False, id="nobody"),
        pytest.param([ISVC], False, id="one-inference-service"),
        pytest.param([LLM, LLM], False, id="one-kind-twice"),
        pytest.param([LLM, ISVC], True, id="both-kinds"),
    ],
)
def test_a_clash_is_two_kinds_using_one_name(kinds: list[DeploymentKind], clash: bool) -> None:
    assert (find_name_clash("granite", kinds) is not None) is clash


def test_the_clash_message_names_both_deployments_and_what_to_do() -> None:
    clash = find_name_clash("granite", [LLM, ISVC])

    assert clash is not None
    assert "InferenceService granite and LLMInferenceService granite share the name" in (
        clash.message
    )
    assert "rename one of them" in clash.message


def test_no_clash_is_no_check() -> None:
    assert name_clash_check(None) is None


def opted_in(labels: dict[str, str] | None = None) -> dict[str, object]:
    return {
        "metadata": {
            "name": "granite",
            "uid": "u",
            "annotations": {"registry-sync.io/enabled": "true"},
            "labels": labels or {},
        },
        "spec": {"predictor": {"model": {"storageUri": "oci://quay.io/team/granite:v1"}}},
    }


@pytest.mark.parametrize("registry_known", [False, True], ids=["no-answer", "no-registry-yet"])
def test_a_clash_makes_ready_false_with_its_reason_whatever_the_registry_says(
    registry_known: bool,
) -> None:
    facts = read_inference_service(opted_in(), LabelKeys())
    step = reconcile_step(
        facts,
        Known(),
        RegistryView(None, current=registry_known),
        BindingRules(),
        now_ms=0,
        refreshed=True,
        clash=find_name_clash("granite", [ISVC, LLM]),
    )

    assert isinstance(step, Decided)
    assert (step.decision.ready, step.decision.ready_reason) == (False, NAME_CLASH)
    assert step.decision.label_patch is None


def test_a_clash_with_a_resolved_answer_writes_no_labels() -> None:
    facts = read_inference_service(opted_in(), LabelKeys())
    check = name_clash_check(find_name_clash("granite", [ISVC, LLM]))
    assert check is not None

    decision = decide_binding(
        facts,
        Resolution(
            Outcome.RESOLVED,
            "one live version",
            storage_uri="oci://quay.io/team/granite:v1",
            registered_model_id="1",
            registered_model_name="Granite",
            model_version_id="2",
            model_version_name="v1",
            artifact_id="3",
        ),
        keys=LabelKeys(),
        registry_name=None,
        history=CorrectionHistory(),
        policy=GitOpsPolicy(),
        previous_status=None,
        now_ms=0,
        checks=(check,),
    )

    assert decision.label_patch is None
    assert (decision.ready, decision.ready_reason) == (False, NAME_CLASH)
    conditions = {c["type"]: c for c in decision.status["conditions"]}
    assert conditions["Resolved"]["status"] == "True"
    assert conditions["LabelsInSync"]["reason"] == NAME_CLASH
