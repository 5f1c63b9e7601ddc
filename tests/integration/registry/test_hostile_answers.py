"""The client and the snapshot source against hostile answers on a real socket.

A fault proxy (`support.faultproxy`) in front of the stand-in answers with what a broken or
compromised registry, or something else at its address, could send: a body nested 100,000
levels deep, 400 MiB (chunked, or announced in Content-Length), an answer trickled a byte
at a time, pages that never end. With the client's limits at their defaults, each refresh
fails with a `RegistryError` that says what was wrong, the last good snapshot is kept, and
the first refresh after the fault succeeds. (The request deadline is shortened here to keep
the suite quick; the operator-level test runs at the defaults.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from registry_sync.registry.client import RegistryClient
from registry_sync.registry.errors import RegistryError, RegistryProtocolError, RegistryUnavailable
from registry_sync.registry.snapshot_source import RegistrySnapshotSource
from support.faultproxy import EndlessPages, Fault, FaultProxy, Huge, Nested, Trickle

DEADLINE_S = 3.0

HOSTILE = [
    pytest.param(Nested(), RegistryProtocolError, "nested more than", id="nested"),
    pytest.param(Nested(status=500), RegistryUnavailable, "500", id="nested-error-answer"),
    pytest.param(Huge(mib=400), RegistryProtocolError, "more than 8388608 bytes", id="huge"),
    pytest.param(
        Huge(mib=400, declare_length=True),
        RegistryProtocolError,
        "more than 8388608 bytes",
        id="huge-declared",
    ),
    pytest.param(EndlessPages(), RegistryProtocolError, "pages without end", id="endless-pages"),
    pytest.param(Trickle(interval_s=0.1), RegistryUnavailable, "no complete answer", id="trickle"),
]


@pytest.fixture
async def client(proxy: FaultProxy, token_file: Path) -> AsyncIterator[RegistryClient]:
    async with RegistryClient(proxy.url, token_file=token_file, deadline_s=DEADLINE_S) as made:
        yield made


@pytest.mark.parametrize(("fault", "error", "message"), HOSTILE)
async def test_a_hostile_answer_fails_the_refresh_cleanly_and_the_next_refresh_succeeds(
    seed: dict[str, str],
    proxy: FaultProxy,
    client: RegistryClient,
    fault: Fault,
    error: type[RegistryError],
    message: str,
) -> None:
    source = RegistrySnapshotSource(client)
    good = await source.refresh()
    proxy.start_outage(fault)

    with pytest.raises(error, match=message):
        await source.refresh()

    assert source.snapshot is good and not source.is_current
    assert isinstance(source.last_error, error)
    proxy.end_outage()
    fresh = await source.refresh()
    assert source.is_current
    assert seed["w4a16_uri"] in {artifact.uri for artifact in fresh.artifacts}


async def test_a_nested_answer_to_one_version_fails_a_cold_start_cleanly(
    seed: dict[str, str], proxy: FaultProxy, client: RegistryClient
) -> None:
    """A hostile answer among the concurrent per-version reads of a cold start."""
    proxy.inject(Nested(), path_contains=f"/model_versions/{seed['optimized']}/artifacts")
    source = RegistrySnapshotSource(client)

    with pytest.raises(RegistryProtocolError, match="nested"):
        await source.refresh()

    assert source.snapshot is None
    snapshot = await source.refresh()
    assert seed["optimized_uri"] in {artifact.uri for artifact in snapshot.artifacts}
