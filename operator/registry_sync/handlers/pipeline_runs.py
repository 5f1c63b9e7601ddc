"""PipelineRun CREATE admission → the admission service; its decision becomes the patch.

Tekton refuses spec changes after creation, so the right params must be in the object when
it is stored. The handler has no side effects (no Event at admission: the annotation is the
record). The patch is built from new dicts and lists: Kopf drops in-place edits of `body`.
"""

from __future__ import annotations

from typing import Any

import kopf

from registry_sync.domain.admission import TARGET_LABEL, Admitted
from registry_sync.services import Services
from registry_sync.webhook.configuration import HANDLER_ID


def register(registry: kopf.OperatorRegistry) -> None:
    @kopf.on.mutate(
        "tekton.dev",
        "v1",
        "pipelineruns",
        id=HANDLER_ID,
        operation="CREATE",
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
