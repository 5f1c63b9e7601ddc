"""A bare Kopf operator: the baseline for the scale and convergence benchmarks.

Per opted-in InferenceService it makes the same API writes as registry-sync, through the
same client calls (`registry_sync.kube.KubeObjects`, in threads): the three modelregistry
labels (a merge patch, only when they differ), the ModelBinding (created once, owned by the
InferenceService) and the binding's status (a merge patch with the same fields and
conditions, only when it changed). The answer comes from a fixed table, storage URI →
(registered model, version, artifact), read from a JSON file: no registry, no resolution
rules, no Events, no GitOps bookkeeping, no webhook. What registry-sync costs beyond this is
its own.

Kopf is set up as registry-sync sets it up: embedded with an own registry, one namespace,
a level-based `@kopf.on.event` handler (no finalizers, no Kopf state on the objects),
cluster scanning off, the same watch timeouts, INFO logging in the same format.

Run (admin credentials in KUBECONFIG; `bench/scale.py` starts it):

    .venv/bin/python bench/bare_operator.py --namespace NS --table answers.json \\
        --registry-name bench-registry

The table maps each URI to {"registeredModelId", "registeredModelName", "modelVersionId",
"modelVersionName", "artifactId"}.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import click
import kopf

from registry_sync.kube import (
    ISVC_GROUP,
    ISVC_PLURAL,
    ISVC_VERSION,
    KubeObjects,
    KubeWriteError,
    ObjectRef,
    load_api_client,
)
from registry_sync.reconciler import binding_body

READY_LINE: Final = "Activity 'load-table' succeeded"
ENABLED_ANNOTATION: Final = "registry-sync.io/enabled"
LABEL_PREFIX: Final = "modelregistry.opendatahub.io"

log = logging.getLogger("bench.bare_operator")


def expected_labels(answer: Mapping[str, str], registry_name: str) -> dict[str, str]:
    return {
        f"{LABEL_PREFIX}/registered-model-id": answer["registeredModelId"],
        f"{LABEL_PREFIX}/model-version-id": answer["modelVersionId"],
        f"{LABEL_PREFIX}/name": registry_name,
    }


def binding_status(
    body: Mapping[str, Any], uri: str, answer: Mapping[str, str], registry_name: str
) -> dict[str, Any]:
    """A Ready status with the fields registry-sync writes (same size on the wire)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    generation = body.get("metadata", {}).get("generation", 1)
    name = body.get("metadata", {}).get("name", "")
    ready_message = (
        f"model-testing runs get model {answer['registeredModelName']} version "
        f"{answer['modelVersionName']} (id {answer['modelVersionId']}), vLLM name {name}"
    )
    labels = ", ".join(f"{k}={v}" for k, v in expected_labels(answer, registry_name).items())
    conditions = [
        ("Resolved", "Resolved", f"{uri} is registered"),
        ("LabelsInSync", "LabelsMatch", f"labels match the registry: {labels}"),
        ("Ready", "Resolved", ready_message),
    ]
    return {
        "observedGeneration": generation,
        "outcome": "Resolved",
        "message": f"{uri} is registered",
        "storageUri": uri,
        "vllmModelName": name,
        "registeredModelId": answer["registeredModelId"],
        "registeredModelName": answer["registeredModelName"],
        "modelVersionId": answer["modelVersionId"],
        "modelVersionName": answer["modelVersionName"],
        "modelArtifactId": answer["artifactId"],
        "registryName": registry_name,
        "registryDataTime": now,
        "candidates": [],
        "conditions": [
            {
                "type": type_,
                "status": "True",
                "reason": reason,
                "message": message,
                "lastTransitionTime": now,
                "observedGeneration": generation,
            }
            for type_, reason, message in conditions
        ],
    }


def _comparable(status: Mapping[str, Any] | None) -> Any:
    """A status without its times, to tell whether a rewrite would change anything."""
    if status is None:
        return None
    kept = {k: v for k, v in status.items() if k not in ("registryDataTime", "conditions")}
    kept["conditions"] = [
        {k: v for k, v in c.items() if k != "lastTransitionTime"}
        for c in status.get("conditions", [])
    ]
    return kept


