"""Minimal InferenceService and PipelineRun CRDs for the demo's cluster, which runs neither
KServe nor Tekton: enough for the API objects the operator reads and the webhook mutates."""

from __future__ import annotations

from typing import Any

_PRESERVE: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def _crd(
    group: str, kind: str, plural: str, short_names: list[str], spec: dict[str, Any]
) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short_names,
            },
            "versions": [spec],
        },
    }


def inference_service_crd() -> dict[str, Any]:
    """KServe's InferenceService, `spec` atomic as in KServe's own CRD."""
    return _crd(
        "serving.kserve.io",
        "InferenceService",
        "inferenceservices",
        ["isvc"],
        {
            "name": "v1beta1",
            "served": True,
            "storage": True,
            "subresources": {"status": {}},
            "schema": {
                "openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {**_PRESERVE, "x-kubernetes-map-type": "atomic"},
                        "status": _PRESERVE,
                    },
                }
            },
        },
    )


def pipeline_run_crd() -> dict[str, Any]:
    """Tekton's PipelineRun, v1 only, params as Tekton declares them."""
    param = {
        "type": "object",
        "required": ["name", "value"],
        "properties": {
            "name": {"type": "string"},
            "value": {"x-kubernetes-preserve-unknown-fields": True},
        },
    }
    return _crd(
        "tekton.dev",
        "PipelineRun",
        "pipelineruns",
        ["pr"],
        {
            "name": "v1",
            "served": True,
            "storage": True,
            "subresources": {"status": {}},
            "schema": {
                "openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {
                            **_PRESERVE,
                            "properties": {
                                "params": {
                                    "type": "array",
                                    "x-kubernetes-list-type": "atomic",
                                    "items": param,
                                }
                            },
                        },
                        "status": _PRESERVE,
                    },
                }
            },
        },
    )
