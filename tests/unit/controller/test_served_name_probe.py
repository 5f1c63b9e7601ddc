"""`ServedNameProbe`: asking a predictor's `/v1/models`, with a mocked network.

Specification: DESIGN.md "Truth from what runs" (Served name): the URL comes from an
object's status, so a token goes only from `--predictor-token-file`, redirects are never
followed, answers are bounded in time and size, and results are cached per URL.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from registry_sync.controller.served_name_probe import ServedNameProbe
from registry_sync.domain.served_names import ProbeFailed, ProbeProblem, ServedModels

URL = "https://mistral-predictor.demo.svc:8443/v1/models"
OTHER_URL = "https://granite-predictor.demo.svc:8443/v1/models"
NAME = "mistral-24b-quantized"
TOKEN = "sha256~predictor-s3cr3t"


def vllm_models(*served: str) -> dict[str, Any]:
    """vLLM's `ModelList` (vllm/entrypoints/openai/engine/protocol.py), trimmed to its keys."""
    return {
        "object": "list",
        "data": [
            {
                "id": name,
                "object": "model",
                "created": 1764000000,
                "owned_by": "vllm",
                "root": "/mnt/models",
                "parent": None,
                "max_model_len": 32768,
                "permission": [],
            }
            for name in served
        ],
    }


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def http() -> Iterator[respx.MockRouter]:
    # No base URL: a request to any host other than the mocked routes fails the test.
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def probe(clock: FakeClock) -> AsyncIterator[ServedNameProbe]:
    async with ServedNameProbe(clock=clock) as running:
        yield running


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


def failed(result: object, problem: ProbeProblem) -> ProbeFailed:
    assert isinstance(result, ProbeFailed), result
    assert result.problem is problem, result
    return result


# Answers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "served",
    [
        pytest.param((NAME,), id="one"),
        pytest.param((NAME, "mistral-lora-a", "mistral-lora-b"), id="several"),
        pytest.param((), id="none"),
    ],
)
async def test_vllm_answer_gives_the_served_ids(
    probe: ServedNameProbe, http: respx.MockRouter, served: tuple[str, ...]
) -> None:
    http.get(URL).respond(json=vllm_models(*served))

    assert await probe.served_models(URL) == ServedModels(served)


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        pytest.param(httpx.Response(200, text="<html>hi</html>"), "not JSON", id="html"),
        pytest.param(httpx.Response(200, json={"data": 3}), '"data" is a number', id="types"),
        pytest.param(httpx.Response(200, json=[NAME]), "a list, not a model list", id="list"),
    ],
)
async def test_garbage_is_garbage_naming_the_url(
    probe: ServedNameProbe, http: respx.MockRouter, answer: httpx.Response, says: str
) -> None:
    http.get(URL).mock(return_value=answer)

    result = failed(await probe.served_models(URL), ProbeProblem.GARBAGE)

    assert says in result.reason
    assert URL in result.reason


async def test_a_body_over_the_limit_is_too_large(http: respx.MockRouter) -> None:
    http.get(URL).respond(json=vllm_models(*(f"m{i}" for i in range(200))))

    async with ServedNameProbe(max_body_bytes=1024) as probe:
        result = failed(await probe.served_models(URL), ProbeProblem.TOO_LARGE)

    assert "larger than 1024 bytes" in result.reason


async def test_a_streamed_body_without_a_length_is_cut_at_the_limit(
    http: respx.MockRouter,
) -> None:
    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield b"x" * 65536

    http.get(URL).mock(return_value=httpx.Response(200, content=endless()))

    async with ServedNameProbe() as probe:
        failed(await probe.served_models(URL), ProbeProblem.TOO_LARGE)


async def test_a_compressed_body_is_bounded_as_it_unpacks(http: respx.MockRouter) -> None:
    bomb = gzip.compress(b" " * (8 * 1024 * 1024))  # 8 MiB of spaces in ~8 KiB
    http.get(URL).mock(
        return_value=httpx.Response(200, content=bomb, headers={"Content-Encoding": "gzip"})
    )

    async with ServedNameProbe() as probe:
        failed(await probe.served_models(URL), ProbeProblem.TOO_LARGE)


