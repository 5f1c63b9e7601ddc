"""The OCI registry test ground is a real registry and its push helpers say the truth.

Every test runs against both session registries: Basic (htpasswd) and Bearer (token
server). Digests are checked against what the registry itself reports and serves.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest

from support.oci_registry import (
    MANIFEST_ACCEPT,
    OCI_INDEX,
    OCI_MANIFEST,
    RunningOciRegistry,
    digest_of,
    parse_challenge,
    unique_repository,
)

pytestmark = pytest.mark.oci_registry

ACCEPT = {"Accept": ", ".join(MANIFEST_ACCEPT)}


@pytest.fixture(params=["oci_registry_basic", "oci_registry_bearer"], ids=["basic", "bearer"])
def registry(request: pytest.FixtureRequest) -> RunningOciRegistry:
    registry: RunningOciRegistry = request.getfixturevalue(request.param)
    return registry


@pytest.fixture
def anonymous(registry: RunningOciRegistry) -> Iterator[httpx.Client]:
    """A client that trusts the registry's CA and sends no credentials of its own."""
    with httpx.Client(verify=registry.ssl_context(), timeout=10.0) as client:
        yield client


def test_an_anonymous_head_is_challenged_with_the_registrys_kind_of_auth(
    registry: RunningOciRegistry, anonymous: httpx.Client
) -> None:
    repository = unique_repository()
    registry.push_image(repository, "v1", seed="challenge")

    answer = anonymous.head(f"{registry.url}/v2/{repository}/manifests/v1", headers=ACCEPT)

    assert answer.status_code == 401
    scheme, challenge = parse_challenge(answer.headers["WWW-Authenticate"])
    if registry.auth == "basic":
        assert scheme == "basic"
        assert challenge["realm"]
    else:
        assert registry.token_server is not None
        assert scheme == "bearer"
        assert challenge == {
            "realm": registry.token_server.realm,
            "service": registry.service,
            "scope": f"repository:{repository}:pull",
        }


def test_an_authenticated_head_reports_the_digest_push_image_returned(
    registry: RunningOciRegistry,
) -> None:
    repository = unique_repository()
    digest = registry.push_image(repository, "v1", seed="head")

    answer = registry.head_manifest(repository, "v1")

    assert answer.status_code == 200
    assert answer.headers["Docker-Content-Digest"] == digest
    assert answer.headers["Content-Type"] == OCI_MANIFEST
    # The registry serves back exactly the bytes whose hash the helper computed.
    served = registry.request("GET", f"/v2/{repository}/manifests/{digest}", headers=ACCEPT)
    assert served.status_code == 200
    assert digest_of(served.content) == digest
    assert served.content == registry.manifests[digest].data
    assert registry.image_reference(repository, digest) == f"{registry.host}/{repository}@{digest}"


def test_retagging_moves_the_digest_a_tag_reports(registry: RunningOciRegistry) -> None:
    repository = unique_repository()
    first = registry.push_image(repository, "v1", seed="first")
    second = registry.push_image(repository, "v2", seed="second")
    assert first != second

    registry.tag(repository, "v1", second)

    assert registry.head_manifest(repository, "v1").headers["Docker-Content-Digest"] == second
    registry.tag(repository, "v1", first)
    assert registry.head_manifest(repository, "v1").headers["Docker-Content-Digest"] == first
    assert registry.head_manifest(repository, "v2").headers["Docker-Content-Digest"] == second


def test_an_index_has_its_own_digest_and_lists_its_children(
    registry: RunningOciRegistry,
) -> None:
    repository = unique_repository()
    amd64 = registry.push_image(repository, "amd64", seed="multi")
    arm64 = registry.push_image(repository, "arm64", seed="multi", architecture="arm64")

    index = registry.push_index(repository, "v1", [amd64, arm64])

    head = registry.head_manifest(repository, "v1")
    assert head.status_code == 200
    assert head.headers["Docker-Content-Digest"] == index
    assert head.headers["Content-Type"] == OCI_INDEX
    assert index not in (amd64, arm64)
    served = registry.request("GET", f"/v2/{repository}/manifests/v1", headers=ACCEPT)
    assert digest_of(served.content) == index
    children = json.loads(served.content)["manifests"]
    assert [(c["digest"], c["platform"]["architecture"]) for c in children] == [
        (amd64, "amd64"),
        (arm64, "arm64"),
    ]
    for child in (amd64, arm64):
        by_digest = registry.head_manifest(repository, child)
        assert by_digest.status_code == 200
        assert by_digest.headers["Docker-Content-Digest"] == child


def test_a_wrong_password_is_refused(registry: RunningOciRegistry, anonymous: httpx.Client) -> None:
    repository = unique_repository()
    registry.push_image(repository, "v1", seed="refused")
    challenge = anonymous.head(f"{registry.url}/v2/{repository}/manifests/v1")
    _, params = parse_challenge(challenge.headers["WWW-Authenticate"])
    wrong = (registry.username, registry.password + "-wrong")

    if registry.auth == "basic":
        answer = anonymous.head(f"{registry.url}/v2/{repository}/manifests/v1", auth=wrong)
        assert answer.status_code == 401
    else:
        token = anonymous.get(
            params["realm"],
            params={"service": params["service"], "scope": params["scope"]},
            auth=wrong,
        )
        assert token.status_code == 401
        assert parse_challenge(token.headers["WWW-Authenticate"])[0] == "basic"


def test_the_registry_checks_a_tokens_scope_and_signature(
    oci_registry_bearer: RunningOciRegistry,
) -> None:
    registry = oci_registry_bearer
    assert registry.token_server is not None
    allowed, other = unique_repository(), unique_repository()
    registry.push_image(other, "v1", seed="scoped")
    token = registry.token_server.issue(
        service=registry.service, scopes=[f"repository:{allowed}:pull"], subject="someone"
    )
    # The same token with its claims rewritten to grant `other`: the signature no longer fits.
    header, claims, signature = token.split(".")
    granted = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    granted["access"][0]["name"] = other
    forged_claims = base64.urlsafe_b64encode(json.dumps(granted).encode()).rstrip(b"=").decode()
    forged = f"{header}.{forged_claims}.{signature}"

    def head_with(bearer: str) -> httpx.Response:
        with httpx.Client(verify=registry.ssl_context(), timeout=10.0) as client:
            return client.head(
                f"{registry.url}/v2/{other}/manifests/v1",
                headers={**ACCEPT, "Authorization": f"Bearer {bearer}"},
            )

    def error_of(answer: httpx.Response) -> str | None:
        assert answer.status_code == 401
        return parse_challenge(answer.headers["WWW-Authenticate"])[1].get("error")

    assert error_of(head_with(token)) == "insufficient_scope"
    # distribution v3.1 names no error for a bad signature (go-jose's error is none of its
    # own), but refuses the token all the same.
    assert error_of(head_with(forged)) is None
    fitting = registry.token_server.issue(
        service=registry.service, scopes=[f"repository:{other}:pull"], subject="someone"
    )
    assert head_with(fitting).status_code == 200


def test_deleting_a_manifest_makes_its_head_404(registry: RunningOciRegistry) -> None:
    repository = unique_repository()
    digest = registry.push_image(repository, "v1", seed="deleted")

    registry.delete_manifest(repository, digest)

    assert registry.head_manifest(repository, digest).status_code == 404
    assert registry.head_manifest(repository, "v1").status_code == 404
