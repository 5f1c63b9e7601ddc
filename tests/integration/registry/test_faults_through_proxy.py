"""The client and the snapshot source when the network or the server misbehaves.

The faults come from a real HTTP proxy on loopback (`support.faultproxy`) in front of
the stand-in process; nothing in the client is mocked.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from registry_sync.registry.client import RegistryClient
from registry_sync.registry.errors import (
    RegistryAuthError,
    RegistryError,
    RegistryProtocolError,
    RegistryUnavailable,
)
from registry_sync.registry.snapshot_source import RegistrySnapshotSource
from registry_sync.registry.transport import RetryPolicy
from support.faultproxy import (
    ConnectionReset,
    FaultProxy,
    GarbageBody,
    Hang,
    ServerError,
    TooManyRequests,
    Unauthorized,
    WrongTypes,
)

TOKEN = "sha256~integration-s3cr3t"


class RecordedSleeps:
    """asyncio.sleep that also remembers how long each retry waited."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(delay)


@pytest.fixture
def sleeps() -> RecordedSleeps:
    return RecordedSleeps()


@pytest.fixture
async def proxied(
    proxy: FaultProxy, token_file: Path, sleeps: RecordedSleeps
) -> AsyncIterator[RegistryClient]:
    async with RegistryClient(
        proxy.url,
        token_file=token_file,
        retry=RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.05, max_retry_after_s=2),
        timeout=httpx.Timeout(connect=2.0, read=0.5, write=2.0, pool=2.0),
        sleep=sleeps,
    ) as client:
        yield client


def assert_no_token(error: RegistryError) -> None:
    assert TOKEN not in f"{error} {error!r} {error.url}"


async def test_a_server_error_then_success_is_retried_to_success(
    seed: dict[str, str], proxy: FaultProxy, proxied: RegistryClient
) -> None:
    proxy.inject(ServerError(500))

    model = await proxied.get_registered_model(seed["small"])

    assert model.name == "Mistral-Small-24B-Instruct"
    assert [request.fault for request in proxy.seen] == [ServerError(500), None]


async def test_a_429_waits_as_long_as_retry_after_says(
    seed: dict[str, str], proxy: FaultProxy, proxied: RegistryClient, sleeps: RecordedSleeps
) -> None:
    proxy.inject(TooManyRequests(retry_after_s=1))

    await proxied.get_registered_model(seed["small"])

    assert len(proxy.seen) == 2
    assert sleeps.delays[0] >= 1.0


async def test_persistent_server_errors_become_registry_unavailable(
    seed: dict[str, str], proxy: FaultProxy, proxied: RegistryClient
) -> None:
    proxy.inject(ServerError(503), ServerError(503), ServerError(503))

    with pytest.raises(RegistryUnavailable, match="503") as caught:
        await proxied.get_registered_model(seed["small"])

    assert len(proxy.seen) == 3
    assert_no_token(caught.value)


async def test_a_reset_connection_is_retried(
    seed: dict[str, str], proxy: FaultProxy, proxied: RegistryClient
) -> None:
    proxy.inject(ConnectionReset())

    model = await proxied.get_registered_model(seed["small"])

    assert model.id == seed["small"]
    assert len(proxy.seen) == 2


async def test_connections_reset_every_time_become_registry_unavailable(
    seed: dict[str, str], proxy: FaultProxy, proxied: RegistryClient
) -> None:
    proxy.inject(ConnectionReset(), ConnectionReset(), ConnectionReset())

    with pytest.raises(RegistryUnavailable, match="after 3 attempt") as caught:
        await proxied.get_registered_model(seed["small"])

    assert_no_token(caught.value)


async def test_a_server_that_hangs_times_out_and_becomes_registry_unavailable(
    seed: dict[str, str], proxy: FaultProxy, proxied: RegistryClient
) -> None:
    proxy.inject(Hang(), Hang(), Hang())

    with pytest.raises(RegistryUnavailable, match="read timeout") as caught:
        await proxied.get_registered_model(seed["small"])

    assert len(proxy.seen) == 3
    assert_no_token(caught.value)


async def test_a_401_is_an_auth_error_sent_once_and_never_shows_the_token(
    seed: dict[str, str], proxy: FaultProxy, proxied: RegistryClient
) -> None:
    proxy.inject(Unauthorized())

    with pytest.raises(RegistryAuthError) as caught:
        await proxied.get_registered_model(seed["small"])

    assert len(proxy.seen) == 1
    assert proxy.seen[0].authorization == f"Bearer {TOKEN}"
    assert caught.value.status == 401
    assert_no_token(caught.value)


async def test_a_garbage_body_is_a_protocol_error_not_retried(
    seed: dict[str, str], proxy: FaultProxy, proxied: RegistryClient
) -> None:
    proxy.inject(GarbageBody())

    with pytest.raises(RegistryProtocolError, match="not JSON"):
        await proxied.get_registered_model(seed["small"])

    assert len(proxy.seen) == 1


async def test_ids_of_the_wrong_type_are_a_protocol_error(
    seed: dict[str, str], proxy: FaultProxy, proxied: RegistryClient
) -> None:
    proxy.inject(WrongTypes())

    with pytest.raises(RegistryProtocolError, match=r"id"):
        await proxied.list_model_versions()


async def test_a_refresh_failing_on_garbage_keeps_the_last_good_snapshot_and_its_age(
    seed: dict[str, str], proxy: FaultProxy, proxied: RegistryClient
) -> None:
    source = RegistrySnapshotSource(proxied)
    good = await source.refresh()
    await proxied.create_model_version(seed["mistral"], "added-during-outage")

    proxy.inject(GarbageBody(), path_contains="/model_artifacts")
    with pytest.raises(RegistryProtocolError):
        await source.refresh()

    assert source.snapshot is good
    assert not source.is_current
    assert isinstance(source.last_error, RegistryProtocolError)
    age = source.age_s()
    assert age is not None and age >= 0
    assert source.snapshot.taken_at_ms == good.taken_at_ms

    recovered = await source.refresh()
    assert source.is_current
    assert "added-during-outage" in {v.name for v in recovered.versions.values()}


async def test_a_refresh_through_a_transient_fault_succeeds(
    seed: dict[str, str], proxy: FaultProxy, proxied: RegistryClient
) -> None:
    source = RegistrySnapshotSource(proxied)
    await source.refresh()

    proxy.inject(ServerError(502), ConnectionReset(), path_contains="/model_versions")
    await source.refresh()

    assert source.is_current
    assert source.last_refresh is not None and source.last_refresh.requests == 3 + 2
