"""The shared digest cache: once per TTL per reference, old digests kept through failures,
references outside the current set forgotten, requests counted."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import respx

from registry_sync.domain.references import OciReference
from registry_sync.oci.digest_cache import DigestCache, RefreshSummary
from registry_sync.oci.resolver import (
    DigestResolver,
    Failed,
    FailureReason,
    Learned,
    Lookup,
    ResolverLimits,
)
from unit.oci.doubles import DIGEST, NOW, OTHER_DIGEST, manifest_found, oci

MODEL = oci("oci://quay.io/org/model:v1")
OTHER = oci("oci://quay.io/org/other:v1")


class ScriptedResolver:
    """Answers each lookup with the next outcome scripted for its reference."""

    def __init__(self, **script: list[Lookup]) -> None:
        self.script = {key: list(outcomes) for key, outcomes in script.items()}
        self.asked: list[str] = []
        self.request_count = 0
        self.gate: asyncio.Event | None = None

    def answer(self, reference: OciReference, *outcomes: Lookup) -> None:
        self.script[reference.canonical] = list(outcomes)

    async def resolve(self, reference: OciReference) -> Lookup:
        self.asked.append(reference.canonical)
        self.request_count += 1
        if self.gate is not None:
            await self.gate.wait()
        return self.script[reference.canonical].pop(0)


def learned(digest: str = DIGEST) -> Learned:
    return Learned(digest, frozenset(), NOW)


def failed(reason: FailureReason = FailureReason.UNAVAILABLE) -> Failed:
    return Failed(reason, "quay.io answered 503", NOW)


async def test_a_refresh_looks_up_and_lookup_gives_the_digest_with_its_age() -> None:
    resolver = ScriptedResolver()
    resolver.answer(MODEL, learned())
    cache = DigestCache(resolver)

    await cache.refresh_due([MODEL], NOW)
    cached = cache.lookup(MODEL, NOW + 42)

    assert cached is not None
    assert cached.learned == learned() and cached.age_s == 42
    assert cached.failure is None and not cached.stale


async def test_a_reference_never_looked_up_is_unknown() -> None:
    assert DigestCache(ScriptedResolver()).lookup(MODEL, NOW) is None


async def test_two_refreshes_inside_the_ttl_make_one_request() -> None:
    with respx.mock(assert_all_called=False) as http:
        route = http.head("https://quay.io/v2/org/model/manifests/v1")
        route.mock(return_value=manifest_found())
        async with DigestResolver() as resolver:
            cache = DigestCache(resolver, ttl_s=600)

            first = await cache.refresh_due([MODEL], NOW)
            second = await cache.refresh_due([MODEL], NOW + 599)

    assert route.call_count == 1
    assert first == RefreshSummary(looked_up=1, fresh=0, failed=0, forgotten=0, requests=1)
    assert second == RefreshSummary(looked_up=0, fresh=1, failed=0, forgotten=0, requests=0)
    assert cache.request_count == 1


async def test_a_refresh_after_the_ttl_looks_up_again() -> None:
    resolver = ScriptedResolver()
    resolver.answer(MODEL, learned(DIGEST), learned(OTHER_DIGEST))
    cache = DigestCache(resolver, ttl_s=600)

    await cache.refresh_due([MODEL], NOW)
    await cache.refresh_due([MODEL], NOW + 600)

    cached = cache.lookup(MODEL, NOW + 600)
    assert cached is not None and cached.learned is not None
    assert cached.learned.digest == OTHER_DIGEST and cached.age_s == 0
    assert len(resolver.asked) == 2


async def test_a_failure_keeps_the_last_digest_and_records_the_failure() -> None:
    resolver = ScriptedResolver()
    resolver.answer(MODEL, learned(), failed())
    cache = DigestCache(resolver, ttl_s=600)

    await cache.refresh_due([MODEL], NOW)
    summary = await cache.refresh_due([MODEL], NOW + 700)
    cached = cache.lookup(MODEL, NOW + 710)

    assert summary.failed == 1
    assert cached is not None and cached.stale
    assert cached.learned == learned() and cached.age_s == 710
    assert cached.failure == failed()


async def test_a_failure_without_an_earlier_digest_is_a_failure_alone() -> None:
    resolver = ScriptedResolver()
    resolver.answer(MODEL, failed(FailureReason.NOT_FOUND))
    cache = DigestCache(resolver)

    await cache.refresh_due([MODEL], NOW)
    cached = cache.lookup(MODEL, NOW)

    assert cached is not None
    assert cached.learned is None and cached.age_s is None and not cached.stale
    assert cached.failure is not None and cached.failure.reason is FailureReason.NOT_FOUND


async def test_a_failed_lookup_is_not_retried_within_the_ttl() -> None:
    resolver = ScriptedResolver()
    resolver.answer(MODEL, failed())
    cache = DigestCache(resolver, ttl_s=600)

    await cache.refresh_due([MODEL], NOW)
    await cache.refresh_due([MODEL], NOW + 1)

    assert len(resolver.asked) == 1


async def test_a_success_after_a_failure_clears_it() -> None:
    resolver = ScriptedResolver()
    resolver.answer(MODEL, failed(), learned())
    cache = DigestCache(resolver, ttl_s=10)

    await cache.refresh_due([MODEL], NOW)
    await cache.refresh_due([MODEL], NOW + 10)

    cached = cache.lookup(MODEL, NOW + 10)
    assert cached is not None and cached.failure is None and cached.learned == learned()


async def test_references_not_in_the_current_set_are_forgotten() -> None:
    resolver = ScriptedResolver()
    resolver.answer(MODEL, learned())
    resolver.answer(OTHER, learned(OTHER_DIGEST))
    cache = DigestCache(resolver)

    await cache.refresh_due([MODEL, OTHER], NOW)
    summary = await cache.refresh_due([OTHER], NOW + 1)

    assert summary.forgotten == 1
    assert cache.lookup(MODEL, NOW + 1) is None
    assert len(cache) == 1


async def test_two_spellings_of_one_reference_share_an_entry() -> None:
    resolver = ScriptedResolver()
    resolver.answer(MODEL, learned())
    cache = DigestCache(resolver)

    await cache.refresh_due([MODEL, oci("oci+native://QUAY.io/org/model:v1")], NOW)

    assert resolver.asked == [MODEL.canonical]
    assert cache.lookup(oci("oci+fetch://quay.io/org/model:v1"), NOW) is not None


async def test_a_pinned_reference_is_its_own_answer_and_never_asked() -> None:
    resolver = ScriptedResolver()
    pinned = oci(f"oci://quay.io/org/model:v1@{DIGEST}")
    cache = DigestCache(resolver)

    summary = await cache.refresh_due([pinned], NOW)
    cached = cache.lookup(pinned, NOW)

    assert resolver.asked == [] and summary.looked_up == 0
    assert cached is not None and cached.learned is not None and cached.learned.digest == DIGEST


async def test_a_reference_being_looked_up_is_not_looked_up_twice() -> None:
    resolver = ScriptedResolver()
    resolver.answer(MODEL, learned())
    resolver.gate = asyncio.Event()
    cache = DigestCache(resolver)

    first = asyncio.create_task(cache.refresh_due([MODEL], NOW))
    await asyncio.sleep(0)
    second = await cache.refresh_due([MODEL], NOW)
    resolver.gate.set()
    await first

    assert resolver.asked == [MODEL.canonical]
    assert second.looked_up == 0


async def test_a_refresh_is_bounded_by_the_resolvers_concurrency() -> None:
    running = 0
    most = 0

    async def slow(_: httpx.Request) -> httpx.Response:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1
        return manifest_found()

    references = [oci(f"oci://quay.io/org/m{n}:v1") for n in range(10)]
    with respx.mock(assert_all_called=False) as http:
        http.head(url__regex=r"https://quay\.io/v2/org/m\d/manifests/v1").mock(side_effect=slow)
        async with DigestResolver(limits=ResolverLimits(max_concurrency=3)) as resolver:
            summary = await DigestCache(resolver).refresh_due(references, NOW)

    assert summary.looked_up == 10 and summary.requests == 10
    assert most == 3


def test_the_ttl_must_be_positive() -> None:
    with pytest.raises(ValueError, match="--digest-ttl-seconds"):
        DigestCache(ScriptedResolver(), ttl_s=0)


async def test_a_cancelled_refresh_leaves_its_references_due() -> None:
    resolver = ScriptedResolver()
    resolver.answer(MODEL, learned(), learned())
    resolver.gate = asyncio.Event()
    cache = DigestCache(resolver)

    refresh = asyncio.create_task(cache.refresh_due([MODEL], NOW))
    await asyncio.sleep(0)
    refresh.cancel()
    with pytest.raises(asyncio.CancelledError):
        await refresh
    resolver.gate.set()
    summary = await cache.refresh_due([MODEL], NOW)

    assert summary.looked_up == 1