@pytest.mark.parametrize(
    ("status", "problem", "says"),
    [
        (401, ProbeProblem.UNAUTHORIZED, "give one with --predictor-token-file"),
        (403, ProbeProblem.FORBIDDEN, "403"),
        (404, ProbeProblem.HTTP_STATUS, "does not serve vLLM's OpenAI API"),
        (500, ProbeProblem.HTTP_STATUS, "answered HTTP 500"),
        (503, ProbeProblem.HTTP_STATUS, "answered HTTP 503"),
    ],
)
async def test_a_refusal_says_what_it_was(
    probe: ServedNameProbe,
    http: respx.MockRouter,
    status: int,
    problem: ProbeProblem,
    says: str,
) -> None:
    http.get(URL).respond(status, json={"error": "nope"})

    assert says in failed(await probe.served_models(URL), problem).reason


# The network failing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "problem"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), ProbeProblem.UNREACHABLE),
        (httpx.RemoteProtocolError("peer closed connection"), ProbeProblem.UNREACHABLE),
        (httpx.ConnectTimeout("timed out"), ProbeProblem.TIMEOUT),
        (httpx.ReadTimeout("timed out"), ProbeProblem.TIMEOUT),
        (
            httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
            ProbeProblem.TLS,
        ),
    ],
)
async def test_a_transport_failure_is_a_value_saying_what_broke(
    probe: ServedNameProbe, http: respx.MockRouter, error: Exception, problem: ProbeProblem
) -> None:
    http.get(URL).mock(side_effect=error)

    result = failed(await probe.served_models(URL), problem)

    assert URL in result.reason


async def test_an_untrusted_certificate_says_to_give_the_ca(
    probe: ServedNameProbe, http: respx.MockRouter
) -> None:
    http.get(URL).mock(side_effect=httpx.ConnectError("CERTIFICATE_VERIFY_FAILED"))

    assert "--predictor-ca-file" in failed(await probe.served_models(URL), ProbeProblem.TLS).reason


async def test_a_predictor_that_never_finishes_is_given_up_on_by_the_deadline(
    http: respx.MockRouter,
) -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(60)
        raise AssertionError("not reached")

    http.get(URL).mock(side_effect=hang)

    async with ServedNameProbe(deadline_s=0.05) as probe:
        result = failed(await probe.served_models(URL), ProbeProblem.TIMEOUT)

    assert "within 0.05 s" in result.reason


async def test_a_url_that_is_not_http_is_never_asked(
    probe: ServedNameProbe, http: respx.MockRouter
) -> None:
    failed(await probe.served_models("file:///etc/passwd"), ProbeProblem.NO_URL)

    assert len(http.calls) == 0


# Redirects are never followed ---------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_is_reported_not_followed(
    http: respx.MockRouter, token_file: Path, status: int
) -> None:
    http.get(URL).respond(status, headers={"Location": "https://collector.example/steal"})
    elsewhere = http.get("https://collector.example/steal").respond(json=vllm_models(NAME))

    async with ServedNameProbe(token_file=token_file) as probe:
        result = failed(await probe.served_models(URL), ProbeProblem.REDIRECTED)

    assert not elsewhere.called
    assert "https://collector.example/steal" in result.reason
    assert "not followed" in result.reason


@pytest.mark.parametrize("location", ["https://x.example/\u202eevil", "https://x.example/\x1b[2J"])
async def test_a_redirect_location_is_never_shown_raw(
    probe: ServedNameProbe, http: respx.MockRouter, location: str
) -> None:
    http.get(URL).respond(302, headers=[(b"Location", location.encode())])

    result = await probe.served_models(URL)

    assert isinstance(result, ProbeFailed)
    assert "\x1b" not in result.reason
    assert "\u202e" not in result.reason


# The token ----------------------------------------------------------------------------------


async def test_no_token_is_sent_without_a_token_file(
    probe: ServedNameProbe, http: respx.MockRouter
) -> None:
    route = http.get(URL).respond(json=vllm_models(NAME))

    await probe.served_models(URL)

    assert "Authorization" not in route.calls.last.request.headers


