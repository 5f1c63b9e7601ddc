"""The snapshot source over an in-memory registry: what a refresh reads, and what it costs."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_sync.controller.services import Services, refresh_forever
from registry_sync.domain.snapshot import RegistrySnapshot, State
from registry_sync.registry.client import RegistryClient
from registry_sync.registry.errors import RegistryError, RegistryProtocolError, RegistryUnavailable
from registry_sync.registry.snapshot_source import RefreshKind, RegistrySnapshotSource
from registry_sync.registry.transport import RetryPolicy

API_PATH = "/api/model_registry/v1alpha3"


@dataclass
class Entity:
    body: dict[str, Any]
    parent: str | None = None  # the version of an artifact


@dataclass
class InMemoryRegistry:
    """Enough of the registry's list API, with a clock the test moves by hand."""

    now_ms: int = 1_000_000
    next_id: int = 1
    next_artifact_id: int = 1
    models: dict[str, Entity] = field(default_factory=dict)
    versions: dict[str, Entity] = field(default_factory=dict)
    artifacts: dict[str, Entity] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    failures: list[httpx.Response] = field(default_factory=list)
    failures_on: dict[str, list[httpx.Response]] = field(default_factory=dict)
    raising: list[Exception] = field(default_factory=list)  # raised instead of answering
    scramble_order: bool = False

    def _stamp(self, body: dict[str, Any], *, created: bool) -> None:
        if created:
            body["createTimeSinceEpoch"] = str(self.now_ms)
        body["lastUpdateTimeSinceEpoch"] = str(self.now_ms)

    def add_model(self, name: str) -> str:
        model_id = str(self.next_id)
        self.next_id += 1
        body = {"id": model_id, "name": name, "state": "LIVE"}
        self._stamp(body, created=True)
        self.models[model_id] = Entity(body)
        return model_id

    def add_version(self, model_id: str, name: str) -> str:
        version_id = str(self.next_id)
        self.next_id += 1
        body = {"id": version_id, "name": name, "registeredModelId": model_id, "state": "LIVE"}
        self._stamp(body, created=True)
        self.versions[version_id] = Entity(body)
        return version_id

    def add_artifact(self, version_id: str | None, uri: str, kind: str = "model-artifact") -> str:
        artifact_id = str(self.next_artifact_id)
        self.next_artifact_id += 1
        body = {"id": artifact_id, "name": f"a{artifact_id}", "uri": uri, "artifactType": kind}
        self._stamp(body, created=True)
        self.artifacts[artifact_id] = Entity(body, version_id)
        return artifact_id

    def archive_model(self, model_id: str) -> None:
        self.models[model_id].body["state"] = "ARCHIVED"
        self._stamp(self.models[model_id].body, created=False)

    def archive_version(self, version_id: str) -> None:
        self.versions[version_id].body["state"] = "ARCHIVED"
        self._stamp(self.versions[version_id].body, created=False)

    def change_uri(self, artifact_id: str, uri: str) -> None:
        body = self.artifacts[artifact_id].body
        body["uri"] = uri
        body["state"] = "UNKNOWN"
        self._stamp(body, created=False)

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix(API_PATH)
        self.requests[path] += 1
        if self.raising:
            raise self.raising.pop(0)
        if self.failures:
            return self.failures.pop(0)
        if self.failures_on.get(path):
            return self.failures_on[path].pop(0)
        parts = path.strip("/").split("/")
        if parts == ["registered_models"]:
            items = [e.body for e in self.models.values()]
        elif parts == ["model_versions"]:
            items = [e.body for e in self.versions.values()]
        elif parts == ["model_artifacts"]:
            items = [
                e.body
                for e in self.artifacts.values()
                if e.body["artifactType"] == "model-artifact"
            ]
        elif len(parts) == 3 and parts[0] == "model_versions" and parts[2] == "artifacts":
            items = [e.body for e in self.artifacts.values() if e.parent == parts[1]]
        else:
            return httpx.Response(404, json={"code": "Not Found", "message": path})
        return httpx.Response(200, json=self._page(items, request.url.params))

    def _page(self, items: list[dict[str, Any]], params: httpx.QueryParams) -> dict[str, Any]:
        if params.get("orderBy") == "LAST_UPDATE_TIME":
            items = sorted(
                items,
                key=lambda b: (int(b["lastUpdateTimeSinceEpoch"]), int(b["id"])),
                reverse=params.get("sortOrder") == "DESC",
            )
        if self.scramble_order:
            items = list(reversed(items))
        size = int(params["pageSize"])
        start = int(params.get("nextPageToken") or 0)
        chunk = items[start : start + size]
        token = str(start + size) if start + size < len(items) else ""
        copied = json.loads(json.dumps(chunk))
        return {"items": copied, "nextPageToken": token, "pageSize": size, "size": len(chunk)}

    @property
    def request_total(self) -> int:
        return sum(self.requests.values())


