"""The seed scenario again, on a control plane serving KServe's and Tekton's real CRDs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from registry_sync.demo.seed import DEPLOYED_URI, ISVC_NAME, SeedIds, seed_inference_service
from support.bindings import MODEL_ID, VERSION_ID, binding_or_none, condition
from support.cluster import Cluster
from support.cluster_objects import (
    INFERENCE_SERVICES,
    LLM_INFERENCE_SERVICES,
    llm_inference_service,
)
from support.devregistry import RunningRegistry
from support.operator import start_operator

pytestmark = [pytest.mark.cluster, pytest.mark.upstream]


def test_seed_labels_are_corrected_with_the_upstream_kserve_crd(
    upstream_kube: Cluster,
    upstream_namespace: str,
    seed: SeedIds,
    dev_registry: RunningRegistry,
    tmp_path: Path,
) -> None:
    kube, namespace = upstream_kube, upstream_namespace
    with start_operator(kube, namespace, dev_registry.url, tmp_path / "operator.log"):
        INFERENCE_SERVICES.create(
            kube.api_client, namespace, seed_inference_service(namespace, seed)
        )

        def ready() -> dict[str, Any] | None:
            found = condition(binding_or_none(kube.api_client, namespace, ISVC_NAME), "Ready")
            return found if found and found["status"] == "True" else None

        kube.wait_for(ready, timeout=30, description="binding Ready on upstream CRDs")
        labels = INFERENCE_SERVICES.get(kube.api_client, namespace, ISVC_NAME)["metadata"]["labels"]
        assert (labels[MODEL_ID], labels[VERSION_ID]) == (seed.small_model, seed.small_version)
        # The real CRD keeps the spec exactly as applied: only labels were patched.
        stored = INFERENCE_SERVICES.get(kube.api_client, namespace, ISVC_NAME)
        assert stored["spec"] == seed_inference_service(namespace, seed)["spec"]


def test_an_llm_inference_service_is_bound_with_the_upstream_kserve_crd(
    upstream_kube: Cluster,
    upstream_namespace: str,
    seed: SeedIds,
    dev_registry: RunningRegistry,
    tmp_path: Path,
) -> None:
    kube, namespace = upstream_kube, upstream_namespace
    body = llm_inference_service(
        "mistral-llm", namespace, DEPLOYED_URI, lora_adapters=("hf://example/mistral-lora",)
    )
    with start_operator(kube, namespace, dev_registry.url, tmp_path / "operator.log"):
        LLM_INFERENCE_SERVICES.create(kube.api_client, namespace, body)

        def ready() -> dict[str, Any] | None:
            binding = binding_or_none(kube.api_client, namespace, "mistral-llm")
            found = condition(binding, "Ready")
            return binding if found and found["status"] == "True" else None

        binding = kube.wait_for(ready, timeout=30, description="LLMInferenceService bound")
        assert binding["spec"]["kind"] == "LLMInferenceService"
        assert binding["status"]["vllmModelName"] == "mistral-llm"
        assert binding["status"]["loraAdapters"] == ["hf://example/mistral-lora"]
        stored = LLM_INFERENCE_SERVICES.get(kube.api_client, namespace, "mistral-llm")
        labels = stored["metadata"]["labels"]
        assert (labels[MODEL_ID], labels[VERSION_ID]) == (seed.small_model, seed.small_version)
        # KServe's real v1alpha2 schema keeps the spec as applied: only labels were patched.
        assert stored["spec"] == body["spec"]