async def test_the_token_from_the_token_file_is_sent(
    http: respx.MockRouter, token_file: Path
) -> None:
    route = http.get(URL).respond(json=vllm_models(NAME))

    async with ServedNameProbe(token_file=token_file) as probe:
        assert await probe.served_models(URL) == ServedModels((NAME,))

    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_a_refused_token_says_so(http: respx.MockRouter, token_file: Path) -> None:
    http.get(URL).respond(401)

    async with ServedNameProbe(token_file=token_file) as probe:
        result = failed(await probe.served_models(URL), ProbeProblem.UNAUTHORIZED)

    assert "refused the token from --predictor-token-file" in result.reason
    assert TOKEN not in result.reason


async def test_a_rotated_token_is_read_again_and_tried_once_after_a_refusal(
    http: respx.MockRouter, token_file: Path
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") == "Bearer rotated":
            return httpx.Response(200, json=vllm_models(NAME))
        token_file.write_text("rotated")  # rotated while the old token was in flight
        return httpx.Response(401)

    route = http.get(URL).mock(side_effect=answer)

    async with ServedNameProbe(token_file=token_file) as probe:
        assert await probe.served_models(URL) == ServedModels((NAME,))

    sent = [call.request.headers["Authorization"] for call in route.calls]
    assert sent == [f"Bearer {TOKEN}", "Bearer rotated"]


async def test_an_unchanged_token_refused_is_not_sent_again(
    http: respx.MockRouter, token_file: Path
) -> None:
    route = http.get(URL).respond(401)

    async with ServedNameProbe(token_file=token_file) as probe:
        failed(await probe.served_models(URL), ProbeProblem.UNAUTHORIZED)

    assert route.call_count == 1


async def test_a_changed_token_file_is_read_again(
    http: respx.MockRouter, token_file: Path, clock: FakeClock
) -> None:
    route = http.get(URL).respond(json=vllm_models(NAME))

    async with ServedNameProbe(token_file=token_file, ttl_s=0, clock=clock) as probe:
        await probe.served_models(URL)
        await asyncio.to_thread(token_file.write_text, "sha256~the-next-token-longer")
        await probe.served_models(URL)

    sent = [call.request.headers["Authorization"] for call in route.calls]
    assert sent == [f"Bearer {TOKEN}", "Bearer sha256~the-next-token-longer"]


@pytest.mark.parametrize(
    "url",
    ["http://mistral-predictor.demo.svc.cluster.local/v1/models", "http://10.0.0.7/v1/models"],
)
async def test_the_token_never_goes_over_plain_http_to_another_host(
    http: respx.MockRouter, token_file: Path, url: str
) -> None:
    async with ServedNameProbe(token_file=token_file) as probe:
        result = failed(await probe.served_models(url), ProbeProblem.TOKEN)

    assert len(http.calls) == 0
    assert "plain HTTP" in result.reason


async def test_the_token_may_go_over_plain_http_to_loopback(
    http: respx.MockRouter, token_file: Path
) -> None:
    route = http.get("http://127.0.0.1:8080/v1/models").respond(json=vllm_models(NAME))

    async with ServedNameProbe(token_file=token_file) as probe:
        await probe.served_models("http://127.0.0.1:8080/v1/models")

    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("content", ["", "two words"])
async def test_an_unusable_token_file_is_a_token_problem_and_nothing_is_sent(
    http: respx.MockRouter, tmp_path: Path, content: str
) -> None:
    path = tmp_path / "token"
    path.write_text(content)

    async with ServedNameProbe(token_file=path) as probe:
        result = failed(await probe.served_models(URL), ProbeProblem.TOKEN)

    assert len(http.calls) == 0
    assert str(path) in result.reason
    assert "--predictor-token-file" in result.reason


async def test_a_missing_token_file_is_a_token_problem(
    http: respx.MockRouter, tmp_path: Path
) -> None:
    async with ServedNameProbe(token_file=tmp_path / "absent") as probe:
        failed(await probe.served_models(URL), ProbeProblem.TOKEN)

    assert len(http.calls) == 0


# TLS ----------------------------------------------------------------------------------------


def test_an_unreadable_ca_file_is_refused_naming_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "ca.pem"
    path.write_text("not a certificate")

    with pytest.raises(ValueError, match="--predictor-ca-file"):
        ServedNameProbe(ca_file=path)


# The cache ----------------------------------------------------------------------------------


async def test_a_result_is_cached_for_the_ttl(
    http: respx.MockRouter, probe: ServedNameProbe, clock: FakeClock
) -> None:
    route = http.get(URL).respond(json=vllm_models(NAME))

    await probe.served_models(URL)
    clock.now += 59
    await probe.served_models(URL)
    assert route.call_count == 1

    clock.now += 2
    await probe.served_models(URL)
    assert route.call_count == 2


async def test_a_failure_is_cached_for_a_shorter_time(
    http: respx.MockRouter, probe: ServedNameProbe, clock: FakeClock
) -> None:
    route = http.get(URL).mock(side_effect=httpx.ConnectError("refused"))

    await probe.served_models(URL)
    clock.now += 14
    await probe.served_models(URL)
    assert route.call_count == 1

    clock.now += 2
    await probe.served_models(URL)
    assert route.call_count == 2


async def test_each_url_has_its_own_entry(http: respx.MockRouter, probe: ServedNameProbe) -> None:
    http.get(URL).respond(json=vllm_models(NAME))
    http.get(OTHER_URL).respond(json=vllm_models("granite"))

    assert await probe.served_models(URL) == ServedModels((NAME,))
    assert await probe.served_models(OTHER_URL) == ServedModels(("granite",))


async def test_forget_drops_a_cached_result(http: respx.MockRouter, probe: ServedNameProbe) -> None:
    route = http.get(URL).respond(json=vllm_models(NAME))

    await probe.served_models(URL)
    probe.forget(URL)
    await probe.served_models(URL)

    assert route.call_count == 2


async def test_the_cache_holds_at_most_max_cached_urls(http: respx.MockRouter) -> None:
    route = http.get(url__regex=r"https://p\d\.example/v1/models").respond(json=vllm_models(NAME))

    async with ServedNameProbe(max_cached=2) as probe:
        for number in (1, 2, 3):
            await probe.served_models(f"https://p{number}.example/v1/models")
        await probe.served_models("https://p1.example/v1/models")  # evicted: asked again
        await probe.served_models("https://p3.example/v1/models")  # kept

    assert route.call_count == 4


async def test_callers_asking_at_once_share_one_request(
    http: respx.MockRouter, probe: ServedNameProbe
) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.05)
        return httpx.Response(200, json=vllm_models(NAME))

    route = http.get(URL).mock(side_effect=slow)

    results = await asyncio.gather(*(probe.served_models(URL) for _ in range(20)))

    assert route.call_count == 1
    assert set(results) == {ServedModels((NAME,))}


