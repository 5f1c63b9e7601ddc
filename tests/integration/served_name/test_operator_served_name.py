"""The served-name check end to end: the operator against the real apiserver, the registry
stand-in and a predictor answering `/v1/models` as vLLM does (tests/support).

KServe writes the predictor's address into the InferenceService's status; here the test
does, pointing it at the stand-in on loopback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from integration.operator.faults_support import try_run
from registry_sync.registry.client import RegistryClient
from support.bindings import condition, wait_for_ready
from support.cluster import Cluster
from support.cluster_objects import INFERENCE_SERVICES
from support.devregistry import RunningRegistry
from support.operator import RunningOperator, start_operator
from support.vllm_models_server import VllmModelsServer

pytestmark = pytest.mark.cluster

URI = "oci://quay.io/example/granite:v1"
PARAMS = {"vllm_model_name": "x", "model_name": "y", "version_name": "z"}


@pytest.fixture
def operator(
    kube: Cluster, namespace: str, dev_registry: RunningRegistry, tmp_path: Path
) -> Iterator[RunningOperator]:
    with start_operator(
        kube,
        namespace,
        dev_registry.url,
        tmp_path / "operator.log",
        extra_args=[
            "--refresh-seconds", "1",
            "--digest-check", "off",
            "--served-name-check", "enforce",
        ],
    ) as running:  # fmt: skip
        yield running


def deploy_with_address(kube: Cluster, namespace: str, name: str, address: str) -> None:
    INFERENCE_SERVICES.create(
        kube.api_client,
        namespace,
        {
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "metadata": {"name": name, "annotations": {"registry-sync.io/enabled": "true"}},
            "spec": {"predictor": {"model": {"modelFormat": {"name": "vLLM"}, "storageUri": URI}}},
        },
    )
    client.CustomObjectsApi(kube.api_client).patch_namespaced_custom_object_status(
        "serving.kserve.io",
        "v1beta1",
        namespace,
        "inferenceservices",
        name,
        {"status": {"address": {"url": address}}},
        _content_type="application/merge-patch+json",
    )


async def ready(kube: Cluster, namespace: str, status: str, reason: str, name: str) -> Any:
    # The predictor stand-in runs on this event loop: wait in a thread. Long enough for the
    # probe to ask again (it keeps an answer 60 s).
    return await asyncio.to_thread(
        wait_for_ready, kube, namespace, status, reason, name, timeout=90
    )


async def test_a_served_name_that_differs_refuses_runs_until_vllm_serves_it(
    kube: Cluster,
    namespace: str,
    registry_client: RegistryClient,
    operator: RunningOperator,
) -> None:
    model = await registry_client.create_registered_model("Granite")
    version = await registry_client.create_model_version(model.id, "v1")
    await registry_client.create_model_artifact(version.id, name="granite", uri=URI)

    async with VllmModelsServer(["granite-3"]) as predictor:  # not the InferenceService's name
        deploy_with_address(kube, namespace, "granite", predictor.url)

        binding = await ready(kube, namespace, "False", "ServedNameMismatch", "granite")
        verified = condition(binding, "ServedNameVerified")
        assert verified is not None and verified["status"] == "False"
        assert "granite-3" in verified["message"]
        denied = await asyncio.to_thread(try_run, kube, namespace, "granite", PARAMS)
        assert isinstance(denied, str) and "ServedNameMismatch" in denied, denied

        predictor.served_names = ["granite"]  # redeployed with --served-model-name=granite
        binding = await ready(kube, namespace, "True", "Resolved", "granite")
        assert condition(binding, "ServedNameVerified")["reason"] == "ServedNameMatches"  # type: ignore[index]
        assert all(request.authorization is None for request in predictor.requests)


async def test_an_unreachable_predictor_blocks_only_in_enforce(
    kube: Cluster,
    namespace: str,
    registry_client: RegistryClient,
    operator: RunningOperator,
) -> None:
    model = await registry_client.create_registered_model("Granite")
    version = await registry_client.create_model_version(model.id, "v1")
    await registry_client.create_model_artifact(version.id, name="granite", uri=URI)

    deploy_with_address(kube, namespace, "granite", "http://127.0.0.1:9")  # nothing listens

    binding = await ready(kube, namespace, "False", "ServedNameUnknown", "granite")
    assert condition(binding, "ServedNameVerified")["status"] == "Unknown"  # type: ignore[index]
