"""`registry-sync verify-run` and `publish` as processes, as a pipeline's tasks run them:
as a ServiceAccount that may only get PipelineRuns and ModelBindings, against the real
apiserver, the operator (webhook mode) and the registry stand-in."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from registry_sync.demo.seed import ISVC_NAME, SeedIds, register_seed, seed_inference_service
from registry_sync.domain.metadata import MODEL_BINDINGS
from registry_sync.registry.client import RegistryClient
from support.bindings import binding_or_none, condition
from support.cluster import Cluster
from support.cluster_objects import INFERENCE_SERVICES, PIPELINE_RUNS
from support.devregistry import RunningRegistry
from support.operator import RunningOperator, start_operator
from support.tekton_files import model_testing_identity, model_testing_rules
from support.third_party import require_upstream_file

COMMAND_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class CommandRun:
    exit_code: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class PipelineTasks:
    """Runs the two commands as the pipeline's ServiceAccount, in one namespace."""

    kubeconfig: Path
    namespace: str
    registry_url: str

    async def run(self, command: str, *args: str) -> CommandRun:
        # The process sees none of the test's REGISTRY_SYNC_ settings: only its flags.
        environment = {
            key: value for key, value in os.environ.items() if not key.startswith("REGISTRY_SYNC_")
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "registry_sync.cli",
            command,
            "-n",
            self.namespace,
            "--kubeconfig",
            str(self.kubeconfig),
            "--registry-url",
            self.registry_url,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=environment,
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), COMMAND_TIMEOUT_SECONDS)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise AssertionError(f"{command} did not finish in time") from None
        assert process.returncode is not None
        return CommandRun(process.returncode, stdout.decode(), stderr.decode())

    async def verify(self, run: str) -> CommandRun:
        return await self.run("verify-run", "--run", run)

    async def publish(self, run: str, *files: str) -> CommandRun:
        return await self.run("publish", "--run", run, *files)


@pytest.fixture
async def seed(registry_client: RegistryClient) -> SeedIds:
    return await register_seed(registry_client)


@pytest.fixture
def operator(
    kube: Cluster, namespace: str, dev_registry: RunningRegistry, tmp_path: Path
) -> Iterator[RunningOperator]:
    with start_operator(
        kube,
        namespace,
        dev_registry.url,
        tmp_path / "operator.log",
        extra_args=["--refresh-seconds", "1"],
    ) as running:
        yield running


@pytest.fixture
def tasks(
    kube: Cluster, namespace: str, dev_registry: RunningRegistry, tmp_path: Path
) -> PipelineTasks:
    """The commands, run as the ServiceAccount tekton/rbac.yaml makes, with its Role:
    every test here shows that Role is enough."""
    return tasks_as(kube, namespace, dev_registry, tmp_path, None)


def tasks_as(
    kube: Cluster,
    namespace: str,
    dev_registry: RunningRegistry,
    tmp_path: Path,
    rules: list[dict[str, Any]] | None,
) -> PipelineTasks:
    """The commands as tekton/rbac.yaml's ServiceAccount, its Role's rules replaced by
    `rules` unless None; once the apiserver answers that identity's GETs by its Role."""
    kubeconfig = tmp_path / "model-testing.kubeconfig"
    token = model_testing_identity(kube, namespace, kubeconfig, rules)
    reader = client.CustomObjectsApi(kube.client_for_token(token))
    granted = {
        (rule["apiGroups"][0], resource)
        for rule in (model_testing_rules() if rules is None else rules)
        for resource in rule["resources"]
    }

    def rbac_in_effect() -> bool:
        # The apiserver answers 404 for a granted get of a missing object, 403 otherwise.
        for resource in (PIPELINE_RUNS, MODEL_BINDINGS):
            try:
                reader.get_namespaced_custom_object(
                    resource.group, resource.version, namespace, resource.plural, "no-such"
                )
            except ApiException as error:
                if (error.status == 404) != ((resource.group, resource.plural) in granted):
                    return False
        return True

    kube.wait_for(rbac_in_effect, description="the model-testing Role in effect")
    return PipelineTasks(kubeconfig, namespace, dev_registry.url)


class Ground(NamedTuple):
    """The seed's InferenceService deployed and Ready under a running operator (webhook
    mode), the commands run as the pipeline's ServiceAccount, a client of the registry."""

    kube: Cluster
    namespace: str
    seed: SeedIds
    tasks: PipelineTasks
    registry: RegistryClient


@pytest.fixture
def ground(
    kube: Cluster,
    namespace: str,
    seed: SeedIds,
    operator: RunningOperator,
    tasks: PipelineTasks,
    registry_client: RegistryClient,
) -> Ground:
    deploy_seed(kube, namespace, seed)
    return Ground(kube, namespace, seed, tasks, registry_client)


def guidellm_report() -> Path:
    """A real guidellm 0.8 report (constant rates 2 and 4 req/s)."""
    return require_upstream_file("samples/guidellm/constant_2_4.json")


def lm_eval_results() -> Path:
    """A real lm-eval 0.4 results file (two toy tasks)."""
    return require_upstream_file("samples/lm-eval/results-dummy.json")


def deploy_seed(kube: Cluster, namespace: str, seed: SeedIds) -> None:
    INFERENCE_SERVICES.create(kube.api_client, namespace, seed_inference_service(namespace, seed))
    wait_ready_on(kube, namespace, seed.small_version)


def wait_ready_on(kube: Cluster, namespace: str, version_id: str) -> None:
    """Until the seed's binding is Ready on `version_id`."""

    def ready() -> bool:
        binding = binding_or_none(kube.api_client, namespace, ISVC_NAME)
        found = condition(binding, "Ready")
        return bool(
            found
            and found["status"] == "True"
            and (binding or {}).get("status", {}).get("modelVersionId") == version_id
        )

    kube.wait_for(ready, timeout=30, description=f"seed binding Ready on version {version_id}")
