"""InferenceService and LLMInferenceService watch events → the reconciler.

Level-based event handlers and nothing else: no finalizers, no Kopf state on objects the
operator does not own. Every deployment of the namespace arrives here (the opt-in is
an annotation, which the apiserver cannot select on); the reconciler drops the ones not
opted in after a dictionary lookup. Triggers: `handlers/triggers.py`.
"""

from __future__ import annotations

from typing import Any

import kopf

from registry_sync.controller.services import Services


async def inference_service_event(
    type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any
) -> None:
    services: Services = memo["services"]
    await services.reconciler.on_inference_service(type, body)


async def llm_inference_service_event(
    type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any
) -> None:
    services: Services = memo["services"]
    await services.reconciler.on_llm_inference_service(type, body)