def seeded(registry: InMemoryRegistry) -> dict[str, str]:
    """The three models of the incident, registered as a pipeline would."""
    ids: dict[str, str] = {}
    small = registry.add_model("Mistral-Small-24B-Instruct")
    ids["w4a16"] = registry.add_version(small, "quantized-w4a16-2501")
    ids["w4a16-artifact"] = registry.add_artifact(
        ids["w4a16"],
        "oci://image-registry.openshift-image-registry.svc:5000/private-ai-demo/mistral-24b-quantized:w4a16-2501",
    )
    registry.add_model("Comparison-Test")
    mistral = registry.add_model("Mistral-24B-Instruct")
    ids["optimized"] = registry.add_version(mistral, "quantized-optimized-test")
    ids["optimized-artifact"] = registry.add_artifact(
        ids["optimized"], "oci://quay.io/adrina/private-ai:mistral-quantized-optimized-test"
    )
    ids["1gpu"] = registry.add_version(mistral, "24b-w4a16-1gpu")
    registry.add_artifact(
        ids["1gpu"], "oci://quay.io/adrina/private-ai:mistral-24b-quantized-w4a16-2501"
    )
    return ids


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


async def _no_sleep(_: float) -> None:
    return None


def make_client(registry: InMemoryRegistry, page_size: int = 100) -> RegistryClient:
    return RegistryClient(
        "http://registry.test",
        transport=httpx.MockTransport(registry.handle),
        page_size=page_size,
        retry=RetryPolicy(attempts=2),
        sleep=_no_sleep,
    )


@pytest.fixture
def registry() -> InMemoryRegistry:
    return InMemoryRegistry()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def source(registry: InMemoryRegistry, clock: Clock) -> AsyncIterator[RegistrySnapshotSource]:
    async with make_client(registry, page_size=10) as client:
        yield RegistrySnapshotSource(
            client, clock=clock, monotonic=clock, immediate_refresh_interval_s=10
        )


def comparable(snapshot: RegistrySnapshot) -> tuple[object, ...]:
    return (dict(snapshot.models), dict(snapshot.versions), snapshot.artifacts)


async def test_a_cold_start_maps_every_artifact_to_its_version(
    registry: InMemoryRegistry, source: RegistrySnapshotSource
) -> None:
    ids = seeded(registry)

    snapshot = await source.refresh()

    assert {m.name for m in snapshot.models.values()} == {
        "Mistral-Small-24B-Instruct",
        "Comparison-Test",
        "Mistral-24B-Instruct",
    }
    by_uri = {a.uri: a.model_version_id for a in snapshot.artifacts}
    assert (
        by_uri["oci://quay.io/adrina/private-ai:mistral-quantized-optimized-test"]
        == ids["optimized"]
    )
    assert len(snapshot.artifacts) == 3
    assert source.last_refresh is not None and source.last_refresh.kind is RefreshKind.FULL


async def test_a_cold_start_costs_the_listings_and_one_request_per_version(
    registry: InMemoryRegistry, source: RegistrySnapshotSource
) -> None:
    seeded(registry)

    await source.refresh()

    assert registry.request_total == 3 + 3
    assert source.last_refresh is not None and source.last_refresh.requests == 6


