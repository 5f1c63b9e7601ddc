"""Installed once per namespace, two operators never touch each other's objects.

Both run as their own install's ServiceAccount, each with its webhook configuration
(registered by an admin, as the manifests would be applied), over the same registry and
an InferenceService of the same name in each namespace.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes.client.exceptions import ApiException

from integration.install.conftest import SeededRegistry
from integration.install.installation import OVERLAYS, operator_kubeconfig, render
from integration.install.scenario import (
    SeedScenario,
    register_webhook_as_admin,
    service_mode_args,
    webhook_certificate,
)
from registry_sync.demo.seed import ISVC_NAME, SMALL_MODEL, seed_pipeline_run
from support.bindings import binding_or_none
from support.cluster import Cluster
from support.cluster_objects import INFERENCE_SERVICES, PIPELINE_RUNS, params_of
from support.operator import RunningOperator, free_port, start_operator

pytestmark = pytest.mark.cluster


@dataclass
class Install:
    namespace: str
    operator: RunningOperator
    scenario: SeedScenario


@contextlib.contextmanager
def installed(
    kube: Cluster, namespace: str, registry: SeededRegistry, folder: Path
) -> Iterator[Install]:
    rendered = render(kube, OVERLAYS / "openshift", namespace, folder)
    kubeconfig = operator_kubeconfig(kube, namespace, rendered, None, folder / "kubeconfig")
    certificate = webhook_certificate(folder / "certs")
    port = free_port()
    register_webhook_as_admin(kube, namespace, port, certificate)
    with start_operator(
        kube, namespace, registry.url, folder / "operator.log",
        extra_args=service_mode_args(certificate), kubeconfig=kubeconfig, webhook_port=port,
    ) as operator:  # fmt: skip
        yield Install(namespace, operator, SeedScenario(kube, namespace, registry.ids, operator))


@pytest.fixture
def other_namespace(kube: Cluster) -> Iterator[str]:
    name = kube.create_namespace("other-team")
    yield name
    kube.delete_namespace(name)


@pytest.fixture
def two_installs(
    kube: Cluster,
    namespace: str,
    other_namespace: str,
    seeded_registry: SeededRegistry,
    tmp_path: Path,
) -> Iterator[tuple[Install, Install]]:
    with (
        installed(kube, namespace, seeded_registry, tmp_path / "a") as first,
        installed(kube, other_namespace, seeded_registry, tmp_path / "b") as second,
    ):
        for install in (first, second):
            install.scenario.deploy()
        for install in (first, second):
            install.scenario.wait("binding Ready")
        yield first, second


def test_each_operator_corrects_its_own_namespace(
    kube: Cluster, two_installs: tuple[Install, Install], seeded_registry: SeededRegistry
) -> None:
    for install in two_installs:
        stored = INFERENCE_SERVICES.get(kube.api_client, install.namespace, ISVC_NAME)
        labels = stored["metadata"]["labels"]
        assert labels["modelregistry.opendatahub.io/model-version-id"] == (
            seeded_registry.ids.small_version
        )
        binding = binding_or_none(kube.api_client, install.namespace, ISVC_NAME)
        assert binding is not None
        (owner,) = binding["metadata"]["ownerReferences"]
        assert owner["uid"] == stored["metadata"]["uid"]


def test_opting_out_in_one_namespace_leaves_the_other_namespace_binding_alone(
    kube: Cluster, two_installs: tuple[Install, Install]
) -> None:
    first, second = two_installs
    first.scenario.opt_out()

    first.scenario.wait("binding deleted on opt-out")

    assert binding_or_none(kube.api_client, second.namespace, ISVC_NAME) is not None


def test_with_one_operator_down_only_its_namespace_runs_are_refused(
    kube: Cluster, two_installs: tuple[Install, Install]
) -> None:
    first, second = two_installs
    second.operator.stop()

    stored = PIPELINE_RUNS.create(
        kube.api_client, first.namespace, seed_pipeline_run(first.namespace), dry_run=True
    )
    with pytest.raises(ApiException) as refused:
        PIPELINE_RUNS.create(
            kube.api_client, second.namespace, seed_pipeline_run(second.namespace), dry_run=True
        )

    assert params_of(stored)["model_name"] == SMALL_MODEL
    message = json.loads(refused.value.body)["message"]
    assert "pipelinerun-params.registry-sync.io" in message
    assert f"127.0.0.1:{second.operator.webhook_port}" in message
