"""A bare Kopf operator: the baseline for the scale and convergence benchmarks.

Per opted-in InferenceService it makes the same API writes as registry-sync, through the
same client calls (the official client's CustomObjectsApi, with the methods and arguments
of `registry_sync.controller.kube_calls.KubeObjects`, in threads): the three modelregistry
labels (a merge patch, only when they differ), the ModelBinding (created once, owned by the
InferenceService) and the binding's status (a merge patch with the same fields and
conditions, only when it changed). The answer comes from a fixed table, storage URI →
(registered model, version, artifact), read from a JSON file: no registry, no resolution
rules, no Events, no GitOps bookkeeping, no webhook. What registry-sync costs beyond this is
its own.

Kopf is set up as registry-sync sets it up: embedded with an own registry, one namespace,
a level-based `@kopf.on.event` handler (no finalizers, no Kopf state on the objects), the
same Kopf settings (cluster scanning off, the same watch timeouts), INFO logging in the
same format. Of registry-sync it loads only `registry_sync.controller.kopf_settings` (those
settings, the resource names and the ModelBinding body): not its reconciler, registry
client, metrics or domain rules, so that the baseline stays bare (tests/unit/test_process_imports.py
checks what it imports).

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
from typing import Any, Final, cast

import click
import kopf
import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from registry_sync.controller import kopf_settings
from registry_sync.domain.metadata import (
    ENABLED_ANNOTATION,
    INFERENCE_SERVICES,
    MODEL_BINDINGS,
    LabelKeys,
    new_model_binding,
)

READY_LINE: Final = "Activity 'load-table' succeeded"
# registry-sync's opt-in annotation and default label prefix (its domain rules are not
# loaded here; a unit test checks that these stay the same).
MERGE_PATCH: Final = "application/merge-patch+json"
# A refusal, or an apiserver that cannot be reached: as registry-sync, a failed call.
WRITE_FAILURES: Final = (ApiException, urllib3.exceptions.HTTPError)

log = logging.getLogger("bench.bare_operator")

LABELS: Final = LabelKeys()  # the operator's default prefix


def expected_labels(answer: Mapping[str, str], registry_name: str) -> dict[str, str]:
    return {
        LABELS.registered_model_id: answer["registeredModelId"],
        LABELS.model_version_id: answer["modelVersionId"],
        LABELS.registry_name: registry_name,
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


class BareWrites:
    """The four calls, as `registry_sync.controller.kube_calls.KubeObjects` makes them (same
    methods, same arguments). Every call blocks: reached through `asyncio.to_thread`."""

    def __init__(self, api_client: client.ApiClient, namespace: str) -> None:
        self._custom = client.CustomObjectsApi(api_client)
        self._namespace = namespace

    def patch_labels(
        self, name: str, labels: Mapping[str, str], resource_version: str | None
    ) -> None:
        metadata: dict[str, Any] = {"labels": dict(labels)}
        if resource_version:
            metadata["resourceVersion"] = resource_version
        self._custom.patch_namespaced_custom_object(
            INFERENCE_SERVICES.group,
            INFERENCE_SERVICES.version,
            self._namespace,
            INFERENCE_SERVICES.plural,
            name,
            {"metadata": metadata},
            _content_type=MERGE_PATCH,
        )

    def create_binding(self, body: Mapping[str, Any]) -> dict[str, Any]:
        created = self._custom.create_namespaced_custom_object(
            MODEL_BINDINGS.group,
            MODEL_BINDINGS.version,
            self._namespace,
            MODEL_BINDINGS.plural,
            dict(body),
        )
        return cast(dict[str, Any], created)

    def find_binding(self, name: str) -> dict[str, Any] | None:
        found = self._custom.list_namespaced_custom_object(
            MODEL_BINDINGS.group,
            MODEL_BINDINGS.version,
            self._namespace,
            MODEL_BINDINGS.plural,
            field_selector=f"metadata.name={name}",
        )
        items: list[dict[str, Any]] = cast(dict[str, Any], found).get("items", [])
        return items[0] if items else None

    def patch_binding_status(self, name: str, status: Mapping[str, Any]) -> None:
        self._custom.patch_namespaced_custom_object_status(
            MODEL_BINDINGS.group,
            MODEL_BINDINGS.version,
            self._namespace,
            MODEL_BINDINGS.plural,
            name,
            {"status": dict(status)},
            _content_type=MERGE_PATCH,
        )


class BareReconciler:
    def __init__(
        self, kube: BareWrites, namespace: str, table: Mapping[str, Any], registry_name: str
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
        labels = metadata.get("labels") or {}
        expected = expected_labels(answer, self._registry_name)
        patch = {k: v for k, v in expected.items() if labels.get(k) != v}
        try:
            if patch:
                await asyncio.to_thread(
                    self._kube.patch_labels, name, patch, metadata.get("resourceVersion")
                )
            uid, written = self._written.get(name, ("", None))
            if not uid:
                uid, written = await self._create_binding(body)
            status = binding_status(body, uri, answer, self._registry_name)
            if _comparable(status) != _comparable(written):
                await asyncio.to_thread(self._kube.patch_binding_status, name, status)
                written = status
            self._written[name] = (uid, written)
        except WRITE_FAILURES as error:
            # A conflict or a vanished object: the object's next event brings the news.
            log.info("writing for InferenceService %s/%s: %s", self._namespace, name, error)

    async def _create_binding(self, body: Mapping[str, Any]) -> tuple[str, Any]:
        metadata = body.get("metadata", {})
        name = metadata.get("name", "")
        try:
            # registry-sync's own binding body (same size, same owner reference).
            body_ = new_model_binding(name, metadata.get("uid", ""), self._namespace)
            created = await asyncio.to_thread(self._kube.create_binding, body_)
            return created["metadata"]["uid"], None
        except ApiException as error:
            if error.status != 409:
                raise
        found = await asyncio.to_thread(self._kube.find_binding, name)
        if found is None:  # deleted meanwhile: the status patch fails, the next event retries
            return "", None
        return found["metadata"]["uid"], found.get("status")


def build_registry(
    namespace: str, table: Mapping[str, Any], registry_name: str
) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    kopf.on.login(id="login", registry=registry)(kopf.login_via_client)

    @kopf.on.startup(id="load-table", registry=registry)
    async def load_table(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
        kopf_settings.configure(settings)
        # KUBECONFIG, as registry-sync outside a pod.
        kube = BareWrites(await asyncio.to_thread(config.new_client_from_config), namespace)
        memo["reconciler"] = BareReconciler(kube, namespace, table, registry_name)
        log.info("answer table: %d URIs", len(table))

    @kopf.on.event(
        INFERENCE_SERVICES.group,
        INFERENCE_SERVICES.version,
        INFERENCE_SERVICES.plural,
        id="inference-service",
        registry=registry,
    )
    async def inference_service_event(
        type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any
    ) -> None:
        reconciler: BareReconciler = memo["reconciler"]
        await reconciler.on_event(type, body)

    return registry


def run_kopf(registry: kopf.OperatorRegistry, namespace: str) -> None:
    """Kopf with `registry` on `namespace` until SIGINT/SIGTERM, logging at INFO as
    registry-sync does (`kopf_settings.configure_logging`; registry-sync also escapes its
    lines). The bare webhook operator runs the same way."""
    kopf_settings.configure_logging(logging.INFO)
    kopf.run(registry=registry, namespaces=[namespace], standalone=True)


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
    run_kopf(
        build_registry(namespace, json.loads(table_file.read_text()), registry_name), namespace
    )


if __name__ == "__main__":
    main()
