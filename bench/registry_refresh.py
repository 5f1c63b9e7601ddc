"""Registry snapshot cost: requests and wall time of a cold start and of steady-state refreshes.

For each registry size (model versions, one model artifact each, ten versions per
registered model) it starts a Model Registry stand-in process, registers everything
through the REST API (concurrently), then measures with `RegistrySnapshotSource`:

- cold start: the first refresh (every listing, then one request per version);
- unchanged: a refresh when nothing changed;
- 10 added: a refresh after 10 new versions with an artifact each;
- 1 archived: a refresh after one version was archived.

Run from the repository root:

    .venv/bin/python bench/registry_refresh.py --sizes 10,100,1000,10000

It writes bench/results/registry-refresh.md (with the command line, the date, the machine and
its load) and the numbers beside it (.json).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import click
from common import RESULTS, command_line, cpu_model, load_line, utc_now

from registry_sync.registry.client import RegistryClient
from registry_sync.registry.models import EntityState
from registry_sync.registry.snapshot_source import RegistrySnapshotSource
from support.devregistry import start_dev_registry

VERSIONS_PER_MODEL = 10
ADDED = 10


@dataclass(frozen=True)
class Measurement:
    case: str
    requests: int
    seconds: float
    artifacts: int


@dataclass(frozen=True)
class SizeResult:
    versions: int
    populate_seconds: float
    measurements: list[Measurement]


async def _register(client: RegistryClient, versions: int, concurrency: int) -> list[str]:
    """Register `versions` versions (one artifact each) and return their ids."""
    slots = asyncio.Semaphore(concurrency)
    models = (versions + VERSIONS_PER_MODEL - 1) // VERSIONS_PER_MODEL

    async def model_with_versions(number: int) -> list[str]:
        async with slots:
            model = await client.create_registered_model(f"bench-model-{number}")
        ids = []
        first = number * VERSIONS_PER_MODEL
        for index in range(first, min(first + VERSIONS_PER_MODEL, versions)):
            async with slots:
                version = await client.create_model_version(model.id, f"v{index}")
                await client.create_model_artifact(
                    version.id, name=f"artifact-{index}", uri=f"oci://quay.io/bench/m:{index}"
                )
            ids.append(version.id)
        return ids

    batches = await asyncio.gather(*(model_with_versions(n) for n in range(models)))
    return [version_id for batch in batches for version_id in batch]


async def _measure(source: RegistrySnapshotSource, case: str) -> Measurement:
    started = time.perf_counter()
    snapshot = await source.refresh()
    seconds = time.perf_counter() - started
    assert source.last_refresh is not None
    return Measurement(case, source.last_refresh.requests, seconds, len(snapshot.artifacts))


async def _bench_size(url: str, versions: int, page_size: int, concurrency: int) -> SizeResult:
    async with RegistryClient(url, page_size=page_size, max_connections=concurrency) as client:
        started = time.perf_counter()
        version_ids = await _register(client, versions, concurrency)
        populated = time.perf_counter() - started
        source = RegistrySnapshotSource(client, full_resync_interval_s=None)
        results = [await _measure(source, "cold start")]
        results.append(await _measure(source, "unchanged"))
        model = await client.create_registered_model("bench-added")
        for number in range(ADDED):
            version = await client.create_model_version(model.id, f"added-{number}")
            await client.create_model_artifact(
                version.id, name=f"added-{number}", uri=f"oci://quay.io/bench/added:{number}"
            )
        results.append(await _measure(source, f"{ADDED} added"))
        await client.set_model_version_state(version_ids[0], EntityState.ARCHIVED)
        results.append(await _measure(source, "1 archived"))
        results.append(await _measure(source, "unchanged again"))
    return SizeResult(versions, populated, results)


def _machine() -> str:
    return (
        f"{os.cpu_count()} cores ({cpu_model()}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; the stand-in runs as a separate process on "
        "the same cores"
    )


def _report(results: list[SizeResult], command: str, page_size: int, run: dict[str, object]) -> str:
    lines = [
        "# Registry snapshot refresh: requests and wall time",
        "",
        f"Command (from the repository root): `{command}`",
        "",
        f"Run: {run['date']}. Machine: {_machine()}.",
        "",
        f"Load average (1 / 5 / 15 min): {_load(run['load_start'])} at start, "
        f"{_load(run['load_end'])} at end (other work on the same cores makes wall times "
        "noisy; the request counts are exact).",
        "",
        f"Registry: the stand-in process (`registry-sync dev-registry`), populated through the "
        f"REST API; {VERSIONS_PER_MODEL} versions per registered model, one model artifact per "
        f"version. Client page size {page_size}; version artifacts fetched 8 at a time.",
        "",
        "| versions | case | requests | wall time (s) | artifacts in snapshot |",
        "|---:|---|---:|---:|---:|",
    ]
    for result in results:
        for m in result.measurements:
            lines.append(
                f"| {result.versions:,} | {m.case} | {m.requests:,} | {m.seconds:.3f} "
                f"| {m.artifacts:,} |"
            )
    lines += [
        "",
        "Populating through the REST API took: "
        + ", ".join(f"{r.versions:,} versions {r.populate_seconds:.1f} s" for r in results)
        + ".",
        "",
        "Reading: a cold start costs the three listings (pages of "
        f"{page_size}) plus one request per version, because a model artifact does not "
        "name its version. A steady-state refresh with nothing changed costs 3 requests "
        "whatever the size; 10 new versions cost 3 + 10; an archived version costs 3.",
        "",
    ]
    return "\n".join(lines)


def _load(values: object) -> str:
    assert isinstance(values, tuple | list)
    return load_line(values)


@click.command()
@click.option("--sizes", default="10,100,1000,10000", show_default=True)
@click.option("--page-size", default=100, show_default=True, type=int)
@click.option("--concurrency", default=8, show_default=True, type=int)
@click.option(
    "--output",
    default=str(RESULTS / "registry-refresh.md"),
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
)
def main(sizes: str, page_size: int, concurrency: int, output: Path) -> None:
    """Measure the registry snapshot's cold start and refreshes at several registry sizes."""
    try:
        counts = [int(size) for size in sizes.split(",")]
    except ValueError:
        raise click.BadParameter(f"{sizes!r}: give comma-separated integers") from None
    run: dict[str, object] = {
        "date": utc_now(),
        "load_start": os.getloadavg(),
    }
    results: list[SizeResult] = []
    for versions in counts:
        with start_dev_registry() as registry:
            result = asyncio.run(_bench_size(registry.url, versions, page_size, concurrency))
        results.append(result)
        for m in result.measurements:
            click.echo(
                f"{versions:>6} versions  {m.case:<16} {m.requests:>6} requests {m.seconds:8.3f} s"
            )
    command = command_line("registry_refresh.py")
    run["load_end"] = os.getloadavg()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(_report(results, command, page_size, run))
    output.with_suffix(".json").write_text(
        json.dumps(
            {
                "command": command,
                **run,
                "machine": _machine(),
                "page_size": page_size,
                "results": [asdict(result) for result in results],
            },
            indent=1,
        )
    )
    click.echo(f"wrote {output} and {output.with_suffix('.json').name}")


if __name__ == "__main__":
    main()
