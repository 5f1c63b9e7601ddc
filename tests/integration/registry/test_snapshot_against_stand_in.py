"""The registry snapshot read from the stand-in process through the REST API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from registry_sync.domain.snapshot import RegistrySnapshot, State
from registry_sync.registry.client import RegistryClient
from registry_sync.registry.models import EntityState
from registry_sync.registry.snapshot_source import RefreshKind, RegistrySnapshotSource
from support.devregistry import RunningRegistry


@pytest.fixture
def source(registry_client: RegistryClient) -> RegistrySnapshotSource:
    return RegistrySnapshotSource(registry_client, immediate_refresh_interval_s=0)


def version_of(snapshot: RegistrySnapshot, uri: str) -> set[str]:
    return {a.model_version_id for a in snapshot.artifacts if a.uri == uri}


async def test_the_seed_is_read_into_a_snapshot_mapping_each_uri_to_its_version(
    seed: dict[str, str], source: RegistrySnapshotSource
) -> None:
    snapshot = await source.refresh()

    assert version_of(snapshot, seed["w4a16_uri"]) == {seed["w4a16"]}
    assert version_of(snapshot, seed["optimized_uri"]) == {seed["optimized"]}
    assert version_of(snapshot, seed["one_gpu_uri"]) == {seed["one_gpu"]}
    assert snapshot.versions[seed["w4a16"]].registered_model_id == seed["small"]
    assert snapshot.versions[seed["one_gpu"]].registered_model_id == seed["mistral"]
    assert {m.name for m in snapshot.models.values()} == {
        "Mistral-Small-24B-Instruct",
        "Mistral-24B-Instruct",
        "Comparison-Test",
    }
    assert len(snapshot.artifacts) == 4


async def test_a_cold_start_costs_three_listings_and_one_request_per_version(
    seed: dict[str, str], source: RegistrySnapshotSource
) -> None:
    await source.refresh()

    assert source.last_refresh is not None
    assert source.last_refresh.kind is RefreshKind.FULL
    assert source.last_refresh.requests == 3 + 4


async def test_nothing_changed_costs_three_requests(
    seed: dict[str, str], source: RegistrySnapshotSource
) -> None:
    first = await source.refresh()

    second = await source.refresh()

    assert source.last_refresh is not None
    assert source.last_refresh.kind is RefreshKind.INCREMENTAL
    assert source.last_refresh.requests == 3
    assert second.artifacts == first.artifacts
    assert dict(second.versions) == dict(first.versions)


async def test_archived_versions_and_models_read_as_archived(
    seed: dict[str, str], registry_client: RegistryClient, source: RegistrySnapshotSource
) -> None:
    await registry_client.set_model_version_state(seed["optimized"], EntityState.ARCHIVED)
    await registry_client.set_registered_model_state(seed["comparison"], EntityState.ARCHIVED)

    snapshot = await source.refresh()

    assert snapshot.versions[seed["optimized"]].state is State.ARCHIVED
    assert snapshot.models[seed["comparison"]].state is State.ARCHIVED
    assert snapshot.versions[seed["one_gpu"]].state is State.LIVE


async def test_a_version_archived_between_refreshes_is_seen_in_three_requests(
    seed: dict[str, str], registry_client: RegistryClient, source: RegistrySnapshotSource
) -> None:
    await source.refresh()

    await registry_client.set_model_version_state(seed["optimized"], EntityState.ARCHIVED)
    snapshot = await source.refresh()

    assert snapshot.versions[seed["optimized"]].state is State.ARCHIVED
    assert source.last_refresh is not None and source.last_refresh.requests == 3


async def test_a_version_added_between_refreshes_costs_one_more_request(
    seed: dict[str, str], registry_client: RegistryClient, source: RegistrySnapshotSource
) -> None:
    await source.refresh()

    added = await registry_client.create_model_version(seed["mistral"], "24b-w4a16-2gpu")
    await registry_client.create_model_artifact(
        added.id, name="2gpu", uri="oci://quay.io/adrina/private-ai:mistral-24b-2gpu"
    )
    snapshot = await source.refresh()

    assert version_of(snapshot, "oci://quay.io/adrina/private-ai:mistral-24b-2gpu") == {added.id}
    assert source.last_refresh is not None and source.last_refresh.requests == 3 + 1


async def test_k_versions_added_between_refreshes_cost_at_most_three_plus_k(
    seed: dict[str, str], registry_client: RegistryClient, source: RegistrySnapshotSource
) -> None:
    await source.refresh()

    k = 5
    for number in range(k):
        version = await registry_client.create_model_version(seed["mistral"], f"batch-{number}")
        await registry_client.create_model_artifact(
            version.id, name=f"batch-{number}", uri=f"oci://quay.io/org/batch:{number}"
        )
    snapshot = await source.refresh()

    assert source.last_refresh is not None and source.last_refresh.requests <= 3 + k
    assert len(snapshot.artifacts) == 4 + k


async def test_an_artifact_uri_changed_between_refreshes_keeps_its_version(
    seed: dict[str, str], registry_client: RegistryClient, source: RegistrySnapshotSource
) -> None:
    await source.refresh()

    await registry_client.update_model_artifact(
        seed["optimized_artifact"], uri="oci://quay.io/adrina/private-ai:optimized-v2"
    )
    snapshot = await source.refresh()

    changed = next(a for a in snapshot.artifacts if a.id == seed["optimized_artifact"])
    assert changed.uri == "oci://quay.io/adrina/private-ai:optimized-v2"
    assert changed.model_version_id == seed["optimized"]
    assert version_of(snapshot, seed["optimized_uri"]) == set()
    assert source.last_refresh is not None and source.last_refresh.requests == 3


async def test_an_artifact_added_to_an_older_version_is_found(
    seed: dict[str, str], registry_client: RegistryClient, source: RegistrySnapshotSource
) -> None:
    await source.refresh()

    added = await registry_client.create_model_artifact(
        seed["w4a16"], name="second", uri="oci://quay.io/org/second:v1"
    )
    snapshot = await source.refresh()

    assert next(a for a in snapshot.artifacts if a.id == added.id).model_version_id == seed["w4a16"]
    assert source.unattached_artifact_ids == frozenset()


async def test_an_immediate_refresh_finds_a_uri_registered_since_the_last_one(
    seed: dict[str, str], registry_client: RegistryClient, source: RegistrySnapshotSource
) -> None:
    await source.refresh()
    model = await registry_client.create_registered_model("Granite-3")
    version = await registry_client.create_model_version(model.id, "v1")
    await registry_client.create_model_artifact(version.id, name="g", uri="oci://q/granite:3")

    assert await source.request_refresh_for("oci://q/granite:3")
    assert source.snapshot is not None
    assert version_of(source.snapshot, "oci://q/granite:3") == {version.id}


@pytest.fixture
async def paged_source(
    dev_registry: RunningRegistry, token_file: Path
) -> AsyncIterator[RegistrySnapshotSource]:
    async with RegistryClient(dev_registry.url, token_file=token_file, page_size=2) as client:
        yield RegistrySnapshotSource(client)


async def test_small_pages_give_the_same_snapshot_as_one_page(
    seed: dict[str, str],
    registry_client: RegistryClient,
    source: RegistrySnapshotSource,
    paged_source: RegistrySnapshotSource,
) -> None:
    await registry_client.set_model_version_state(seed["optimized"], EntityState.ARCHIVED)

    one_page = await source.refresh()
    paged = await paged_source.refresh()
    for number in range(3):
        version = await registry_client.create_model_version(seed["small"], f"later-{number}")
        await registry_client.create_model_artifact(
            version.id, name=f"later-{number}", uri=f"oci://q/later:{number}"
        )
    paged_again = await paged_source.refresh()
    one_page_again = await source.refresh()

    assert paged.artifacts == one_page.artifacts
    assert dict(paged.versions) == dict(one_page.versions)
    assert paged_again.artifacts == one_page_again.artifacts
    assert dict(paged_again.versions) == dict(one_page_again.versions)
    assert paged_source.last_refresh is not None
    assert paged_source.last_refresh.requests > 3  # it did page through the changes
