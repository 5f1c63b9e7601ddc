"""PipelineRuns on the test control plane: both served versions, and Tekton's rule that an
existing run's spec may not change except to cancel it (imitated by a
ValidatingAdmissionPolicy where Tekton does not run)."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from support.cluster import SPEC_IMMUTABLE_POLICY, Cluster
from support.cluster_objects import (
    PIPELINE_RUNS,
    PIPELINE_RUNS_V1BETA1,
    params_of,
    pipeline_run,
)

pytestmark = pytest.mark.cluster

PARAMS: list[dict[str, Any]] = [
    {"name": "model_name", "value": "Mistral-24B-Instruct"},
    {"name": "tasks", "value": ["chat", "summarise"]},
    {"name": "limits", "value": {"max_tokens": "512"}},
]
PARAM_VALUES = {param["name"]: param["value"] for param in PARAMS}


def test_a_v1beta1_run_reads_back_as_v1_with_its_params(kube: Cluster, namespace: str) -> None:
    PIPELINE_RUNS_V1BETA1.create(
        kube.api_client,
        namespace,
        pipeline_run("old-client", PARAMS, resource=PIPELINE_RUNS_V1BETA1),
    )

    stored = PIPELINE_RUNS.get(kube.api_client, namespace, "old-client")

    assert stored["apiVersion"] == "tekton.dev/v1"
    assert params_of(stored) == PARAM_VALUES


REFUSED_CHANGES: dict[str, dict[str, Any]] = {
    "params changed": {"spec": {"params": [{"name": "model_name", "value": "other"}]}},
    "spec field added": {"spec": {"timeouts": {"pipeline": "1h"}}},
    "spec field removed": {"spec": {"pipelineRef": None}},
}
# (merge patch, where the change shows in the stored object, the value found there)
ALLOWED_CHANGES: dict[str, tuple[dict[str, Any], tuple[str, ...], str]] = {
    "cancelled": ({"spec": {"status": "Cancelled"}}, ("spec", "status"), "Cancelled"),
    "label added": (
        {"metadata": {"labels": {"registry-sync.io/inference-service": "mistral"}}},
        ("metadata", "labels", "registry-sync.io/inference-service"),
        "mistral",
    ),
    "annotation added": (
        {"metadata": {"annotations": {"note": "checked"}}},
        ("metadata", "annotations", "note"),
        "checked",
    ),
}


@pytest.mark.parametrize("change", REFUSED_CHANGES)
def test_a_spec_change_to_an_existing_run_is_refused(
    kube: Cluster, namespace: str, change: str
) -> None:
    PIPELINE_RUNS.create(kube.api_client, namespace, pipeline_run("benchmark", PARAMS))

    with pytest.raises(ApiException) as refused:
        PIPELINE_RUNS.merge_patch(kube.api_client, namespace, "benchmark", REFUSED_CHANGES[change])

    assert refused.value.status == 422
    assert SPEC_IMMUTABLE_POLICY in (refused.value.body or "")
    stored = PIPELINE_RUNS.get(kube.api_client, namespace, "benchmark")
    assert params_of(stored) == PARAM_VALUES


@pytest.mark.parametrize("change", ALLOWED_CHANGES)
def test_cancelling_and_metadata_changes_are_allowed(
    kube: Cluster, namespace: str, change: str
) -> None:
    patch, path, expected = ALLOWED_CHANGES[change]
    PIPELINE_RUNS.create(kube.api_client, namespace, pipeline_run("benchmark", PARAMS))

    stored: Any = PIPELINE_RUNS.merge_patch(kube.api_client, namespace, "benchmark", patch)

    for key in path:
        stored = stored[key]
    assert stored == expected


def test_a_cancelled_run_keeps_its_params(kube: Cluster, namespace: str) -> None:
    PIPELINE_RUNS.create(kube.api_client, namespace, pipeline_run("benchmark", PARAMS))

    cancelled = PIPELINE_RUNS.merge_patch(
        kube.api_client, namespace, "benchmark", {"spec": {"status": "Cancelled"}}
    )

    assert cancelled["spec"]["status"] == "Cancelled"
    assert params_of(cancelled) == PARAM_VALUES
