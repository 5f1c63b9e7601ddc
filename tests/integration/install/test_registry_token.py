"""The registry token against the real apiserver: why it gets an audience of its own, and
what the registry's side must then accept.

The registry (and whoever runs or intercepts it) receives the operator's token. A token
for the API server's audience (the pod's own, or a projection without `audience`) lets
them act on the API as the operator, with its Role; one for the registry's audience does
not. A proxy that checks tokens by TokenReview without naming an audience (kube-rbac-proxy
without --auth-token-audiences) accepts only the API server's audience.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from registry_sync.registry.bearer_token import BearerTokenFile
from registry_sync.registry.errors import RegistryAuthError
from support.cluster import Cluster

pytestmark = pytest.mark.cluster

SERVICE_ACCOUNT = "registry-sync"
# What the registry-token-audience component sets (manifests/components/).
AUDIENCE = "my-registry.rhoai-model-registries.svc"


@pytest.fixture
def operator_identity(kube: Cluster, namespace: str) -> str:
    kube.create_service_account(namespace, SERVICE_ACCOUNT)
    return f"system:serviceaccount:{namespace}:{SERVICE_ACCOUNT}"


def api_user(kube: Cluster, token: str) -> str | None:
    """Who the Kubernetes API takes the bearer of `token` for; None if it refuses it."""
    api = client.AuthenticationV1Api(kube.client_for_token(token))
    try:
        review = api.create_self_subject_review(client.V1SelfSubjectReview())
    except ApiException as error:
        if error.status == 401:
            return None
        raise
    return str(review.status.user_info.username)


def token_review(kube: Cluster, token: str, audiences: list[str] | None) -> bool:
    """Whether a TokenReview (as a registry's proxy sends it) authenticates `token`."""
    spec = client.V1TokenReviewSpec(token=token, audiences=audiences)
    answer = client.AuthenticationV1Api(kube.api_client).create_token_review(
        client.V1TokenReview(spec=spec)
    )
    return bool(answer.status.authenticated)


def test_a_token_for_the_api_audience_can_be_replayed_against_the_api(
    kube: Cluster, namespace: str, operator_identity: str
) -> None:
    token = kube.create_token(namespace, SERVICE_ACCOUNT)

    assert api_user(kube, token) == operator_identity


def test_a_token_for_the_registry_audience_is_refused_by_the_api(
    kube: Cluster, namespace: str, operator_identity: str
) -> None:
    token = kube.create_token(namespace, SERVICE_ACCOUNT, audiences=[AUDIENCE])

    assert api_user(kube, token) is None


def test_the_registry_side_must_name_the_audience_to_accept_such_a_token(
    kube: Cluster, namespace: str, operator_identity: str
) -> None:
    registry_token = kube.create_token(namespace, SERVICE_ACCOUNT, audiences=[AUDIENCE])
    api_token = kube.create_token(namespace, SERVICE_ACCOUNT)

    # kube-rbac-proxy without --auth-token-audiences: the API server's audience only.
    assert token_review(kube, registry_token, None) is False
    assert token_review(kube, api_token, None) is True
    # With --auth-token-audiences=AUDIENCE: that audience only.
    assert token_review(kube, registry_token, [AUDIENCE]) is True
    assert token_review(kube, api_token, [AUDIENCE]) is False


def test_the_operator_sends_the_registry_token_and_refuses_the_api_one(
    kube: Cluster, namespace: str, operator_identity: str, tmp_path: Path
) -> None:
    registry_token = kube.create_token(namespace, SERVICE_ACCOUNT, audiences=[AUDIENCE])
    api_token = kube.create_token(namespace, SERVICE_ACCOUNT)
    (tmp_path / "registry").write_text(registry_token)
    (tmp_path / "api").write_text(api_token)

    assert BearerTokenFile(tmp_path / "registry", audience=AUDIENCE).current() == registry_token
    with pytest.raises(RegistryAuthError, match="not for the audience") as raised:
        BearerTokenFile(tmp_path / "api", audience=AUDIENCE).current()
    assert api_token not in str(raised.value)
