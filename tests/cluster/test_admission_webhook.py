"""A mutating webhook served from the test process on 127.0.0.1 is really called by the
test apiserver on PipelineRun CREATE, its patch is stored, and its objectSelector keeps
unlabelled runs away from it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.cluster import Cluster
from support.cluster_objects import PIPELINE_RUNS, params_of, pipeline_run
from support.cluster_webhook import AdmissionWebhookServer, append_param, registered_webhook

pytestmark = pytest.mark.cluster

OPT_IN = {"registry-sync.io/inference-service": "mistral"}
INJECTED = ("vllm_model_name", "mistral")


@pytest.fixture
def webhook(kube: Cluster, namespace: str) -> Iterator[AdmissionWebhookServer]:
    with (
        AdmissionWebhookServer(append_param(*INJECTED)) as server,
        registered_webhook(kube, server, namespace=namespace, match_labels=OPT_IN, marker=INJECTED),
    ):
        yield server


def test_the_webhooks_patch_is_stored_on_create(
    kube: Cluster, namespace: str, webhook: AdmissionWebhookServer
) -> None:
    run = pipeline_run("benchmark", [{"name": "model_name", "value": "Mistral"}], labels=OPT_IN)

    PIPELINE_RUNS.create(kube.api_client, namespace, run)

    stored = PIPELINE_RUNS.get(kube.api_client, namespace, "benchmark")
    assert params_of(stored) == {"model_name": "Mistral", "vllm_model_name": "mistral"}
    assert "benchmark" in webhook.names_seen()


def test_unlabelled_runs_are_left_alone(
    kube: Cluster, namespace: str, webhook: AdmissionWebhookServer
) -> None:
    run = pipeline_run("unrelated", [{"name": "model_name", "value": "Mistral"}])

    PIPELINE_RUNS.create(kube.api_client, namespace, run)

    stored = PIPELINE_RUNS.get(kube.api_client, namespace, "unrelated")
    assert params_of(stored) == {"model_name": "Mistral"}
    assert "unrelated" not in webhook.names_seen()
