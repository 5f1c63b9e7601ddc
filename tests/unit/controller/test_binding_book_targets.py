"""A run names its target by name only: the book finds it across kinds, and a name two
kinds use is a clash that the webhook refuses."""

from __future__ import annotations

import pytest

from registry_sync.controller.binding_book import BindingBook, BindingEntry
from registry_sync.controller.metrics import OperatorMetrics
from registry_sync.controller.pipeline_run_admission import PipelineRunAdmission
from registry_sync.domain.admission import Denied
from registry_sync.domain.inference_service import read_inference_service
from registry_sync.domain.llm_inference_service import read_llm_inference_service
from registry_sync.domain.metadata import TARGET_LABEL, DeploymentKind, LabelKeys
from registry_sync.domain.params import ParamNames

ISVC = DeploymentKind.INFERENCE_SERVICE
LLM = DeploymentKind.LLM_INFERENCE_SERVICE


def entry(kind: DeploymentKind, name: str = "granite") -> BindingEntry:
    metadata = {"name": name, "annotations": {"registry-sync.io/enabled": "true"}}
    if kind is ISVC:
        body = {"metadata": metadata, "spec": {"predictor": {"model": {"storageUri": "s3://b"}}}}
        return BindingEntry(read_inference_service(body, LabelKeys()))
    body = {"metadata": metadata, "spec": {"model": {"uri": "s3://b"}}}
    return BindingEntry(read_llm_inference_service(body, LabelKeys()))


@pytest.mark.parametrize("kind", list(DeploymentKind))
async def test_a_target_of_either_kind_is_found_by_name(kind: DeploymentKind) -> None:
    book = BindingBook()
    await book.put(entry(kind))

    target = book.target("granite")

    assert target.clash is None
    assert target.entry is not None and target.entry.facts.kind is kind


async def test_two_opted_in_kinds_of_one_name_are_a_clash_with_no_entry() -> None:
    book = BindingBook()
    await book.put(entry(ISVC))
    await book.put(entry(LLM))

    target = book.target("granite")

    assert target.entry is None
    assert target.clash is not None and set(target.clash.kinds) == {ISVC, LLM}


async def test_an_unmanaged_deployment_of_the_other_kind_clashes_too() -> None:
    book = BindingBook()
    await book.put(entry(LLM))
    book.note_unmanaged(ISVC, "granite", True)

    assert book.target("granite").clash is not None


async def test_the_clash_ends_when_one_kind_is_forgotten() -> None:
    book = BindingBook()
    await book.put(entry(ISVC))
    await book.put(entry(LLM))

    await book.forget(LLM, "granite")

    target = book.target("granite")
    assert target.clash is None and target.entry is not None


async def test_the_webhook_denies_a_run_naming_a_clashing_name_at_once() -> None:
    book = BindingBook()
    await book.put(entry(ISVC))
    await book.put(entry(LLM))
    admission = PipelineRunAdmission(book, ParamNames(), OperatorMetrics(), binding_wait_s=30)
    run = {"metadata": {"name": "bench", "labels": {TARGET_LABEL: "granite"}}, "spec": {}}

    decision = await admission.review(run)

    assert isinstance(decision, Denied)
    assert decision.reason == "NameClash"
    assert "InferenceService granite and LLMInferenceService granite share the name" in (
        decision.message
    )
