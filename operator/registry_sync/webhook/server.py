"""The admission webhook's server as the settings choose it, and, in `url` mode, its
registration with the apiserver.

`service`: serve the certificate files the manifests mount (re-read when they change);
the MutatingWebhookConfiguration ships with the manifests. `url` (local runs, tests):
serve given files or a throw-away certificate made for this process, and register a
configuration pointing at this process's address. The server answers reviews for one
namespace only: the configuration selects no other.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import shutil
import tempfile
from pathlib import Path

import kopf

from registry_sync.controller.kube_calls import load_api_client
from registry_sync.controller.settings import OperatorSettings, WebhookMode
from registry_sync.webhook.certificates import make_serving_certificate
from registry_sync.webhook.configuration import (
    build_configuration,
    register_configuration,
    url_client_config,
)
from registry_sync.webhook.review import CheckingWebhookServer

log = logging.getLogger(__name__)


async def configure_webhook(
    kopf_options: kopf.OperatorSettings, settings: OperatorSettings, namespace: str
) -> None:
    """Give Kopf the webhook server `settings.webhook` asks for (none when it is off)."""
    if settings.webhook is WebhookMode.OFF:
        return
    # The configuration is ours (url) or the manifests' (service), never Kopf's.
    kopf_options.admission.managed = None
    if settings.webhook is WebhookMode.SERVICE:
        # Kopf re-reads the files when they change: a rotated certificate is picked up.
        kopf_options.admission.server = CheckingWebhookServer(
            namespace=namespace,
            addr=settings.webhook_host,
            port=settings.webhook_port,
            certfile=settings.webhook_cert_file,
            pkeyfile=settings.webhook_key_file,
            file_check_interval=30,
        )
        return
    if settings.webhook_cert_file is not None and settings.webhook_key_file is not None:
        cert_file, key_file = settings.webhook_cert_file, settings.webhook_key_file
        ca_pem = cert_file.read_bytes()  # a self-signed certificate is its own CA
    else:
        folder = Path(tempfile.mkdtemp(prefix="registry-sync-webhook-"))
        # A throw-away key pair for this process only: gone when it exits.
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        made = make_serving_certificate(folder, [settings.webhook_host, "localhost"])
        cert_file, key_file, ca_pem = made.cert_file, made.key_file, made.ca_pem
    kopf_options.admission.server = CheckingWebhookServer(
        namespace=namespace,
        addr=settings.webhook_host,
        port=settings.webhook_port,
        certfile=cert_file,
        pkeyfile=key_file,
    )
    base_url = f"https://{settings.webhook_host}:{settings.webhook_port}"
    body = build_configuration(namespace, url_client_config(base_url, ca_pem))
    api_client = await asyncio.to_thread(load_api_client)
    await asyncio.to_thread(register_configuration, api_client, body)
    log.info("registered MutatingWebhookConfiguration %s at %s", body["metadata"]["name"], base_url)
