"""Start-up and shutdown: Kopf's settings, the health endpoints, the webhook server, the
services on `memo`, and the SIGTERM drain.

`memo` arrives from `registry-sync run` holding `operator_settings`, `namespace` and
`stop_flag`. Triggers: `handlers/triggers.py`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

import kopf

from registry_sync.controller import kopf_settings
from registry_sync.controller.health import HealthServer, Readiness, health_address
from registry_sync.controller.services import Services, start_services
from registry_sync.controller.settings import OperatorSettings, WebhookMode
from registry_sync.domain.metadata import PIPELINE_RUNS, TARGET_LABEL
from registry_sync.domain.running_image import INFERENCE_SERVICE_POD_LABEL
from registry_sync.webhook.review import CheckingWebhookServer
from registry_sync.webhook.server import configure_webhook

log = logging.getLogger(__name__)


async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    operator_settings: OperatorSettings = memo["operator_settings"]
    watch_pods = bool(memo.get("watch_pods", False))
    readiness = Readiness()
    address = health_address(operator_settings.health_host, operator_settings.health_port)
    if address is not None:
        memo["health"] = health = HealthServer(readiness)
        await health.start(*address)
    configure_kopf(settings, operator_settings, watch_pods=watch_pods)
    await configure_webhook(settings, operator_settings, memo["namespace"])
    memo["services"] = services = await start_services(
        operator_settings,
        memo["namespace"],
        watch_pods=watch_pods,
        llmisvc_version=memo.get("llmisvc_version"),
    )
    # Kopf's own Events (a failed handler) are writes too: only the Lease holder posts them.
    settings.posting.enabled = services.leadership.may_write()
    services.leadership.when_changed(lambda leading: setattr(settings.posting, "enabled", leading))
    server = settings.admission.server
    readiness.checks.update(
        {
            "webhook listening": lambda: bool(getattr(server, "listening", True)),
            "first registry snapshot loaded": lambda: services.source.snapshot is not None,
            "InferenceServices present at start reconciled": services.book.primed,
        }
    )
    stop_flag: asyncio.Event | None = memo.get("stop_flag")
    if address is not None and stop_flag is not None:
        # Installed last: Kopf's own SIGTERM handler (stop at once) is in place by now.
        drain = operator_settings.shutdown_drain_seconds
        asyncio.get_running_loop().add_signal_handler(
            signal.SIGTERM, _begin_drain, readiness, services, stop_flag, drain, server
        )


def _begin_drain(
    readiness: Readiness,
    services: Services,
    stop_flag: asyncio.Event,
    drain_s: float,
    server: object = None,
) -> None:
    if readiness.draining:
        return
    readiness.draining = True
    if isinstance(server, CheckingWebhookServer):
        server.closing_connections = True  # the apiserver reconnects, to a ready replica
    log.info("SIGTERM: /readyz fails now; admission reviews are answered %g s more", drain_s)
    task = asyncio.create_task(_drain(services, stop_flag, drain_s), name="sigterm-drain")
    _draining.add(task)


_draining: set[asyncio.Task[None]] = set()


async def _drain(services: Services, stop_flag: asyncio.Event, drain_s: float) -> None:
    # The Lease first: another replica writes within seconds, not at the end of the term.
    await services.stop_writing()
    await asyncio.sleep(drain_s)
    stop_flag.set()


async def stop(memo: kopf.Memo, **_: Any) -> None:
    health: HealthServer | None = memo.get("health")
    if health is not None:
        await health.stop()
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
