"""Kopf handlers: thin glue from watch events to the reconciler. No domain rules live here."""

from __future__ import annotations

import kopf

from registry_sync.handlers import inference_services, lifecycle, pipeline_runs
from registry_sync.settings import OperatorSettings, WebhookMode


def build_registry(settings: OperatorSettings) -> kopf.OperatorRegistry:
    """Every handler the operator runs with these settings, in a registry of its own."""
    registry = kopf.OperatorRegistry()
    lifecycle.register(registry)
    inference_services.register(registry)
    if settings.webhook is WebhookMode.OFF:
        pipeline_runs.register_without_webhook(registry)
    else:
        pipeline_runs.register(registry)
    return registry
