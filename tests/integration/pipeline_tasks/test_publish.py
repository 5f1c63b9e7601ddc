"""From a finished test run to the registry: `publish` writes a run's figures on the version
the webhook admitted it for, and refuses, writing nothing, whenever that is in doubt.

The result files are real guidellm and lm-eval outputs (the third-party samples); the
figures checked here are read from their JSON by the test itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from integration.pipeline_tasks.conftest import (
    Ground,
    guidellm_report,
    lm_eval_results,
    wait_ready_on,
)
from registry_sync.demo.seed import (
    ISVC_NAME,
    MISTRAL_MODEL,
    ONE_GPU_URI,
    ONE_GPU_VERSION,
    SMALL_MODEL,
    SMALL_VERSION,
    seed_pipeline_run,
)
from registry_sync.registry.client import RegistryClient
from support.cluster_objects import INFERENCE_SERVICES, PIPELINE_RUNS
from support.devregistry import RunningRegistry
from support.official_client import read_version_artifacts

pytestmark = [pytest.mark.cluster, pytest.mark.upstream]

STAMP = "registry-sync.io/model-version-id"


def ttft_p90_at_rate_2(report: Path) -> float:
    """The report's own p90 time to first token of its constant-rate-2 benchmark."""
    document = json.loads(report.read_text())
    (benchmark,) = [b for b in document["benchmarks"] if b["config"]["strategy"].get("rate") == 2.0]
    return float(benchmark["metrics"]["time_to_first_token_ms"]["successful"]["percentiles"]["p90"])


def accuracy(results: Path, task: str) -> float:
    return float(json.loads(results.read_text())["results"][task]["acc,none"])


def files() -> tuple[str, ...]:
    return ("--guidellm", str(guidellm_report()), "--lm-eval", str(lm_eval_results()))


def admitted_run(ground: Ground, name: str = "model-testing-1") -> dict[str, Any]:
    """The incident's run, created through the webhook (which corrects and stamps it)."""
    body = seed_pipeline_run(ground.namespace)
    body["metadata"]["name"] = name
    return PIPELINE_RUNS.create(ground.kube.api_client, ground.namespace, body)


async def metrics_of(client: RegistryClient, version_id: str) -> dict[str, Any]:
    return {metric.name: metric for metric in await client.list_version_metrics(version_id)}


async def artifacts_written(ground: Ground) -> int:
    """Metric and doc artifacts on every version of the seed."""
    seed = ground.seed
    total = 0
    for version in (seed.small_version, seed.optimized_version, seed.one_gpu_version):
        total += len(await ground.registry.list_version_metrics(version))
        total += len(await ground.registry.list_version_doc_artifacts(version))
    return total


async def test_a_published_run_lands_on_the_version_it_was_admitted_for(
    ground: Ground,
) -> None:
    run = admitted_run(ground)

    published = await ground.tasks.publish(run["metadata"]["name"], *files())

    assert published.exit_code == 0, published.stderr
    assert f"model version {ground.seed.small_version}" in published.stdout
    stored = await metrics_of(ground.registry, ground.seed.small_version)
    assert stored["ttft_p90@rate=2"].value == pytest.approx(ttft_p90_at_rate_2(guidellm_report()))
    assert stored["lm_eval.toy_mc_local.acc"].value == pytest.approx(
        accuracy(lm_eval_results(), "toy_mc_local")
    )
    ttft = stored["ttft_p90@rate=2"]
    assert ttft.custom_properties["run_uid"].string_value == run["metadata"]["uid"]
    assert ttft.custom_properties["served_name"].string_value == ISVC_NAME
    (record,) = await ground.registry.list_version_doc_artifacts(ground.seed.small_version)
    assert run["metadata"]["uid"] in record.name
    # Nothing on the version the run's original params named.
    assert await ground.registry.list_version_metrics(ground.seed.one_gpu_version) == []


@pytest.mark.official_client
async def test_a_notebook_reads_the_results_back_with_the_official_client(
    ground: Ground,
    dev_registry: RunningRegistry,
    official_client_python: Path,
) -> None:
    run = admitted_run(ground)
    published = await ground.tasks.publish(run["metadata"]["name"], *files())
    assert published.exit_code == 0, published.stderr

    on_tested = read_version_artifacts(
        official_client_python, dev_registry.url, SMALL_MODEL, SMALL_VERSION
    )
    on_named = read_version_artifacts(
        official_client_python, dev_registry.url, MISTRAL_MODEL, ONE_GPU_VERSION
    )

    metrics = {a["name"]: a for a in on_tested if a["class"] == "Metric"}
    assert metrics["ttft_p90@rate=2"]["value"] == pytest.approx(
        ttft_p90_at_rate_2(guidellm_report())
    )
    assert metrics["ttft_p90@rate=2"]["custom_properties"]["run_uid"] == run["metadata"]["uid"]
    assert metrics["lm_eval.toy_mc_local.acc"]["value"] == pytest.approx(
        accuracy(lm_eval_results(), "toy_mc_local")
    )
    (record,) = [a for a in on_tested if a["class"] == "DocArtifact"]
    assert json.loads(record["custom_properties"]["figures"])["ttft_p90@rate=2"] == (
        pytest.approx(ttft_p90_at_rate_2(guidellm_report()))
    )
    assert [a["class"] for a in on_named] == ["ModelArtifact"]


