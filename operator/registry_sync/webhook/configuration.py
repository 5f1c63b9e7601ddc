"""The MutatingWebhookConfiguration of one namespace's operator.

One configuration per namespace, named after it, so that operators of different namespaces
never overwrite each other's. Scoped by namespaceSelector to the operator's namespace and by
objectSelector to opted-in runs: an operator outage blocks only those, never unrelated runs.
Kopf's managed mode cannot do this (fixed 30 s timeout, no namespaceSelector, one
cluster-wide name), so the project writes it itself.
"""

from __future__ import annotations

import base64
from typing import Any, Final

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from registry_sync.domain.metadata import TARGET_LABEL

HANDLER_ID: Final = "pipelinerun-params"
TIMEOUT_SECONDS: Final = 5
SERVICE_NAME: Final = "registry-sync-webhook"


def configuration_name(namespace: str) -> str:
    return f"registry-sync-{namespace}"


def url_client_config(base_url: str, ca_pem: bytes) -> dict[str, Any]:
    return {
        "url": f"{base_url.rstrip('/')}/{HANDLER_ID}",
        "caBundle": base64.b64encode(ca_pem).decode("ascii"),
    }


def service_client_config(namespace: str, port: int = 443) -> dict[str, Any]:
    """In a cluster: the Service in front of the operator; caBundle is injected."""
    return {
        "service": {
            "namespace": namespace,
            "name": SERVICE_NAME,
            "path": f"/{HANDLER_ID}",
            "port": port,
        }
    }


def build_configuration(namespace: str, client_config: dict[str, Any]) -> dict[str, Any]:
    """The MutatingWebhookConfiguration for the operator of `namespace`."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {
            "name": configuration_name(namespace),
            "labels": {"app.kubernetes.io/name": "registry-sync"},
        },
        "webhooks": [
            {
                "name": "pipelinerun-params.registry-sync.io",
                "admissionReviewVersions": ["v1"],
                "clientConfig": client_config,
                "rules": [
                    {
                        "apiGroups": ["tekton.dev"],
                        "apiVersions": ["v1"],
                        "resources": ["pipelineruns"],
                        "operations": ["CREATE"],
                        "scope": "Namespaced",
                    }
                ],
                # v1beta1 requests are converted to v1 by the apiserver: one handler serves
                # both versions.
                "matchPolicy": "Equivalent",
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": namespace},
                },
                "objectSelector": {
                    "matchExpressions": [{"key": TARGET_LABEL, "operator": "Exists"}],
                },
                "failurePolicy": "Fail",
                "sideEffects": "None",
                "timeoutSeconds": TIMEOUT_SECONDS,
                "reinvocationPolicy": "Never",
            }
        ],
    }


def register_configuration(api_client: client.ApiClient, body: dict[str, Any]) -> None:
    """Create the configuration, or replace the one an earlier run of this namespace left."""
    api = client.AdmissionregistrationV1Api(api_client)
    name = body["metadata"]["name"]
    # The client sends plain dicts as they are; its stubs ask for its model classes.
    try:
        api.create_mutating_webhook_configuration(body)  # type: ignore[arg-type]
    except ApiException as error:
        if error.status != 409:
            raise
        existing = api.read_mutating_webhook_configuration(name)
        version = existing.metadata.resource_version if existing.metadata else None
        body = {**body, "metadata": {**body["metadata"], "resourceVersion": version}}
        api.replace_mutating_webhook_configuration(name, body)  # type: ignore[arg-type]
