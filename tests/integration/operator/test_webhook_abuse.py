"""The webhook's limits, seen from the apiserver: a genuine large run still goes through, a
flood of params is refused with a message that says why (tests/fuzz/test_webhook_http.py
POSTs the hostile bodies straight to the port; tests/unit/webhook/test_server.py covers
the server's limits one by one)."""

from __future__ import annotations

import json

import pytest
from kubernetes.client.exceptions import ApiException

from integration.operator.test_pipeline_run_admission import RIGHT, deploy_seed
from registry_sync.demo.seed import SeedIds, seed_pipeline_run
from registry_sync.webhook.review import MAX_PARAMS
from support.cluster import Cluster
from support.cluster_objects import PIPELINE_RUNS, params_of
from support.operator import RunningOperator

pytestmark = pytest.mark.cluster

MIB = 1024 * 1024


def test_a_run_over_one_mib_is_admitted_and_corrected(
    kube: Cluster, namespace: str, seed: SeedIds, operator: RunningOperator
) -> None:
    # The apiserver stores objects of up to 1.5 MiB: its review was refused (413) before.
    deploy_seed(kube, namespace, seed)
    body = seed_pipeline_run(namespace)
    body["spec"]["params"].append({"name": "prompt", "value": "x" * int(1.2 * MIB)})

    stored = PIPELINE_RUNS.create(kube.api_client, namespace, body)

    assert {k: params_of(stored)[k] for k in RIGHT} == RIGHT
    assert len(params_of(stored)["prompt"]) == int(1.2 * MIB)


def test_a_run_with_more_params_than_allowed_is_refused_saying_so(
    kube: Cluster, namespace: str, seed: SeedIds, operator: RunningOperator
) -> None:
    deploy_seed(kube, namespace, seed)
    body = seed_pipeline_run(namespace)
    body["spec"]["params"] += [{"name": f"p{n}", "value": "v"} for n in range(MAX_PARAMS)]

    with pytest.raises(ApiException) as refused:
        PIPELINE_RUNS.create(kube.api_client, namespace, body)

    assert refused.value.status == 400
    message = json.loads(refused.value.body)["message"]
    assert f"spec.params has {MAX_PARAMS + 4} entries" in message, message
    assert f"at most {MAX_PARAMS}" in message, message


def test_a_run_with_the_most_params_allowed_is_admitted(
    kube: Cluster, namespace: str, seed: SeedIds, operator: RunningOperator
) -> None:
    deploy_seed(kube, namespace, seed)
    body = seed_pipeline_run(namespace)
    body["spec"]["params"] += [{"name": f"p{n}", "value": "v"} for n in range(MAX_PARAMS - 4)]

    stored = PIPELINE_RUNS.create(kube.api_client, namespace, body)

    assert len(stored["spec"]["params"]) == MAX_PARAMS
    assert {k: params_of(stored)[k] for k in RIGHT} == RIGHT
