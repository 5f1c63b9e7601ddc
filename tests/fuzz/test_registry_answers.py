"""Generated registry answers through the client, the snapshot source and the binding core.

The registry is an input source: whoever runs or impersonates it chooses every byte. Each
example is a small registry (models, versions, artifacts with generated names) whose
answers one endpoint spoils in a generated way: nested past any limit, oversized, not JSON,
of the wrong shape, paging without end, over-full, a page token of any size, or an error
status. After a clean first refresh, a second refresh against the spoiled registry must
end in a snapshot or a `RegistryError` (never another exception), keep the last good
snapshot when it fails, and say why. And whatever names the registry holds, a binding is
Ready only when every name it would inject passes the allow-list, and nothing it writes
for people carries a raw control or format character.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from fuzz.generators import deeply_nested, garbage, text
from fuzz.harness import EXAMPLES, fuzz
from registry_sync.domain.escaping import is_unsafe_character
from registry_sync.domain.inference_service import read_inference_service
from registry_sync.domain.metadata import LabelKeys
from registry_sync.domain.reconcile import (
    BindingRules,
    Decided,
    Known,
    RegistryView,
    reconcile_step,
)
from registry_sync.domain.reference_index import ReferenceIndex
from registry_sync.domain.safe_names import DEFAULT_NAME_POLICY
from registry_sync.registry.answers import AnswerLimits
from registry_sync.registry.client import RegistryClient
from registry_sync.registry.errors import RegistryError
from registry_sync.registry.snapshot_source import RegistrySnapshotSource
from registry_sync.registry.transport import RetryPolicy

# Each example runs two whole refreshes through the client: a fiftieth of the other
# targets' examples keeps this target within a minute in CI.
pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(1800)]
REGISTRY_EXAMPLES = max(EXAMPLES // 50, 200)

SERVER = "https://registry.fuzz"
API = "/api/model_registry/v1alpha3"
# Small limits, so that "over the limit" costs little per example.
LIMITS = AnswerLimits(
    max_bytes=64 * 1024,
    max_containers=2_000,
    max_page_items=50,
    max_pages=20,
    max_listed_items=500,
    max_page_token_chars=256,
)
NOW_MS = 1_767_225_600_000
# What the examples led to: the run must have met each kind of end, or it proved nothing.
SEEN: Counter[str] = Counter()
FAULTS = [
    "none", "nested", "oversized", "not json", "wrong shape", "endless pages",
    "over-full page", "long page token", "error status", "garbage items",
]  # fmt: skip


def registry_name(rng: random.Random) -> str:
    """A name as anyone may register it: plain, with shell or control characters, or any."""
    roll = rng.random()
    if roll < 0.5:
        return f"model-{rng.randint(1, 99)}"
    if roll < 0.7:
        return rng.choice(
            ['m"; curl x | sh; echo "', "a$(id)", "a`id`", "a\nb", "a\x1b]52;c;x\x07"]
        )
    return text(rng) or "x"


def generate(rng: random.Random) -> dict[str, Any]:
    models, versions, artifacts = [], [], {}
    for m in range(1, rng.randint(1, 3) + 1):
        models.append({"id": str(m), "name": registry_name(rng), "lastUpdateTimeSinceEpoch": "1"})
        for v in range(rng.randint(1, 3)):
            version_id = str(100 * m + v)
            versions.append(
                {
                    "id": version_id,
                    "name": registry_name(rng),
                    "registeredModelId": str(m),
                    "lastUpdateTimeSinceEpoch": str(1000 + int(version_id)),
                }
            )
            artifacts[version_id] = [
                {
                    "id": f"9{version_id}",
                    "artifactType": "model-artifact",
                    "uri": f"oci://quay.io/fuzz/m{m}:v{v}",
                    "lastUpdateTimeSinceEpoch": "1",
                }
            ]
    return {
        "models": models,
        "versions": versions,
        "artifacts": artifacts,
        "fault": rng.choice(FAULTS),
        "spoiled": rng.choice(
            ["registered_models", "model_versions", "artifacts", "model_artifacts"]
        ),
        "seed": rng.randrange(2**32),
    }


def spoiled_answer(fault: str, rng: random.Random, request: httpx.Request) -> httpx.Response:
    page_token = request.url.params.get("nextPageToken", "")
    if fault == "nested":
        depth = rng.choice([40, 500, 5_000, 100_000])
        return httpx.Response(200, content=b"[" * depth + b"]" * depth)
    if fault == "oversized":
        return httpx.Response(200, content=b'{"items": [], "x": "' + b"y" * 100_000 + b'"}')
    if fault == "not json":
        return httpx.Response(200, content=rng.choice([b"{not json", b"\xff\xfe", b"", b"null"]))
    if fault == "wrong shape":
        return httpx.Response(200, json=rng.choice([[], {"items": "x"}, {"items": [1, None]}, 5]))
    if fault == "endless pages":
        item = {"id": str(rng.randint(1, 10**9)), "name": "x", "lastUpdateTimeSinceEpoch": "1"}
        return httpx.Response(200, json={"items": [item], "nextPageToken": page_token + "x"})
    if fault == "over-full page":
        return httpx.Response(200, json={"items": [{}] * 60, "nextPageToken": ""})
    if fault == "long page token":
        return httpx.Response(200, json={"items": [{"id": "9"}], "nextPageToken": "t" * 5_000})
    if fault == "error status":
        status = rng.choice([400, 401, 403, 404, 409, 429, 500, 502, 503])
        return httpx.Response(status, content=json.dumps(garbage(rng)).encode())
    body = {"items": [garbage(rng) for _ in range(rng.randint(1, 5))], "nextPageToken": ""}
    if rng.random() < 0.2:
        body["items"].append(deeply_nested(rng))
    return httpx.Response(200, content=json.dumps(body).encode())


def registry(example: dict[str, Any], spoiled: Callable[[], bool]) -> httpx.MockTransport:
    rng = random.Random(example["seed"])

    def page(items: list[Any]) -> httpx.Response:
        # Newest first, as the snapshot source's ordered listings ask
        items = sorted(items, key=lambda item: -int(item["lastUpdateTimeSinceEpoch"]))
        # ensure_ascii: generated names may hold lone surrogates, which JSON escapes
        body = {"items": items, "nextPageToken": "", "size": len(items)}
        return httpx.Response(200, content=json.dumps(body, ensure_ascii=True).encode())

    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix(API)
        endpoint = "artifacts" if path.endswith("/artifacts") else path.strip("/").split("/")[0]
        if spoiled() and endpoint == example["spoiled"] and example["fault"] != "none":
            return spoiled_answer(example["fault"], rng, request)
        if endpoint == "registered_models":
            return page(example["models"])
        if endpoint == "model_versions" and path == "/model_versions":
            return page(example["versions"])
        if endpoint == "artifacts":
            return page(example["artifacts"].get(path.split("/")[2], []))
        if endpoint == "model_artifacts":
            return page([a for listed in example["artifacts"].values() for a in listed])
        return httpx.Response(404, json={"code": "not found", "message": "no such thing"})

    return httpx.MockTransport(handle)


def inference_service(uri: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "fuzz",
            "namespace": "ns",
            "uid": "u",
            "annotations": {"registry-sync.io/enabled": "true"},
        },
        "spec": {"predictor": {"model": {"storageUri": uri}}},
    }


def check_decisions(source: RegistrySnapshotSource) -> None:
    snapshot = source.snapshot
    assert snapshot is not None
    view = RegistryView(ReferenceIndex.from_snapshot(snapshot), source.is_current)
    for artifact in snapshot.artifacts:
        if artifact.uri is None:
            continue
        facts = read_inference_service(inference_service(artifact.uri), LabelKeys())
        step = reconcile_step(facts, Known(), view, BindingRules(), NOW_MS, refreshed=True)
        assert isinstance(step, Decided)
        decision, answer = step.decision, step.resolution
        SEEN[decision.ready_reason] += 1
        if decision.ready:
            for name in (answer.registered_model_name, answer.model_version_name):
                assert name is not None and DEFAULT_NAME_POLICY.problem(name) is None, name
        written = [decision.ready_message, *(note.message for note in decision.events)]
        written += [str(v) for v in decision.status.values() if isinstance(v, str)]
        for condition in decision.status["conditions"]:
            written.append(condition["message"])
        assert not any(is_unsafe_character(c) for line in written for c in line), written


def check(example: dict[str, Any], _: random.Random) -> None:
    spoil = [False]
    client = RegistryClient(
        SERVER,
        transport=registry(example, lambda: spoil[0]),
        retry=RetryPolicy(attempts=2, base_delay_s=0.0, max_delay_s=0.0),
        limits=LIMITS,
        deadline_s=10,
    )
    # Every refresh after the first re-reads everything: each spoiled endpoint is asked.
    source = RegistrySnapshotSource(client, refresh_timeout_s=20, full_resync_interval_s=1e-9)

    async def refreshes() -> None:
        async with client:
            first = await source.refresh()
            check_decisions(source)
            spoil[0] = True
            try:
                await source.refresh()
            except RegistryError as error:
                SEEN["refresh failed"] += 1
                # A plain RegistryError is the refresher's last line: a failure the client
                # did not foresee (a bug); every foreseen one has its own kind.
                assert type(error) is not RegistryError, f"unforeseen: {error}"
                assert source.snapshot is first, "a failed refresh must keep the last snapshot"
                assert source.last_error is error and str(error).strip()
                assert not source.is_current
            else:
                SEEN["refresh succeeded"] += 1
                assert source.last_error is None
            check_decisions(source)

    asyncio.run(refreshes())


def test_any_registry_answer_ends_in_a_snapshot_or_a_registry_error() -> None:
    SEEN.clear()

    assert fuzz(generate, check, examples=REGISTRY_EXAMPLES) == REGISTRY_EXAMPLES
    for end in ("refresh failed", "refresh succeeded", "Resolved", "UnsafeRegistryName"):
        assert SEEN[end] > 0, f"no example ended in {end}: {dict(SEEN)}"
