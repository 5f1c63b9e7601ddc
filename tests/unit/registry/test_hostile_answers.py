"""What a hostile or broken registry can send, and what the client makes of it.

Every call ends, by its deadline, in an answer or a `RegistryError`, having read a bounded
amount: nested, oversized, compressed, trickled, endlessly paged or over-full answers are
refused before they cost more than the limits allow.
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from registry_sync.registry.answers import AnswerLimits
from registry_sync.registry.client import RegistryClient
from registry_sync.registry.errors import RegistryProtocolError, RegistryUnavailable
from registry_sync.registry.transport import RetryPolicy

SERVER = "https://registry.test:8443"
CHUNK = 64 * 1024
MIB = 1024 * 1024

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


class Recorded:
    """asyncio.sleep stand-in: remembers the delays and does not wait."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def client_for(handler: Handler, **options: Any) -> RegistryClient:
    options.setdefault("retry", RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.01))
    return RegistryClient(SERVER, transport=httpx.MockTransport(handler), **options)


def answering(response: Callable[[], httpx.Response]) -> Handler:
    async def handle(_: httpx.Request) -> httpx.Response:
        return response()

    return handle


def version(number: int) -> dict[str, str]:
    return {
        "id": str(number),
        "name": f"v{number}",
        "registeredModelId": "1",
        "lastUpdateTimeSinceEpoch": "1795694348480",
    }


