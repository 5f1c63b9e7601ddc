"""`registry-sync audit` against a real apiserver and the registry stand-in."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from integration.audit.audit_process import AuditRun, run_audit, set_run_status
from integration.audit.conftest import Auditor
from registry_sync.controller.kube_calls import INSECURE_APISERVER_NOTICE
from registry_sync.demo.seed import (
    DEPLOYED_URI,
    ISVC_NAME,
    MISTRAL_MODEL,
    ONE_GPU_VERSION,
    OPTIMIZED_VERSION,
    SMALL_MODEL,
    SMALL_VERSION,
    SeedIds,
)
from support.cluster import Cluster, without_tls_verification
from support.cluster_objects import (
    INFERENCE_SERVICES,
    PIPELINE_RUNS,
    inference_service,
    pipeline_run,
)
from support.devregistry import RunningRegistry
from support.faultproxy import FaultProxy

pytestmark = pytest.mark.cluster

PREFIX = "modelregistry.opendatahub.io"
RUN = "mistral-24b-quantized-benchmark"


def deploy(kube: Cluster, namespace: str, model_id: str, version_id: str) -> None:
    INFERENCE_SERVICES.create(
        kube.api_client,
        namespace,
        inference_service(
            ISVC_NAME,
            storage_uri=DEPLOYED_URI,
            labels={
                f"{PREFIX}/registered-model-id": model_id,
                f"{PREFIX}/model-version-id": version_id,
            },
        ),
    )


def start_run(
    kube: Cluster, namespace: str, model_name: str, version_name: str, *, by_param: bool = False
) -> None:
    """A finished model-testing run naming its InferenceService by label, or by param."""
    params = [
        {"name": "vllm_model_name", "value": ISVC_NAME},
        {"name": "model_name", "value": model_name},
        {"name": "version_name", "value": version_name},
    ]
    params += [{"name": "inference_service_name", "value": ISVC_NAME}] if by_param else []
    labels = None if by_param else {"registry-sync.io/inference-service": ISVC_NAME}
    PIPELINE_RUNS.create(kube.api_client, namespace, pipeline_run(RUN, params, labels=labels))
    set_run_status(kube, namespace, RUN, "Succeeded", "True")


@pytest.fixture
def seed_namespace(kube: Cluster, namespace: str, seed_ids: SeedIds) -> str:
    """The incident: labels name model 4 with a version of model 8; the run publishes to
    model 8 version 10 and names the vLLM model rightly; it names its InferenceService
    through the public demo pipeline's `inference_service_name` param."""
    deploy(kube, namespace, seed_ids.small_model, seed_ids.optimized_version)
    start_run(kube, namespace, MISTRAL_MODEL, ONE_GPU_VERSION, by_param=True)
    return namespace


async def audit_json(
    namespace: str, registry_url: str, kubeconfig: Path | None = None
) -> tuple[AuditRun, dict[str, Any]]:
    args = ["-n", namespace, "--registry-url", registry_url, "-o", "json"]
    if kubeconfig is not None:
        args += ["--kubeconfig", str(kubeconfig)]
    result = await run_audit(*args)
    return result, json.loads(result.stdout)


async def test_the_seed_scenario_yields_exactly_its_mismatches(
    seed_namespace: str, seed_ids: SeedIds, registry_proxy: FaultProxy, auditor: Auditor
) -> None:
    result, report = await audit_json(seed_namespace, registry_proxy.url, auditor.kubeconfig)

    assert result.exit_code == 1, result.stderr
    (service,) = report["inferenceServices"]
    assert (service["name"], service["verdict"]) == (ISVC_NAME, "wrong-labels")
    version_label = dict(service["labels"]["modelVersionId"])
    assert version_label.pop("key") == f"{PREFIX}/model-version-id"
    assert version_label == {
        "value": seed_ids.optimized_version,
        "expected": seed_ids.small_version,
        "state": "wrong",
        "registryName": OPTIMIZED_VERSION,
        "registeredModelId": seed_ids.mistral_model,
        "registeredModelName": MISTRAL_MODEL,
    }
    assert service["labels"]["registeredModelId"]["state"] == "ok"
    (run,) = report["pipelineRuns"]
    assert (run["name"], run["targetedBy"], run["verdict"]) == (
        RUN,
        "param",
        "wrong-registry-target",
    )
    assert {key: claim["state"] for key, claim in run["params"].items()} == {
        "vllmModelName": "ok",
        "modelName": "wrong",
        "versionName": "wrong",
    }
    assert (run["params"]["modelName"]["expected"], run["params"]["versionName"]["expected"]) == (
        SMALL_MODEL,
        SMALL_VERSION,
    )
    assert run["status"] == {"succeeded": "True", "reason": "Succeeded"}
    assert (report["tagReuse"], report["inferenceServiceRecords"], report["mismatches"]) == (
        [],
        [],
        2,
    )


