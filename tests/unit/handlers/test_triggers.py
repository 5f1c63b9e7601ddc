"""Which handlers each mode declares, and the Kopf settings each mode gets.

The triggers are declared in one place (handlers/triggers.py); these checks read the Kopf
registry it builds, as Kopf itself will, without a cluster.
"""

from __future__ import annotations

from pathlib import Path

import kopf
import pytest

from registry_sync.controller.settings import OperatorSettings, WebhookMode
from registry_sync.handlers.lifecycle import configure_kopf
from registry_sync.handlers.triggers import build_kopf_registry
from registry_sync.webhook.configuration import HANDLER_ID


def settings(mode: WebhookMode, tmp_path: Path) -> OperatorSettings:
    extra = {}
    if mode is WebhookMode.SERVICE:
        for name in ("tls.crt", "tls.key"):
            (tmp_path / name).write_text("pem")
        extra = {
            "webhook_cert_file": tmp_path / "tls.crt",
            "webhook_key_file": tmp_path / "tls.key",
        }
    return OperatorSettings(registry_url="https://registry.example", webhook=mode, **extra)


def handler_ids(registry: kopf.OperatorRegistry) -> dict[str, set[str]]:
    activities = registry._activities.get_all_handlers()
    return {
        "activities": {f"{h.activity.value}:{h.id}" for h in activities},
        "watching": {h.id for h in registry._watching.get_all_handlers()},
        "webhooks": {h.id for h in registry._webhooks.get_all_handlers()},
    }


ACTIVITIES = {"authentication:login", "startup:start-services", "cleanup:stop-services"}


def selectors(options: kopf.OperatorSettings) -> dict[tuple[str | None, str | None], object]:
    return {(s.group, s.any_name): v for s, v in options.watching.label_selectors.items()}


@pytest.mark.parametrize("mode", [WebhookMode.URL, WebhookMode.SERVICE])
def test_a_webhook_mode_declares_the_mutating_handler_and_no_run_watcher(
    mode: WebhookMode, tmp_path: Path
) -> None:
    ids = handler_ids(build_kopf_registry(settings(mode, tmp_path)))

    assert ids == {
        "activities": ACTIVITIES,
        "watching": {"inference-service"},
        "webhooks": {HANDLER_ID},
    }


def test_the_no_webhook_mode_watches_runs_and_declares_no_webhook(tmp_path: Path) -> None:
    ids = handler_ids(build_kopf_registry(settings(WebhookMode.OFF, tmp_path)))

    assert ids == {
        "activities": ACTIVITIES,
        "watching": {"inference-service", "pipelinerun-guard"},
        "webhooks": set(),
    }


def test_only_the_no_webhook_mode_selects_opted_in_runs_on_the_server(tmp_path: Path) -> None:
    without, with_webhook = kopf.OperatorSettings(), kopf.OperatorSettings()

    configure_kopf(without, settings(WebhookMode.OFF, tmp_path))
    configure_kopf(with_webhook, settings(WebhookMode.URL, tmp_path))

    assert selectors(without) == {
        ("tekton.dev", "pipelineruns"): "registry-sync.io/inference-service"
    }
    assert selectors(with_webhook) == {}
    assert without.scanning.disabled and with_webhook.scanning.disabled


def test_watching_pods_declares_the_model_pod_watcher(tmp_path: Path) -> None:
    ids = handler_ids(build_kopf_registry(settings(WebhookMode.URL, tmp_path), watch_pods=True))

    assert ids["watching"] == {"inference-service", "model-pod"}


def test_only_model_pods_reach_the_process(tmp_path: Path) -> None:
    options = kopf.OperatorSettings()

    configure_kopf(options, settings(WebhookMode.URL, tmp_path), watch_pods=True)

    pods = kopf.Resource("", "v1", "pods")
    other = kopf.Resource("apps", "v1", "deployments")
    assert options.watching.label_selectors.collect(pods) == ["serving.kserve.io/inferenceservice"]
    assert options.watching.label_selectors.collect(other) == []
