"""Malformed AdmissionReviews POSTed to the running operator's webhook over HTTPS.

Only the apiserver should call the webhook, but anything that reaches its port can. Each
malformed body and a review for another namespace gets a 400 that says what is wrong (no
bare 500 from a crash inside the server, no answer from this namespace's bindings), a body
over the limit a 413, a run with a flood of params a denial, and afterwards the operator
is still up and still answers the apiserver.
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
from registry_sync.webhook.review import MAX_BODY_BYTES, MAX_DEPTH
from support.cluster import Cluster
from support.devregistry import RunningRegistry
from support.operator import RunningOperator, free_port, start_operator

pytestmark = [pytest.mark.fuzz, pytest.mark.cluster]


def review(run: Any, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "0000-fuzz",
            "resource": {"group": "tekton.dev", "version": "v1", "resource": "pipelineruns"},
            "namespace": namespace,
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


def many_params(count: int) -> dict[str, Any]:
    labels = {"registry-sync.io/inference-service": "nope"}
    params = [{"name": f"p{number}", "value": "v" * 12} for number in range(count)]
    return {"metadata": {"name": "r", "labels": labels}, "spec": {"params": params}}


def malformed(namespace: str) -> list[tuple[bytes, str]]:
    """Each body, and what the 400 must say about it."""

    def encoded(run: Any, in_namespace: str = namespace) -> bytes:
        return json.dumps(review(run, in_namespace)).encode()

    return [
        (b"{not json", "Expecting property name"),
        (b"[1, 2, 3]", "not a JSON object"),
        (b'{"kind": "AdmissionReview"}', "request is missing"),
        (encoded({"metadata": {"labels": 5}}), "metadata.labels"),
        (encoded({"metadata": {}, "spec": {"params": nested(MAX_DEPTH * 5)}}), "levels deep"),
        (encoded("run"), "object is not an object"),
        # Too deep for the JSON parser itself: a bare 500 from Kopf's server before.
        (b"[" * 100_000 + b"]" * 100_000, "nests deeper than can be parsed"),
        (b'{"request": "\xff"}', "not JSON that can be read"),
        # Answered with this namespace's bindings before.
        (encoded(many_params(1), "elsewhere"), "answers for namespace"),
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

    bodies = malformed(operator.namespace)

    answers = [httpx.post(url, content=body, verify=tls, timeout=30) for body, _ in bodies]
    too_large = httpx.post(url, content=b" " * (MAX_BODY_BYTES + 1), verify=tls, timeout=30)
    # The finding's review: 31,000 params (1.3 MiB), copied and diffed whole before.
    flood = httpx.post(
        url, json=review(many_params(31_000), operator.namespace), verify=tls, timeout=30
    )

    for answer, (_, problem) in zip(answers, bodies, strict=True):
        assert answer.status_code == 400, answer.text
        assert problem in answer.text + answer.reason_phrase, answer.text
    assert too_large.status_code == 413, too_large.text
    assert flood.status_code == 200, flood.text
    assert flood.json()["response"]["allowed"] is False
    assert "spec.params has 31000 entries" in flood.json()["response"]["status"]["message"]
    # Still serving: a well-formed review for an unknown target is answered, and denied.
    good = httpx.post(url, json=review(many_params(1), operator.namespace), verify=tls, timeout=30)
    assert good.status_code == 200
    assert good.json()["response"]["allowed"] is False
    assert "nope" in good.json()["response"]["status"]["message"]
    assert operator.running
    assert "Error handling request" not in operator.log()
