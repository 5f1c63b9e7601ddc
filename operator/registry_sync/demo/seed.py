"""The incident registry-sync was built for, as data: registry entries and cluster objects.

Used by `registry-sync demo` and by the tests. The registry part is registered through the
REST API the way a registering pipeline does (model, version, artifact); ids are whatever
the registry assigns, never assumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from registry_sync.registry.client import RegistryClient
from registry_sync.registry.models import MetadataStringValue

ISVC_NAME: Final = "mistral-24b-quantized"
DEPLOYED_URI: Final = (
    "oci://image-registry.openshift-image-registry.svc:5000/private-ai-demo/"
    "mistral-24b-quantized:w4a16-2501"
)
SMALL_MODEL: Final = "Mistral-Small-24B-Instruct"
SMALL_VERSION: Final = "quantized-w4a16-2501"
MISTRAL_MODEL: Final = "Mistral-24B-Instruct"
OPTIMIZED_VERSION: Final = "quantized-optimized-test"
OPTIMIZED_URI: Final = "oci://quay.io/adrina/private-ai:mistral-quantized-optimized-test"
ONE_GPU_VERSION: Final = "24b-w4a16-1gpu"
ONE_GPU_URI: Final = "oci://quay.io/adrina/private-ai:mistral-24b-quantized-w4a16-2501"
COMPARISON_MODEL: Final = "Comparison-Test"
COMPARISON_VERSION: Final = "baseline"
COMPARISON_URI: Final = "oci://quay.io/example/comparison-test:baseline"
RUN_NAME: Final = "mistral-24b-quantized-benchmark"


@dataclass(frozen=True, slots=True)
class SeedIds:
    """The ids the registry assigned to the seed's entities."""

    small_model: str
    small_version: str
    mistral_model: str
    optimized_version: str
    one_gpu_version: str
    comparison_model: str
    comparison_version: str


async def register_seed(client: RegistryClient) -> SeedIds:
    """Register the seed's three models, four versions and their artifacts."""
    small = await client.create_registered_model(SMALL_MODEL, owner="private-ai-demo")
    small_version = await client.create_model_version(
        small.id,
        SMALL_VERSION,
        custom_properties={
            "container_image": MetadataStringValue(string_value=DEPLOYED_URI.removeprefix("oci://"))
        },
    )
    await client.create_model_artifact(small_version.id, name=ISVC_NAME, uri=DEPLOYED_URI)
    comparison = await client.create_registered_model(COMPARISON_MODEL)
    comparison_version = await client.create_model_version(comparison.id, COMPARISON_VERSION)
    await client.create_model_artifact(
        comparison_version.id, name="comparison-test", uri=COMPARISON_URI
    )
    mistral = await client.create_registered_model(MISTRAL_MODEL)
    optimized = await client.create_model_version(mistral.id, OPTIMIZED_VERSION)
    await client.create_model_artifact(optimized.id, name=OPTIMIZED_VERSION, uri=OPTIMIZED_URI)
    one_gpu = await client.create_model_version(mistral.id, ONE_GPU_VERSION)
    await client.create_model_artifact(one_gpu.id, name=ONE_GPU_VERSION, uri=ONE_GPU_URI)
    return SeedIds(
        small_model=small.id,
        small_version=small_version.id,
        mistral_model=mistral.id,
        optimized_version=optimized.id,
        one_gpu_version=one_gpu.id,
        comparison_model=comparison.id,
        comparison_version=comparison_version.id,
    )


def seed_inference_service(
    namespace: str, ids: SeedIds, label_prefix: str = "modelregistry.opendatahub.io"
) -> dict[str, Any]:
    """The deployed InferenceService, labelled as in the incident: model 4 with version 9 of
    another model (here: the seed's model, and a version of the other Mistral model)."""
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": ISVC_NAME,
            "namespace": namespace,
            "annotations": {"registry-sync.io/enabled": "true"},
            "labels": {
                f"{label_prefix}/registered-model-id": ids.small_model,
                f"{label_prefix}/model-version-id": ids.optimized_version,
            },
        },
        "spec": {
            "predictor": {
                "model": {
                    "modelFormat": {"name": "vLLM"},
                    "runtime": "vllm-cuda-runtime",
                    "storageUri": DEPLOYED_URI,
                    "args": ["--max-model-len=16384"],
                }
            }
        },
    }


def seed_pipeline_run(namespace: str, api_version: str = "tekton.dev/v1") -> dict[str, Any]:
    """The model-testing run as it was started: right vLLM name, wrong registry target."""
    return {
        "apiVersion": api_version,
        "kind": "PipelineRun",
        "metadata": {
            "name": RUN_NAME,
            "namespace": namespace,
            "labels": {"registry-sync.io/inference-service": ISVC_NAME},
        },
        "spec": {
            "pipelineRef": {"name": "model-testing"},
            "params": [
                {"name": "inference_service_name", "value": ISVC_NAME},
                {"name": "vllm_model_name", "value": ISVC_NAME},
                {"name": "model_name", "value": MISTRAL_MODEL},
                {"name": "version_name", "value": ONE_GPU_VERSION},
            ],
        },
    }