async def test_a_caller_giving_up_does_not_cancel_the_shared_request(
    http: respx.MockRouter, probe: ServedNameProbe
) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.05)
        return httpx.Response(200, json=vllm_models(NAME))

    route = http.get(URL).mock(side_effect=slow)
    impatient = asyncio.create_task(probe.served_models(URL))
    await asyncio.sleep(0.01)
    impatient.cancel()

    assert await probe.served_models(URL) == ServedModels((NAME,))
    assert route.call_count == 1


async def test_at_most_max_concurrent_predictors_are_asked_at_once(
    http: respx.MockRouter,
) -> None:
    running = 0
    peak = 0

    async def counted(request: httpx.Request) -> httpx.Response:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1
        return httpx.Response(200, json=vllm_models(NAME))

    http.get(url__regex=r"https://p\d+\.example/v1/models").mock(side_effect=counted)

    async with ServedNameProbe(max_concurrent=2) as probe:
        urls = [f"https://p{number}.example/v1/models" for number in range(8)]
        results = await asyncio.gather(*(probe.served_models(url) for url in urls))

    assert peak == 2
    assert all(isinstance(result, ServedModels) for result in results)


async def test_closing_stops_a_request_still_running(http: respx.MockRouter) -> None:
    started = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.sleep(60)
        raise AssertionError("not reached")

    http.get(URL).mock(side_effect=hang)
    probe = ServedNameProbe()
    waiting = asyncio.create_task(probe.served_models(URL))
    await started.wait()

    await probe.aclose()

    with pytest.raises(asyncio.CancelledError):
        await waiting
