"""InferenceService watch events → the reconciler.

A level-based `@kopf.on.event` handler and nothing else: no finalizers, no Kopf state on
objects the operator does not own. Every InferenceService of the namespace arrives here
(the opt-in is an annotation, which the apiserver cannot select on); the reconciler drops
the ones not opted in after a dictionary lookup.
"""

from __future__ import annotations

from typing import Any

import kopf

from registry_sync.kube import ISVC_GROUP, ISVC_PLURAL, ISVC_VERSION
from registry_sync.services import Services


def register(registry: kopf.OperatorRegistry) -> None:
    @kopf.on.event(ISVC_GROUP, ISVC_VERSION, ISVC_PLURAL, id="inference-service", registry=registry)
    async def inference_service_event(
        type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any
    ) -> None:
        services: Services = memo["services"]
        await services.reconciler.on_inference_service(type, body)
