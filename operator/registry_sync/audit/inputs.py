"""What an audit reads: the namespace's objects and the registry, with GET and LIST only.

Nothing here writes anywhere: the Kubernetes side is two paged LISTs through the official
client, the registry side the snapshot source's GETs and the InferenceService records'
GETs. Anything that stops the audit is an `AuditImpossible` whose message says what could
not be read and what to check.

With the digest check on, it also LISTs the namespace's model pods and, when one of them
reports a manifest digest, asks the OCI registries once what each live OCI artifact of the
snapshot names (HEAD requests, through the operator's `ArtifactDigests`, with the pull
secret read by GET). Neither stops the audit: pods that cannot be listed are a note, and a
lookup that fails leaves that digest unknown.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, cast

import urllib3.exceptions
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from registry_sync.audit.findings import RegistryInferenceServiceRecord, RunningImages
from registry_sync.audit.registry_records import read_inference_service_records
from registry_sync.controller.kube_calls import (
    KubeCallError,
    KubeConfigError,
    KubeObjects,
    connect,
)
from registry_sync.controller.registered_digests import ArtifactDigests
from registry_sync.controller.settings import RegistrySettings
from registry_sync.domain.digest_check import (
    DigestCheck,
    DigestReason,
    RegisteredDigest,
    live_oci_artifacts,
)
from registry_sync.domain.metadata import INFERENCE_SERVICES, PIPELINE_RUNS, Resource
from registry_sync.domain.reference_index import ReferenceIndex
from registry_sync.domain.references import OciReference
from registry_sync.domain.running_image import INFERENCE_SERVICE_POD_LABEL, read_pod
from registry_sync.domain.snapshot import RegistrySnapshot
from registry_sync.registry.client import RegistryClient
from registry_sync.registry.errors import RegistryError
from registry_sync.registry.snapshot_source import RegistrySnapshotSource

PAGE_SIZE: Final = 500
"""Objects per LIST page; a namespace needing more than one page is large (progress shown)."""

MANY_LOOKUPS: Final = 50
"""Digest lookups from which a progress line says they are under way."""

Progress = Callable[[str], None]


class AuditImpossible(Exception):
    """The audit could not read what it needs; the message says what and what to check."""


@dataclass(frozen=True, slots=True)
class AuditInputs:
    """Everything `audit_namespace` judges, read at one time."""

    namespace: str
    inference_services: tuple[dict[str, Any], ...]
    pipeline_runs: tuple[dict[str, Any], ...]
    snapshot: RegistrySnapshot
    records: tuple[RegistryInferenceServiceRecord, ...]
    notes: tuple[str, ...]
    read_at_ms: int
    running: RunningImages | None = field(default=None)
    """What the digest check reads; None when it is off."""


async def read_audit_inputs(
    namespace: str,
    *,
    registry_url: str,
    token_file: Path | None,
    ca_file: Path | None,
    kubeconfig: str | None,
    progress: Progress,
    digests: RegistrySettings | None = None,
) -> AuditInputs:
    """Read the namespace and the registry at once; `AuditImpossible` if either fails.

    `digests` carries the digest check's settings (`--digest-check`, `--pull-secret`,
    `--oci-ca-file`, `--oci-hosts`); None or `off`: no pod and no OCI registry is read.
    """
    api_client = connect_to_cluster(kubeconfig)
    try:
        api = client.CustomObjectsApi(api_client)
        kube = KubeObjects(api_client)
        cluster_side = asyncio.to_thread(read_namespace_objects, api, namespace, progress)
        registry_side = read_registry(registry_url, token_file, ca_file, namespace)
        (services, runs, notes), (snapshot, records) = await asyncio.gather(
            cluster_side, registry_side
        )
        running: RunningImages | None = None
        if digests is not None and digests.digest_check is not DigestCheck.OFF:
            running, pods_note = await read_running_images(
                kube, namespace, snapshot, digests, progress
            )
            notes += pods_note
    finally:
        api_client.close()  # type: ignore[no-untyped-call]
    return AuditInputs(
        namespace=namespace,
        inference_services=services,
        pipeline_runs=runs,
        snapshot=snapshot,
        records=records,
        notes=notes,
        read_at_ms=int(time.time() * 1000),
        running=running,
    )


async def read_running_images(
    kube: KubeObjects,
    namespace: str,
    snapshot: RegistrySnapshot,
    settings: RegistrySettings,
    progress: Progress,
) -> tuple[RunningImages, tuple[str, ...]]:
    """The model pods, and what the snapshot's live OCI artifacts name when a pod reports a
    digest to compare with; the notes to add (pods that could not be listed)."""
    running, notes = await asyncio.to_thread(read_model_pods, kube, namespace)
    if running.pods is None or not reports_a_digest(running.pods):
        return running, notes
    registered = await look_up_digests(snapshot, settings, kube, namespace, progress)
    return RunningImages(running.pods, running.pods_problem, registered), notes


def read_model_pods(kube: KubeObjects, namespace: str) -> tuple[RunningImages, tuple[str, ...]]:
    """The namespace's model pods (one LIST on KServe's label), and the note to add when
    they could not be listed: then every digest says why, and the audit goes on.

    Blocking (the official client): call it through `asyncio.to_thread` from async code.
    """
    try:
        pods = kube.list_model_pods(namespace, INFERENCE_SERVICE_POD_LABEL)
    except KubeCallError as error:
        if error.forbidden:
            problem = (
                DigestReason.FORBIDDEN,
                f"the audit's identity may not list pods in {namespace}",
            )
            advice = (
                f"the kubeconfig's user needs list on pods in {namespace}, or give "
                "--digest-check off"
            )
        else:
            problem = (DigestReason.DIGEST_UNKNOWN, f"pods could not be listed: {error}")
            advice = "check the API server's health"
        note = f"pods could not be read: digests not checked ({error}); {advice}"
        return RunningImages(None, problem), (note,)
    return RunningImages(tuple(pods)), ()


def reports_a_digest(pods: tuple[object, ...]) -> bool:
    """Whether a running model pod reports a manifest digest: else no digest can be
    compared, and no OCI registry needs to be asked."""
    for body in pods:
        facts = read_pod(body)
        if (
            facts is not None
            and facts.running
            and any(image.digest is not None for image in facts.model_images)
        ):
            return True
    return False


async def look_up_digests(
    snapshot: RegistrySnapshot,
    settings: RegistrySettings,
    kube: KubeObjects,
    namespace: str,
    progress: Progress,
) -> dict[str, RegisteredDigest]:
    """What each live OCI artifact of `snapshot` names, by canonical reference: asked once
    each, with the operator's resolver and rules (hosts, pull secret, CA). A failed lookup
    is an `UnlearnedDigest` saying why; only an unusable `--oci-ca-file` stops the audit."""
    index = ReferenceIndex.from_snapshot(snapshot)
    references = {
        entry.reference.canonical: entry.reference
        for entry in live_oci_artifacts(index)
        if isinstance(entry.reference, OciReference)
    }
    if len(references) >= MANY_LOOKUPS:
        progress(f"looking up the digests of {len(references)} image references…")
    try:
        digests = ArtifactDigests.from_settings(settings, kube, namespace)
    except ValueError as error:
        raise AuditImpossible(str(error)) from None
    try:
        await digests.refresh(index)
        return {canonical: digests.lookup(ref) for canonical, ref in references.items()}
    finally:
        await digests.aclose()


def connect_to_cluster(kubeconfig: str | None) -> client.ApiClient:
    try:
        return connect(kubeconfig)
    except KubeConfigError as error:
        raise AuditImpossible(str(error)) from None


def read_namespace_objects(
    api: client.CustomObjectsApi, namespace: str, progress: Progress
) -> tuple[tuple[dict[str, Any], ...], tuple[dict[str, Any], ...], tuple[str, ...]]:
    """Every InferenceService and PipelineRun of the namespace, and notes on what is absent.

    Blocking (the official client): call it through `asyncio.to_thread` from async code.
    """
    services = _list_all(api, INFERENCE_SERVICES, namespace, progress)
    if services is None:
        raise AuditImpossible(
            f"the cluster does not serve {INFERENCE_SERVICES.full_name}: is KServe "
            "(OpenShift AI model serving) installed?"
        )
    runs = _list_all(api, PIPELINE_RUNS, namespace, progress)
    notes: list[str] = []
    if runs is None:
        notes.append(
            f"the cluster does not serve {PIPELINE_RUNS.full_name} (no Tekton / OpenShift "
            "Pipelines): no PipelineRuns were audited"
        )
        runs = ()
    return services, runs, tuple(notes)


def _list_all(
    api: client.CustomObjectsApi, resource: Resource, namespace: str, progress: Progress
) -> tuple[dict[str, Any], ...] | None:
    """All objects of one resource in the namespace, page by page; None if it is not served."""
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        try:
            page = cast(
                dict[str, Any],
                api.list_namespaced_custom_object(
                    resource.group,
                    resource.version,
                    namespace,
                    resource.plural,
                    limit=PAGE_SIZE,
                    _continue=token,
                ),
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise AuditImpossible(_refusal(error, resource, namespace)) from None
        except urllib3.exceptions.HTTPError as error:
            host = api.api_client.configuration.host
            raise AuditImpossible(
                f"cannot reach the Kubernetes API server at {host} to list "
                f"{resource.plural} in {namespace}: {error}; check the kubeconfig and network"
            ) from None
        items.extend(page.get("items") or [])
        token = (page.get("metadata") or {}).get("continue") or None
        if token is None:
            if len(items) > PAGE_SIZE:
                progress(f"listed {len(items)} {resource.kind}s in {namespace}")
            return tuple(items)
        progress(f"listed {len(items)} {resource.kind}s in {namespace} so far…")


def _refusal(error: ApiException, resource: Resource, namespace: str) -> str:
    try:
        said = str(json.loads(error.body or "{}").get("message") or error.reason or "")
    except (ValueError, AttributeError):
        said = str(error.reason or "")
    advice = (
        f"the kubeconfig's user needs get and list on {resource.plural}.{resource.group} in "
        f"{namespace}"
        if error.status in (401, 403)
        else "check the API server's health"
    )
    return (
        f"listing {resource.plural}.{resource.group} in {namespace} failed: "
        f"HTTP {error.status} {said}".rstrip()
        + f"; {advice}"
    )


async def read_registry(
    registry_url: str, token_file: Path | None, ca_file: Path | None, namespace: str
) -> tuple[RegistrySnapshot, tuple[RegistryInferenceServiceRecord, ...]]:
    """The registry's snapshot and the InferenceService records of the namespace."""
    try:
        registry = RegistryClient(registry_url, token_file=token_file, ca_file=ca_file)
    except ValueError as error:
        raise AuditImpossible(f"cannot use the Model Registry at {registry_url}: {error}") from None
    async with registry:
        try:
            source = RegistrySnapshotSource(registry, full_resync_interval_s=None)
            snapshot = await source.refresh()
            records = await read_inference_service_records(registry, namespace)
        except RegistryError as error:
            raise AuditImpossible(f"cannot read the Model Registry: {error}") from None
    return snapshot, records
