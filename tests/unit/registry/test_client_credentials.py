"""Where the client's bearer token may go, and where it never shows up.

- Never over plain HTTP to another host (the settings refuse it first; the client too).
- Never to wherever a redirect points: redirects are not followed, whatever the method.
- Never in an error message, whatever part of an answer the server echoes it in.
- With `token_audience`, only a token for that audience is sent at all.
"""

from __future__ import annotations

import base64
import json
import traceback
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from registry_sync.registry.client import RegistryClient
from registry_sync.registry.errors import (
    RegistryAuthError,
    RegistryError,
    RegistryProtocolError,
    RegistryRejected,
)
from registry_sync.registry.transport import RequestEvent, RetryPolicy

SERVER = "https://registry.test:8443"
API = SERVER + "/api/model_registry/v1alpha3"
TOKEN = "sha256~s3cr3t-token-value"
ELSEWHERE = "https://elsewhere.test/collect"
MODEL = {
    "id": "4",
    "name": "Mistral-Small-24B-Instruct",
    "state": "LIVE",
    "createTimeSinceEpoch": "1795694348472",
    "lastUpdateTimeSinceEpoch": "1795694348472",
}


async def no_sleep(_: float) -> None:
    return None


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


@pytest.fixture
def events() -> list[RequestEvent]:
    return []


@pytest.fixture
async def client(token_file: Path, events: list[RequestEvent]) -> AsyncIterator[RegistryClient]:
    async with RegistryClient(
        SERVER,
        token_file=token_file,
        retry=RetryPolicy(attempts=2, base_delay_s=0.0, max_delay_s=0.0),
        sleep=no_sleep,
        observers=(events.append,),
    ) as registry:
        yield registry


@pytest.fixture
def http() -> respx.MockRouter:
    # No base URL: a request to any host other than the mocked routes fails the test.
    with respx.mock(assert_all_called=False) as router:
        yield router


def everything_shown(error: BaseException) -> str:
    """Every text of an error a status message or a logged traceback (with the exceptions
    it chains, as the traceback module prints them) could show."""
    shown = [str(error), repr(error), *traceback.format_exception(error)]
    if isinstance(error, RegistryError):
        shown.append(error.url)
    if isinstance(error, RegistryRejected):
        shown += [str(error.code), str(error.server_message)]
    return " ".join(shown)


# Plain HTTP: the last line behind the settings -------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://model-registry-service.kubeflow.svc:8080",
        "http://10.0.0.7:8080/api/model_registry/v1alpha3",
        "http://user:pw@mr.example",
    ],
)
def test_the_client_refuses_a_token_for_a_plain_http_registry(token_file: Path, url: str) -> None:
    with pytest.raises(ValueError, match="over plain HTTP") as raised:
        RegistryClient(url, token_file=token_file)

    assert str(token_file) in str(raised.value)
    assert "pw" not in str(raised.value).replace("https", "")


async def test_the_token_goes_to_a_plain_http_registry_on_loopback(
    token_file: Path, http: respx.MockRouter
) -> None:
    route = http.get("http://127.0.0.1:8080/api/model_registry/v1alpha3/registered_models/4")
    route.respond(json=MODEL)

    async with RegistryClient("http://127.0.0.1:8080", token_file=token_file) as registry:
        await registry.get_registered_model("4")

    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_a_plain_http_registry_without_a_token_is_read_without_one(
    http: respx.MockRouter,
) -> None:
    route = http.get("http://mr.example:8080/api/model_registry/v1alpha3/registered_models/4")
    route.respond(json=MODEL)

    async with RegistryClient("http://mr.example:8080") as registry:
        await registry.get_registered_model("4")

    assert "Authorization" not in route.calls.last.request.headers


# Redirects are never followed -------------------------------------------------------------

REDIRECTS = [301, 302, 303, 307, 308]


@pytest.mark.parametrize("status", REDIRECTS)
@pytest.mark.parametrize("location", [ELSEWHERE, SERVER + "/elsewhere", "http://registry.test/"])
async def test_a_read_redirected_elsewhere_is_not_followed(
    client: RegistryClient, http: respx.MockRouter, status: int, location: str
) -> None:
    asked = http.get(API + "/registered_models/4").respond(status, headers={"Location": location})
    followed = http.route(url__startswith=location.split("?")[0]).respond(json=MODEL)

    with pytest.raises(RegistryProtocolError, match=f"redirected \\({status}\\)"):
        await client.get_registered_model("4")

    assert asked.call_count == 1
    assert not followed.called
    assert len(http.calls) == 1


