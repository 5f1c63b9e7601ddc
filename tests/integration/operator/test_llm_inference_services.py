"""LLMInferenceServices on the real apiserver (the project's minimal CRD): bound like
InferenceServices, and a name both kinds use refused, never guessed."""

from __future__ import annotations

from typing import Any

import pytest

from integration.operator.faults_support import run_params, try_run
from registry_sync.registry.client import RegistryClient
from support.bindings import binding_or_none, condition, wait_for_ready
from support.cluster import Cluster
from support.cluster_objects import (
    INFERENCE_SERVICES,
    LLM_INFERENCE_SERVICES,
    inference_service,
    llm_inference_service,
)
from support.operator import RunningOperator

pytestmark = pytest.mark.cluster

URI = "oci://quay.io/example/granite:v1"
ADAPTER = "hf://example/granite-lora-sql"
PARAMS = {"vllm_model_name": "x", "model_name": "y", "version_name": "z"}
MODEL_ID = "modelregistry.opendatahub.io/registered-model-id"
VERSION_ID = "modelregistry.opendatahub.io/model-version-id"
OPT_IN = {"registry-sync.io/enabled": "true"}


async def register(registry_client: RegistryClient, model_name: str, uri: str) -> tuple[str, str]:
    model = await registry_client.create_registered_model(model_name)
    version = await registry_client.create_model_version(model.id, "v1")
    await registry_client.create_model_artifact(version.id, name=model_name, uri=uri)
    return model.id, version.id


@pytest.mark.parametrize(
    ("served_name", "injected"),
    [("granite-chat", "granite-chat"), (None, "granite")],
    ids=["spec-model-name", "own-name"],
)
async def test_an_llm_inference_service_is_labelled_bound_and_its_runs_injected(
    kube: Cluster,
    namespace: str,
    registry_client: RegistryClient,
    operator: RunningOperator,
    served_name: str | None,
    injected: str,
) -> None:
    model_id, version_id = await register(registry_client, "Granite-3.1-8B", URI)
    created = LLM_INFERENCE_SERVICES.create(
        kube.api_client,
        namespace,
        llm_inference_service(
            "granite", namespace, URI, served_name=served_name, lora_adapters=(ADAPTER,)
        ),
    )

    binding = wait_for_ready(kube, namespace, "True", "Resolved", name="granite")

    assert binding["spec"]["kind"] == "LLMInferenceService"
    assert binding["status"]["loraAdapters"] == [ADAPTER]
    assert binding["status"]["vllmModelName"] == injected
    [owner] = binding["metadata"]["ownerReferences"]
    assert (owner["apiVersion"], owner["kind"], owner["uid"]) == (
        "serving.kserve.io/v1alpha2",
        "LLMInferenceService",
        created["metadata"]["uid"],
    )
    labels = LLM_INFERENCE_SERVICES.get(kube.api_client, namespace, "granite")["metadata"]["labels"]
    assert (labels[MODEL_ID], labels[VERSION_ID]) == (model_id, version_id)
    run = try_run(kube, namespace, "granite", PARAMS)
    assert isinstance(run, dict), run
    assert run_params(run, PARAMS) == {
        "vllm_model_name": injected,
        "model_name": "Granite-3.1-8B",
        "version_name": "v1",
    }

    LLM_INFERENCE_SERVICES.delete(kube.api_client, namespace, "granite")
    kube.wait_for(
        lambda: binding_or_none(kube.api_client, namespace, "granite") is None or None,
        timeout=30,
        description="the ModelBinding collected with its LLMInferenceService",
    )


async def test_a_name_used_by_both_kinds_is_refused_and_no_labels_are_written(
    kube: Cluster,
    namespace: str,
    registry_client: RegistryClient,
    operator: RunningOperator,
) -> None:
    INFERENCE_SERVICES.create(
        kube.api_client,
        namespace,
        inference_service("granite", storage_uri=URI, annotations=OPT_IN),
    )
    LLM_INFERENCE_SERVICES.create(
        kube.api_client, namespace, llm_inference_service("granite", namespace, URI)
    )
    wait_for_ready(kube, namespace, "False", "NameClash", name="granite")

    # Registered now: the answer is there, and the clash still decides.
    await register(registry_client, "Granite-3.1-8B", URI)

    def resolved_yet_clashing() -> dict[str, Any] | None:
        binding = binding_or_none(kube.api_client, namespace, "granite")
        ready = condition(binding, "Ready")
        if binding and binding["status"].get("outcome") == "Resolved" and ready:
            return binding if ready["reason"] == "NameClash" else None
        return None

    binding = kube.wait_for(resolved_yet_clashing, timeout=30, description="Resolved, NameClash")
    assert "InferenceService granite and LLMInferenceService granite" in (
        condition(binding, "Ready") or {}
    ).get("message", "")
    denied = try_run(kube, namespace, "granite", PARAMS)
    assert isinstance(denied, str), f"a run was admitted: {denied}"
    assert "InferenceService granite and LLMInferenceService granite share the name" in denied
    for resource in (INFERENCE_SERVICES, LLM_INFERENCE_SERVICES):
        labels = resource.get(kube.api_client, namespace, "granite")["metadata"].get("labels")
        assert not labels, f"{resource.kind} granite: labels written despite the clash: {labels}"

    # The clash ends with one of them: the other is bound, without an event of its own.
    LLM_INFERENCE_SERVICES.delete(kube.api_client, namespace, "granite")
    wait_for_ready(kube, namespace, "True", "Resolved", name="granite")
    admitted = try_run(kube, namespace, "granite", PARAMS)
    assert isinstance(admitted, dict), admitted
