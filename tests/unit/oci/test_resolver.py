"""The digest resolver's protocol: what it asks, what it reads from the answers, how each
failure is classified, and its bounds on time, bodies and concurrency.

Where credentials go is `test_resolver_credentials.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import respx

from registry_sync.domain.references import parse_storage_uri
from registry_sync.oci.hosts import HostPatterns
from registry_sync.oci.resolver import (
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    DigestResolver,
    Failed,
    FailureReason,
    Learned,
    ResolverLimits,
)
from unit.oci.doubles import (
    AMD_DIGEST,
    ARM_DIGEST,
    DIGEST,
    MEDIA_TYPES,
    NOW,
    OTHER_DIGEST,
    digest_of,
    index_body,
    manifest_found,
    oci,
)

MANIFEST = "https://quay.io/v2/org/model/manifests/v1"


@pytest.fixture
def http() -> respx.MockRouter:
    # No base URL: a request to any host other than the mocked routes fails the test.
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture
async def resolver() -> AsyncIterator[DigestResolver]:
    async with DigestResolver(clock=lambda: NOW) as digests:
        yield digests


def failure(outcome: Learned | Failed) -> Failed:
    assert isinstance(outcome, Failed), outcome
    return outcome


# What is asked, and what is learned --------------------------------------------------------


async def test_a_digest_in_the_reference_is_the_answer_without_a_request(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    outcome = await resolver.resolve(oci(f"oci://quay.io/org/model:v1@{DIGEST}"))

    assert outcome == Learned(DIGEST, frozenset(), NOW)
    assert resolver.request_count == 0
    assert not http.calls


async def test_a_non_oci_reference_is_not_oci(resolver: DigestResolver) -> None:
    outcome = await resolver.resolve(parse_storage_uri("hf://org/model"))

    assert failure(outcome).reason is FailureReason.NOT_OCI
    assert resolver.request_count == 0


async def test_a_tag_is_resolved_by_a_head_of_its_manifest(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    route = http.head(MANIFEST).mock(return_value=manifest_found(DIGEST))

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert outcome == Learned(DIGEST, frozenset(), NOW)
    assert route.call_count == 1
    assert resolver.request_count == 1


async def test_the_head_accepts_oci_and_docker_manifests_and_indexes(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    route = http.head(MANIFEST).mock(return_value=manifest_found())

    await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    accepted = [part.strip() for part in route.calls.last.request.headers["Accept"].split(",")]
    assert sorted(accepted) == sorted(MEDIA_TYPES)


async def test_docker_hub_is_asked_at_registry_1(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    route = http.head("https://registry-1.docker.io/v2/library/busybox/manifests/1.36")
    route.mock(return_value=manifest_found())

    outcome = await resolver.resolve(oci("oci://busybox:1.36"))

    assert isinstance(outcome, Learned)


async def test_every_oci_scheme_is_resolved_alike(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    http.head(MANIFEST).mock(return_value=manifest_found())

    outcome = await resolver.resolve(oci("oci+native://quay.io/org/model:v1"))

    assert isinstance(outcome, Learned)


async def test_an_index_is_read_by_its_digest_and_its_manifests_are_learned(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    body = index_body(ARM_DIGEST, AMD_DIGEST)
    index = digest_of(body)
    http.head(MANIFEST).mock(return_value=manifest_found(index, OCI_INDEX))
    by_digest = http.get(f"https://quay.io/v2/org/model/manifests/{index}")
    by_digest.respond(200, content=body, headers={"Content-Type": OCI_INDEX})

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert outcome == Learned(index, frozenset({ARM_DIGEST, AMD_DIGEST}), NOW)
    assert outcome.names(ARM_DIGEST) and outcome.names(index)
    assert not outcome.names(OTHER_DIGEST)


async def test_a_docker_manifest_list_is_an_index_too(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    body = index_body(ARM_DIGEST, media_type=DOCKER_MANIFEST_LIST)
    index = digest_of(body)
    media_type = DOCKER_MANIFEST_LIST + "; charset=utf-8"
    http.head(MANIFEST).mock(return_value=manifest_found(index, media_type))
    http.get(f"https://quay.io/v2/org/model/manifests/{index}").respond(200, content=body)

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert isinstance(outcome, Learned) and outcome.child_digests == {ARM_DIGEST}


async def test_a_plain_manifest_is_not_read(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    http.head(MANIFEST).mock(return_value=manifest_found())

    await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert [call.request.method for call in http.calls] == ["HEAD"]


async def test_request_count_counts_every_request(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    body = index_body(ARM_DIGEST)
    http.head(MANIFEST).mock(return_value=manifest_found(digest_of(body), OCI_INDEX))
    http.get(f"https://quay.io/v2/org/model/manifests/{digest_of(body)}").respond(content=body)

    await resolver.resolve(oci("oci://quay.io/org/model:v1"))
    await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert resolver.request_count == 4


# Which hosts are asked -------------------------------------------------------------------


async def test_a_host_not_allowed_is_never_contacted(http: respx.MockRouter) -> None:
    async with DigestResolver(hosts=HostPatterns.parse("*.example.com")) as resolver:
        outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert failure(outcome).reason is FailureReason.HOST_NOT_ALLOWED
    assert "quay.io" in failure(outcome).message
    assert resolver.request_count == 0
    assert not http.calls


async def test_a_host_allowed_by_a_wildcard_is_asked(http: respx.MockRouter) -> None:
    http.head("https://registry.example.com/v2/m/manifests/v1").mock(return_value=manifest_found())

    async with DigestResolver(hosts=HostPatterns.parse("*.example.com")) as resolver:
        outcome = await resolver.resolve(oci("oci://registry.example.com/m:v1"))

    assert isinstance(outcome, Learned)


async def test_plain_http_only_for_hosts_listed_insecure(http: respx.MockRouter) -> None:
    http.head("http://registry.local:5000/v2/m/manifests/v1").mock(return_value=manifest_found())
    http.head("https://other.local:5000/v2/m/manifests/v1").mock(return_value=manifest_found())
    insecure = HostPatterns.parse("registry.local:5000", setting="--oci-insecure-hosts")

    async with DigestResolver(insecure_hosts=insecure) as resolver:
        listed = await resolver.resolve(oci("oci://registry.local:5000/m:v1"))
        unlisted = await resolver.resolve(oci("oci://other.local:5000/m:v1"))

    assert isinstance(listed, Learned) and isinstance(unlisted, Learned)


# What an answer means ---------------------------------------------------------------------


async def test_no_digest_header_is_garbage(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    http.head(MANIFEST).respond(200, headers={"Content-Type": "application/json"})

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert failure(outcome).reason is FailureReason.GARBAGE
    assert "no Docker-Content-Digest" in failure(outcome).message


@pytest.mark.parametrize(
    "header",
    [
        "sha256:abc",
        "sha256:" + "A" * 64,
        "latest",
        f"quay.io/org/model@{DIGEST}",
        f"{DIGEST}\x1b[31m",
        "",
    ],
)
async def test_an_invalid_digest_header_is_garbage(
    resolver: DigestResolver, http: respx.MockRouter, header: str
) -> None:
    http.head(MANIFEST).mock(
        return_value=httpx.Response(200, headers=[(b"Docker-Content-Digest", header.encode())])
    )

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert failure(outcome).reason is FailureReason.GARBAGE
    assert "\x1b" not in failure(outcome).message


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (404, FailureReason.NOT_FOUND),
        (500, FailureReason.UNAVAILABLE),
        (502, FailureReason.UNAVAILABLE),
        (503, FailureReason.UNAVAILABLE),
        (429, FailureReason.UNAVAILABLE),
        (400, FailureReason.REJECTED),
        (405, FailureReason.REJECTED),
    ],
)
async def test_a_status_is_classified(
    resolver: DigestResolver, http: respx.MockRouter, status: int, reason: FailureReason
) -> None:
    http.head(MANIFEST).respond(status)

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert failure(outcome).reason is reason
    assert str(status) in failure(outcome).message
    assert failure(outcome).failed_at == NOW


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("x")],
)
async def test_transport_failures_are_unavailable(
    resolver: DigestResolver, http: respx.MockRouter, error: Exception
) -> None:
    http.head(MANIFEST).mock(side_effect=error)

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert failure(outcome).reason is FailureReason.UNAVAILABLE


async def test_an_index_that_does_not_hash_to_its_digest_is_garbage(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    http.head(MANIFEST).mock(return_value=manifest_found(DIGEST, OCI_INDEX))
    http.get(f"https://quay.io/v2/org/model/manifests/{DIGEST}").respond(
        content=index_body(ARM_DIGEST)
    )

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert failure(outcome).reason is FailureReason.GARBAGE
    assert "does not hash" in failure(outcome).message


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"manifests": {}}',
        b'{"manifests": [{"size": 3}]}',
        b'{"manifests": [{"digest": "sha256:short"}]}',
        b'{"manifests": ' + b"[" * 40_000 + b"]" * 40_000 + b"}",
        b'{"manifests": [' + b"{}," * 60_000 + b"{}]}",
    ],
    ids=[
        "not-json",
        "a-list",
        "manifests-not-a-list",
        "no-digest",
        "bad-digest",
        "deep",
        "many-objects",
    ],
)
async def test_an_index_body_that_is_not_an_index_is_garbage(
    resolver: DigestResolver, http: respx.MockRouter, body: bytes
) -> None:
    http.head(MANIFEST).mock(return_value=manifest_found(digest_of(body), OCI_INDEX))
    http.get(f"https://quay.io/v2/org/model/manifests/{digest_of(body)}").respond(content=body)

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert failure(outcome).reason is FailureReason.GARBAGE


async def test_an_index_over_four_mib_is_garbage(
    resolver: DigestResolver, http: respx.MockRouter
) -> None:
    body = index_body(ARM_DIGEST) + b" " * (4 * 1024 * 1024)
    http.head(MANIFEST).mock(return_value=manifest_found(digest_of(body), OCI_INDEX))
    http.get(f"https://quay.io/v2/org/model/manifests/{digest_of(body)}").respond(content=body)

    outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert failure(outcome).reason is FailureReason.GARBAGE
    assert "larger than 4194304 bytes" in failure(outcome).message


async def test_an_oversize_index_is_refused_as_it_streams_without_a_length(
    http: respx.MockRouter,
) -> None:
    chunks_read: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        for number in range(1000):
            chunks_read.append(number)
            yield b" " * 1024

    http.head(MANIFEST).mock(return_value=manifest_found(DIGEST, OCI_INDEX))
    http.get(f"https://quay.io/v2/org/model/manifests/{DIGEST}").mock(
        return_value=httpx.Response(200, content=endless())
    )

    async with DigestResolver(limits=ResolverLimits(max_index_bytes=8 * 1024)) as resolver:
        outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert failure(outcome).reason is FailureReason.GARBAGE
    assert len(chunks_read) < 20


# Bounds -------------------------------------------------------------------------------------


async def test_a_lookup_ends_at_its_deadline(http: respx.MockRouter) -> None:
    async def never(_: httpx.Request) -> httpx.Response:
        await asyncio.sleep(60)
        raise AssertionError("not reached")

    http.head(MANIFEST).mock(side_effect=never)

    async with DigestResolver(limits=ResolverLimits(deadline_s=0.05)) as resolver:
        outcome = await resolver.resolve(oci("oci://quay.io/org/model:v1"))

    assert failure(outcome).reason is FailureReason.UNAVAILABLE
    assert "within 0.05 s" in failure(outcome).message


async def test_at_most_max_concurrency_lookups_run_at_once(http: respx.MockRouter) -> None:
    running = 0
    most = 0

    async def slow(_: httpx.Request) -> httpx.Response:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1
        return manifest_found()

    http.head(url__regex=r"https://quay\.io/v2/org/m\d/manifests/v1").mock(side_effect=slow)

    async with DigestResolver(limits=ResolverLimits(max_concurrency=2)) as resolver:
        outcomes = await asyncio.gather(
            *(resolver.resolve(oci(f"oci://quay.io/org/m{n}:v1")) for n in range(8))
        )

    assert all(isinstance(outcome, Learned) for outcome in outcomes)
    assert most == 2


def test_an_unreadable_ca_file_is_refused_naming_the_setting(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")

    with pytest.raises(ValueError, match="--oci-ca-file"):
        DigestResolver(ca_file=bad)


@pytest.mark.parametrize(
    "limits", [{"deadline_s": 0}, {"max_concurrency": 0}, {"max_redirects": -1}]
)
def test_limits_are_checked(limits: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ResolverLimits(**limits)  # type: ignore[arg-type]
