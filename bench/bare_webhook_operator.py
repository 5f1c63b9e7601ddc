"""The baseline of the admission latency benchmark: a bare Kopf webhook that appends one param.

It answers PipelineRun CREATE admission reviews for opted-in runs of one namespace by
appending one param, and does nothing else: no watches, no registry, no metrics. What it
costs a creating client is what any Kopf admission webhook costs on this machine, so the
registry-sync webhook is compared with it rather than with an absolute figure.

Everything around the handler matches the registry-sync operator: Kopf embedded with an own
registry, an async handler with the same filters, a `kopf.WebhookServer` on loopback with a
certificate from `make_serving_certificate`, the MutatingWebhookConfiguration from
`build_configuration` (same selectors, 5 s timeout, failurePolicy Fail; only its names
differ), Kopf's managed mode off, INFO logging in the same format.

Run (admin credentials in KUBECONFIG; `bench/admission_latency.py` starts it):

    .venv/bin/python bench/bare_webhook_operator.py --namespace NS --port 9444
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path
from typing import Any, Final

import click
import kopf
from bare_operator import run_kopf

from registry_sync.controller.kube_calls import load_api_client
from registry_sync.domain.metadata import TARGET_LABEL
from registry_sync.webhook.certificates import make_serving_certificate
from registry_sync.webhook.configuration import (
    HANDLER_ID,
    build_configuration,
    register_configuration,
    url_client_config,
)

APPENDED_PARAM: Final = "bare_webhook"
APPENDED_VALUE: Final = "appended"
READY_LINE: Final = "Activity 'serve-webhook' succeeded"

log = logging.getLogger("bench.bare_webhook")


def configuration_name(namespace: str) -> str:
    return f"bench-bare-webhook-{namespace}"


def bare_configuration(namespace: str, base_url: str, ca_pem: bytes) -> dict[str, Any]:
    """registry-sync's configuration for `namespace`, renamed so that both can coexist."""
    body = build_configuration(namespace, url_client_config(base_url, ca_pem))
    body["metadata"] = {"name": configuration_name(namespace)}
    body["webhooks"][0]["name"] = "append-param.bench.registry-sync.io"
    return body


def build_registry(namespace: str, host: str, port: int) -> kopf.OperatorRegistry:
    """The login, start-up and admission handlers of the bare webhook operator."""
    registry = kopf.OperatorRegistry()
    kopf.on.login(id="login", registry=registry)(kopf.login_via_client)

    @kopf.on.startup(id="serve-webhook", registry=registry)
    async def serve_webhook(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.level = logging.WARNING  # as registry-sync: no Events from log lines
        settings.admission.managed = None  # the configuration is registered below
        folder = Path(tempfile.mkdtemp(prefix="bench-bare-webhook-"))
        made = make_serving_certificate(folder, [host, "localhost"])
        settings.admission.server = kopf.WebhookServer(
            addr=host, port=port, certfile=made.cert_file, pkeyfile=made.key_file
        )
        body = bare_configuration(namespace, f"https://{host}:{port}", made.ca_pem)
        api_client = await asyncio.to_thread(load_api_client)
        await asyncio.to_thread(register_configuration, api_client, body)
        log.info("registered MutatingWebhookConfiguration %s", body["metadata"]["name"])

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
    async def append_param(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        params = body.get("spec", {}).get("params") or []
        # New dicts and lists: Kopf drops in-place edits of `body` from the patch.
        appended = {"name": APPENDED_PARAM, "value": APPENDED_VALUE}
        patch.spec["params"] = [dict(param) for param in params] + [appended]

    return registry


@click.command()
@click.option("--namespace", required=True, help="The namespace whose opted-in runs it mutates.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Webhook listen address.")
@click.option("--port", required=True, type=click.IntRange(1, 65535), help="Webhook port.")
def main(namespace: str, host: str, port: int) -> None:
    """Serve the bare webhook for NAMESPACE until SIGINT/SIGTERM."""
    run_kopf(build_registry(namespace, host, port), namespace)


if __name__ == "__main__":
    main()
