"""Namespaces on the test control plane are really deleted, content and all."""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from support.cluster import Cluster
from support.cluster_objects import INFERENCE_SERVICES, inference_service

pytestmark = pytest.mark.cluster


def test_a_deleted_namespace_goes_away_with_its_objects(kube: Cluster) -> None:
    doomed = kube.create_namespace("doomed")
    INFERENCE_SERVICES.create(kube.api_client, doomed, inference_service("mistral"))
    kube.core.create_namespaced_config_map(
        doomed, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="settings"))
    )

    kube.delete_namespace(doomed)

    def namespace_gone() -> bool:
        try:
            kube.core.read_namespace(doomed)
        except ApiException as error:
            if error.status == 404:
                return True
            raise
        return False

    kube.wait_for(namespace_gone, timeout=90, description=f"namespace {doomed} deleted")
