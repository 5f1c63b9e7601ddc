"""Model pod watch events → the reconciler (the digest check reads what pods run).

Only pods carrying KServe's InferenceService label arrive (a server-side label selector);
a level-based event handler, nothing written on the pods. Triggers: `handlers/triggers.py`.
"""

from __future__ import annotations

from typing import Any

import kopf

from registry_sync.controller.services import Services


async def model_pod_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    services: Services = memo["services"]
    await services.reconciler.on_pod(type, body)