async def test_non_model_artifacts_of_a_version_are_left_out(
    registry: InMemoryRegistry, source: RegistrySnapshotSource
) -> None:
    model = registry.add_model("m")
    version = registry.add_version(model, "v")
    registry.add_artifact(version, "https://docs/readme", kind="doc-artifact")

    snapshot = await source.refresh()

    assert snapshot.artifacts == ()


@pytest.mark.parametrize("versions", [1, 25, 400])
async def test_nothing_changed_costs_three_requests_whatever_the_size(
    registry: InMemoryRegistry, source: RegistrySnapshotSource, versions: int
) -> None:
    model = registry.add_model("m")
    for number in range(versions):
        registry.now_ms += 1
        registry.add_artifact(registry.add_version(model, f"v{number}"), f"oci://q/m:{number}")
    first = await source.refresh()
    registry.requests.clear()

    second = await source.refresh()

    assert registry.request_total == 3
    assert comparable(second) == comparable(first)


async def test_an_update_in_the_same_millisecond_as_the_last_refresh_is_not_lost(
    registry: InMemoryRegistry, source: RegistrySnapshotSource
) -> None:
    ids = seeded(registry)
    await source.refresh()

    registry.archive_version(ids["1gpu"])  # the clock has not moved: same millisecond
    snapshot = await source.refresh()

    assert snapshot.versions[ids["1gpu"]].state is State.ARCHIVED


async def test_a_new_version_costs_one_more_request_for_its_artifacts(
    registry: InMemoryRegistry, source: RegistrySnapshotSource
) -> None:
    seeded(registry)
    await source.refresh()
    registry.requests.clear()

    registry.now_ms += 5
    model = registry.add_model("Granite")
    version = registry.add_version(model, "v1")
    registry.add_artifact(version, "oci://q/granite:v1")
    snapshot = await source.refresh()

    assert registry.request_total == 3 + 1
    assert ("oci://q/granite:v1", version) in {
        (a.uri, a.model_version_id) for a in snapshot.artifacts
    }


async def test_new_versions_within_one_page_cost_three_plus_one_each(
    registry: InMemoryRegistry, source: RegistrySnapshotSource
) -> None:
    seeded(registry)
    await source.refresh()
    registry.requests.clear()

    model = registry.add_model("Granite")  # a new model costs nothing more
    for number in range(4):
        registry.now_ms += 1
        registry.add_artifact(registry.add_version(model, f"v{number}"), f"oci://q/g:{number}")
    await source.refresh()

    assert registry.request_total == 3 + 4


@pytest.mark.parametrize("k", [15, 40])
async def test_k_changed_entities_cost_at_most_three_plus_k_across_pages(
    registry: InMemoryRegistry, source: RegistrySnapshotSource, k: int
) -> None:
    seeded(registry)
    await source.refresh()
    registry.requests.clear()

    model = registry.add_model("Granite")
    for number in range(k):
        registry.now_ms += 1
        registry.add_artifact(registry.add_version(model, f"v{number}"), f"oci://q/g:{number}")
    snapshot = await source.refresh()

    changed = 1 + k + k  # the model, k versions, k artifacts
    assert registry.request_total <= 3 + changed
    assert registry.requests["/model_versions"] > 1  # the listings did page
    assert len(snapshot.artifacts) == 3 + k


async def test_archiving_a_version_or_model_is_seen_without_extra_requests(
    registry: InMemoryRegistry, source: RegistrySnapshotSource
) -> None:
    ids = seeded(registry)
    await source.refresh()
    registry.requests.clear()

    registry.now_ms += 1
    registry.archive_version(ids["optimized"])
    registry.archive_model(registry.versions[ids["w4a16"]].body["registeredModelId"])
    snapshot = await source.refresh()

    assert registry.request_total == 3
    assert snapshot.versions[ids["optimized"]].state is State.ARCHIVED
    small = snapshot.versions[ids["w4a16"]].registered_model_id
    assert snapshot.models[small].state is State.ARCHIVED


