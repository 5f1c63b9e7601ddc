"""The registry client against the stand-in process, with and without the fault proxy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from registry_sync.registry.client import RegistryClient
from registry_sync.registry.models import MetadataStringValue
from registry_sync.registry.transport import RetryPolicy
from support.devregistry import RunningRegistry
from support.faultproxy import FaultProxy

TOKEN = "sha256~integration-s3cr3t"
QUICK_RETRIES = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.05, max_retry_after_s=2)
QUICK_TIMEOUT = httpx.Timeout(connect=2.0, read=1.0, write=2.0, pool=2.0)

SMALL = "Mistral-Small-24B-Instruct"
MISTRAL = "Mistral-24B-Instruct"
COMPARISON = "Comparison-Test"
W4A16_URI = (
    "oci://image-registry.openshift-image-registry.svc:5000/private-ai-demo/"
    "mistral-24b-quantized:w4a16-2501"
)
OPTIMIZED_URI = "oci://quay.io/adrina/private-ai:mistral-quantized-optimized-test"
ONE_GPU_URI = "oci://quay.io/adrina/private-ai:mistral-24b-quantized-w4a16-2501"
COMPARISON_URI = "oci://quay.io/example/comparison:v1"


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN)
    return path


@pytest.fixture
async def registry_client(
    dev_registry: RunningRegistry,
    token_file: Path,
) -> AsyncIterator[RegistryClient]:
    async with RegistryClient(
        dev_registry.url, token_file=token_file, retry=QUICK_RETRIES, timeout=QUICK_TIMEOUT
    ) as client:
        yield client


@pytest.fixture
async def proxy(dev_registry: RunningRegistry) -> AsyncIterator[FaultProxy]:
    """A fault-injecting proxy in front of this test's stand-in."""
    async with FaultProxy(dev_registry.url) as running:
        yield running


@pytest.fixture
async def seed(registry_client: RegistryClient) -> dict[str, str]:
    """The incident's registry, registered the way a pipeline does.

    Keys: entity ids as the server assigned them, and `*_uri` for the artifacts' URIs.
    """
    client = registry_client
    ids: dict[str, str] = {}
    small = await client.create_registered_model(
        SMALL, owner="private-ai-demo", description="Mistral Small 24B Instruct 2501"
    )
    image = W4A16_URI.removeprefix("oci://")
    w4a16 = await client.create_model_version(
        small.id,
        "quantized-w4a16-2501",
        author="pipeline",
        custom_properties={"container_image": MetadataStringValue(string_value=image)},
    )
    w4a16_artifact = await client.create_model_artifact(
        w4a16.id,
        name="mistral-24b-quantized",
        uri=W4A16_URI,
        model_format_name="vLLM",
        model_format_version="1",
    )
    comparison = await client.create_registered_model(COMPARISON)
    comparison_version = await client.create_model_version(comparison.id, "baseline")
    await client.create_model_artifact(comparison_version.id, name="comparison", uri=COMPARISON_URI)
    mistral = await client.create_registered_model(MISTRAL)
    optimized = await client.create_model_version(mistral.id, "quantized-optimized-test")
    optimized_artifact = await client.create_model_artifact(
        optimized.id, name="mistral-quantized-optimized-test", uri=OPTIMIZED_URI
    )
    one_gpu = await client.create_model_version(mistral.id, "24b-w4a16-1gpu")
    await client.create_model_artifact(
        one_gpu.id, name="mistral-24b-quantized-w4a16-2501", uri=ONE_GPU_URI
    )
    ids.update(
        small=small.id,
        w4a16=w4a16.id,
        w4a16_artifact=w4a16_artifact.id,
        comparison=comparison.id,
        comparison_version=comparison_version.id,
        mistral=mistral.id,
        optimized=optimized.id,
        optimized_artifact=optimized_artifact.id,
        one_gpu=one_gpu.id,
        w4a16_uri=W4A16_URI,
        optimized_uri=OPTIMIZED_URI,
        one_gpu_uri=ONE_GPU_URI,
        comparison_uri=COMPARISON_URI,
    )
    return ids
