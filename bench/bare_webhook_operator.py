"""The baseline of the admission latency benchmark: a bare Kopf webhook making the same writes.

It answers PipelineRun CREATE admission reviews for opted-in runs of one namespace by
setting the params and annotations a file names (`--writes`: the ones registry-sync set on
the same run, which the benchmark reads from a dry-run create), and does nothing else: no
watches, no registry, no book, no checks, no metrics. What it costs a creating client is
what a Kopf admission webhook writing that answer costs on this machine, so the
registry-sync webhook is compared with it rather than with an absolute figure.

Everything around the handler matches the registry-sync operator: Kopf embedded with an own
registry, an async handler with the same filters, a `kopf.WebhookServer` on loopback with a
certificate from `make_serving_certificate`, the MutatingWebhookConfiguration from
`build_configuration` (same selectors, 5 s timeout, failurePolicy Fail; only its names
differ), Kopf's managed mode off, INFO logging in the same format.

Run (admin credentials in KUBECONFIG; `bench/admission_latency.py` starts it):

    .venv/bin/python bench/bare_webhook_operator.py --namespace NS --port 9444 --writes FILE

FILE: `{"params": {name: value, ...}, "annotations": {key: value, ...}}`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
from collections.abc import Mapping
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

READY_LINE: Final = "Activity 'serve-webhook' succeeded"

log = logging.getLogger("bench.bare_webhook")


def configuration_name(namespace: str) -> str:
    return f"bench-bare-webhook-{namespace}"


def bare_configuration(namespace: str, base_url: str, ca_pem: bytes) -> dict[str, Any]:
    """registry-sync's configuration for `namespace`, renamed so that both can coexist."""
    body = build_configuration(namespace, url_client_config(base_url, ca_pem))
    body["metadata"] = {"name": configuration_name(namespace)}
    body["webhooks"][0]["name"] = "same-writes.bench.registry-sync.io"
    return body


def build_registry(
    namespace: str, host: str, port: int, writes: Mapping[str, Mapping[str, str]]
) -> kopf.OperatorRegistry:
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
    async def write_answer(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        # The shape of registry-sync's answer: the whole params list, values replaced by
        # name and missing ones appended; the annotations set one by one. New dicts and
        # lists: Kopf drops in-place edits of `body` from the patch.
        values = writes["params"]
        params = [
            {**param, "value": values[param["name"]]}
            if param.get("name") in values
            else dict(param)
            for param in body.get("spec", {}).get("params") or []
        ]
        present = {param.get("name") for param in params}
        params += [
            {"name": name, "value": value} for name, value in values.items() if name not in present
        ]
        patch.spec["params"] = params
        for key, value in writes["annotations"].items():
            patch.metadata.annotations[key] = value

    return registry


@click.command()
@click.option("--namespace", required=True, help="The namespace whose opted-in runs it mutates.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Webhook listen address.")
@click.option("--port", required=True, type=click.IntRange(1, 65535), help="Webhook port.")
@click.option(
    "--writes",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON: the params and annotations to set.",
)
def main(namespace: str, host: str, port: int, writes: Path) -> None:
    """Serve the bare webhook for NAMESPACE until SIGINT/SIGTERM."""
    answer = json.loads(writes.read_text())
    run_kopf(build_registry(namespace, host, port, answer), namespace)


if __name__ == "__main__":
    main()
