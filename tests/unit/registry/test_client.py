"""The REST client against mocked HTTP: requests it sends, answers it accepts, failures it maps."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from registry_sync.registry.client import OrderBy, RegistryClient, SortOrder
from registry_sync.registry.errors import (
    RegistryAuthError,
    RegistryConflict,
    RegistryError,
    RegistryNotFound,
    RegistryProtocolError,
    RegistryRejected,
    RegistryUnavailable,
)
from registry_sync.registry.models import EntityState, MetadataStringValue
from registry_sync.registry.transport import RequestEvent, RetryPolicy, api_url_of

SERVER = "https://registry.test:8443"
API = SERVER + "/api/model_registry/v1alpha3"
TOKEN = "sha256~s3cr3t-token-value"
ROTATED = "sha256~r0tated-token-value"


def model_json(model_id: str = "4", name: str = "Mistral-Small-24B-Instruct") -> dict[str, Any]:
    return {
        "id": model_id,
        "name": name,
        "state": "LIVE",
        "createTimeSinceEpoch": "1795694348472",
        "lastUpdateTimeSinceEpoch": "1795694348472",
        "customProperties": {},
    }


def version_json(version_id: str, model_id: str = "4") -> dict[str, Any]:
    return {
        "id": version_id,
        "name": f"v{version_id}",
        "registeredModelId": model_id,
        "state": "LIVE",
        "createTimeSinceEpoch": "1795694348480",
        "lastUpdateTimeSinceEpoch": "1795694348480",
    }


def page_json(items: list[dict[str, Any]], token: str = "", page_size: int = 100) -> dict[str, Any]:
    return {"items": items, "nextPageToken": token, "pageSize": page_size, "size": len(items)}


def error_json(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}


class Sleeps:
    """Stands in for asyncio.sleep: records the delays instead of waiting them."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def client(token_file: Path, sleeps: Sleeps) -> AsyncIterator[RegistryClient]:
    async with RegistryClient(
        SERVER,
        token_file=token_file,
        retry=RetryPolicy(attempts=4, base_delay_s=0.1, max_delay_s=1.0, max_retry_after_s=10.0),
        sleep=sleeps,
    ) as registry:
        yield registry


@pytest.fixture
def http() -> respx.MockRouter:
    with respx.mock(base_url=API, assert_all_called=False) as router:
        yield router


# The API address --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "api"),
    [
        ("https://registry.test", "https://registry.test/api/model_registry/v1alpha3"),
        ("https://registry.test/", "https://registry.test/api/model_registry/v1alpha3"),
        (
            "http://127.0.0.1:8080/api/model_registry/v1alpha3",
            "http://127.0.0.1:8080/api/model_registry/v1alpha3",
        ),
        ("https://h/prefix", "https://h/prefix/api/model_registry/v1alpha3"),
    ],
)
def test_the_api_root_is_derived_from_the_registry_url(given: str, api: str) -> None:
    assert api_url_of(given) == api


@pytest.mark.parametrize("bad", ["registry.test", "ftp://registry.test", "https://h/?a=1", ""])
def test_a_registry_url_that_is_not_http_is_refused_with_an_example(bad: str) -> None:
    with pytest.raises(ValueError, match=r"https://|query"):
        api_url_of(bad)


def test_an_unloadable_ca_bundle_is_refused_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ca.pem"

    with pytest.raises(ValueError, match=r"no-such-ca\.pem"):
        RegistryClient(SERVER, ca_file=missing)


# Credentials ------------------------------------------------------------------------


