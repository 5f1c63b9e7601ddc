"""`registry-sync audit` as a process against the real apiserver and the registry stand-in.

The audit reads the registry through a recording proxy (every request it sends is kept)
and the cluster as a ServiceAccount that may only get, list and watch: whatever it tried
to write would be refused, and the proxy shows every registry method it used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from registry_sync.demo.seed import SeedIds, register_seed
from registry_sync.registry.client import RegistryClient
from support.cluster import Cluster
from support.cluster_objects import INFERENCE_SERVICES, PIPELINE_RUNS
from support.devregistry import RunningRegistry
from support.faultproxy import FaultProxy

AUDITOR = "registry-sync-auditor"
READ_ONLY_RULES = [
    {
        "apiGroups": ["serving.kserve.io"],
        "resources": ["inferenceservices"],
        "verbs": ["get", "list", "watch"],
    },
    {"apiGroups": ["tekton.dev"], "resources": ["pipelineruns"], "verbs": ["get", "list", "watch"]},
]
PULL_SECRET = "model-images"
# What the digest check adds: the model pods, and the one Secret named by --pull-secret.
DIGEST_RULES = [
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [PULL_SECRET], "verbs": ["get"]},
]


@dataclass(frozen=True)
class Auditor:
    """A ServiceAccount that may only read: its kubeconfig and its bearer token."""

    kubeconfig: Path
    token: str


@pytest.fixture
async def registry_proxy(dev_registry: RunningRegistry) -> AsyncIterator[FaultProxy]:
    """A proxy in front of the stand-in that records every request the audit sends."""
    async with FaultProxy(dev_registry.url) as proxy:
        yield proxy


@pytest.fixture
async def seed_ids(dev_registry: RunningRegistry) -> SeedIds:
    """The incident's registry, registered directly (not through the recording proxy)."""
    async with RegistryClient(dev_registry.url) as registry:
        return await register_seed(registry)


@pytest.fixture
def auditor(kube: Cluster, namespace: str, tmp_path: Path) -> Auditor:
    """A kubeconfig for a ServiceAccount that may only read InferenceServices and PipelineRuns."""
    return read_only_auditor(kube, namespace, tmp_path, READ_ONLY_RULES)


@pytest.fixture
def digest_auditor(kube: Cluster, namespace: str, tmp_path: Path) -> Auditor:
    """A read-only ServiceAccount that may also list pods and get the pull secret."""
    auditor = read_only_auditor(kube, namespace, tmp_path, READ_ONLY_RULES + DIGEST_RULES)
    pods = client.CoreV1Api(kube.client_for_token(auditor.token))

    def may_list_pods() -> bool:
        try:
            pods.list_namespaced_pod(namespace)
        except ApiException as error:
            if error.status == 403:
                return False
            raise
        return True

    kube.wait_for(may_list_pods, description=f"{AUDITOR} may list pods in {namespace}")
    return auditor


def read_only_auditor(
    kube: Cluster, namespace: str, tmp_path: Path, rules: list[dict[str, Any]]
) -> Auditor:
    """A ServiceAccount granted `rules`, once it may list InferenceServices and PipelineRuns."""
    kube.create_service_account(namespace, AUDITOR)
    kube.grant(namespace, AUDITOR, rules)
    token = kube.create_token(namespace, AUDITOR)
    reader = client.CustomObjectsApi(kube.client_for_token(token))

    def may_list() -> bool:
        try:
            reader.list_namespaced_custom_object(
                PIPELINE_RUNS.group, PIPELINE_RUNS.version, namespace, PIPELINE_RUNS.plural
            )
            reader.list_namespaced_custom_object(
                INFERENCE_SERVICES.group,
                INFERENCE_SERVICES.version,
                namespace,
                INFERENCE_SERVICES.plural,
            )
        except ApiException as error:
            if error.status == 403:
                return False
            raise
        return True

    kube.wait_for(may_list, description=f"{AUDITOR} may list in {namespace}")
    kubeconfig = kube.kubeconfig_for_token(token, tmp_path / "auditor.kubeconfig", namespace)
    return Auditor(kubeconfig, token)
