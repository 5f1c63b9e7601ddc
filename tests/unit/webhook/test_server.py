"""The operator's webhook server over HTTP on loopback: what it reads, and in what order.

Anything that reaches the webhook port can POST to it. These bodies made Kopf's own server
refuse a review the apiserver can send (over 1 MiB), answer a bare 500 (too deep to parse,
not UTF-8), or take them all at once on the loop that answers every review.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from registry_sync.webhook.review import (
    LARGE_BODY_BYTES,
    MAX_BODY_BYTES,
    CheckingWebhookServer,
)

NAMESPACE = "models"
MIB = 1024 * 1024
Fn = Callable[..., Awaitable[Any]]


def review(uid: str = "u-1", padding: int = 0, namespace: str = NAMESPACE) -> bytes:
    """A review as the apiserver sends it, `padding` bytes longer in one annotation."""
    return json.dumps(
        {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": uid,
                "resource": {"group": "tekton.dev", "version": "v1", "resource": "pipelineruns"},
                "namespace": namespace,
                "operation": "CREATE",
                "userInfo": {"username": "alice"},
                "object": {
                    "metadata": {"name": "run", "annotations": {"note": "x" * padding}},
                    "spec": {"params": []},
                },
            },
        }
    ).encode()


class Recorder:
    """Kopf's side of the server: answers every review it is given, and counts them."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(self, request: Any, **_: Any) -> Any:
        uid = request["request"]["uid"]
        self.seen.append(uid)
        return {"response": {"uid": uid, "allowed": True}}


async def serve(server: CheckingWebhookServer, fn: Fn) -> AsyncIterator[str]:
    configs = server(fn)
    config = await configs.__anext__()
    try:
        yield f"{config['url'].rstrip('/')}/pipelinerun-params"
    finally:
        await configs.aclose()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def url(recorder: Recorder) -> AsyncIterator[str]:
    server = CheckingWebhookServer(namespace=NAMESPACE, addr="127.0.0.1", insecure=True)
    async for address in serve(server, recorder):
        yield address


async def post(url: str, body: Any, **options: Any) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, **options) as answer,
    ):
        return answer.status, await answer.text()


async def test_a_normal_review_is_answered(url: str, recorder: Recorder) -> None:
    status, text = await post(url, review())

    assert (status, json.loads(text)["response"]["allowed"]) == (200, True)
    assert recorder.seen == ["u-1"]


@pytest.mark.parametrize("size_mib", [1.2, 1.5, 2.9])
async def test_a_review_too_large_for_kopfs_default_limit_but_not_for_a_real_run_is_answered(
    url: str, recorder: Recorder, size_mib: float
) -> None:
    # The apiserver stores objects of up to 1.5 MiB; their review is a little larger.
    status, _ = await post(url, review("big", int(size_mib * MIB)))

    assert status == 200
    assert recorder.seen == ["big"]


async def test_a_body_over_the_limit_is_refused_with_413_unread(
    url: str, recorder: Recorder
) -> None:
    status, text = await post(url, review("huge", MAX_BODY_BYTES))

    assert status == 413
    assert f"at most {MAX_BODY_BYTES} are read" in text
    assert recorder.seen == []


async def test_a_body_over_the_limit_without_a_length_is_refused_with_413(
    url: str, recorder: Recorder
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b" " * MIB

    status, _ = await post(url, chunks())

    assert status == 413
    assert recorder.seen == []


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "nests deeper", id="100k-deep"),
        pytest.param(b'{"request": "\xff\xfe"}', "not JSON that can be read", id="not-utf-8"),
        pytest.param(b'{"n": ' + b"9" * 5000 + b"}", "not JSON that can be read", id="big-int"),
        pytest.param(b"{not json", "Expecting property name", id="not-json"),
        pytest.param(review(namespace="elsewhere"), "answers for namespace 'models'", id="ns"),
    ],
)
async def test_a_body_that_cannot_be_a_review_is_a_400_that_says_why(
    url: str, recorder: Recorder, body: bytes, problem: str
) -> None:
    status, text = await post(url, body)

    assert status == 400
    assert problem in text
    assert recorder.seen == []


async def test_after_bad_bodies_the_server_still_answers(url: str, recorder: Recorder) -> None:
    for body in (b"[" * 100_000, review(padding=MAX_BODY_BYTES), review(namespace="x")):
        await post(url, body)

    status, _ = await post(url, review("after"))

    assert status == 200
    assert recorder.seen == ["after"]


class ArrivalCountingServer(CheckingWebhookServer):
    """Tells when two requests have reached the server, before either is read."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.arrived = 0
        self.two_arrived = asyncio.Event()

    async def _serve(self, fn: Any, request: Any) -> Any:
        self.arrived += 1
        if self.arrived == 2:
            self.two_arrived.set()
        return await super()._serve(fn, request)


async def test_large_bodies_are_handled_one_at_a_time_and_small_ones_meanwhile() -> None:
    release, entered = asyncio.Event(), asyncio.Event()
    inside: list[str] = []
    most_inside = 0

    async def fn(request: Any, **_: Any) -> Any:
        nonlocal most_inside
        uid = request["request"]["uid"]
        if uid.startswith("large"):
            inside.append(uid)
            most_inside = max(most_inside, len(inside))
            entered.set()
            await release.wait()
            inside.remove(uid)
        return {"response": {"uid": uid, "allowed": True}}

    server = ArrivalCountingServer(namespace=NAMESPACE, addr="127.0.0.1", insecure=True)
    async for url in serve(server, fn):
        large = [
            asyncio.create_task(post(url, review(f"large-{n}", LARGE_BODY_BYTES))) for n in range(2)
        ]
        # Both large reviews have reached the server; one of them is being answered.
        async with asyncio.timeout(30):
            await server.two_arrived.wait()
            await entered.wait()

        small = await post(url, review("small"))

        assert small[0] == 200 and len(inside) == 1
        release.set()
        assert [status for status, _ in await asyncio.gather(*large)] == [200, 200]
        assert most_inside == 1


async def test_a_draining_server_answers_and_closes_each_connection(recorder: Recorder) -> None:
    server = CheckingWebhookServer(namespace=NAMESPACE, addr="127.0.0.1", insecure=True)
    async for address in serve(server, recorder):
        async with aiohttp.ClientSession() as session:
            async with session.post(address, data=review("u-1")) as kept:
                assert kept.status == 200
                assert kept.headers.get("Connection", "").lower() != "close"
            server.closing_connections = True  # SIGTERM (handlers/lifecycle.py)
            async with session.post(address, data=review("u-2")) as closing:
                assert closing.status == 200
                assert closing.headers.get("Connection", "").lower() == "close"
    assert recorder.seen == ["u-1", "u-2"]
