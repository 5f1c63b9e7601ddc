"""The seed scenario of DESIGN.md ("The problem it solves") as registry data and objects.

Plain functions, so that any test tier can build the same registry and InferenceService.
"""

from __future__ import annotations

from typing import Any

from registry_sync.domain.admission import BindingView
from registry_sync.domain.snapshot import (
    ModelArtifact,
    ModelVersion,
    RegisteredModel,
    RegistrySnapshot,
)

DEPLOYED_URI = (
    "oci://image-registry.openshift-image-registry.svc:5000/private-ai-demo/"
    "mistral-24b-quantized:w4a16-2501"
)
INFERENCE_SERVICE_NAME = "mistral-24b-quantized"
NAMESPACE = "private-ai-demo"
SNAPSHOT_TAKEN_AT_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def seed_snapshot(taken_at_ms: int = SNAPSHOT_TAKEN_AT_MS) -> RegistrySnapshot:
    """Models 4, 6 and 8 with versions 5, 7, 9 and 10, as in the incident.

    Model 4 version 5 holds the deployed URI. Model 8's versions 9 and 10 hold quay.io
    images whose names resemble it. Model 6 `Comparison-Test` (version 7) is unrelated.
    """
    models = [
        RegisteredModel(id="4", name="Mistral-Small-24B-Instruct"),
        RegisteredModel(id="6", name="Comparison-Test"),
        RegisteredModel(id="8", name="Mistral-24B-Instruct"),
    ]
    versions = [
        ModelVersion(id="5", name="quantized-w4a16-2501", registered_model_id="4"),
        ModelVersion(id="7", name="baseline", registered_model_id="6"),
        ModelVersion(id="9", name="quantized-optimized-test", registered_model_id="8"),
        ModelVersion(id="10", name="24b-w4a16-1gpu", registered_model_id="8"),
    ]
    artifacts = (
        ModelArtifact(id="1", name="mistral-24b-quantized", uri=DEPLOYED_URI, model_version_id="5"),
        ModelArtifact(
            id="2",
            name="comparison-baseline",
            uri="oci://quay.io/example/comparison-test:baseline",
            model_version_id="7",
        ),
        ModelArtifact(
            id="3",
            name="mistral-quantized-optimized-test",
            uri="oci://quay.io/adrina/private-ai:mistral-quantized-optimized-test",
            model_version_id="9",
        ),
        ModelArtifact(
            id="4",
            name="mistral-24b-quantized-w4a16-2501",
            uri="oci://quay.io/adrina/private-ai:mistral-24b-quantized-w4a16-2501",
            model_version_id="10",
        ),
    )
    return RegistrySnapshot(
        models={model.id: model for model in models},
        versions={version.id: version for version in versions},
        artifacts=artifacts,
        taken_at_ms=taken_at_ms,
    )


def seed_inference_service() -> dict[str, Any]:
    """The deployed InferenceService, with the wrong labels it carried in the incident."""
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": INFERENCE_SERVICE_NAME,
            "namespace": NAMESPACE,
            "annotations": {"registry-sync.io/enabled": "true"},
            "labels": {
                "modelregistry.opendatahub.io/registered-model-id": "4",
                "modelregistry.opendatahub.io/model-version-id": "9",
            },
        },
        "spec": {
            "predictor": {
                "model": {
                    "modelFormat": {"name": "vLLM"},
                    "runtime": "vllm-cuda-runtime",
                    "storageUri": DEPLOYED_URI,
                },
            },
        },
    }


def seed_pipeline_run_params() -> list[dict[str, Any]]:
    """The params of the model-testing run that published to the wrong model."""
    return [
        {"name": "inference_service_name", "value": INFERENCE_SERVICE_NAME},
        {"name": "model_name", "value": "Mistral-24B-Instruct"},
        {"name": "version_name", "value": "24b-w4a16-1gpu"},
        {"name": "benchmark_profile", "value": "sweep"},
    ]


# The seed InferenceService's binding once resolved: what the webhook answers from.
READY_BINDING = BindingView(
    inference_service=INFERENCE_SERVICE_NAME,
    ready=True,
    reason="Resolved",
    message="resolved to model 4 version 5",
    served_name="mistral-24b-quantized",
    model_name="Mistral-Small-24B-Instruct",
    version_name="quantized-w4a16-2501",
    version_id="5",
)
