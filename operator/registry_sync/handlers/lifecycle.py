"""Start-up and shutdown: Kopf's settings, the webhook server, and the services on `memo`.

`memo` arrives from `registry-sync run` holding `operator_settings` and `namespace`.
Triggers: `handlers/triggers.py`.
"""

from __future__ import annotations

from typing import Any

import kopf

from registry_sync.controller import kopf_settings
from registry_sync.controller.services import Services, start_services
from registry_sync.controller.settings import OperatorSettings, WebhookMode
from registry_sync.domain.metadata import PIPELINE_RUNS, TARGET_LABEL
from registry_sync.domain.running_image import INFERENCE_SERVICE_POD_LABEL
from registry_sync.webhook.server import configure_webhook


async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    operator_settings: OperatorSettings = memo["operator_settings"]
    watch_pods = bool(memo.get("watch_pods", False))
    configure_kopf(settings, operator_settings, watch_pods=watch_pods)
    await configure_webhook(settings, operator_settings, memo["namespace"])
    memo["services"] = await start_services(
        operator_settings,
        memo["namespace"],
        watch_pods=watch_pods,
        llmisvc_version=memo.get("llmisvc_version"),
    )


async def stop(memo: kopf.Memo, **_: Any) -> None:
    services: Services | None = memo.get("services")
    if services is not None:
        await services.close()


def configure_kopf(
    kopf_options: kopf.OperatorSettings, settings: OperatorSettings, *, watch_pods: bool = False
) -> None:
    """Kopf's settings chosen on purpose: those of every mode, then this mode's."""
    kopf_settings.configure(kopf_options)
    if watch_pods:
        # Only KServe's model pods reach the process, whatever else runs in the namespace.
        kopf_options.watching.label_selectors[_core_pods] = INFERENCE_SERVICE_POD_LABEL
    if settings.webhook is WebhookMode.OFF:
        # Only opted-in runs reach the process: unrelated runs cost nothing.
        key = PIPELINE_RUNS.group, PIPELINE_RUNS.plural
        kopf_options.watching.label_selectors[key] = TARGET_LABEL


def _core_pods(resource: kopf.Resource) -> bool:
    return resource.group == "" and resource.plural == "pods"