def rotate(token_file: Path, token: str) -> None:
    """Replace the token, moving the modification time on as a remount would."""
    token_file.write_text(token)
    stat = token_file.stat()
    os.utime(token_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


async def test_the_bearer_token_from_the_file_is_sent(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    route = http.get("/registered_models/4").respond(json=model_json())

    await client.get_registered_model("4")

    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_no_authorization_header_without_a_token_file(http: respx.MockRouter) -> None:
    route = http.get("/registered_models/4").respond(json=model_json())

    async with RegistryClient(SERVER) as anonymous:
        await anonymous.get_registered_model("4")

    assert "Authorization" not in route.calls.last.request.headers


async def test_a_rotated_token_file_is_read_again(
    client: RegistryClient, http: respx.MockRouter, token_file: Path
) -> None:
    route = http.get("/registered_models/4").respond(json=model_json())
    await client.get_registered_model("4")

    rotate(token_file, ROTATED)
    await client.get_registered_model("4")

    assert route.calls[1].request.headers["Authorization"] == f"Bearer {ROTATED}"


async def test_a_401_is_retried_once_when_the_token_file_has_changed_since(
    client: RegistryClient, http: respx.MockRouter, token_file: Path
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == f"Bearer {TOKEN}":
            # The token is rotated while the request is in flight.
            token_file.write_text(ROTATED)
            return httpx.Response(401, json=error_json("Unauthorized", "expired"))
        return httpx.Response(200, json=model_json())

    route = http.get("/registered_models/4").mock(side_effect=answer)

    model = await client.get_registered_model("4")

    assert model.id == "4"
    assert route.call_count == 2


async def test_a_401_with_an_unchanged_token_is_an_auth_error_sent_once(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    route = http.get("/registered_models/4").respond(401, json=error_json("Unauthorized", "no"))

    with pytest.raises(RegistryAuthError) as caught:
        await client.get_registered_model("4")

    assert caught.value.status == 401
    assert route.call_count == 1


async def test_a_missing_token_file_is_an_auth_error_naming_the_file(tmp_path: Path) -> None:
    async with RegistryClient(SERVER, token_file=tmp_path / "gone") as registry:
        with pytest.raises(RegistryAuthError, match=r"gone.*token file"):
            await registry.get_registered_model("4")


@pytest.mark.parametrize("content", ["", "   \n", "two words"])
async def test_an_unusable_token_file_is_an_auth_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "token"
    path.write_text(content)

    async with RegistryClient(SERVER, token_file=path) as registry:
        with pytest.raises(RegistryAuthError, match=str(path)):
            await registry.get_registered_model("4")


# Failures: which type, retried or not -----------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type", "attempts"),
    [
        (400, RegistryRejected, 1),
        (401, RegistryAuthError, 1),
        (403, RegistryAuthError, 1),
        (404, RegistryNotFound, 1),
        (409, RegistryConflict, 1),
        (422, RegistryRejected, 1),
        (429, RegistryUnavailable, 4),
        (500, RegistryUnavailable, 4),
        (502, RegistryUnavailable, 4),
        (503, RegistryUnavailable, 4),
        (504, RegistryUnavailable, 4),
    ],
)
async def test_status_codes_map_to_error_types_and_only_5xx_and_429_are_retried(
    client: RegistryClient,
    http: respx.MockRouter,
    status: int,
    error_type: type[RegistryError],
    attempts: int,
) -> None:
    route = http.get("/model_versions/5").respond(status, json=error_json("Some Code", "said"))

    with pytest.raises(error_type) as caught:
        await client.get_model_version("5")

    assert type(caught.value) is error_type
    assert caught.value.status == status
    assert route.call_count == attempts


async def test_a_server_error_then_success_is_retried_to_success(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    route = http.get("/registered_models/4").mock(
        side_effect=[httpx.Response(500), httpx.Response(200, json=model_json())]
    )

    model = await client.get_registered_model("4")

    assert model.name == "Mistral-Small-24B-Instruct"
    assert route.call_count == 2


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("connection refused"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.ReadTimeout("read timed out"),
        httpx.ReadError("connection reset by peer"),
        httpx.RemoteProtocolError("server disconnected"),
    ],
    ids=type,
)
async def test_transport_failures_are_retried_then_reported_unavailable(
    client: RegistryClient, http: respx.MockRouter, failure: Exception
) -> None:
    route = http.get("/registered_models/4").mock(side_effect=failure)

    with pytest.raises(RegistryUnavailable, match="after 4 attempt"):
        await client.get_registered_model("4")

    assert route.call_count == 4


async def test_backoff_between_retries_grows_and_stays_capped(
    client: RegistryClient, http: respx.MockRouter, sleeps: Sleeps
) -> None:
    http.get("/registered_models/4").respond(503)

    with pytest.raises(RegistryUnavailable):
        await client.get_registered_model("4")

    assert len(sleeps.delays) == 3
    bounds = [(0.05, 0.1), (0.1, 0.2), (0.2, 0.4)]
    for delay, (low, high) in zip(sleeps.delays, bounds, strict=True):
        assert low <= delay <= high


async def test_retry_after_from_a_429_is_waited(
    client: RegistryClient, http: respx.MockRouter, sleeps: Sleeps
) -> None:
    http.get("/registered_models/4").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "3"}),
            httpx.Response(200, json=model_json()),
        ]
    )

    await client.get_registered_model("4")

    assert sleeps.delays == [pytest.approx(3.0)]


