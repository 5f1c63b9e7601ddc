"""Registry client calls a registering pipeline and the operator make, against the stand-in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from registry_sync.registry.client import RegistryClient
from registry_sync.registry.errors import RegistryNotFound, RegistryRejected
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
