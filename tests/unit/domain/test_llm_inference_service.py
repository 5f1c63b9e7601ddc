"""Reading what an LLMInferenceService deploys: spec.model's URI, served name and LoRA
adapters; a model given only through spec.baseRefs is said to be unsupported."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given

from registry_sync.domain.answer import Outcome, Resolution
from registry_sync.domain.digest_check import DigestCheck
from registry_sync.domain.inference_service import (
    MissingStorageUri,
    ServedName,
    ServedNameSource,
    StorageUri,
    UnsupportedStorage,
)
from registry_sync.domain.llm_inference_service import (
    read_llm_inference_service,
    read_llm_served_name,
    read_llm_storage,
)
from registry_sync.domain.metadata import DeploymentKind, LabelKeys
from registry_sync.domain.reconcile import BindingRules, RegistryView, WhatRuns, judge_runs
from registry_sync.domain.resolution import resolve
from unit.domain.strategies import json_values

URI = "oci://quay.io/team/granite:v1"


def llmisvc(spec: Any, name: Any = "granite", **metadata: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, **metadata}, "spec": spec}


def test_the_storage_uri_is_spec_model_uri() -> None:
    assert read_llm_storage(llmisvc({"model": {"uri": URI}})) == StorageUri(URI, "spec.model.uri")


def test_a_model_given_only_through_base_refs_is_unsupported_storage() -> None:
    storage = read_llm_storage(llmisvc({"baseRefs": [{"name": "granite-config"}]}))

    assert isinstance(storage, UnsupportedStorage)
    assert "spec.baseRefs" in storage.message
    assert "set spec.model.uri" in storage.message
    assert resolve(storage, None, snapshot_current=True, now_ms=0).outcome is (
        Outcome.UNSUPPORTED_STORAGE
    )


def test_a_uri_beside_base_refs_is_the_one_read() -> None:
    spec = {"baseRefs": [{"name": "granite-config"}], "model": {"uri": URI}}

    assert read_llm_storage(llmisvc(spec)) == StorageUri(URI, "spec.model.uri")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        pytest.param(llmisvc({}), "no storage URI: set spec.model.uri", id="no-model"),
        pytest.param(llmisvc({"model": {"uri": 7}}), "spec.model.uri is", id="uri-not-text"),
        pytest.param(llmisvc({"model": ["x"]}), "spec.model is", id="model-not-a-map"),
        pytest.param(llmisvc(None), "spec is", id="no-spec"),
        pytest.param("garbage", "expected a mapping", id="not-a-mapping"),
    ],
)
def test_an_unusable_model_is_a_missing_uri_saying_where(body: Any, says: str) -> None:
    storage = read_llm_storage(body)

    assert isinstance(storage, MissingStorageUri)
    assert says in storage.message


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        pytest.param(
            {"uri": URI, "name": "granite-chat"},
            ServedName("granite-chat", ServedNameSource.MODEL_NAME),
            id="spec-model-name",
        ),
        pytest.param(
            {"uri": URI},
            ServedName("granite", ServedNameSource.INFERENCE_SERVICE_NAME),
            id="defaults-to-own-name",
        ),
        pytest.param(
            {"uri": URI, "name": ""},
            ServedName("granite", ServedNameSource.INFERENCE_SERVICE_NAME),
            id="empty-name-defaults",
        ),
    ],
)
def test_the_served_name_is_spec_model_name_else_its_own(
    model: dict[str, Any], expected: ServedName
) -> None:
    assert read_llm_served_name(llmisvc({"model": model})) == expected


def test_a_served_name_that_is_not_text_is_ignored_and_said() -> None:
    served = read_llm_served_name(llmisvc({"model": {"uri": URI, "name": 3}}))

    assert served.name == "granite"
    assert any("spec.model.name is" in problem for problem in served.problems)


def test_lora_adapters_are_listed_in_order_and_odd_entries_skipped() -> None:
    adapters = [{"uri": "hf://team/sql-lora"}, {"name": "no-uri"}, "x", {"uri": "s3://b/chat"}]
    body = llmisvc({"model": {"uri": URI, "lora": {"adapters": adapters}}})

    facts = read_llm_inference_service(body, LabelKeys())

    assert facts.lora_adapters == ("hf://team/sql-lora", "s3://b/chat")


def test_the_facts_say_their_kind_opt_in_and_status_address() -> None:
    body = llmisvc(
        {"model": {"uri": URI}},
        annotations={"registry-sync.io/enabled": "true"},
        uid="u-1",
        namespace="ns",
    )
    body["status"] = {"address": {"url": "http://granite.ns.svc.cluster.local"}}

    facts = read_llm_inference_service(body, LabelKeys())

    assert facts.kind is DeploymentKind.LLM_INFERENCE_SERVICE
    assert (facts.name, facts.uid, facts.namespace, facts.opted_in) == (
        "granite",
        "u-1",
        "ns",
        True,
    )
    assert facts.deployed.storage == StorageUri(URI, "spec.model.uri")
    assert getattr(facts.models_endpoint, "url", None) == (
        "http://granite.ns.svc.cluster.local/v1/models"
    )


@given(json_values())
def test_reading_never_raises(body: object) -> None:
    facts = read_llm_inference_service({"spec": {"model": body}, "metadata": body}, LabelKeys())
    assert facts.kind is DeploymentKind.LLM_INFERENCE_SERVICE
    read_llm_inference_service(body, LabelKeys())


@pytest.mark.parametrize(
    ("mode", "blocks"), [(DigestCheck.REPORT, False), (DigestCheck.ENFORCE, True)]
)
def test_its_pods_digest_is_unknown_not_supported_for_kind(mode: DigestCheck, blocks: bool) -> None:
    facts = read_llm_inference_service(llmisvc({"model": {"uri": URI}}), LabelKeys())
    resolution = Resolution(
        Outcome.RESOLVED,
        "one live version",
        storage_uri=URI,
        registered_model_id="1",
        registered_model_name="Granite",
        model_version_id="2",
        model_version_name="v1",
        artifact_id="3",
    )

    judged = judge_runs(
        facts, resolution, RegistryView(None, current=True), BindingRules(digest_check=mode),
        WhatRuns(), now_ms=0,
    )  # fmt: skip

    digest = judged.checks[0]
    assert digest.condition is not None
    assert (digest.condition["status"], digest.condition["reason"]) == (
        "Unknown",
        "NotSupportedForKind",
    )
    assert (digest.blocker is not None) is blocks