async def test_a_changed_artifact_uri_keeps_its_version(
    registry: InMemoryRegistry, source: RegistrySnapshotSource
) -> None:
    ids = seeded(registry)
    await source.refresh()
    registry.requests.clear()

    registry.now_ms += 1
    registry.change_uri(ids["optimized-artifact"], "oci://quay.io/adrina/private-ai:v2")
    snapshot = await source.refresh()

    changed = next(a for a in snapshot.artifacts if a.id == ids["optimized-artifact"])
    assert (changed.uri, changed.model_version_id, changed.state) == (
        "oci://quay.io/adrina/private-ai:v2",
        ids["optimized"],
        State.UNKNOWN,
    )
    assert registry.request_total == 3


async def test_an_artifact_added_to_a_known_version_is_found_with_one_look(
    registry: InMemoryRegistry, source: RegistrySnapshotSource
) -> None:
    ids = seeded(registry)
    await source.refresh()
    registry.requests.clear()

    registry.now_ms += 1
    added = registry.add_artifact(ids["1gpu"], "oci://q/extra:v1")
    snapshot = await source.refresh()

    assert next(a for a in snapshot.artifacts if a.id == added).model_version_id == ids["1gpu"]
    assert registry.request_total == 3 + 1
    assert source.unattached_artifact_ids == frozenset()


async def test_an_artifact_added_to_an_old_version_is_found_by_reading_everything_again(
    registry: InMemoryRegistry, source: RegistrySnapshotSource
) -> None:
    ids = seeded(registry)
    model = registry.add_model("Later")
    for number in range(source.orphan_search_limit + 2):
        registry.now_ms += 1
        registry.add_version(model, f"later-{number}")
    await source.refresh()

    registry.now_ms += 1
    added = registry.add_artifact(ids["w4a16"], "oci://q/second:v1")
    snapshot = await source.refresh()

    assert next(a for a in snapshot.artifacts if a.id == added).model_version_id == ids["w4a16"]
    assert source.last_refresh is not None and source.last_refresh.kind is RefreshKind.FULL


async def test_an_artifact_of_no_version_is_left_out_and_then_costs_nothing(
    registry: InMemoryRegistry, source: RegistrySnapshotSource
) -> None:
    seeded(registry)
    await source.refresh()

    registry.now_ms += 1
    loose = registry.add_artifact(None, "oci://q/loose:v1")
    snapshot = await source.refresh()
    registry.requests.clear()
    await source.refresh()

    assert loose not in {a.id for a in snapshot.artifacts}
    assert source.unattached_artifact_ids == {loose}
    assert registry.request_total == 3


async def test_an_artifact_without_a_version_at_cold_start_is_left_out(
    registry: InMemoryRegistry, source: RegistrySnapshotSource
) -> None:
    seeded(registry)
    loose = registry.add_artifact(None, "oci://q/loose:v1")

    snapshot = await source.refresh()

    assert loose not in {a.id for a in snapshot.artifacts}
    assert source.unattached_artifact_ids == {loose}


async def test_a_failed_refresh_keeps_the_last_good_snapshot_and_says_how_old_it_is(
    registry: InMemoryRegistry, source: RegistrySnapshotSource, clock: Clock
) -> None:
    seeded(registry)
    good = await source.refresh()
    clock.now += 42
    registry.failures = [httpx.Response(503), httpx.Response(503)]

    with pytest.raises(RegistryUnavailable):
        await source.refresh()

    assert source.snapshot is good
    assert not source.is_current
    assert isinstance(source.last_error, RegistryUnavailable)
    assert source.age_s() == pytest.approx(42)


async def test_a_failed_refresh_does_not_skip_changes_made_before_it(
    registry: InMemoryRegistry, source: RegistrySnapshotSource
) -> None:
    ids = seeded(registry)
    await source.refresh()
    registry.now_ms += 1
    registry.archive_version(ids["1gpu"])
    registry.failures = [httpx.Response(200, json={"items": "garbage"})]

    with pytest.raises(RegistryProtocolError):
        await source.refresh()
    snapshot = await source.refresh()

    assert snapshot.versions[ids["1gpu"]].state is State.ARCHIVED
    assert source.is_current and source.last_error is None