async def test_a_retry_after_beyond_the_cap_waits_only_the_cap(
    client: RegistryClient, http: respx.MockRouter, sleeps: Sleeps
) -> None:
    http.get("/registered_models/4").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "3600"}),
            httpx.Response(200, json=model_json()),
        ]
    )

    await client.get_registered_model("4")

    assert sleeps.delays == [pytest.approx(10.0)]


@pytest.mark.parametrize(
    ("failure", "attempts"),
    [
        (httpx.Response(500), 1),
        (httpx.Response(502), 1),
        (httpx.ReadTimeout("read timed out"), 1),
        (httpx.Response(503), 4),
        (httpx.Response(429), 4),
        (httpx.ConnectError("connection refused"), 4),
    ],
    ids=["500", "502", "read-timeout", "503", "429", "connect-error"],
)
async def test_a_create_is_retried_only_when_the_server_certainly_did_not_act(
    client: RegistryClient, http: respx.MockRouter, failure: object, attempts: int
) -> None:
    route = http.post("/registered_models").mock(side_effect=failure)

    with pytest.raises(RegistryUnavailable):
        await client.create_registered_model("Comparison-Test")

    assert route.call_count == attempts


@pytest.mark.parametrize(
    "body",
    [b"<html>gateway</html>", b'{"id": "4", "name": "x"', b""],
    ids=["html", "truncated", "empty"],
)
async def test_a_body_that_is_not_json_is_a_protocol_error_not_retried(
    client: RegistryClient, http: respx.MockRouter, body: bytes
) -> None:
    route = http.get("/registered_models/4").respond(200, content=body)

    with pytest.raises(RegistryProtocolError, match="not JSON"):
        await client.get_registered_model("4")

    assert route.call_count == 1


@pytest.mark.parametrize(
    "body",
    [
        {**model_json(), "id": 4},
        {**model_json(), "lastUpdateTimeSinceEpoch": 1795694348472},
        [model_json()],
        {"code": "OK"},
    ],
    ids=["numeric-id", "numeric-time", "list", "other-object"],
)
async def test_a_json_body_of_the_wrong_shape_is_a_protocol_error_naming_the_field(
    client: RegistryClient, http: respx.MockRouter, body: object
) -> None:
    http.get("/registered_models/4").respond(200, json=body)

    with pytest.raises(RegistryProtocolError, match=r"registered_models/4.*shape"):
        await client.get_registered_model("4")