async def test_publishing_the_same_run_again_writes_nothing(
    ground: Ground,
) -> None:
    run = admitted_run(ground)
    first = await ground.tasks.publish(run["metadata"]["name"], *files())
    assert first.exit_code == 0, first.stderr
    before = {
        name: metric.last_update_ms
        for name, metric in (await metrics_of(ground.registry, ground.seed.small_version)).items()
    }

    again = await ground.tasks.publish(run["metadata"]["name"], *files())

    assert again.exit_code == 0, again.stderr
    assert "nothing new to publish" in again.stdout
    after = {
        name: metric.last_update_ms
        for name, metric in (await metrics_of(ground.registry, ground.seed.small_version)).items()
    }
    assert after == before


async def test_a_run_whose_deployment_moved_while_it_ran_is_refused_and_nothing_written(
    ground: Ground,
) -> None:
    run = admitted_run(ground)
    moved = {"spec": {"predictor": {"model": {"storageUri": ONE_GPU_URI}}}}
    INFERENCE_SERVICES.merge_patch(ground.kube.api_client, ground.namespace, ISVC_NAME, moved)
    wait_ready_on(ground.kube, ground.namespace, ground.seed.one_gpu_version)

    published = await ground.tasks.publish(run["metadata"]["name"], *files())

    assert published.exit_code == 1, published.stderr
    assert "DeploymentMoved" in published.stderr
    assert await artifacts_written(ground) == 0


async def test_an_unstamped_run_is_refused_naming_the_annotation(
    ground: Ground,
) -> None:
    run = admitted_run(ground)
    name = run["metadata"]["name"]
    PIPELINE_RUNS.merge_patch(
        ground.kube.api_client, ground.namespace, name, {"metadata": {"annotations": {STAMP: None}}}
    )

    published = await ground.tasks.publish(name, *files())

    assert published.exit_code == 1
    assert STAMP in published.stderr
    assert await artifacts_written(ground) == 0


async def test_a_run_stamped_with_an_id_its_names_do_not_have_is_refused(
    ground: Ground,
) -> None:
    name = admitted_run(ground)["metadata"]["name"]
    # Someone re-stamps the run by hand with the version its original params named.
    stamped = {"metadata": {"annotations": {STAMP: ground.seed.one_gpu_version}}}
    PIPELINE_RUNS.merge_patch(ground.kube.api_client, ground.namespace, name, stamped)

    published = await ground.tasks.publish(name, *files())

    assert published.exit_code == 1
    assert "NamesDisagree" in published.stderr
    assert await artifacts_written(ground) == 0


async def test_an_older_run_is_refused_over_a_newer_runs_figures(
    ground: Ground,
) -> None:
    older = admitted_run(ground, "model-testing-older")
    newer = admitted_run(ground, "model-testing-newer")
    for run, started in ((older, "2026-12-01T10:00:00Z"), (newer, "2026-12-01T11:00:00Z")):
        ground.kube.custom_objects.patch_namespaced_custom_object_status(
            PIPELINE_RUNS.group,
            PIPELINE_RUNS.version,
            ground.namespace,
            PIPELINE_RUNS.plural,
            run["metadata"]["name"],
            {"status": {"startTime": started}},
            _content_type="application/merge-patch+json",
        )
    first = await ground.tasks.publish("model-testing-newer", *files())
    assert first.exit_code == 0, first.stderr
    before = await metrics_of(ground.registry, ground.seed.small_version)

    late = await ground.tasks.publish("model-testing-older", *files())

    assert late.exit_code == 1
    assert "NewerResults" in late.stderr and "model-testing-newer" in late.stderr
    after = await metrics_of(ground.registry, ground.seed.small_version)
    assert {n: m.last_update_ms for n, m in after.items()} == {
        n: m.last_update_ms for n, m in before.items()
    }
    records = await ground.registry.list_version_doc_artifacts(ground.seed.small_version)
    assert ["model-testing-older" in record.name for record in records] == [False]


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"{not json", id="malformed"),
        pytest.param(
            b'{"metadata": {"version": 2, "guidellm_version": "0.8.1"}, "bench', id="truncated"
        ),
        pytest.param(b'{"metadata": {"version": 1}, "benchmarks": []}', id="wrong-version"),
        pytest.param(b'{"results": {}}', id="another-format"),
    ],
)
async def test_a_bad_result_file_is_refused_with_its_name_and_nothing_is_written(
    ground: Ground,
    tmp_path: Path,
    content: bytes,
) -> None:
    run = admitted_run(ground)
    bad = tmp_path / "benchmarks.json"
    bad.write_bytes(content)

    published = await ground.tasks.publish(
        run["metadata"]["name"], "--guidellm", str(bad), "--lm-eval", str(lm_eval_results())
    )

    assert published.exit_code == 2
    assert str(bad) in published.stderr
    assert await artifacts_written(ground) == 0


async def test_an_oversized_result_file_is_refused_unread(
    ground: Ground,
    tmp_path: Path,
) -> None:
    run = admitted_run(ground)
    # A real report, made larger than 1 MiB by whitespace a JSON reader would skip.
    large = tmp_path / "benchmarks.json"
    large.write_bytes(guidellm_report().read_bytes() + b" " * (1024 * 1024))

    published = await ground.tasks.publish(
        run["metadata"]["name"], "--guidellm", str(large), "--max-input-mib", "1"
    )

    assert published.exit_code == 2
    assert str(large) in published.stderr and "1 MiB" in published.stderr
    assert await artifacts_written(ground) == 0
