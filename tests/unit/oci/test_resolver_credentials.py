"""Where the resolver's credentials go, and where they never do.

- The pull secret's credential goes to the registry it is for, and to that registry's
  token server; the service-account token only to the internal registry.
- Never an `Authorization` to another registry, to a redirect target on another host,
  or to a token server a registry without a credential points at (whatever that server's
  own credential is); never over plain HTTP; never in a message.
- A token server or redirect target on a host `--oci-hosts` does not allow is not asked.
"""

from __future__ import annotations

import traceback
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from registry_sync.oci.credentials import BasicCredential, Credential, IdentityToken
from registry_sync.oci.hosts import HostPatterns
from registry_sync.oci.resolver import (
    OCI_INDEX,
    OPENSHIFT_INTERNAL_REGISTRY,
    DigestResolver,
    Failed,
    FailureReason,
    Learned,
    ResolverLimits,
)
from unit.oci.doubles import (
    ARM_DIGEST,
    DIGEST,
    NOW,
    PASSWORD,
    TOKEN,
    basic,
    challenge,
    digest_of,
    index_body,
    manifest_found,
    oci,
    only_with,
)

QUAY_MANIFEST = "https://quay.io/v2/org/model/manifests/v1"
QUAY_CREDENTIAL = BasicCredential("org+robot", PASSWORD)
QUAY_BASIC = basic("org+robot", PASSWORD)
QUAY_BEARER = 'Bearer realm="https://quay.io/v2/auth",service="quay.io"'
CREDENTIALS: dict[str, Credential] = {"quay.io": QUAY_CREDENTIAL}


@pytest.fixture
def http() -> respx.MockRouter:
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
async def resolver() -> AsyncIterator[DigestResolver]:
    async with DigestResolver(credentials=CREDENTIALS, clock=lambda: NOW) as digests:
        yield digests


def failure(outcome: Learned | Failed) -> Failed:
    assert isinstance(outcome, Failed), outcome
    return outcome


def authorizations(router: respx.MockRouter, host: str) -> list[str]:
    return [
        call.request.headers["Authorization"]
        for call in router.calls
        if call.request.url.host == host and "Authorization" in call.request.headers
    ]


def hosts_asked(router: respx.MockRouter) -> set[str]:
    return {call.request.url.host for call in router.calls}


def nothing_secret_in(outcome: Learned | Failed) -> None:
    if isinstance(outcome, Failed):
        shown = outcome.message + repr(outcome)
        assert PASSWORD not in shown and TOKEN not in shown
        assert QUAY_BASIC.split()[1] not in shown


# Basic --------------------------------------------------------------------------------------


