"""How registry-sync sets Kopf up: the resources it watches and writes, the ModelBinding it
creates for an InferenceService, and Kopf's settings for every mode.

Only the standard library and kopf: the benchmarks' bare operator (`bench/bare_operator.py`)
uses the same names, bodies and settings without loading the operator, so that the
baseline stays bare. The mode-specific settings (the PipelineRun label selector without
the webhook, the webhook server) are `handlers.lifecycle`'s.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import kopf

ISVC_GROUP: Final = "serving.kserve.io"
ISVC_VERSION: Final = "v1beta1"
ISVC_PLURAL: Final = "inferenceservices"
BINDING_GROUP: Final = "registry-sync.io"
BINDING_VERSION: Final = "v1alpha1"
BINDING_PLURAL: Final = "modelbindings"
BINDING_KIND: Final = "ModelBinding"
RUN_GROUP: Final = "tekton.dev"
RUN_VERSION: Final = "v1"
RUN_PLURAL: Final = "pipelineruns"


def binding_body(name: str, uid: str, namespace: str) -> dict[str, Any]:
    """A new ModelBinding for the InferenceService `name` (uid `uid`), owned by it
    (garbage-collected with it)."""
    return {
        "apiVersion": f"{BINDING_GROUP}/{BINDING_VERSION}",
        "kind": BINDING_KIND,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"registry-sync.io/inference-service": name},
            "ownerReferences": [
                {
                    "apiVersion": f"{ISVC_GROUP}/{ISVC_VERSION}",
                    "kind": "InferenceService",
                    "name": name,
                    "uid": uid,
                    "controller": True,
                }
            ],
        },
        "spec": {"inferenceServiceName": name},
    }


def configure(settings: kopf.OperatorSettings) -> None:
    """Kopf settings chosen on purpose."""
    settings.posting.level = logging.WARNING  # handler log lines are not turned into Events
    # A watch that goes quiet is restarted: a silently dead connection must not stall it.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.inactivity_timeout = 600
    settings.watching.connect_timeout = 30
    settings.networking.request_timeout = 60
    # No cluster-wide watch of namespaces and CRDs: the one namespace is known, and a
    # namespaced Role could not grant those watches (Kopf would retry and warn forever).
    # Resource kinds are discovered once at start; a CRD installed later needs a restart.
    settings.scanning.disabled = True
