"""tekton/rbac.yaml, applied as a person would (`kubectl apply -n NS -f tekton/rbac.yaml`),
gives the model-testing ServiceAccount exactly `get` on the PipelineRuns and ModelBindings
of its own namespace: asked with a TokenRequest token of that ServiceAccount (nothing
else), the apiserver allows those two and refuses everything around them.

The commands' own tests (tests/integration/pipeline_tasks) run as that identity
(`model_testing_identity`): the Role is enough for every one of them, and without either
`get` the commands exit 2 naming what was forbidden.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from registry_sync.domain.metadata import MODEL_BINDINGS, PIPELINE_RUNS
from support.cluster import Cluster
from support.tekton_files import model_testing_identity

pytestmark = pytest.mark.cluster


def _allowed(api: client.ApiClient, namespace: str, verb: str, group: str, plural: str) -> bool:
    review = client.V1SelfSubjectAccessReview(
        spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(
                namespace=namespace, verb=verb, group=group, resource=plural
            )
        )
    )
    answer = client.AuthorizationV1Api(api).create_self_subject_access_review(review)
    return bool(answer.status.allowed)


RUNS = (PIPELINE_RUNS.group, PIPELINE_RUNS.plural)
BINDINGS = (MODEL_BINDINGS.group, MODEL_BINDINGS.plural)
REFUSED = [
    *[(verb, *RUNS) for verb in ("list", "watch", "create", "patch", "update", "delete")],
    *[(verb, *BINDINGS) for verb in ("list", "watch", "create", "patch", "update", "delete")],
    ("patch", MODEL_BINDINGS.group, f"{MODEL_BINDINGS.plural}/status"),
    ("get", "tekton.dev", "taskruns"),
    ("get", "serving.kserve.io", "inferenceservices"),
    ("get", "", "pods"),
    ("get", "", "secrets"),
]


def test_the_service_account_may_get_runs_and_bindings_of_its_namespace_and_nothing_else(
    kube: Cluster, namespace: str, tmp_path: Path
) -> None:
    token = model_testing_identity(kube, namespace, tmp_path / "model-testing.kubeconfig")
    api = kube.client_for_token(token)
    other = kube.create_namespace("model-testing-other")
    try:
        # RBAC takes effect within moments of the RoleBinding, not at once.
        kube.wait_for(
            lambda: (
                _allowed(api, namespace, "get", *RUNS)
                and _allowed(api, namespace, "get", *BINDINGS)
            ),
            description="get on pipelineruns and modelbindings allowed",
        )

        allowed_elsewhere = [
            (verb, group, plural)
            for verb, group, plural in [("get", *RUNS), ("get", *BINDINGS)]
            if _allowed(api, other, verb, group, plural)
        ]
        allowed_here = [
            (verb, group, plural)
            for verb, group, plural in REFUSED
            if _allowed(api, namespace, verb, group, plural)
        ]
    finally:
        api.close()
        kube.delete_namespace(other)

    assert allowed_elsewhere == []
    assert allowed_here == []
