"""PipelineRuns: admission (webhook modes) or watch events (no-webhook mode) → the services.

Tekton refuses spec changes after creation, so the right params must be in the object when
it is stored. The admission handler has no side effects (no Event at admission: the
annotation is the record). Its patch is built from new dicts and lists: Kopf drops in-place
edits of `body`. Without a webhook, only opted-in runs are watched, selected server-side.
"""

from __future__ import annotations

from typing import Any

import kopf

from registry_sync.domain.admission import TARGET_LABEL, Admitted
from registry_sync.kube import RUN_GROUP, RUN_PLURAL, RUN_VERSION
from registry_sync.services import Services
from registry_sync.webhook.configuration import HANDLER_ID


def register(registry: kopf.OperatorRegistry) -> None:
    @kopf.on.mutate(
        RUN_GROUP,
        RUN_VERSION,
        RUN_PLURAL,
        id=HANDLER_ID,
        operations={"CREATE"},
        labels={TARGET_LABEL: kopf.PRESENT},
        side_effects=False,
        registry=registry,
    )
    async def pipeline_run_params(
        body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any
    ) -> None:
        services: Services = memo["services"]
        decision = await services.admission.review(body)
        if not isinstance(decision, Admitted):
            raise kopf.AdmissionError(decision.message, code=403)
        if decision.params is not None:
            patch.spec["params"] = decision.params
        for key, value in decision.annotations.items():
            patch.metadata.annotations[key] = value


def register_without_webhook(registry: kopf.OperatorRegistry) -> None:
    @kopf.on.event(
        RUN_GROUP,
        RUN_VERSION,
        RUN_PLURAL,
        id="pipelinerun-guard",
        labels={TARGET_LABEL: kopf.PRESENT},
        registry=registry,
    )
    async def pipeline_run_event(
        type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any
    ) -> None:
        services: Services = memo["services"]
        await services.guard.on_pipeline_run(type, body)