async def test_a_failed_fetch_of_a_versions_artifacts_fails_the_refresh_cleanly(
    registry: InMemoryRegistry, source: RegistrySnapshotSource
) -> None:
    seeded(registry)
    good = await source.refresh()
    registry.now_ms += 1
    model = registry.add_model("Granite")
    version = registry.add_version(model, "v1")
    registry.add_artifact(version, "oci://q/granite:v1")
    registry.failures_on[f"/model_versions/{version}/artifacts"] = [httpx.Response(503)] * 2

    with pytest.raises(RegistryUnavailable, match="artifacts"):
        await source.refresh()
    assert source.snapshot is good

    snapshot = await source.refresh()
    assert "oci://q/granite:v1" in {a.uri for a in snapshot.artifacts}


async def test_a_listing_that_ignores_the_order_is_refused(
    registry: InMemoryRegistry, source: RegistrySnapshotSource
) -> None:
    model = registry.add_model("m")
    for number in range(3):
        registry.now_ms += 1
        registry.add_version(model, f"v{number}")
    registry.scramble_order = True

    with pytest.raises(RegistryProtocolError, match="out of order"):
        await source.refresh()


async def test_a_full_resync_happens_after_its_interval(
    registry: InMemoryRegistry, clock: Clock
) -> None:
    seeded(registry)
    async with make_client(registry) as client:
        source = RegistrySnapshotSource(
            client, clock=clock, monotonic=clock, full_resync_interval_s=60
        )
        await source.refresh()
        clock.now += 30
        await source.refresh()
        incremental = source.last_refresh
        clock.now += 31
        await source.refresh()

    assert incremental is not None and incremental.kind is RefreshKind.INCREMENTAL
    assert source.last_refresh is not None and source.last_refresh.kind is RefreshKind.FULL


class ErrorNotingReconciler:
    """Stands in for the reconciler the refresher calls after each refresh: notes the
    source's `last_error` at that moment."""

    def __init__(self, source: RegistrySnapshotSource) -> None:
        self.source = source
        self.errors_seen: list[RegistryError | None] = []

    async def on_registry_refresh(self) -> None:
        self.errors_seen.append(self.source.last_error)


def refresher_of(source: RegistrySnapshotSource, reconciler: ErrorNotingReconciler) -> Services:
    """The operator's refresher every 10 ms, over this source."""
    services = SimpleNamespace(
        settings=SimpleNamespace(refresh_seconds=0.01),
        source=source,
        reconciler=reconciler,
        digests=None,  # the digest check is off in these tests
        records=None,  # and so are registry records
    )
    return cast(Services, services)


async def refresh_until_current(
    source: RegistrySnapshotSource, reconciler: ErrorNotingReconciler
) -> None:
    refresher = asyncio.create_task(refresh_forever(refresher_of(source, reconciler)))
    try:
        async with asyncio.timeout(10):
            while not source.is_current:
                assert not refresher.done(), refresher
                await asyncio.sleep(0.01)
    finally:
        refresher.cancel()


async def test_the_periodic_refresh_outlives_a_failing_registry(
    registry: InMemoryRegistry, source: RegistrySnapshotSource
) -> None:
    seeded(registry)
    registry.failures = [httpx.Response(500), httpx.Response(500)]
    reconciler = ErrorNotingReconciler(source)

    await refresh_until_current(source, reconciler)

    assert source.snapshot is not None and len(source.snapshot.artifacts) == 3
    assert isinstance(reconciler.errors_seen[0], RegistryUnavailable)


# Immediate refreshes ----------------------------------------------------------------


async def test_a_uri_already_in_the_snapshot_does_not_refresh(
    registry: InMemoryRegistry, source: RegistrySnapshotSource
) -> None:
    seeded(registry)
    await source.refresh()
    registry.requests.clear()

    refreshed = await source.request_refresh_for(
        "oci://quay.io/adrina/private-ai:mistral-quantized-optimized-test"
    )

    assert not refreshed
    assert registry.request_total == 0


