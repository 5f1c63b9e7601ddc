"""The key cluster scenarios again, with the real upstream KServe and Tekton CRDs (read
from the third-party folder at run time) instead of the project's minimal test CRDs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from support.cluster import SPEC_IMMUTABLE_POLICY, Cluster
from support.cluster_objects import (
    INFERENCE_SERVICES,
    PIPELINE_RUNS,
    PIPELINE_RUNS_V1BETA1,
    CustomResource,
    inference_service,
    params_of,
    pipeline_run,
)
from support.cluster_webhook import AdmissionWebhookServer, append_param, registered_webhook

pytestmark = [pytest.mark.cluster, pytest.mark.upstream]

MODEL_VERSION_LABEL = "modelregistry.opendatahub.io/model-version-id"
OPT_IN = {"registry-sync.io/inference-service": "mistral"}
INJECTED = ("vllm_model_name", "mistral")
PARAMS: list[dict[str, Any]] = [
    {"name": "model_name", "value": "Mistral-24B-Instruct"},
    {"name": "tasks", "value": ["chat", "summarise"]},
]
PARAM_VALUES = {param["name"]: param["value"] for param in PARAMS}


def test_an_inference_service_label_patch_arrives_through_a_watch(
    upstream_kube: Cluster, upstream_namespace: str
) -> None:
    api_client = upstream_kube.api_client
    created = INFERENCE_SERVICES.create(api_client, upstream_namespace, inference_service("m"))

    INFERENCE_SERVICES.merge_patch(
        api_client, upstream_namespace, "m", {"metadata": {"labels": {MODEL_VERSION_LABEL: "5"}}}
    )

    seen = INFERENCE_SERVICES.watch_for(
        api_client,
        upstream_namespace,
        lambda kind, isvc: (
            kind == "MODIFIED"
            and isvc["metadata"].get("labels", {}).get(MODEL_VERSION_LABEL) == "5"
        ),
        since=created["metadata"]["resourceVersion"],
    )

    assert seen is not None, "no MODIFIED event carrying the patched label within 30 s"
    assert seen["spec"] == created["spec"]


@pytest.mark.parametrize("resource", [PIPELINE_RUNS, PIPELINE_RUNS_V1BETA1], ids=["v1", "v1beta1"])
def test_a_run_created_in_either_version_reads_back_as_v1(
    upstream_kube: Cluster, upstream_namespace: str, resource: CustomResource
) -> None:
    resource.create(
        upstream_kube.api_client,
        upstream_namespace,
        pipeline_run("benchmark", PARAMS, resource=resource),
    )

    stored = PIPELINE_RUNS.get(upstream_kube.api_client, upstream_namespace, "benchmark")

    assert params_of(stored) == PARAM_VALUES


def test_a_params_change_is_refused(upstream_kube: Cluster, upstream_namespace: str) -> None:
    api_client = upstream_kube.api_client
    PIPELINE_RUNS.create(api_client, upstream_namespace, pipeline_run("benchmark", PARAMS))

    with pytest.raises(ApiException) as refused:
        PIPELINE_RUNS.merge_patch(
            api_client,
            upstream_namespace,
            "benchmark",
            {"spec": {"params": [{"name": "model_name", "value": "other"}]}},
        )

    assert refused.value.status == 422
    assert SPEC_IMMUTABLE_POLICY in (refused.value.body or "")


def test_cancelling_is_allowed(upstream_kube: Cluster, upstream_namespace: str) -> None:
    api_client = upstream_kube.api_client
    PIPELINE_RUNS.create(api_client, upstream_namespace, pipeline_run("benchmark", PARAMS))

    cancelled = PIPELINE_RUNS.merge_patch(
        api_client, upstream_namespace, "benchmark", {"spec": {"status": "Cancelled"}}
    )

    assert cancelled["spec"]["status"] == "Cancelled"


@pytest.fixture
def webhook(upstream_kube: Cluster, upstream_namespace: str) -> Iterator[AdmissionWebhookServer]:
    with (
        AdmissionWebhookServer(append_param(*INJECTED)) as server,
        registered_webhook(
            upstream_kube,
            server,
            namespace=upstream_namespace,
            match_labels=OPT_IN,
            marker=INJECTED,
        ),
    ):
        yield server


def test_the_webhooks_patch_is_stored_on_create(
    upstream_kube: Cluster, upstream_namespace: str, webhook: AdmissionWebhookServer
) -> None:
    run = pipeline_run("benchmark", PARAMS, labels=OPT_IN)

    PIPELINE_RUNS.create(upstream_kube.api_client, upstream_namespace, run)

    stored = PIPELINE_RUNS.get(upstream_kube.api_client, upstream_namespace, "benchmark")
    assert params_of(stored)["vllm_model_name"] == "mistral"
    assert "benchmark" in webhook.names_seen()
