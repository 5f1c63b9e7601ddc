"""Malformed AdmissionReviews POSTed to the running operator's webhook over HTTPS.

Only the apiserver should call the webhook, but anything that reaches its port can. Each
malformed body gets a 400 that says what is wrong (no bare 500 from a crash inside the
server), and afterwards the operator is still up and still answers the apiserver.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from integration.install.scenario import (
    register_webhook_as_admin,
    service_mode_args,
    webhook_certificate,
)
from registry_sync.webhook.configuration import HANDLER_ID
from registry_sync.webhook.review import MAX_DEPTH
from support.cluster import Cluster
from support.devregistry import RunningRegistry
from support.operator import RunningOperator, free_port, start_operator

pytestmark = [pytest.mark.fuzz, pytest.mark.cluster]


def review(run: Any) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "0000-fuzz",
            "resource": {"group": "tekton.dev", "version": "v1", "resource": "pipelineruns"},
            "operation": "CREATE",
            "userInfo": {"username": "someone"},
            "object": run,
        },
    }


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


# Each body, and what the 400 must say about it.
MALFORMED = [
    (b"{not json", "Expecting property name"),
    (b"[1, 2, 3]", "not a JSON object"),
    (b'{"kind": "AdmissionReview"}', "request is missing"),
    (json.dumps(review({"metadata": {"labels": 5}})).encode(), "metadata.labels"),
    (
        json.dumps(review({"metadata": {}, "spec": {"params": nested(MAX_DEPTH * 5)}})).encode(),
        "levels deep",
    ),
    (json.dumps(review("run")).encode(), "object is not an object"),
]


@pytest.fixture
def webhook_operator(
    kube: Cluster, namespace: str, dev_registry: RunningRegistry, tmp_path: Path
) -> Iterator[tuple[RunningOperator, ssl.SSLContext]]:
    certificate = webhook_certificate(tmp_path / "certs")
    port = free_port()
    register_webhook_as_admin(kube, namespace, port, certificate)
    with start_operator(
        kube, namespace, dev_registry.url, tmp_path / "operator.log",
        extra_args=service_mode_args(certificate), webhook_port=port,
    ) as operator:  # fmt: skip
        yield operator, ssl.create_default_context(cadata=certificate.ca_pem.decode())


def test_malformed_reviews_get_a_400_naming_the_problem_and_the_operator_stays_up(
    webhook_operator: tuple[RunningOperator, ssl.SSLContext],
) -> None:
    operator, tls = webhook_operator
    url = f"https://127.0.0.1:{operator.webhook_port}/{HANDLER_ID}"

    answers = [httpx.post(url, content=body, verify=tls, timeout=30) for body, _ in MALFORMED]

    for answer, (_, problem) in zip(answers, MALFORMED, strict=True):
        assert answer.status_code == 400, answer.text
        assert problem in answer.text + answer.reason_phrase, answer.text
    # Still serving: a well-formed review for an unknown target is answered, and denied.
    run = {"metadata": {"name": "r", "labels": {"registry-sync.io/inference-service": "nope"}}}
    good = httpx.post(url, json=review(run), verify=tls, timeout=30)
    assert good.status_code == 200
    assert good.json()["response"]["allowed"] is False
    assert "nope" in good.json()["response"]["status"]["message"]
    assert operator.running
    assert "Error handling request" not in operator.log()