async def test_an_unknown_uri_refreshes_at_once_and_finds_a_new_registration(
    registry: InMemoryRegistry, source: RegistrySnapshotSource
) -> None:
    seeded(registry)
    await source.refresh()
    registry.now_ms += 1
    model = registry.add_model("Granite")
    registry.add_artifact(registry.add_version(model, "v1"), "oci://q/granite:v1")

    refreshed = await source.request_refresh_for("oci://q/granite:v1")

    assert refreshed
    assert source.snapshot is not None
    assert "oci://q/granite:v1" in {a.uri for a in source.snapshot.artifacts}


async def test_immediate_refreshes_are_rate_limited(
    registry: InMemoryRegistry, source: RegistrySnapshotSource, clock: Clock
) -> None:
    seeded(registry)
    await source.refresh()

    first = await source.request_refresh_for("oci://q/unknown:1")
    clock.now += 5
    second = await source.request_refresh_for("oci://q/unknown:2")
    clock.now += 5
    third = await source.request_refresh_for("oci://q/unknown:3")

    assert (first, second, third) == (True, False, True)


async def test_callers_arriving_during_an_immediate_refresh_share_it(
    registry: InMemoryRegistry, source: RegistrySnapshotSource
) -> None:
    seeded(registry)
    await source.refresh()
    registry.requests.clear()

    results = await asyncio.gather(
        *(source.request_refresh_for(f"oci://q/unknown:{n}") for n in range(5))
    )

    assert results == [True] * 5
    assert registry.request_total == 3


async def test_a_failed_immediate_refresh_reports_false_and_keeps_the_error(
    registry: InMemoryRegistry, source: RegistrySnapshotSource
) -> None:
    seeded(registry)
    await source.refresh()
    registry.failures = [httpx.Response(500), httpx.Response(500)]

    assert not await source.request_refresh_for("oci://q/unknown:1")
    assert isinstance(source.last_error, RegistryUnavailable)


# Whatever the registry does ---------------------------------------------------------


@pytest.mark.parametrize(
    "unexpected",
    [RuntimeError("boom"), RecursionError("maximum recursion depth exceeded"), KeyError("id")],
    ids=["runtime-error", "recursion-error", "key-error"],
)
async def test_an_unexpected_failure_is_recorded_and_raised_as_a_registry_error(
    registry: InMemoryRegistry, source: RegistrySnapshotSource, unexpected: Exception
) -> None:
    seeded(registry)
    good = await source.refresh()
    registry.raising = [unexpected]

    with pytest.raises(RegistryError, match="failed unexpectedly") as raised:
        await source.refresh()

    assert raised.value.__cause__ is unexpected
    assert source.last_error is raised.value
    assert not source.is_current
    assert source.snapshot is good


async def test_the_periodic_refresh_outlives_an_unexpected_failure(
    registry: InMemoryRegistry, source: RegistrySnapshotSource, caplog: pytest.LogCaptureFixture
) -> None:
    seeded(registry)
    registry.raising = [RecursionError("maximum recursion depth exceeded")]
    reconciler = ErrorNotingReconciler(source)

    await refresh_until_current(source, reconciler)

    assert source.snapshot is not None and len(source.snapshot.artifacts) == 3
    first = reconciler.errors_seen[0]
    assert isinstance(first, RegistryError) and "failed unexpectedly" in str(first)
    # The source raised it as a RegistryError: the refresher's last-resort catch of any
    # exception is not what kept it alive.
    refresher_said = [r for r in caplog.records if r.name == "registry_sync.controller.services"]
    assert [r.getMessage().split(":")[0] for r in refresher_said] == [
        "registry refresh failed, answering from data unknown old"
    ]


class Hanging:
    """The in-memory registry, except that requests hang while `hang` is set."""

    def __init__(self, registry: InMemoryRegistry) -> None:
        self.registry = registry
        self.hang = False

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.hang:
            await asyncio.Event().wait()
        return self.registry.handle(request)


