"""Start-up and shutdown: Kopf's settings, the webhook server, and the services on `memo`.

`memo` arrives from `registry-sync run` holding `operator_settings` and `namespace`.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import kopf

from registry_sync import kopf_settings
from registry_sync.domain.admission import TARGET_LABEL
from registry_sync.kube import RUN_GROUP, RUN_PLURAL, load_api_client
from registry_sync.services import Services, start_services
from registry_sync.settings import OperatorSettings, WebhookMode
from registry_sync.webhook.certificates import make_serving_certificate
from registry_sync.webhook.configuration import (
    build_configuration,
    register_configuration,
    url_client_config,
)
from registry_sync.webhook.review import CheckingWebhookServer

log = logging.getLogger(__name__)


def register(registry: kopf.OperatorRegistry) -> None:
    # An own registry has none of Kopf's default login handlers: in a pod the service
    # account, elsewhere the kubeconfig, through the official client.
    kopf.on.login(id="login", registry=registry)(kopf.login_via_client)

    @kopf.on.startup(id="start-services", registry=registry)
    async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
        operator_settings: OperatorSettings = memo["operator_settings"]
        configure_kopf(settings, operator_settings)
        await configure_webhook(settings, operator_settings, memo["namespace"])
        memo["services"] = await start_services(operator_settings, memo["namespace"])

    @kopf.on.cleanup(id="stop-services", registry=registry)
    async def stop(memo: kopf.Memo, **_: Any) -> None:
        services: Services | None = memo.get("services")
        if services is not None:
            await services.close()


def configure_kopf(settings: kopf.OperatorSettings, operator: OperatorSettings) -> None:
    """Kopf settings chosen on purpose: those of every mode, then this mode's."""
    kopf_settings.configure(settings)
    if operator.webhook is WebhookMode.OFF:
        # Only opted-in runs reach the process: unrelated runs cost nothing.
        settings.watching.label_selectors[RUN_GROUP, RUN_PLURAL] = TARGET_LABEL


async def configure_webhook(
    settings: kopf.OperatorSettings, operator: OperatorSettings, namespace: str
) -> None:
    """Serve the admission webhook as the mode says; locally, also register it.

    The server answers reviews for `namespace` only: the configuration selects no other.
    """
    if operator.webhook is WebhookMode.OFF:
        return
    settings.admission.managed = None  # the configuration is ours (url) or the manifests' (service)
    if operator.webhook is WebhookMode.SERVICE:
        # Kopf re-reads the files when they change: a rotated certificate is picked up.
        settings.admission.server = CheckingWebhookServer(
            namespace=namespace,
            addr=operator.webhook_host,
            port=operator.webhook_port,
            certfile=operator.webhook_cert_file,
            pkeyfile=operator.webhook_key_file,
            file_check_interval=30,
        )
        return
    if operator.webhook_cert_file is not None and operator.webhook_key_file is not None:
        cert_file, key_file = operator.webhook_cert_file, operator.webhook_key_file
        ca_pem = cert_file.read_bytes()  # a self-signed certificate is its own CA
    else:
        folder = Path(tempfile.mkdtemp(prefix="registry-sync-webhook-"))
        # A throw-away key pair for this process only: gone when it exits.
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        made = make_serving_certificate(folder, [operator.webhook_host, "localhost"])
        cert_file, key_file, ca_pem = made.cert_file, made.key_file, made.ca_pem
    settings.admission.server = CheckingWebhookServer(
        namespace=namespace,
        addr=operator.webhook_host,
        port=operator.webhook_port,
        certfile=cert_file,
        pkeyfile=key_file,
    )
    base_url = f"https://{operator.webhook_host}:{operator.webhook_port}"
    body = build_configuration(namespace, url_client_config(base_url, ca_pem))
    api_client = await asyncio.to_thread(load_api_client)
    await asyncio.to_thread(register_configuration, api_client, body)
    log.info("registered MutatingWebhookConfiguration %s at %s", body["metadata"]["name"], base_url)
