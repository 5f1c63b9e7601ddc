"""Digest lookups: what the digest check costs an OCI registry when nothing changes.

One real OCI registry (CNCF distribution, built by `make oci-registry`, TLS, Basic auth
or Bearer tokens) holds N tags; a registry snapshot names each as one model version's
artifact. The operator's digest cache (`ArtifactDigests`, as `registry-sync run` builds
it) is refreshed as the refresher does after every registry refresh, on a simulated clock
(`--refresh-seconds` apart, for an hour), against the real registry. Reported per refresh,
after the first (cold) one: lookups and HTTP requests, mean and max, beside the bound
N x refresh seconds / TTL (each artifact asked at most once per TTL). The HTTP requests
include the registry's authentication round trips.

Run from the repository root:

    .venv/bin/python bench/digest_lookups.py [--artifacts 2000] [--refresh-seconds 30]

It writes bench/results/digest-lookups.md and .json.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import click
from common import RESULTS, command_line, load_average, load_line, machine_facts, utc_now

from registry_sync.controller.registered_digests import ArtifactDigests
from registry_sync.domain.reference_index import ReferenceIndex
from registry_sync.domain.snapshot import (
    ModelArtifact,
    ModelVersion,
    RegisteredModel,
    RegistrySnapshot,
)
from registry_sync.oci.credentials import BasicCredential
from registry_sync.oci.digest_cache import DigestCache
from registry_sync.oci.resolver import DigestResolver
from support.oci_registry import RunningOciRegistry, start_oci_registry

IMAGES = 20  # distinct images; the tags spread over them
HOUR_S = 3600


class SimulatedClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class AuthResult:
    auth: str
    artifacts: int
    refresh_seconds: float
    ttl_seconds: float
    refreshes: int
    cold_lookups: int
    cold_requests: int
    cold_seconds: float
    mean_lookups: float
    mean_requests: float
    max_requests: int
    bound: float


def push_tags(oci: RunningOciRegistry, artifacts: int) -> list[str]:
    """`artifacts` tags over IMAGES images in one repository; their image references."""
    digests = [
        oci.push_image("bench/model", f"image-{n}", seed=f"image-{n}") for n in range(IMAGES)
    ]
    references = []
    for number in range(artifacts):
        tag = f"v{number}"
        oci.tag("bench/model", tag, digests[number % IMAGES])
        references.append(oci.image_reference("bench/model", tag))
    return references


def index_of(references: list[str]) -> ReferenceIndex:
    versions = {
        str(n): ModelVersion(id=str(n), name=f"v{n}", registered_model_id="m")
        for n in range(len(references))
    }
    artifacts = tuple(
        ModelArtifact(id=str(n), name=f"a{n}", uri=f"oci://{ref}", model_version_id=str(n))
        for n, ref in enumerate(references)
    )
    snapshot = RegistrySnapshot(
        models={"m": RegisteredModel(id="m", name="bench")}, versions=versions, artifacts=artifacts
    )
    return ReferenceIndex.from_snapshot(snapshot)


async def measure(
    oci: RunningOciRegistry, references: list[str], refresh_s: float, ttl_s: float
) -> AuthResult:
    clock = SimulatedClock()
    resolver = DigestResolver(
        credentials={oci.host: BasicCredential(oci.username, oci.password)},
        ca_file=oci.ca_file,
        clock=clock,
    )
    digests = ArtifactDigests(DigestCache(resolver, ttl_s=ttl_s), resolver, clock=clock)
    index = index_of(references)
    started = time.perf_counter()
    cold = await digests.refresh(index)
    cold_seconds = time.perf_counter() - started
    lookups: list[int] = []
    requests: list[int] = []
    for _ in range(int(HOUR_S / refresh_s)):
        clock.now += refresh_s
        summary = await digests.refresh(index)
        lookups.append(summary.looked_up)
        requests.append(summary.requests)
    await digests.aclose()
    return AuthResult(
        auth=oci.auth,
        artifacts=len(references),
        refresh_seconds=refresh_s,
        ttl_seconds=ttl_s,
        refreshes=len(requests),
        cold_lookups=cold.looked_up,
        cold_requests=cold.requests,
        cold_seconds=round(cold_seconds, 2),
        mean_lookups=round(sum(lookups) / len(lookups), 1),
        mean_requests=round(sum(requests) / len(requests), 1),
        max_requests=max(requests),
        bound=len(references) * refresh_s / ttl_s,
    )


@click.command()
@click.option("--artifacts", default=2000, show_default=True)
@click.option("--refresh-seconds", default=30.0, show_default=True)
@click.option("--ttl-seconds", default=600.0, show_default=True)
def main(artifacts: int, refresh_seconds: float, ttl_seconds: float) -> None:
    load_before = load_average()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-digests-") as folder:
        for auth in ("basic", "bearer"):
            (Path(folder) / auth).mkdir()
            with start_oci_registry(Path(folder) / auth, auth) as oci:  # type: ignore[arg-type]
                references = push_tags(oci, artifacts)
                results.append(asyncio.run(measure(oci, references, refresh_seconds, ttl_seconds)))
    facts = machine_facts()
    lines = [
        "# Digest lookups: OCI registry requests per refresh",
        "",
        f"Command: `{command_line('digest_lookups.py')}` (defaults: --artifacts 2000 "
        "--refresh-seconds 30 --ttl-seconds 600)",
        f"Date: {utc_now()}. Machine: {facts['cpu']}, {facts['cores']} cores. "
        f"{load_line(load_before)}",
        "",
        f"{artifacts} live OCI artifacts (tags over {IMAGES} images), refreshed every "
        f"{refresh_seconds:g} s for an hour on a simulated clock against a real registry; "
        f"TTL {ttl_seconds:g} s. Bound: artifacts x refresh / TTL lookups per refresh.",
        "",
        "| auth | cold: lookups / requests / s | mean lookups per refresh | mean requests per "
        "refresh | max requests | bound |",
        "|---|---|---|---|---|---|",
    ]
    for result in results:
        lines.append(
            f"| {result.auth} | {result.cold_lookups} / {result.cold_requests} / "
            f"{result.cold_seconds} | {result.mean_lookups} | {result.mean_requests} | "
            f"{result.max_requests} | {result.bound:g} |"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "digest-lookups.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "digest-lookups.json").write_text(
        json.dumps({"machine": facts, "results": [asdict(r) for r in results]}, indent=2) + "\n"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