async def test_an_audit_sends_no_write_to_the_apiserver_or_the_registry(
    kube: Cluster, seed_namespace: str, registry_proxy: FaultProxy, auditor: Auditor
) -> None:
    result, _ = await audit_json(seed_namespace, registry_proxy.url, auditor.kubeconfig)

    assert result.exit_code == 1, result.stderr
    assert registry_proxy.seen, "the audit did not read the registry through the proxy"
    assert {request.method for request in registry_proxy.seen} == {"GET"}
    # The identity it ran as could not have written to the cluster: writes are refused.
    as_auditor = client.CustomObjectsApi(kube.client_for_token(auditor.token))
    with pytest.raises(ApiException) as refused:
        as_auditor.patch_namespaced_custom_object(
            INFERENCE_SERVICES.group,
            INFERENCE_SERVICES.version,
            seed_namespace,
            INFERENCE_SERVICES.plural,
            ISVC_NAME,
            {"metadata": {"labels": {"probe": "x"}}},
            _content_type="application/merge-patch+json",
        )
    assert refused.value.status == 403


@pytest.mark.parametrize("module", ["registry_sync.cli", "registry_sync.audit.command"])
async def test_a_clean_namespace_exits_0(
    kube: Cluster,
    namespace: str,
    seed_ids: SeedIds,
    dev_registry: RunningRegistry,
    auditor: Auditor,
    module: str,
) -> None:
    deploy(kube, namespace, seed_ids.small_model, seed_ids.small_version)
    start_run(kube, namespace, SMALL_MODEL, SMALL_VERSION)

    result = await run_audit(
        "-n",
        namespace,
        "--registry-url",
        dev_registry.url,
        "--kubeconfig",
        str(auditor.kubeconfig),
        module=module,
    )

    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "RESULT: no mismatches"
    assert max(len(line) for line in result.stdout.splitlines()) <= 120


async def test_registry_down_exits_2_with_a_clear_message(
    seed_namespace: str, auditor: Auditor
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    down = f"http://127.0.0.1:{closed_port}"

    result = await run_audit(
        "-n", seed_namespace, "--registry-url", down, "--kubeconfig", str(auditor.kubeconfig)
    )

    assert result.exit_code == 2
    assert result.stdout == ""
    assert "could not audit: cannot read the Model Registry" in result.stderr
    assert f"127.0.0.1:{closed_port}" in result.stderr
    assert "down or unreachable" in result.stderr


async def test_a_registry_record_of_another_version_is_reported(
    kube: Cluster,
    namespace: str,
    seed_ids: SeedIds,
    dev_registry: RunningRegistry,
    auditor: Auditor,
) -> None:
    deploy(kube, namespace, seed_ids.small_model, seed_ids.small_version)
    async with httpx.AsyncClient(base_url=dev_registry.api) as registry:
        environment = await registry.post("/serving_environments", json={"name": namespace})
        environment.raise_for_status()
        recorded = await registry.post(
            "/inference_services",
            json={
                "name": ISVC_NAME,
                "registeredModelId": seed_ids.mistral_model,
                "modelVersionId": seed_ids.optimized_version,
                "servingEnvironmentId": environment.json()["id"],
                "runtime": "vllm",
                "desiredState": "DEPLOYED",
            },
        )
        recorded.raise_for_status()

    result, report = await audit_json(namespace, dev_registry.url, auditor.kubeconfig)

    assert result.exit_code == 1, result.stderr
    (record,) = report["inferenceServiceRecords"]
    assert (record["verdict"], record["modelVersionName"], record["deployed"]) == (
        "wrong-version",
        OPTIMIZED_VERSION,
        {
            "registeredModelId": seed_ids.small_model,
            "modelVersionId": seed_ids.small_version,
            "modelVersionName": SMALL_VERSION,
        },
    )
    assert report["mismatches"] == 1


async def test_a_kubeconfig_that_skips_tls_verification_is_said_once_in_a_line_of_its_own(
    kube: Cluster,
    namespace: str,
    seed_ids: SeedIds,
    dev_registry: RunningRegistry,
    auditor: Auditor,
    tmp_path: Path,
) -> None:
    deploy(kube, namespace, seed_ids.small_model, seed_ids.small_version)
    start_run(kube, namespace, SMALL_MODEL, SMALL_VERSION)
    insecure = without_tls_verification(auditor.kubeconfig, tmp_path / "insecure.kubeconfig")

    result = await run_audit(
        "-n", namespace, "--registry-url", dev_registry.url, "--kubeconfig", str(insecure)
    )

    assert result.exit_code == 0, result.stdout + result.stderr
    assert "InsecureRequestWarning" not in result.stderr, result.stderr
    said = [line for line in result.stderr.splitlines() if "TLS" in line]
    assert said == [INSECURE_APISERVER_NOTICE.format(server=kube.api_client.configuration.host)], (
        result.stderr
    )