async def test_a_redirect_is_a_protocol_error_explaining_the_likely_proxy(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    http.get("/registered_models/4").respond(302, headers={"Location": "https://login/"})

    with pytest.raises(RegistryProtocolError, match="login"):
        await client.get_registered_model("4")


async def test_the_server_error_code_and_message_are_kept(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    http.post("/registered_models").respond(
        409, json=error_json("Conflict", "registered model with name X already exists")
    )

    with pytest.raises(RegistryRejected) as caught:
        await client.create_registered_model("X")

    assert caught.value.code == "Conflict"
    assert "already exists" in str(caught.value)
    assert "POST https://registry.test:8443/api/model_registry/v1alpha3/registered_models" in str(
        caught.value
    )


# Messages never carry the token ------------------------------------------------------

ALL_FAILURES: list[Callable[[respx.Route], object]] = [
    lambda route: route.respond(500, json=error_json("Internal", f"token {TOKEN} broke")),
    lambda route: route.respond(401, json=error_json("Unauthorized", f"bad token {TOKEN}")),
    lambda route: route.respond(404, json=error_json("Not Found", f"echo {TOKEN}")),
    lambda route: route.respond(400, json=error_json("Bad Request", f"Bearer {TOKEN}")),
    lambda route: route.respond(200, content=f"garbage {TOKEN}".encode()),
    lambda route: route.mock(side_effect=httpx.ConnectError(f"refused {TOKEN}")),
]


@pytest.mark.parametrize("fail", ALL_FAILURES, ids=["500", "401", "404", "400", "garbage", "conn"])
async def test_no_error_message_contains_the_token(
    client: RegistryClient, http: respx.MockRouter, fail: Callable[[respx.Route], object]
) -> None:
    fail(http.get("/registered_models/4"))

    with pytest.raises(RegistryError) as caught:
        await client.get_registered_model("4")

    shown = f"{caught.value} {caught.value!r} {caught.value.url} {caught.value.__cause__}"
    if isinstance(caught.value, RegistryRejected):
        shown += str(caught.value.server_message)
    assert TOKEN not in shown
    assert "s3cr3t" not in shown
    assert caught.value.url == API + "/registered_models/4"


async def test_error_urls_carry_no_query_and_no_user_info(sleeps: Sleeps) -> None:
    with respx.mock(base_url="https://user:pw@registry.test/api/model_registry/v1alpha3") as http:
        http.get("/registered_models").respond(500)
        async with RegistryClient("https://user:pw@registry.test", sleep=sleeps) as registry:
            with pytest.raises(RegistryUnavailable) as caught:
                await registry.list_registered_models()

    assert "pw" not in str(caught.value)
    assert "pageSize" not in str(caught.value)
    assert caught.value.url == "https://registry.test/api/model_registry/v1alpha3/registered_models"


# Paging -----------------------------------------------------------------------------


async def test_a_list_follows_next_page_tokens_with_an_explicit_page_size(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    route = http.get("/model_versions").mock(
        side_effect=[
            httpx.Response(
                200, json=page_json([version_json("2"), version_json("5")], "MjoxMA==", 2)
            ),
            httpx.Response(200, json=page_json([version_json("6")], "", 2)),
        ]
    )

    pages = [
        page
        async for page in client.model_version_pages(
            order_by=OrderBy.LAST_UPDATE_TIME, sort_order=SortOrder.DESC, page_size=2
        )
    ]

    assert [[item.id for item in page.items] for page in pages] == [["2", "5"], ["6"]]
    first, second = (call.request.url.params for call in route.calls)
    assert dict(first) == {"pageSize": "2", "orderBy": "LAST_UPDATE_TIME", "sortOrder": "DESC"}
    assert second["nextPageToken"] == "MjoxMA=="
    assert second["pageSize"] == "2"


async def test_the_client_page_size_is_sent_when_none_is_given(
    http: respx.MockRouter, token_file: Path
) -> None:
    route = http.get("/registered_models").respond(json=page_json([model_json()]))

    async with RegistryClient(SERVER, token_file=token_file, page_size=250) as registry:
        await registry.list_registered_models()

    assert route.calls.last.request.url.params["pageSize"] == "250"


async def test_an_empty_page_ends_a_list_even_with_a_token(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    route = http.get("/registered_models").respond(json=page_json([], "Mzoz"))

    assert await client.list_registered_models() == []
    assert route.call_count == 1


async def test_a_repeated_page_token_is_a_protocol_error_not_an_endless_loop(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    http.get("/registered_models").respond(json=page_json([model_json()], "Mzoz"))

    with pytest.raises(RegistryProtocolError, match="nextPageToken"):
        await client.list_registered_models()


async def test_a_version_lists_artifacts_of_every_type(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    artifacts = [
        {
            "artifactType": "model-artifact",
            "id": "1",
            "uri": "oci://q/m:1",
            "lastUpdateTimeSinceEpoch": "1",
        },
        {
            "artifactType": "doc-artifact",
            "id": "2",
            "uri": "https://d",
            "lastUpdateTimeSinceEpoch": "1",
        },
    ]
    http.get("/model_versions/5/artifacts").respond(json=page_json(artifacts))

    listed = await client.list_version_artifacts("5")

    assert [(a.id, a.is_model_artifact) for a in listed] == [("1", True), ("2", False)]


@pytest.mark.parametrize("bad_id", ["", "4a", "../4", "-1", "4 "])
async def test_an_id_that_is_not_decimal_is_refused_before_any_request(
    client: RegistryClient, http: respx.MockRouter, bad_id: str
) -> None:
    with pytest.raises(ValueError, match="decimal"):
        await client.get_model_version(bad_id)

    assert client.request_count == 0


# Finding and writing ----------------------------------------------------------------


async def test_finding_a_model_by_an_unknown_name_gives_none(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    http.get("/registered_model", params={"name": "no-such-model"}).respond(
        404, json=error_json("Not Found", "no registered model found")
    )

    assert await client.find_registered_model("no-such-model") is None


async def test_finding_a_version_names_its_model(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    route = http.get("/model_version").respond(json=version_json("5"))

    version = await client.find_model_version("v5", "4")

    assert version is not None and version.id == "5"
    assert dict(route.calls.last.request.url.params) == {"name": "v5", "parentResourceId": "4"}


async def test_registering_sends_the_bodies_a_registering_pipeline_sends(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    models = http.post("/registered_models").respond(201, json=model_json("1"))
    versions = http.post("/model_versions").respond(201, json=version_json("2", "1"))
    artifact = {
        "artifactType": "model-artifact",
        "id": "1",
        "name": "m",
        "uri": "oci://q/m:1",
        "lastUpdateTimeSinceEpoch": "1",
    }
    artifacts = http.post("/model_versions/2/artifacts").respond(201, json=artifact)

    model = await client.create_registered_model("Mistral-Small-24B-Instruct", owner="demo")
    version = await client.create_model_version(
        model.id,
        "quantized-w4a16-2501",
        author="pipeline",
        custom_properties={"container_image": MetadataStringValue(string_value="img")},
    )
    created = await client.create_model_artifact(
        version.id, name="m", uri="oci://q/m:1", model_format_name="vLLM"
    )

    assert json.loads(models.calls.last.request.content) == {
        "name": "Mistral-Small-24B-Instruct",
        "owner": "demo",
    }
    assert json.loads(versions.calls.last.request.content) == {
        "name": "quantized-w4a16-2501",
        "registeredModelId": "1",
        "author": "pipeline",
        "customProperties": {
            "container_image": {"metadataType": "MetadataStringValue", "string_value": "img"}
        },
    }
    assert json.loads(artifacts.calls.last.request.content) == {
        "artifactType": "model-artifact",
        "name": "m",
        "uri": "oci://q/m:1",
        "modelFormatName": "vLLM",
    }
    assert created.uri == "oci://q/m:1"


async def test_archiving_and_changing_a_uri_are_patches(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    archived_version = {**version_json("5"), "state": "ARCHIVED"}
    version_patch = http.patch("/model_versions/5").respond(json=archived_version)
    model_patch = http.patch("/registered_models/4").respond(
        json={**model_json(), "state": "ARCHIVED"}
    )
    artifact_patch = http.patch("/model_artifacts/3").respond(
        json={"id": "3", "uri": "oci://q/m:2", "state": "UNKNOWN", "lastUpdateTimeSinceEpoch": "9"}
    )

    await client.set_model_version_state("5", EntityState.ARCHIVED)
    await client.set_registered_model_state("4", EntityState.ARCHIVED)
    await client.update_model_artifact("3", uri="oci://q/m:2")

    assert json.loads(version_patch.calls.last.request.content) == {"state": "ARCHIVED"}
    assert json.loads(model_patch.calls.last.request.content) == {"state": "ARCHIVED"}
    assert json.loads(artifact_patch.calls.last.request.content) == {
        "artifactType": "model-artifact",
        "uri": "oci://q/m:2",
    }


# Counting ---------------------------------------------------------------------------


async def test_every_attempt_is_counted_and_observed(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    events: list[RequestEvent] = []
    client.add_observer(events.append)
    http.get("/registered_models/4").mock(
        side_effect=[
            httpx.ConnectError("refused"),
            httpx.Response(500),
            httpx.Response(200, json=model_json()),
        ]
    )

    await client.get_registered_model("4")

    assert client.request_count == 3
    assert [(e.attempt, e.status, e.failure) for e in events] == [
        (1, None, "ConnectError"),
        (2, 500, None),
        (3, 200, None),
    ]
    assert {e.url for e in events} == {API + "/registered_models/4"}