async def test_a_refresh_ends_at_its_deadline_keeping_the_snapshot_and_freeing_the_lock(
    registry: InMemoryRegistry, clock: Clock
) -> None:
    seeded(registry)
    server = Hanging(registry)
    # No deadline per request: only the refresh's own deadline can end the hang.
    client = RegistryClient(
        "http://registry.test", transport=httpx.MockTransport(server), deadline_s=None
    )
    async with client:
        source = RegistrySnapshotSource(client, clock=clock, refresh_timeout_s=0.3)
        good = await source.refresh()
        server.hang = True

        async with asyncio.timeout(20):
            with pytest.raises(RegistryUnavailable, match=r"did not finish within 0\.3 s"):
                await source.refresh()
        assert source.snapshot is good and not source.is_current

        server.hang = False
        await source.refresh()

    assert source.is_current


async def test_an_immediate_refresh_waiting_on_a_hung_one_is_answered_by_the_deadline(
    registry: InMemoryRegistry, clock: Clock
) -> None:
    seeded(registry)
    server = Hanging(registry)
    client = RegistryClient(
        "http://registry.test", transport=httpx.MockTransport(server), deadline_s=None
    )
    async with client:
        source = RegistrySnapshotSource(client, clock=clock, refresh_timeout_s=0.3)
        await source.refresh()
        server.hang = True
        periodic = asyncio.create_task(source.refresh())
        await asyncio.sleep(0)

        async with asyncio.timeout(20):
            refreshed = await source.request_refresh_for("oci://q/new:1")
        with pytest.raises(RegistryUnavailable):
            await periodic

    assert not refreshed
    assert isinstance(source.last_error, RegistryUnavailable)


class SlowThenSilent:
    """The in-memory registry answering each request after `delay_s`; from request
    `silent_from` on (counting from 1), never."""

    def __init__(self, registry: InMemoryRegistry, delay_s: float) -> None:
        self.registry = registry
        self.delay_s = delay_s
        self.silent_from: int | None = None
        self.received = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.received += 1
        if self.silent_from is not None and self.received >= self.silent_from:
            await asyncio.Event().wait()
        await asyncio.sleep(self.delay_s)
        return self.registry.handle(request)


def many_versions(registry: InMemoryRegistry, count: int) -> None:
    model = registry.add_model("m")
    for number in range(count):
        registry.add_artifact(registry.add_version(model, f"v{number}"), f"oci://q/m:{number}")


async def test_a_registry_that_stops_answering_fails_the_refresh_after_the_stall_bound(
    registry: InMemoryRegistry, clock: Clock
) -> None:
    seeded(registry)
    server = SlowThenSilent(registry, delay_s=0)
    # Neither a request deadline nor a refresh deadline: only the stall bound ends it.
    client = RegistryClient(
        "http://registry.test", transport=httpx.MockTransport(server), deadline_s=None
    )
    async with client:
        source = RegistrySnapshotSource(
            client, clock=clock, refresh_timeout_s=None, stall_timeout_s=0.2
        )
        good = await source.refresh()
        server.silent_from = server.received + 2  # one more answer, then silence

        async with asyncio.timeout(20):
            with pytest.raises(
                RegistryUnavailable,
                match=r"registry at http://registry\.test/api/\S+ answered nothing for 0\.2 s "
                r".* after 1 answer",
            ):
                await source.refresh()
        assert source.snapshot is good and not source.is_current

        server.silent_from = None
        await source.refresh()

    assert source.is_current


async def test_a_refresh_that_keeps_receiving_answers_outlasts_the_stall_bound(
    registry: InMemoryRegistry, clock: Clock
) -> None:
    many_versions(registry, 20)
    server = SlowThenSilent(registry, delay_s=0.05)
    client = RegistryClient(
        "http://registry.test", transport=httpx.MockTransport(server), page_size=10
    )
    async with client:
        # Five listing pages one after the other, then 20 versions' artifacts 8 at a time:
        # some 0.4 s in all, each answer 0.05 s after the one before.
        source = RegistrySnapshotSource(client, clock=clock, stall_timeout_s=0.15)
        snapshot = await source.refresh()

    assert source.last_refresh is not None and source.last_refresh.duration_s > 0.3
    assert len(snapshot.artifacts) == 20 and source.is_current