async def test_a_basic_challenge_is_answered_with_the_hosts_credential(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    route = http.head(QUAY_MANIFEST)
    route.mock(side_effect=only_with(QUAY_BASIC, manifest_found(), 'Basic realm="quay"'))

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert outcome == Learned(DIGEST, frozenset(), NOW)
    assert [call.request.headers.get("Authorization") for call in route.calls] == [
        None,
        QUAY_BASIC,
    ]


async def test_a_basic_challenge_without_a_credential_is_unauthorized_and_sends_nothing(
    http: respx.MockRouter,
) -> None:
    route = http.head("https://ghcr.io/v2/org/model/manifests/v1")
    route.mock(return_value=challenge('Basic realm="ghcr"'))

    async with DigestResolver(credentials=CREDENTIALS) as resolver:
        outcome = await resolver.resolve(oci("oci://ghcr.io/org/model:v1"))

    assert failure(outcome).reason is FailureReason.UNAUTHORIZED
    assert "no credential for ghcr.io" in failure(outcome).message
    assert route.call_count == 1
    assert authorizations(http, "ghcr.io") == []


async def test_refused_credentials_say_whose_were_sent_where_but_not_their_value(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    http.head(QUAY_MANIFEST).mock(return_value=challenge('Basic realm="quay"'))

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    message = failure(outcome).message
    assert failure(outcome).reason is FailureReason.UNAUTHORIZED
    assert "the pull secret's credential for quay.io was sent to quay.io" in message
    nothing_secret_in(outcome)


async def test_a_403_without_a_challenge_says_no_credential_was_sent(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    http.head(QUAY_MANIFEST).respond(403)

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert failure(outcome).reason is FailureReason.UNAUTHORIZED
    assert "no credential was sent" in failure(outcome).message


async def test_an_unreadable_challenge_is_unauthorized_and_sends_nothing(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    route = http.head(QUAY_MANIFEST).mock(return_value=challenge('Bearer realm="open'))

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert failure(outcome).reason is FailureReason.UNAUTHORIZED
    assert route.call_count == 1


async def test_an_unknown_scheme_is_unauthorized(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    http.head(QUAY_MANIFEST).mock(return_value=challenge("Negotiate"))

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert failure(outcome).reason is FailureReason.UNAUTHORIZED
    assert "negotiate" in failure(outcome).message


# Bearer -------------------------------------------------------------------------------------


async def test_a_bearer_challenge_gets_a_token_with_the_registrys_credential(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    manifest = http.head(QUAY_MANIFEST)
    manifest.mock(side_effect=only_with(f"Bearer {TOKEN}", manifest_found(), QUAY_BEARER))
    token_server = http.get("https://quay.io/v2/auth").respond(json={"token": TOKEN})

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert isinstance(outcome, Learned)
    asked = token_server.calls.last.request
    assert asked.headers["Authorization"] == QUAY_BASIC
    assert parse_qs(asked.url.query.decode()) == {
        "service": ["quay.io"],
        "scope": ["repository:org/model:pull"],
    }


async def test_a_bearer_challenge_without_a_credential_asks_anonymously(
    http: respx.MockRouter,
) -> None:
    hub = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io"'
    http.head("https://registry-1.docker.io/v2/library/busybox/manifests/1.36").mock(
        side_effect=only_with(f"Bearer {TOKEN}", manifest_found(), hub)
    )
    token_server = http.get("https://auth.docker.io/token").respond(json={"access_token": TOKEN})

    async with DigestResolver(credentials=CREDENTIALS) as resolver:
        outcome = await resolver.resolve(oci("oci://busybox:1.36"))

    assert isinstance(outcome, Learned)
    assert "Authorization" not in token_server.calls.last.request.headers


async def test_the_challenges_own_scope_is_asked_for(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    asked = QUAY_BEARER + ',scope="repository:org/model:pull,push"'
    http.head(QUAY_MANIFEST).mock(side_effect=only_with(f"Bearer {TOKEN}", manifest_found(), asked))
    token_server = http.get("https://quay.io/v2/auth").respond(json={"token": TOKEN})

    await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    query = parse_qs(token_server.calls.last.request.url.query.decode())
    assert query["scope"] == ["repository:org/model:pull,push"]


async def test_the_token_is_reused_for_the_index(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    body = index_body(ARM_DIGEST)
    index = digest_of(body)
    bearer = f"Bearer {TOKEN}"
    http.head(QUAY_MANIFEST).mock(
        side_effect=only_with(bearer, manifest_found(index, OCI_INDEX), QUAY_BEARER)
    )
    by_digest = http.get(f"https://quay.io/v2/org/model/manifests/{index}")
    by_digest.mock(side_effect=only_with(bearer, httpx.Response(200, content=body), QUAY_BEARER))
    token_server = http.get("https://quay.io/v2/auth").respond(json={"token": TOKEN})

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert isinstance(outcome, Learned) and outcome.child_digests == {ARM_DIGEST}
    assert token_server.call_count == 1
    assert resolver.request_count == 4


async def test_a_realm_elsewhere_gets_the_registrys_credential_never_its_own_hosts(
    http: respx.MockRouter,
) -> None:
    """A hostile registry points its realm at quay.io's token server: quay.io's credential
    must not be used to get a token that would then be handed to the hostile registry."""
    hostile = 'Bearer realm="https://quay.io/v2/auth",service="quay.io",scope="repository:org/private:pull"'
    http.head("https://evil.example/v2/x/manifests/v1").mock(return_value=challenge(hostile))
    token_server = http.get("https://quay.io/v2/auth").respond(json={"token": TOKEN})

    async with DigestResolver(credentials=CREDENTIALS) as resolver:
        await resolver.resolve(oci("oci://evil.example/x:v1"))

    assert token_server.call_count == 1
    assert authorizations(http, "quay.io") == []
    assert authorizations(http, "evil.example") == [f"Bearer {TOKEN}"]  # an anonymous token


async def test_a_realm_on_a_host_not_allowed_is_not_asked(http: respx.MockRouter) -> None:
    elsewhere = 'Bearer realm="https://tokens.elsewhere.example/token",service="quay.io"'
    http.head(QUAY_MANIFEST).mock(return_value=challenge(elsewhere))
    token_server = http.get("https://tokens.elsewhere.example/token").respond(json={"token": "t"})

    async with DigestResolver(
        hosts=HostPatterns.parse("quay.io"), credentials=CREDENTIALS
    ) as resolver:
        outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert failure(outcome).reason is FailureReason.HOST_NOT_ALLOWED
    assert "tokens.elsewhere.example" in failure(outcome).message
    assert token_server.call_count == 0


async def test_a_realm_over_plain_http_is_not_asked(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    http.head(QUAY_MANIFEST).mock(return_value=challenge('Bearer realm="http://quay.io/v2/auth"'))
    token_server = http.get("http://quay.io/v2/auth").respond(json={"token": TOKEN})

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert failure(outcome).reason is FailureReason.HOST_NOT_ALLOWED
    assert token_server.call_count == 0


@pytest.mark.parametrize(
    "realm",
    ["", "/v2/auth", "ftp://quay.io/auth", "https://user:pw@quay.io/auth", "https:///auth"],
)
async def test_a_realm_that_is_not_an_https_url_of_a_host_is_not_asked(
    resolver: DigestResolver, http: respx.MockRouter, realm: str
) -> None:
    http.head(QUAY_MANIFEST).mock(return_value=challenge(f'Bearer realm="{realm}"'))

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert failure(outcome).reason is FailureReason.UNAUTHORIZED
    assert resolver.request_count == 1


async def test_a_token_server_that_refuses_is_unauthorized(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    http.head(QUAY_MANIFEST).mock(return_value=challenge(QUAY_BEARER))
    http.get("https://quay.io/v2/auth").respond(401, text=f"bad password {PASSWORD}")

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert failure(outcome).reason is FailureReason.UNAUTHORIZED
    assert "the pull secret's credential for quay.io (sent to quay.io)" in failure(outcome).message
    nothing_secret_in(outcome)


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"token": ""}),
        httpx.Response(200, json={"token": 7}),
        httpx.Response(200, json={"token": "has space"}),
        httpx.Response(200, json={"token": "x" * 20_000}),
        httpx.Response(200, json=["token"]),
        httpx.Response(200, content=b'{"token": "' + b"x" * 70_000 + b'"}'),
    ],
)
async def test_a_token_answer_without_a_usable_token_is_garbage(
    resolver: DigestResolver, http: respx.MockRouter, answer: httpx.Response
) -> None:
    http.head(QUAY_MANIFEST).mock(return_value=challenge(QUAY_BEARER))
    http.get("https://quay.io/v2/auth").mock(return_value=answer)

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert failure(outcome).reason is FailureReason.GARBAGE


async def test_a_token_server_redirect_is_not_followed(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    http.head(QUAY_MANIFEST).mock(return_value=challenge(QUAY_BEARER))
    http.get("https://quay.io/v2/auth").respond(302, headers={"Location": "https://x.example/"})

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert failure(outcome).reason is FailureReason.UNAUTHORIZED
    assert "x.example" not in hosts_asked(http)


async def test_a_token_refused_by_the_registry_is_unauthorized_after_one_try(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    manifest = http.head(QUAY_MANIFEST).mock(return_value=challenge(QUAY_BEARER))
    http.get("https://quay.io/v2/auth").respond(json={"token": TOKEN})

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert failure(outcome).reason is FailureReason.UNAUTHORIZED
    assert "a token from https://quay.io/v2/auth was sent to quay.io" in failure(outcome).message
    assert manifest.call_count == 2
    nothing_secret_in(outcome)


async def test_an_identity_token_is_exchanged_at_the_token_server(http: respx.MockRouter) -> None:
    http.head(QUAY_MANIFEST).mock(
        side_effect=only_with(f"Bearer {TOKEN}", manifest_found(), QUAY_BEARER)
    )
    token_server = http.post("https://quay.io/v2/auth").respond(json={"access_token": TOKEN})

    async with DigestResolver(credentials={"quay.io": IdentityToken("refresh-me")}) as resolver:
        outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert isinstance(outcome, Learned)
    form = parse_qs(token_server.calls.last.request.content.decode())
    assert form["grant_type"] == ["refresh_token"]
    assert form["refresh_token"] == ["refresh-me"]
    assert form["service"] == ["quay.io"]
    assert form["scope"] == ["repository:org/model:pull"]


async def test_an_identity_token_does_not_answer_a_basic_challenge(http: respx.MockRouter) -> None:
    http.head(QUAY_MANIFEST).mock(return_value=challenge('Basic realm="quay"'))

    async with DigestResolver(credentials={"quay.io": IdentityToken("refresh-me")}) as resolver:
        outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert failure(outcome).reason is FailureReason.UNAUTHORIZED
    assert authorizations(http, "quay.io") == []


# Another registry -----------------------------------------------------------------------


async def test_a_credential_never_reaches_another_registry(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    http.head(QUAY_MANIFEST).mock(
        side_effect=only_with(QUAY_BASIC, manifest_found(), 'Basic realm="quay"')
    )
    http.head("https://ghcr.io/v2/org/model/manifests/v1").mock(
        return_value=challenge('Basic realm="ghcr"')
    )
    http.head("https://quay.io.evil.example/v2/org/model/manifests/v1").mock(
        return_value=challenge('Basic realm="look-alike"')
    )

    await resolver.resolve(oci("oci://quay.io/org/model:v1"))
    await resolver.resolve(oci("oci://ghcr.io/org/model:v1"))
    await resolver.resolve(oci("oci://quay.io.evil.example/org/model:v1"))

    assert authorizations(http, "quay.io") == [QUAY_BASIC]
    assert authorizations(http, "ghcr.io") == []
    assert authorizations(http, "quay.io.evil.example") == []


async def test_a_credential_for_one_port_does_not_go_to_another(http: respx.MockRouter) -> None:
    http.head("https://registry.local:5001/v2/m/manifests/v1").mock(
        return_value=challenge('Basic realm="r"')
    )

    async with DigestResolver(credentials={"registry.local:5000": QUAY_CREDENTIAL}) as resolver:
        outcome = await resolver.resolve(oci("oci://registry.local:5001/m:v1"))

    assert failure(outcome).reason is FailureReason.UNAUTHORIZED
    assert authorizations(http, "registry.local") == []


async def test_new_credentials_replace_the_old(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    fresh = BasicCredential("org+robot", "rotated")
    http.head(QUAY_MANIFEST).mock(
        side_effect=only_with(basic("org+robot", "rotated"), manifest_found(), 'Basic realm="q"')
    )

    resolver.set_credentials({"quay.io": fresh})
    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert isinstance(outcome, Learned)


# Plain HTTP -----------------------------------------------------------------------------------


async def test_no_credential_goes_over_plain_http(http: respx.MockRouter) -> None:
    http.head("http://registry.local:5000/v2/m/manifests/v1").mock(
        return_value=challenge('Basic realm="r"')
    )
    insecure = HostPatterns.parse("registry.local:5000")

    async with DigestResolver(
        insecure_hosts=insecure, credentials={"registry.local:5000": QUAY_CREDENTIAL}
    ) as resolver:
        outcome = await resolver.resolve(oci("oci://registry.local:5000/m:v1"))

    assert failure(outcome).reason is FailureReason.UNAUTHORIZED
    assert "not sent in clear" in failure(outcome).message
    assert authorizations(http, "registry.local") == []


async def test_a_credential_goes_over_plain_http_to_loopback(http: respx.MockRouter) -> None:
    http.head("http://127.0.0.1:5000/v2/m/manifests/v1").mock(
        side_effect=only_with(QUAY_BASIC, manifest_found(), 'Basic realm="r"')
    )

    async with DigestResolver(
        insecure_hosts=HostPatterns.parse("127.0.0.1:5000"),
        credentials={"127.0.0.1:5000": QUAY_CREDENTIAL},
    ) as resolver:
        outcome = await resolver.resolve(oci("oci://127.0.0.1:5000/m:v1"))

    assert isinstance(outcome, Learned)


# Redirects ------------------------------------------------------------------------------------


async def test_a_same_host_redirect_is_followed_with_the_credential(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    http.head(QUAY_MANIFEST).mock(
        side_effect=only_with(
            QUAY_BASIC,
            httpx.Response(307, headers={"Location": "/v2/org/model/manifests/moved"}),
            'Basic realm="q"',
        )
    )
    moved = http.head("https://quay.io/v2/org/model/manifests/moved").mock(
        side_effect=only_with(QUAY_BASIC, manifest_found(), 'Basic realm="q"')
    )

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert isinstance(outcome, Learned)
    assert moved.calls.last.request.headers["Authorization"] == QUAY_BASIC


async def test_a_cross_host_redirect_is_followed_without_any_credential(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    http.head(QUAY_MANIFEST).mock(
        side_effect=only_with(
            QUAY_BASIC,
            httpx.Response(302, headers={"Location": "https://cdn.example/m/v1"}),
            'Basic realm="q"',
        )
    )
    cdn = http.head("https://cdn.example/m/v1").mock(return_value=manifest_found())

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert isinstance(outcome, Learned)
    assert cdn.call_count == 1
    assert authorizations(http, "cdn.example") == []


async def test_a_cross_host_redirect_that_asks_for_credentials_gets_none(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    http.head(QUAY_MANIFEST).mock(
        side_effect=only_with(
            QUAY_BASIC,
            httpx.Response(302, headers={"Location": "https://collector.example/m"}),
            'Basic realm="q"',
        )
    )
    collector = http.head("https://collector.example/m").mock(
        return_value=challenge('Bearer realm="https://quay.io/v2/auth",service="quay.io"')
    )

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert failure(outcome).reason is FailureReason.UNAUTHORIZED
    assert "no credential is sent across a redirect" in failure(outcome).message
    assert collector.call_count == 1
    assert authorizations(http, "collector.example") == []
    assert authorizations(http, "quay.io") == [QUAY_BASIC]  # only the manifest request


async def test_a_challenge_after_a_cross_host_redirect_is_not_answered(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    http.head(QUAY_MANIFEST).respond(302, headers={"Location": "https://collector.example/m"})
    http.head("https://collector.example/m").mock(return_value=challenge(QUAY_BEARER))
    token_server = http.get("https://quay.io/v2/auth").respond(json={"token": TOKEN})

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert failure(outcome).reason is FailureReason.UNAUTHORIZED
    assert token_server.call_count == 0
    assert [call for call in http.calls if "Authorization" in call.request.headers] == []


async def test_a_redirect_to_a_host_not_allowed_is_not_followed(http: respx.MockRouter) -> None:
    http.head(QUAY_MANIFEST).respond(302, headers={"Location": "https://elsewhere.example/m"})
    elsewhere = http.head("https://elsewhere.example/m").mock(return_value=manifest_found())

    async with DigestResolver(hosts=HostPatterns.parse("quay.io")) as resolver:
        outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert failure(outcome).reason is FailureReason.HOST_NOT_ALLOWED
    assert elsewhere.call_count == 0


async def test_a_redirect_to_plain_http_is_not_followed(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    http.head(QUAY_MANIFEST).respond(301, headers={"Location": "http://quay.io/v2/x"})
    downgraded = http.head("http://quay.io/v2/x").mock(return_value=manifest_found())

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert failure(outcome).reason is FailureReason.HOST_NOT_ALLOWED
    assert downgraded.call_count == 0


async def test_a_redirect_with_user_info_is_not_followed(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    http.head(QUAY_MANIFEST).respond(302, headers={"Location": "https://u:p@cdn.example/m"})
    cdn = http.head("https://cdn.example/m").mock(return_value=manifest_found())

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert failure(outcome).reason is FailureReason.GARBAGE
    assert cdn.call_count == 0


async def test_redirects_are_followed_a_few_times_only(http: respx.MockRouter) -> None:
    loop = http.head(url__regex=r"https://quay\.io/v2/.*").respond(
        302, headers={"Location": "/v2/org/model/manifests/v1"}
    )

    async with DigestResolver(limits=ResolverLimits(max_redirects=3)) as resolver:
        outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert failure(outcome).reason is FailureReason.GARBAGE
    assert "more than 3 redirects" in failure(outcome).message
    assert loop.call_count == 4


# The internal registry's service-account token -----------------------------------------------


@pytest.fixture
def service_account_token(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text("sa-token-SECRET\n")
    return path


INTERNAL = f"https://{OPENSHIFT_INTERNAL_REGISTRY}"
INTERNAL_BEARER = f'Bearer realm="{INTERNAL}/openshift/token"'


async def test_the_internal_registry_gets_the_service_account_token(
    http: respx.MockRouter, service_account_token: Path
) -> None:
    http.head(f"{INTERNAL}/v2/ns/model/manifests/v1").mock(
        side_effect=only_with(f"Bearer {TOKEN}", manifest_found(), INTERNAL_BEARER)
    )
    token_server = http.get(f"{INTERNAL}/openshift/token").respond(json={"token": TOKEN})

    async with DigestResolver(service_account_token_file=service_account_token) as resolver:
        outcome = await resolver.resolve(oci(f"oci://{OPENSHIFT_INTERNAL_REGISTRY}/ns/model:v1"))

    assert isinstance(outcome, Learned)
    assert token_server.calls.last.request.headers["Authorization"] == basic(
        "serviceaccount", "sa-token-SECRET"
    )


async def test_the_service_account_token_goes_to_no_other_host(
    http: respx.MockRouter, service_account_token: Path
) -> None:
    http.head(QUAY_MANIFEST).mock(return_value=challenge('Basic realm="quay"'))
    http.head("https://image-registry.example:5000/v2/ns/model/manifests/v1").mock(
        return_value=challenge('Basic realm="look-alike"')
    )

    async with DigestResolver(service_account_token_file=service_account_token) as resolver:
        await resolver.resolve(oci("oci://quay.io/org/model:v1"))
        await resolver.resolve(oci("oci://image-registry.example:5000/ns/model:v1"))

    assert [call for call in http.calls if "Authorization" in call.request.headers] == []


async def test_a_configured_internal_registry_replaces_openshifts(
    http: respx.MockRouter, service_account_token: Path
) -> None:
    http.head("https://registry.cluster.local/v2/ns/m/manifests/v1").mock(
        side_effect=only_with(basic("serviceaccount", "sa-token-SECRET"), manifest_found(), "Basic")
    )

    async with DigestResolver(
        service_account_token_file=service_account_token,
        internal_registry="registry.cluster.local",
    ) as resolver:
        outcome = await resolver.resolve(oci("oci://registry.cluster.local/ns/m:v1"))

    assert isinstance(outcome, Learned)


async def test_the_pull_secrets_entry_wins_over_the_service_account_token(
    http: respx.MockRouter, service_account_token: Path
) -> None:
    http.head(f"{INTERNAL}/v2/ns/model/manifests/v1").mock(
        side_effect=only_with(QUAY_BASIC, manifest_found(), "Basic")
    )

    async with DigestResolver(
        service_account_token_file=service_account_token,
        credentials={OPENSHIFT_INTERNAL_REGISTRY: QUAY_CREDENTIAL},
    ) as resolver:
        outcome = await resolver.resolve(oci(f"oci://{OPENSHIFT_INTERNAL_REGISTRY}/ns/model:v1"))

    assert isinstance(outcome, Learned)


async def test_a_missing_service_account_token_is_unauthorized(
    http: respx.MockRouter, tmp_path: Path
) -> None:
    http.head(f"{INTERNAL}/v2/ns/model/manifests/v1").mock(return_value=challenge("Basic"))

    async with DigestResolver(service_account_token_file=tmp_path / "absent") as resolver:
        outcome = await resolver.resolve(oci(f"oci://{OPENSHIFT_INTERNAL_REGISTRY}/ns/model:v1"))

    assert failure(outcome).reason is FailureReason.UNAUTHORIZED
    assert "cannot read the service-account token" in failure(outcome).message


# Other carriers of a secret -------------------------------------------------------------------


async def test_cookies_are_neither_kept_nor_sent(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    first = manifest_found()
    first.headers["Set-Cookie"] = "session=SECRET; Domain=quay.io; Path=/"
    route = http.head(QUAY_MANIFEST).mock(side_effect=[first, manifest_found()])

    await resolver.resolve(oci("oci://quay.io/org/model:v1"))
    await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert "Cookie" not in route.calls.last.request.headers


async def test_a_failure_shows_no_secret_anywhere_a_log_could(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    http.head(QUAY_MANIFEST).mock(return_value=challenge(QUAY_BEARER))
    http.get("https://quay.io/v2/auth").respond(json={"token": TOKEN})

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    nothing_secret_in(outcome)
    assert PASSWORD not in "".join(traceback.format_stack())