class Counted:
    """A body stream that counts the bytes the client pulled from it."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self.chunks = chunks
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.chunks:
            self.pulled += len(chunk)
            yield chunk


async def padding(total: int | None) -> AsyncIterator[bytes]:
    """`{"items": [], "padding": "xxx...` for `total` bytes (None: for ever)."""
    yield b'{"items": [], "padding": "'
    sent = 0
    while total is None or sent < total:
        yield b"x" * CHUNK
        sent += CHUNK
    yield b'"}'


# Nesting ------------------------------------------------------------------------------


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


async def test_an_answer_nested_past_pythons_recursion_limit_is_a_protocol_error() -> None:
    deep = answering(lambda: httpx.Response(200, content=nested(100_000)))

    async with client_for(deep) as client:
        with pytest.raises(RegistryProtocolError, match="nested more than 32 levels"):
            await client.list_model_versions()


async def test_an_error_answer_nested_past_pythons_limit_keeps_the_status_meaning() -> None:
    deep = answering(lambda: httpx.Response(503, content=nested(100_000)))

    async with client_for(deep, sleep=Recorded()) as client:
        with pytest.raises(RegistryUnavailable, match="503"):
            await client.get_registered_model("4")


async def test_an_answer_nested_deeper_than_any_registry_answer_is_refused() -> None:
    # Python decodes 100 levels; nothing the registry sends nests that deep.
    body = b'{"items": [], "unknown": ' + nested(100) + b"}"
    deep = answering(lambda: httpx.Response(200, content=body))

    async with client_for(deep) as client:
        with pytest.raises(RegistryProtocolError, match="nested"):
            await client.list_model_versions()


async def test_a_custom_property_nested_within_the_limit_is_kept() -> None:
    value: Any = "x"
    for _ in range(20):
        value = {"v": value}
    item = {**version(1), "customProperties": {"k": {"metadataType": "Other", "value": value}}}
    page = answering(lambda: httpx.Response(200, json={"items": [item], "nextPageToken": ""}))

    async with client_for(page) as client:
        listed = await client.list_model_versions()

    assert [record.id for record in listed] == ["1"]


# Size ---------------------------------------------------------------------------------


async def test_an_oversized_answer_is_read_no_further_than_the_byte_limit() -> None:
    stream = Counted(padding(64 * MIB))
    huge = answering(lambda: httpx.Response(200, content=stream))

    async with client_for(huge) as client:
        with pytest.raises(RegistryProtocolError, match=r"more than 8388608 bytes \(8 MiB\)"):
            await client.list_model_versions()

    assert stream.pulled <= AnswerLimits().max_bytes + CHUNK


async def test_an_answer_that_never_ends_is_cut_at_the_byte_limit() -> None:
    stream = Counted(padding(None))
    endless = answering(lambda: httpx.Response(200, content=stream))

    async with client_for(endless, limits=AnswerLimits(max_bytes=MIB)) as client:
        with pytest.raises(RegistryProtocolError, match="more than 1048576 bytes"):
            await client.list_model_versions()

    assert stream.pulled <= MIB + CHUNK


async def test_a_declared_length_over_the_limit_is_refused_without_reading_the_body() -> None:
    stream = Counted(padding(None))
    declared = {"Content-Length": str(400 * MIB)}
    huge = answering(lambda: httpx.Response(200, headers=declared, content=stream))

    async with client_for(huge) as client:
        with pytest.raises(RegistryProtocolError, match="more than"):
            await client.list_model_versions()

    assert stream.pulled == 0


async def test_a_compressed_answer_is_limited_by_what_it_unpacks_to() -> None:
    bomb = gzip.compress(b'{"items": [], "padding": "' + b"0" * 64 * MIB + b'"}')
    assert len(bomb) < MIB
    headers = {"Content-Encoding": "gzip"}
    compressed = answering(lambda: httpx.Response(200, headers=headers, content=bomb))

    async with client_for(compressed) as client:
        with pytest.raises(RegistryProtocolError, match="more than 8388608 bytes"):
            await client.list_model_versions()


async def test_an_error_answer_is_read_only_as_far_as_its_message_needs() -> None:
    streams: list[Counted] = []

    def failing() -> httpx.Response:
        streams.append(Counted(padding(None)))
        return httpx.Response(500, content=streams[-1])

    async with client_for(answering(failing), sleep=Recorded()) as client:
        with pytest.raises(RegistryUnavailable, match="500"):
            await client.get_registered_model("4")

    assert streams and all(stream.pulled <= 64 * 1024 + CHUNK for stream in streams)


async def test_many_small_json_objects_are_refused_before_they_are_decoded() -> None:
    # 300,000 `{}` are 900 KB of body and some 20 MB once decoded.
    body = b'{"items": [' + b",".join([b"{}"] * 300_000) + b"]}"
    crowded = answering(lambda: httpx.Response(200, content=body))

    async with client_for(crowded) as client:
        with pytest.raises(RegistryProtocolError, match="more than 200000 JSON objects"):
            await client.list_model_versions()


async def test_a_page_with_more_items_than_allowed_is_refused_before_validation() -> None:
    items = [version(number) for number in range(1, 21)]
    full = answering(lambda: httpx.Response(200, json={"items": items, "nextPageToken": ""}))

    async with client_for(full, limits=AnswerLimits(max_page_items=10)) as client:
        with pytest.raises(RegistryProtocolError, match=r"a page of 20 items.*ignores pageSize"):
            await client.list_model_versions()


# Time ---------------------------------------------------------------------------------


async def trickle() -> AsyncIterator[bytes]:
    """One byte at a time, never long apart: a per-read timeout never fires."""
    yield b'{"items": [], "padding": "'
    while True:
        await asyncio.sleep(0.02)
        yield b"x"


async def test_a_trickled_answer_ends_at_the_deadline() -> None:
    slow = answering(lambda: httpx.Response(200, content=trickle()))

    async with client_for(slow, deadline_s=0.5) as client, asyncio.timeout(20):
        with pytest.raises(RegistryUnavailable, match=r"no complete answer within 0\.5 s"):
            await client.list_model_versions()


async def test_the_deadline_covers_every_attempt_not_each() -> None:
    attempts = 0

    async def hang(_: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async with client_for(hang, deadline_s=0.3) as client, asyncio.timeout(20):
        with pytest.raises(RegistryUnavailable, match=r"within 0\.3 s \(1 attempt\(s\)\)"):
            await client.get_registered_model("4")

    assert attempts == 1


async def test_a_retry_wait_that_would_outlast_the_deadline_is_not_waited() -> None:
    sleeps = Recorded()
    busy = answering(lambda: httpx.Response(429, headers={"Retry-After": "20"}))
    patient = RetryPolicy(attempts=4, max_retry_after_s=30)

    async with client_for(busy, deadline_s=5, retry=patient, sleep=sleeps) as client:
        with pytest.raises(RegistryUnavailable, match="429"):
            await client.get_registered_model("4")

    assert sleeps.delays == []


async def test_no_deadline_can_be_asked_for() -> None:
    ok = answering(lambda: httpx.Response(200, json={"items": [], "nextPageToken": ""}))

    async with client_for(ok, deadline_s=None) as client:
        assert await client.list_model_versions() == []


# Paging -------------------------------------------------------------------------------


def endless_pages(items_per_page: int) -> tuple[Handler, list[int]]:
    """A listing that always has more: new items and a fresh token on every page."""
    numbers = itertools.count(1)
    served: list[int] = []

    async def handle(_: httpx.Request) -> httpx.Response:
        items = [version(next(numbers)) for _ in range(items_per_page)]
        served.append(len(items))
        return httpx.Response(200, json={"items": items, "nextPageToken": f"t{items[-1]['id']}"})

    return handle, served


async def test_endless_fresh_page_tokens_end_at_the_page_limit() -> None:
    handler, served = endless_pages(1)

    async with client_for(handler, limits=AnswerLimits(max_pages=50)) as client:
        with pytest.raises(RegistryProtocolError, match="past 50 pages"):
            await client.list_model_versions()

    assert len(served) == 50


async def test_endless_paging_at_the_default_limits_ends_too() -> None:
    handler, served = endless_pages(1)

    async with client_for(handler) as client:
        with pytest.raises(RegistryProtocolError, match="pages without end"):
            await client.list_model_versions()

    assert len(served) == AnswerLimits().max_pages


async def test_a_listing_past_the_item_limit_is_refused_before_the_page_is_handed_on() -> None:
    handler, _ = endless_pages(10)
    seen: list[str] = []

    async with client_for(handler, limits=AnswerLimits(max_listed_items=25)) as client:
        with pytest.raises(RegistryProtocolError, match="25 entities"):
            async for page in client.model_version_pages():
                seen += [item.id for item in page.items]

    assert len(seen) == 20


async def test_an_overlong_page_token_is_refused() -> None:
    page = {"items": [version(1)], "nextPageToken": "t" * 5000}
    long_token = answering(lambda: httpx.Response(200, json=page))

    async with client_for(long_token) as client:
        with pytest.raises(RegistryProtocolError, match="nextPageToken of 5000 characters"):
            await client.list_model_versions()


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        AnswerLimits(max_pages=0)
    with pytest.raises(ValueError, match="deadline_s must be positive"):
        RegistryClient(SERVER, deadline_s=0)