async def test_a_registry_answering_too_slowly_is_ended_by_the_whole_refresh_deadline(
    registry: InMemoryRegistry, clock: Clock
) -> None:
    many_versions(registry, 20)
    server = SlowThenSilent(registry, delay_s=0.05)
    client = RegistryClient(
        "http://registry.test", transport=httpx.MockTransport(server), page_size=10
    )
    async with client:
        source = RegistrySnapshotSource(
            client, clock=clock, stall_timeout_s=0.15, refresh_timeout_s=0.2
        )
        with pytest.raises(RegistryUnavailable, match=r"did not finish within 0\.2 s"):
            await source.refresh()


async def test_data_older_than_its_maximum_age_is_not_current(
    registry: InMemoryRegistry, clock: Clock
) -> None:
    seeded(registry)
    async with make_client(registry) as client:
        source = RegistrySnapshotSource(client, clock=clock, monotonic=clock, max_age_s=90)
        await source.refresh()
        clock.now += 90
        fresh_enough = source.is_current
        clock.now += 1
        too_old = source.is_current
        await source.refresh()

    assert (fresh_enough, too_old, source.is_current) == (True, False, True)


async def test_a_refresh_reading_more_entities_than_allowed_fails(
    registry: InMemoryRegistry, clock: Clock
) -> None:
    model = registry.add_model("m")
    for number in range(6):
        registry.add_artifact(registry.add_version(model, f"v{number}"), f"oci://q/m:{number}")
    async with make_client(registry) as client:
        source = RegistrySnapshotSource(client, clock=clock, max_records=10)
        with pytest.raises(RegistryProtocolError, match="more than 10 entities"):
            await source.refresh()

    assert source.snapshot is None and source.last_error is not None


# The invariant ----------------------------------------------------------------------

OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["model", "version", "artifact", "archive", "uri", "loose", "refresh"]),
        st.integers(min_value=0, max_value=1000),
        st.integers(min_value=0, max_value=2),  # how far the server clock moves: 0 = same ms
    ),
    max_size=40,
)


def _mutate(registry: InMemoryRegistry, operation: str, pick: int) -> None:
    models, versions = list(registry.models), list(registry.versions)
    model_artifacts = [
        a for a, e in registry.artifacts.items() if e.body["artifactType"] == "model-artifact"
    ]
    if operation == "model" or not models:
        registry.add_model(f"m{pick}")
    elif operation == "version" or not versions:
        registry.add_version(models[pick % len(models)], f"v{pick}")
    elif operation == "artifact":
        registry.add_artifact(versions[pick % len(versions)], f"oci://q/a:{pick}")
    elif operation == "archive":
        registry.archive_version(versions[pick % len(versions)])
    elif operation == "uri" and model_artifacts:
        registry.change_uri(model_artifacts[pick % len(model_artifacts)], f"oci://q/b:{pick}")
    elif operation == "loose":
        registry.add_artifact(None, f"oci://q/loose:{pick}")


async def _incremental_equals_cold_start(operations: list[tuple[str, int, int]]) -> None:
    registry = InMemoryRegistry()
    async with make_client(registry, page_size=3) as client:
        incremental = RegistrySnapshotSource(client)
        await incremental.refresh()
        for operation, pick, tick in operations:
            registry.now_ms += tick
            if operation == "refresh":
                await incremental.refresh()
            else:
                _mutate(registry, operation, pick)
        refreshed = await incremental.refresh()
        cold = await RegistrySnapshotSource(client).refresh()

    assert comparable(refreshed) == comparable(cold)
    assert incremental.unattached_artifact_ids == {
        a for a, e in registry.artifacts.items() if e.parent is None
    }


@given(OPERATIONS)
def test_incremental_refreshes_end_where_a_cold_start_would(
    operations: list[tuple[str, int, int]],
) -> None:
    asyncio.run(_incremental_equals_cold_start(operations))