@pytest.mark.parametrize("status", REDIRECTS)
async def test_a_write_redirected_elsewhere_is_not_followed(
    client: RegistryClient, http: respx.MockRouter, status: int
) -> None:
    asked = http.post(API + "/registered_models").respond(status, headers={"Location": ELSEWHERE})
    followed = http.route(host="elsewhere.test").respond(json=MODEL)

    with pytest.raises(RegistryProtocolError, match="redirected"):
        await client.create_registered_model("Mistral-Small-24B-Instruct")

    assert asked.call_count == 1
    assert not followed.called


# The token never shows up in an error -------------------------------------------------------

ECHOES: dict[str, Callable[[respx.Route], object]] = {
    "location": lambda route: route.respond(302, headers={"Location": f"{ELSEWHERE}?t={TOKEN}"}),
    "reason-400": lambda route: route.respond(
        400, extensions={"reason_phrase": f"Bad token {TOKEN}".encode()}
    ),
    "reason-401": lambda route: route.respond(
        401, extensions={"reason_phrase": f"Bearer {TOKEN} expired".encode()}
    ),
    "reason-503": lambda route: route.respond(
        503, extensions={"reason_phrase": f"Down {TOKEN}".encode()}
    ),
    "reason-404": lambda route: route.respond(
        404, extensions={"reason_phrase": f"None for {TOKEN}".encode()}
    ),
    "content-type": lambda route: route.respond(
        200, content=b"<html>", headers={"Content-Type": f"text/html; t={TOKEN}"}
    ),
    "body-403": lambda route: route.respond(403, json={"code": TOKEN, "message": TOKEN}),
    "body-429": lambda route: route.respond(429, json={"message": f"slow down {TOKEN}"}),
    "body-409": lambda route: route.respond(409, json={"code": f"c-{TOKEN}", "message": "x"}),
    "read-timeout": lambda route: route.mock(side_effect=httpx.ReadTimeout(f"late {TOKEN}")),
    "remote-closed": lambda route: route.mock(
        side_effect=httpx.RemoteProtocolError(f"closed after Bearer {TOKEN}")
    ),
    "tls": lambda route: route.mock(
        side_effect=httpx.ConnectError(f"[SSL: CERTIFICATE_VERIFY_FAILED] {TOKEN}")
    ),
}


@pytest.mark.parametrize("echo", ECHOES.values(), ids=ECHOES.keys())
async def test_no_error_shows_the_token_wherever_the_server_echoes_it(
    client: RegistryClient,
    http: respx.MockRouter,
    events: list[RequestEvent],
    echo: Callable[[respx.Route], object],
) -> None:
    echo(http.get(API + "/registered_models/4"))

    with pytest.raises(RegistryError) as raised:
        await client.get_registered_model("4")

    assert TOKEN not in everything_shown(raised.value)
    assert "s3cr3t" not in everything_shown(raised.value)
    assert events
    assert all("s3cr3t" not in f"{event}" for event in events)


async def test_the_token_is_sent_only_as_the_authorization_header(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    route = http.get(API + "/registered_models/4").respond(json=MODEL)

    await client.get_registered_model("4")

    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in str(request.url)
    others = [value for name, value in request.headers.items() if name != "authorization"]
    assert all(TOKEN not in value for value in others)


# Only a token for the expected audience is sent -----------------------------------------------


def jwt(audience: str) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    claims = {"aud": [audience], "sub": "system:serviceaccount:ns:registry-sync"}
    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"


async def test_a_token_for_the_expected_audience_is_sent(
    tmp_path: Path, http: respx.MockRouter
) -> None:
    token = jwt("model-registry")
    (tmp_path / "token").write_text(token)
    route = http.get(API + "/registered_models/4").respond(json=MODEL)

    async with RegistryClient(
        SERVER, token_file=tmp_path / "token", token_audience="model-registry"
    ) as registry:
        await registry.get_registered_model("4")

    assert route.calls.last.request.headers["Authorization"] == f"Bearer {token}"


async def test_the_pods_api_token_is_not_sent_where_a_registry_audience_is_expected(
    tmp_path: Path, http: respx.MockRouter
) -> None:
    api_token = jwt("https://kubernetes.default.svc")
    (tmp_path / "token").write_text(api_token)
    route = http.get(API + "/registered_models/4").respond(json=MODEL)

    async with RegistryClient(
        SERVER, token_file=tmp_path / "token", token_audience="model-registry"
    ) as registry:
        with pytest.raises(RegistryAuthError, match="not for the audience 'model-registry'") as e:
            await registry.get_registered_model("4")

    assert not route.called
    assert api_token not in everything_shown(e.value)
