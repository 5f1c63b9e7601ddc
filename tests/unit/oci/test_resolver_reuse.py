"""An authorization a registry accepted is reused for its next lookups of the same
repository (one request a lookup, not a challenge round trip each time), never sent
elsewhere, and given up when it expires, is refused, or the credentials change."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
import respx

from registry_sync.oci.credentials import BasicCredential
from registry_sync.oci.resolver import DigestResolver, Learned
from unit.oci.doubles import DIGEST, NOW, PASSWORD, TOKEN, basic, manifest_found, oci, only_with

CREDENTIAL = BasicCredential("org+robot", PASSWORD)
BASIC = basic("org+robot", PASSWORD)
BEARER = 'Bearer realm="https://quay.io/v2/auth",service="quay.io"'


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def http() -> respx.MockRouter:
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def resolver(clock: Clock) -> AsyncIterator[DigestResolver]:
    async with DigestResolver(credentials={"quay.io": CREDENTIAL}, clock=clock) as digests:
        yield digests


def token_answer(expires_in: object = 300) -> httpx.Response:
    return httpx.Response(200, json={"token": TOKEN, "expires_in": expires_in})


async def test_basic_is_sent_at_once_after_the_first_challenge(
    http: respx.MockRouter, resolver: DigestResolver
) -> None:
    http.head(url__regex=r"https://quay\.io/v2/org/model/manifests/.*").mock(
        side_effect=only_with(BASIC, manifest_found(), 'Basic realm="quay"')
    )

    for tag in ("v1", "v2", "v3"):
        assert isinstance(await resolver.resolve(oci(f"oci://quay.io/org/model:{tag}")), Learned)

    assert resolver.request_count == 2 + 1 + 1


async def test_a_token_is_reused_until_it_expires(
    http: respx.MockRouter, resolver: DigestResolver, clock: Clock
) -> None:
    http.get(url__startswith="https://quay.io/v2/auth").mock(return_value=token_answer(300))
    http.head(url__regex=r"https://quay\.io/v2/org/model/manifests/.*").mock(
        side_effect=only_with(f"Bearer {TOKEN}", manifest_found(), BEARER)
    )

    await resolver.resolve(oci("oci://quay.io/org/model:v1"))
    await resolver.resolve(oci("oci://quay.io/org/model:v2"))
    assert resolver.request_count == 3 + 1

    clock.now += 300  # past its lifetime
    await resolver.resolve(oci("oci://quay.io/org/model:v3"))
    token_requests = [c for c in http.calls if c.request.url.path == "/v2/auth"]
    assert len(token_requests) == 2


async def test_a_token_for_one_repository_is_not_used_for_another(
    http: respx.MockRouter, resolver: DigestResolver
) -> None:
    http.get(url__startswith="https://quay.io/v2/auth").mock(return_value=token_answer())
    http.head(url__regex=r"https://quay\.io/v2/.*").mock(
        side_effect=only_with(f"Bearer {TOKEN}", manifest_found(), BEARER)
    )

    await resolver.resolve(oci("oci://quay.io/org/model:v1"))
    await resolver.resolve(oci("oci://quay.io/org/other:v1"))

    first_heads = [
        c.request
        for c in http.calls
        if c.request.method == "HEAD" and "other" in c.request.url.path
    ]
    assert "Authorization" not in first_heads[0].headers


async def test_a_refused_authorization_is_given_up_and_the_challenge_answered_again(
    http: respx.MockRouter, resolver: DigestResolver
) -> None:
    answers = iter([token_answer(), httpx.Response(200, json={"token": "second-token"})])
    http.get(url__startswith="https://quay.io/v2/auth").mock(side_effect=lambda _: next(answers))
    accepted = {"authorization": f"Bearer {TOKEN}"}

    def registry(request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") == accepted["authorization"]:
            return manifest_found()
        return httpx.Response(401, headers={"WWW-Authenticate": BEARER})

    http.head(url__regex=r"https://quay\.io/v2/org/model/manifests/.*").mock(side_effect=registry)
    await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    accepted["authorization"] = "Bearer second-token"  # the registry revoked the first
    assert isinstance(await resolver.resolve(oci("oci://quay.io/org/model:v2")), Learned)


async def test_new_credentials_forget_what_the_old_ones_obtained(
    http: respx.MockRouter, resolver: DigestResolver
) -> None:
    http.head(url__regex=r"https://quay\.io/v2/org/model/manifests/.*").mock(
        side_effect=only_with(BASIC, manifest_found(), 'Basic realm="quay"')
    )
    await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    resolver.set_credentials({"quay.io": BasicCredential("org+robot", "rotated")})
    await resolver.resolve(oci("oci://quay.io/org/model:v2"))

    last = [c.request for c in http.calls][-2]  # the lookup starts without any authorization
    assert "Authorization" not in last.headers


async def test_what_one_registry_accepted_never_goes_to_another(
    http: respx.MockRouter, resolver: DigestResolver
) -> None:
    http.head(url__regex=r"https://quay\.io/.*").mock(
        side_effect=only_with(BASIC, manifest_found(), 'Basic realm="quay"')
    )
    http.head(url__regex=r"https://evil\.example/.*").mock(return_value=manifest_found(DIGEST))

    await resolver.resolve(oci("oci://quay.io/org/model:v1"))
    await resolver.resolve(oci("oci://evil.example/org/model:v1"))

    evil = [c.request for c in http.calls if c.request.url.host == "evil.example"]
    assert evil and all("Authorization" not in request.headers for request in evil)


@pytest.mark.parametrize("expires_in", ["soon", -5, True, 10**9, None])
async def test_a_strange_lifetime_means_the_default_one(
    http: respx.MockRouter, resolver: DigestResolver, clock: Clock, expires_in: object
) -> None:
    http.get(url__startswith="https://quay.io/v2/auth").mock(
        return_value=httpx.Response(
            200, content=json.dumps({"token": TOKEN, "expires_in": expires_in})
        )
    )
    http.head(url__regex=r"https://quay\.io/v2/org/model/manifests/.*").mock(
        side_effect=only_with(f"Bearer {TOKEN}", manifest_found(), BEARER)
    )
    await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    clock.now += 30  # within 60 s less the margin
    await resolver.resolve(oci("oci://quay.io/org/model:v2"))
    clock.now += 60
    await resolver.resolve(oci("oci://quay.io/org/model:v3"))

    assert len([c for c in http.calls if c.request.url.path == "/v2/auth"]) == 2


async def test_an_unreachable_host_costs_one_failure_not_one_per_artifact(
    http: respx.MockRouter, resolver: DigestResolver, clock: Clock
) -> None:
    http.head(url__regex=r"https://quay\.io/.*").mock(side_effect=httpx.ConnectError("refused"))

    outcomes = [await resolver.resolve(oci(f"oci://quay.io/org/model:v{n}")) for n in range(5)]

    assert resolver.request_count == 1
    assert all(not isinstance(outcome, Learned) for outcome in outcomes)
    assert "not asked again yet" in str(outcomes[-1])

    clock.now += 31  # the back-off is over: asked again
    await resolver.resolve(oci("oci://quay.io/org/model:v9"))
    assert resolver.request_count == 2
