"""`registry-sync verify-run`, the first task of a model-testing pipeline: it passes a run
whose params are its Ready binding's and fails one that would test or publish elsewhere,
also where no webhook corrected the run (created before the operator, or bypassed)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from integration.pipeline_tasks.conftest import (
    PipelineTasks,
    deploy_seed,
    lm_eval_results,
    tasks_as,
)
from registry_sync.controller.kube_calls import INSECURE_APISERVER_NOTICE
from registry_sync.demo.seed import (
    ISVC_NAME,
    RUN_NAME,
    SMALL_MODEL,
    SMALL_VERSION,
    SeedIds,
    seed_pipeline_run,
)
from support.cluster import Cluster, without_tls_verification
from support.cluster_objects import PIPELINE_RUNS
from support.devregistry import RunningRegistry
from support.operator import RunningOperator, start_operator
from support.tekton_files import model_testing_rules

pytestmark = pytest.mark.cluster


def run_named(namespace: str, name: str, **params: str) -> dict[str, Any]:
    body = seed_pipeline_run(namespace)
    body["metadata"]["name"] = name
    values = {entry["name"]: entry["value"] for entry in body["spec"]["params"]}
    values.update(params)
    body["spec"]["params"] = [{"name": k, "value": v} for k, v in values.items()]
    return body


async def test_a_run_the_webhook_admitted_is_verified(
    kube: Cluster,
    namespace: str,
    seed: SeedIds,
    operator: RunningOperator,
    tasks: PipelineTasks,
) -> None:
    deploy_seed(kube, namespace, seed)
    PIPELINE_RUNS.create(kube.api_client, namespace, seed_pipeline_run(namespace))

    verified = await tasks.verify(RUN_NAME)

    assert verified.exit_code == 0, verified.stderr
    assert f"{SMALL_MODEL} / {SMALL_VERSION} (model version {seed.small_version})" in (
        verified.stdout
    )


async def test_runs_created_without_the_webhook_fail_verify_when_they_would_go_wrong(
    kube: Cluster,
    namespace: str,
    seed: SeedIds,
    dev_registry: RunningRegistry,
    tasks: PipelineTasks,
    tmp_path: Path,
) -> None:
    # Created before any webhook exists: stored as written, as where it is not installed.
    wrong_names = seed_pipeline_run(namespace)
    elsewhere = run_named(
        namespace,
        "elsewhere",
        model_name=SMALL_MODEL,
        version_name=SMALL_VERSION,
        inference_service_name="granite-8b",
    )
    right = run_named(namespace, "right", model_name=SMALL_MODEL, version_name=SMALL_VERSION)
    for body in (wrong_names, elsewhere, right):
        PIPELINE_RUNS.create(kube.api_client, namespace, body)
    log = tmp_path / "operator.log"
    with start_operator(kube, namespace, dev_registry.url, log, extra_args=[]):
        deploy_seed(kube, namespace, seed)

        wrong_verdict = await tasks.verify(RUN_NAME)
        elsewhere_verdict = await tasks.verify("elsewhere")
        right_verdict = await tasks.verify("right")

    assert wrong_verdict.exit_code == 1
    assert "WrongParams" in wrong_verdict.stderr
    assert f"version_name={SMALL_VERSION}" in wrong_verdict.stderr
    assert elsewhere_verdict.exit_code == 1
    assert "TargetMismatch" in elsewhere_verdict.stderr
    assert right_verdict.exit_code == 0, right_verdict.stderr


async def test_a_run_whose_binding_is_not_there_fails_verify(
    kube: Cluster, namespace: str, tasks: PipelineTasks
) -> None:
    PIPELINE_RUNS.create(kube.api_client, namespace, seed_pipeline_run(namespace))

    verdict = await tasks.verify(RUN_NAME)

    assert verdict.exit_code == 1
    assert ISVC_NAME in verdict.stderr


async def test_a_kubeconfig_that_skips_tls_verification_is_said_once_in_a_line_of_its_own(
    kube: Cluster, namespace: str, tasks: PipelineTasks, tmp_path: Path
) -> None:
    PIPELINE_RUNS.create(kube.api_client, namespace, seed_pipeline_run(namespace))
    insecure = without_tls_verification(tasks.kubeconfig, tmp_path / "insecure.kubeconfig")

    verdict = await replace(tasks, kubeconfig=insecure).verify(RUN_NAME)

    assert verdict.exit_code == 1, verdict.stderr  # the command ran: no binding for the run
    assert "InsecureRequestWarning" not in verdict.stderr, verdict.stderr
    said = [line for line in verdict.stderr.splitlines() if "TLS" in line]
    notice = INSECURE_APISERVER_NOTICE.format(server=kube.api_client.configuration.host)
    assert said == [notice], verdict.stderr


async def test_a_run_that_does_not_exist_cannot_be_verified(
    namespace: str, tasks: PipelineTasks
) -> None:
    verdict = await tasks.verify("no-such-run")

    assert verdict.exit_code == 2
    assert "no PipelineRun no-such-run" in verdict.stderr


@pytest.mark.parametrize("kept", ["pipelineruns", "modelbindings"])
async def test_without_either_get_of_the_role_the_commands_say_what_is_needed(
    kube: Cluster,
    namespace: str,
    seed: SeedIds,
    operator: RunningOperator,
    dev_registry: RunningRegistry,
    tmp_path: Path,
    kept: str,
) -> None:
    deploy_seed(kube, namespace, seed)
    PIPELINE_RUNS.create(kube.api_client, namespace, seed_pipeline_run(namespace))
    rules = [rule for rule in model_testing_rules() if kept in rule["resources"]]
    assert len(rules) == 1  # the Role grants each get in a rule of its own
    tasks = tasks_as(kube, namespace, dev_registry, tmp_path, rules)
    refused = "ModelBinding" if kept == "pipelineruns" else "PipelineRun"

    verified = await tasks.verify(RUN_NAME)
    published = await tasks.publish(RUN_NAME, "--lm-eval", str(lm_eval_results()))

    for result in (verified, published):
        assert result.exit_code == 2
        assert f"reading {refused}" in result.stderr and "403" in result.stderr
        assert "tekton/rbac.yaml" in result.stderr
