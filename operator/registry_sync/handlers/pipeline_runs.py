"""PipelineRuns: admission (webhook modes) or watch events (no-webhook mode) → the services.

Tekton refuses spec changes after creation, so the right params must be in the object when
it is stored. The admission handler has no side effects (no Event at admission: the
annotation is the record). Its patch is built from new dicts and lists: Kopf drops in-place
edits of `body`. Without a webhook, only opted-in runs are watched, selected server-side.
Triggers: `handlers/triggers.py`.
"""

from __future__ import annotations

from typing import Any

import kopf

from registry_sync.controller.services import Services
from registry_sync.domain.admission import Admitted


async def pipeline_run_params(
    body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any
) -> None:
    """The mutating webhook: the run's params from its binding, or a denial."""
    services: Services = memo["services"]
    decision = await services.admission.review(body)
    if not isinstance(decision, Admitted):
        raise kopf.AdmissionError(decision.message, code=403)
    if decision.params is not None:
        patch.spec["params"] = decision.params
    for key, value in decision.annotations.items():
        patch.metadata.annotations[key] = value


async def pipeline_run_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """No-webhook mode: an opted-in run was created or changed."""
    services: Services = memo["services"]
    await services.guard.on_pipeline_run(type, body)