class BareReconciler:
    def __init__(
        self, kube: KubeObjects, namespace: str, table: Mapping[str, Any], registry_name: str
    ) -> None:
        self._kube = kube
        self._namespace = namespace
        self._table = table
        self._registry_name = registry_name
        self._written: dict[str, tuple[str, Any]] = {}  # name → (binding uid, status written)

    async def on_event(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        metadata = body.get("metadata", {})
        name = metadata.get("name", "")
        if event_type == "DELETED":
            self._written.pop(name, None)
            return
        if str(metadata.get("annotations", {}).get(ENABLED_ANNOTATION, "")).lower() != "true":
            return
        uri = body.get("spec", {}).get("predictor", {}).get("model", {}).get("storageUri")
        answer = self._table.get(uri) if isinstance(uri, str) else None
        if answer is None:
            return
        ref = ObjectRef(self._namespace, name)
        labels = metadata.get("labels") or {}
        expected = expected_labels(answer, self._registry_name)
        patch = {k: v for k, v in expected.items() if labels.get(k) != v}
        try:
            if patch:
                await asyncio.to_thread(
                    self._kube.patch_inference_service_labels,
                    ref,
                    patch,
                    metadata.get("resourceVersion"),
                )
            uid, written = self._written.get(name, ("", None))
            if not uid:
                uid, written = await self._create_binding(body)
            status = binding_status(body, uri, answer, self._registry_name)
            if _comparable(status) != _comparable(written):
                await asyncio.to_thread(self._kube.patch_binding_status, ref, status)
                written = status
            self._written[name] = (uid, written)
        except KubeWriteError as error:
            # A conflict or a vanished object: the object's next event brings the news.
            log.info("%s", error)

    async def _create_binding(self, body: Mapping[str, Any]) -> tuple[str, Any]:
        metadata = body.get("metadata", {})
        facts = _Facts(metadata.get("name", ""), metadata.get("uid", ""))
        try:
            # registry-sync's own binding body (same size, same owner reference).
            body_ = binding_body(facts, self._namespace)  # type: ignore[arg-type]
            created = await asyncio.to_thread(self._kube.create_binding, body_)
            return created["metadata"]["uid"], None
        except KubeWriteError as error:
            if not error.conflict:
                raise
        found = await asyncio.to_thread(
            self._kube.find_binding, ObjectRef(self._namespace, facts.name)
        )
        if found is None:  # deleted meanwhile: the status patch fails, the next event retries
            return "", None
        return found["metadata"]["uid"], found.get("status")


class _Facts:
    """The two fields of registry-sync's InferenceServiceFacts that `binding_body` reads."""

    def __init__(self, name: str, uid: str) -> None:
        self.name = name
        self.uid = uid


def build_registry(
    namespace: str, table: Mapping[str, Any], registry_name: str
) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    kopf.on.login(id="login", registry=registry)(kopf.login_via_client)

    @kopf.on.startup(id="load-table", registry=registry)
    async def load_table(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
        # As registry-sync's configure_kopf.
        settings.posting.level = logging.WARNING
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.watching.inactivity_timeout = 600
        settings.watching.connect_timeout = 30
        settings.networking.request_timeout = 60
        settings.scanning.disabled = True
        kube = KubeObjects(await asyncio.to_thread(load_api_client), component="bench-bare")
        memo["reconciler"] = BareReconciler(kube, namespace, table, registry_name)
        log.info("answer table: %d URIs", len(table))

    @kopf.on.event(ISVC_GROUP, ISVC_VERSION, ISVC_PLURAL, id="inference-service", registry=registry)
    async def inference_service_event(
        type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any
    ) -> None:
        reconciler: BareReconciler = memo["reconciler"]
        await reconciler.on_event(type, body)

    return registry


@click.command()
@click.option("--namespace", required=True, help="The namespace whose InferenceServices it serves.")
@click.option(
    "--table",
    "table_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON: storage URI → answer.",
)
@click.option("--registry-name", required=True, help="Value of the <prefix>/name label.")
def main(namespace: str, table_file: Path, registry_name: str) -> None:
    """Serve NAMESPACE's InferenceServices from the table until SIGINT/SIGTERM."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for chatty in ("httpx", "httpcore", "urllib3", "aiohttp.access"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    kopf.run(
        registry=build_registry(namespace, json.loads(table_file.read_text()), registry_name),
        namespaces=[namespace],
        standalone=True,
    )


if __name__ == "__main__":
    main()
