"""The digest resolver against a real OCI registry (CNCF distribution), with Basic and with
Bearer authentication (a token server on another port: another host, as far as the
resolver's rules go).

It learns what the registry reports for pushed tags, indexes and re-tagged tags; classifies
unknown tags, wrong or missing credentials, an untrusted certificate and disallowed hosts;
and the shared cache asks the registry once per TTL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from registry_sync.domain.references import OciReference, parse_storage_uri
from registry_sync.oci.credentials import BasicCredential
from registry_sync.oci.digest_cache import DigestCache
from registry_sync.oci.hosts import HostPatterns
from registry_sync.oci.resolver import (
    DigestResolver,
    Failed,
    FailureReason,
    Learned,
    Lookup,
)
from support.oci_registry import RunningOciRegistry, unique_repository

pytestmark = pytest.mark.oci_registry


@pytest.fixture(params=["oci_registry_basic", "oci_registry_bearer"], ids=["basic", "bearer"])
def registry(request: pytest.FixtureRequest) -> RunningOciRegistry:
    running: RunningOciRegistry = request.getfixturevalue(request.param)
    return running


def credentials_for(
    registry: RunningOciRegistry, password: str | None = None
) -> dict[str, BasicCredential]:
    return {registry.host: BasicCredential(registry.username, password or registry.password)}


@pytest.fixture
async def resolver(registry: RunningOciRegistry) -> AsyncIterator[DigestResolver]:
    async with DigestResolver(
        credentials=credentials_for(registry), ca_file=registry.ca_file
    ) as digests:
        yield digests


def reference(registry: RunningOciRegistry, repository: str, tag: str) -> OciReference:
    parsed = parse_storage_uri(f"oci://{registry.image_reference(repository, tag)}")
    assert isinstance(parsed, OciReference)
    return parsed


def failure(outcome: Lookup) -> Failed:
    assert isinstance(outcome, Failed), outcome
    return outcome


async def test_a_pushed_tag_resolves_to_its_digest(
    registry: RunningOciRegistry, resolver: DigestResolver
) -> None:
    repository = unique_repository()
    digest = registry.push_image(repository, "v1", seed="pushed")

    outcome = await resolver.resolve(reference(registry, repository, "v1"))

    assert isinstance(outcome, Learned)
    assert outcome.digest == digest and outcome.child_digests == frozenset()


async def test_an_index_resolves_with_its_manifests(
    registry: RunningOciRegistry, resolver: DigestResolver
) -> None:
    repository = unique_repository()
    amd = registry.push_image(repository, "amd", seed="index", architecture="amd64")
    arm = registry.push_image(repository, "arm", seed="index", architecture="arm64")
    index = registry.push_index(repository, "v1", [amd, arm])

    outcome = await resolver.resolve(reference(registry, repository, "v1"))

    assert isinstance(outcome, Learned)
    assert outcome.digest == index
    assert outcome.child_digests == {amd, arm}
    assert outcome.names(arm)


async def test_a_moved_tag_resolves_to_the_new_digest(
    registry: RunningOciRegistry, resolver: DigestResolver
) -> None:
    repository = unique_repository()
    registry.push_image(repository, "v1", seed="before")
    after = registry.push_image(repository, "next", seed="after")
    registry.tag(repository, "v1", after)

    outcome = await resolver.resolve(reference(registry, repository, "v1"))

    assert isinstance(outcome, Learned) and outcome.digest == after


async def test_an_unknown_tag_is_not_found(
    registry: RunningOciRegistry, resolver: DigestResolver
) -> None:
    repository = unique_repository()
    registry.push_image(repository, "v1", seed="known")

    outcome = await resolver.resolve(reference(registry, repository, "v2"))

    assert failure(outcome).reason is FailureReason.NOT_FOUND


async def test_a_deleted_manifest_is_not_found(
    registry: RunningOciRegistry, resolver: DigestResolver
) -> None:
    repository = unique_repository()
    digest = registry.push_image(repository, "v1", seed="deleted")
    registry.delete_manifest(repository, digest)

    outcome = await resolver.resolve(reference(registry, repository, "v1"))

    assert failure(outcome).reason is FailureReason.NOT_FOUND


async def test_a_wrong_password_is_unauthorized_and_not_shown(registry: RunningOciRegistry) -> None:
    repository = unique_repository()
    registry.push_image(repository, "v1", seed="wrong-password")
    wrong = "wrong-" + registry.password

    async with DigestResolver(
        credentials=credentials_for(registry, wrong), ca_file=registry.ca_file
    ) as resolver:
        outcome = await resolver.resolve(reference(registry, repository, "v1"))

    assert failure(outcome).reason is FailureReason.UNAUTHORIZED
    assert f"the pull secret's credential for {registry.host}" in failure(outcome).message
    assert wrong not in failure(outcome).message


async def test_no_credential_is_unauthorized(registry: RunningOciRegistry) -> None:
    repository = unique_repository()
    registry.push_image(repository, "v1", seed="anonymous")

    async with DigestResolver(ca_file=registry.ca_file) as resolver:
        outcome = await resolver.resolve(reference(registry, repository, "v1"))

    assert failure(outcome).reason is FailureReason.UNAUTHORIZED


async def test_without_its_ca_the_registry_is_unavailable_and_the_message_says_why(
    registry: RunningOciRegistry,
) -> None:
    repository = unique_repository()
    registry.push_image(repository, "v1", seed="untrusted")

    async with DigestResolver(credentials=credentials_for(registry)) as resolver:
        outcome = await resolver.resolve(reference(registry, repository, "v1"))

    assert failure(outcome).reason is FailureReason.UNAVAILABLE
    assert "--oci-ca-file" in failure(outcome).message


async def test_a_registry_not_allowed_is_not_asked(registry: RunningOciRegistry) -> None:
    async with DigestResolver(
        hosts=HostPatterns.parse("quay.io"),
        credentials=credentials_for(registry),
        ca_file=registry.ca_file,
    ) as resolver:
        outcome = await resolver.resolve(reference(registry, unique_repository(), "v1"))

    assert failure(outcome).reason is FailureReason.HOST_NOT_ALLOWED
    assert resolver.request_count == 0


async def test_a_token_server_not_allowed_is_not_asked(
    oci_registry_bearer: RunningOciRegistry,
) -> None:
    registry = oci_registry_bearer
    assert registry.token_server is not None
    repository = unique_repository()
    registry.push_image(repository, "v1", seed="realm-not-allowed")
    asked_before = len(registry.token_server.requests)

    async with DigestResolver(
        hosts=HostPatterns.parse(registry.host),  # the token server listens on another port
        credentials=credentials_for(registry),
        ca_file=registry.ca_file,
    ) as resolver:
        outcome = await resolver.resolve(reference(registry, repository, "v1"))

    assert failure(outcome).reason is FailureReason.HOST_NOT_ALLOWED
    assert len(registry.token_server.requests) == asked_before


async def test_the_token_server_gets_the_registrys_credential_and_the_pull_scope(
    oci_registry_bearer: RunningOciRegistry,
) -> None:
    registry = oci_registry_bearer
    assert registry.token_server is not None
    repository = unique_repository()
    registry.push_image(repository, "v1", seed="scope")
    asked_before = len(registry.token_server.requests)

    async with DigestResolver(
        credentials=credentials_for(registry), ca_file=registry.ca_file
    ) as resolver:
        outcome = await resolver.resolve(reference(registry, repository, "v1"))

    assert isinstance(outcome, Learned)
    assert registry.token_server.requests[asked_before:] == [
        (registry.service, [f"repository:{repository}:pull"], True)
    ]


async def test_the_cache_asks_the_registry_once_per_ttl(
    registry: RunningOciRegistry, resolver: DigestResolver
) -> None:
    repository = unique_repository()
    digest = registry.push_image(repository, "v1", seed="cached")
    cache = DigestCache(resolver, ttl_s=600)
    model = reference(registry, repository, "v1")

    first = await cache.refresh_due([model], 1_000.0)
    second = await cache.refresh_due([model], 1_500.0)
    cached = cache.lookup(model, 1_500.0)

    # A challenge, (a token,) the authenticated HEAD; then nothing.
    assert first.requests == (2 if registry.auth == "basic" else 3)
    assert second.requests == 0
    assert cached is not None and cached.learned is not None
    assert cached.learned.digest == digest and cached.age_s == 500
