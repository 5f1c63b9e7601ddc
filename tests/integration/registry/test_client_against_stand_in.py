"""Registry client calls a registering pipeline and the operator make, against the stand-in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from registry_sync.registry.client import RegistryClient
from registry_sync.registry.errors import RegistryConflict, RegistryNotFound, RegistryRejected
from registry_sync.registry.models import DesiredState, MetadataStringValue
from support.faultproxy import FaultProxy


def rotate(token_file: Path, token: str) -> None:
    """Replace the token, moving the modification time on as a remount would."""
    token_file.write_text(token)
    stat = token_file.stat()
    os.utime(token_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


async def test_a_model_is_found_by_name(
    seed: dict[str, str], registry_client: RegistryClient
) -> None:
    found = await registry_client.find_registered_model("Mistral-24B-Instruct")

    assert found is not None and found.id == seed["mistral"]


async def test_a_version_is_found_by_name_within_its_model(
    seed: dict[str, str], registry_client: RegistryClient
) -> None:
    found = await registry_client.find_model_version("24b-w4a16-1gpu", seed["mistral"])

    assert found is not None and found.id == seed["one_gpu"]


async def test_an_unknown_name_is_not_found(registry_client: RegistryClient) -> None:
    assert await registry_client.find_registered_model("no-such-model") is None


async def test_an_unknown_id_is_registry_not_found(registry_client: RegistryClient) -> None:
    with pytest.raises(RegistryNotFound) as caught:
        await registry_client.get_model_version("999999")

    assert caught.value.status == 404


async def test_a_duplicate_model_name_is_rejected_as_a_conflict(
    seed: dict[str, str], registry_client: RegistryClient
) -> None:
    with pytest.raises(RegistryRejected) as caught:
        await registry_client.create_registered_model("Mistral-Small-24B-Instruct")

    assert (caught.value.status, caught.value.code) == (409, "Conflict")


async def test_the_version_artifacts_listing_gives_the_registered_artifact(
    seed: dict[str, str], registry_client: RegistryClient
) -> None:
    listed = await registry_client.list_version_artifacts(seed["w4a16"])

    assert [(a.id, a.uri, a.is_model_artifact) for a in listed] == [
        (seed["w4a16_artifact"], seed["w4a16_uri"], True)
    ]


async def test_a_metric_published_twice_is_one_artifact_with_the_second_value(
    seed: dict[str, str], registry_client: RegistryClient
) -> None:
    run = {"run": MetadataStringValue(string_value="ns/model-testing-abc12")}
    first = await registry_client.upsert_metric(
        seed["w4a16"],
        name="ttft_p90",
        value=182.5,
        timestamp_ms=1764150000000,
        custom_properties=run,
    )

    again = await registry_client.upsert_metric(seed["w4a16"], name="ttft_p90", value=190)

    assert (again.id, again.value, again.create_time_ms) == (first.id, 190.0, first.create_time_ms)
    assert again.last_update_ms > first.last_update_ms
    assert (again.timestamp_ms, again.custom_properties) == (1764150000000, run)


async def test_a_versions_metrics_are_listed_apart_from_its_model_artifact(
    seed: dict[str, str], registry_client: RegistryClient
) -> None:
    version = seed["w4a16"]
    await registry_client.upsert_metric(version, name="ttft_p90", value=182.5)
    await registry_client.upsert_metric(version, name="lm_eval.gsm8k.exact_match", value=0.71)
    await registry_client.upsert_metric(seed["one_gpu"], name="ttft_p90", value=99.0)

    metrics = await registry_client.list_version_metrics(version)
    everything = await registry_client.list_version_artifacts(version)
    model_artifacts = await registry_client.list_model_artifacts()

    assert [(m.name, m.value) for m in metrics] == [
        ("ttft_p90", 182.5),
        ("lm_eval.gsm8k.exact_match", 0.71),
    ]
    assert [a.is_model_artifact for a in everything] == [True, False, False]
    assert all(a.is_model_artifact for a in model_artifacts)
    assert seed["w4a16_artifact"] in {a.id for a in model_artifacts}


async def test_a_document_is_attached_listed_and_changed(
    seed: dict[str, str], registry_client: RegistryClient
) -> None:
    version = seed["w4a16"]
    created = await registry_client.create_doc_artifact(
        version, name="model-testing-abc12", uri="s3://results/abc12/benchmarks.json"
    )

    changed = await registry_client.update_doc_artifact(
        created.id, uri="s3://results/abc12/benchmarks-v2.json", description="guidellm report"
    )
    listed = await registry_client.list_version_doc_artifacts(version)

    assert (changed.id, changed.uri, changed.description) == (
        created.id,
        "s3://results/abc12/benchmarks-v2.json",
        "guidellm report",
    )
    assert [(d.id, d.uri) for d in listed] == [(created.id, changed.uri)]
    assert await registry_client.list_version_metrics(version) == []


async def test_a_document_without_a_uri_keeps_its_properties(
    seed: dict[str, str], registry_client: RegistryClient
) -> None:
    run = {"run_uid": MetadataStringValue(string_value="0c4e")}

    created = await registry_client.create_doc_artifact(
        seed["w4a16"], name="model-testing-abc12", custom_properties=run
    )

    (listed,) = await registry_client.list_version_doc_artifacts(seed["w4a16"])
    assert (listed.id, listed.uri, listed.custom_properties) == (created.id, None, run)


async def test_a_serving_environment_is_created_once_and_then_found(
    registry_client: RegistryClient,
) -> None:
    assert await registry_client.find_serving_environment("private-ai-demo") is None

    created = await registry_client.create_serving_environment("private-ai-demo")
    found = await registry_client.find_serving_environment("private-ai-demo")

    assert found == created
    with pytest.raises(RegistryConflict):
        await registry_client.create_serving_environment("private-ai-demo")


async def test_a_record_is_created_found_repointed_and_undeployed(
    seed: dict[str, str], registry_client: RegistryClient
) -> None:
    environment = await registry_client.create_serving_environment("private-ai-demo")
    created = await registry_client.create_inference_service_record(
        name="mistral-24b-quantized",
        serving_environment_id=environment.id,
        registered_model_id=seed["mistral"],
        model_version_id=seed["optimized"],
        runtime="vllm",
    )

    found = await registry_client.find_inference_service_record(
        "mistral-24b-quantized", environment.id
    )
    repointed = await registry_client.update_inference_service_record(
        created.id, model_version_id=seed["one_gpu"]
    )
    undeployed = await registry_client.update_inference_service_record(
        created.id, desired_state=DesiredState.UNDEPLOYED
    )

    assert found == created
    assert (created.desired_state, created.model_version_id) == (
        DesiredState.DEPLOYED,
        seed["optimized"],
    )
    assert repointed.model_version_id == seed["one_gpu"]
    assert (undeployed.desired_state, undeployed.model_version_id) == (
        DesiredState.UNDEPLOYED,
        seed["one_gpu"],
    )
    assert await registry_client.get_inference_service_record(created.id) == undeployed


async def test_a_record_name_taken_in_its_environment_is_a_conflict_but_free_elsewhere(
    seed: dict[str, str], registry_client: RegistryClient
) -> None:
    here = await registry_client.create_serving_environment("private-ai-demo")
    elsewhere = await registry_client.create_serving_environment("other-namespace")
    record = {
        "name": "isvc/0c4e-uid",
        "registered_model_id": seed["small"],
        "model_version_id": seed["w4a16"],
    }
    await registry_client.create_inference_service_record(serving_environment_id=here.id, **record)

    with pytest.raises(RegistryConflict) as caught:
        await registry_client.create_inference_service_record(
            serving_environment_id=here.id, **record
        )
    other = await registry_client.create_inference_service_record(
        serving_environment_id=elsewhere.id, **record
    )

    assert caught.value.code == "Conflict"
    assert other.serving_environment_id == elsewhere.id


async def test_an_unknown_record_name_is_not_found(registry_client: RegistryClient) -> None:
    environment = await registry_client.create_serving_environment("private-ai-demo")

    assert await registry_client.find_inference_service_record("nope", environment.id) is None


async def test_a_rotated_token_is_sent_from_the_next_request_on(
    seed: dict[str, str], proxy: FaultProxy, token_file: Path
) -> None:
    async with RegistryClient(proxy.url, token_file=token_file) as client:
        await client.get_registered_model(seed["small"])
        rotate(token_file, "sha256~rotated")
        await client.get_registered_model(seed["small"])

    assert [request.authorization for request in proxy.seen] == [
        "Bearer sha256~integration-s3cr3t",
        "Bearer sha256~rotated",
    ]
