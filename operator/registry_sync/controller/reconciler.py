"""Applies the domain core's decisions about InferenceServices to the cluster.

The shell around `resolve` and `decide_binding`: it reads what an event or a registry
refresh brings, asks the core, and applies the answer (label patch, ModelBinding, Events,
metrics). It holds no rule of its own about models or versions.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from registry_sync.controller.binding_book import BindingBook, BindingEntry
from registry_sync.controller.kube_calls import KubeCallError, KubeObjects, ObjectRef
from registry_sync.controller.metrics import OperatorMetrics
from registry_sync.domain.binding import (
    BindingDecision,
    EventNote,
    GitOpsPolicy,
    InferenceServiceFacts,
    Reason,
    decide_binding,
    is_opted_in,
    read_inference_service,
    recorded_answer,
)
from registry_sync.domain.inference_service import StorageUri
from registry_sync.domain.metadata import INFERENCE_SERVICES, LabelKeys, new_model_binding
from registry_sync.domain.reference_index import ReferenceIndex, RegistryOwners
from registry_sync.domain.resolution import Outcome, Resolution, resolve
from registry_sync.domain.safe_names import DEFAULT_NAME_POLICY, NamePolicy
from registry_sync.domain.snapshot import RegistrySnapshot
from registry_sync.registry.snapshot_source import RegistrySnapshotSource

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReconcilerConfig:
    namespace: str
    keys: LabelKeys
    registry_name: str | None
    gitops: GitOpsPolicy
    owners: RegistryOwners = field(default_factory=RegistryOwners)
    names: NamePolicy = DEFAULT_NAME_POLICY


class InferenceServiceReconciler:
    """Keeps each opted-in InferenceService's labels and ModelBinding in line with the registry."""

    def __init__(
        self,
        config: ReconcilerConfig,
        kube: KubeObjects,
        source: RegistrySnapshotSource,
        book: BindingBook,
        metrics: OperatorMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = config
        self._kube = kube
        self._source = source
        self._book = book
        self._metrics = metrics
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self._indexed: RegistrySnapshot | None = None
        self._index: ReferenceIndex | None = None
        # Binding statuses found at start-up, so a restart rewrites nothing that is right.
        self._found_bindings: dict[str, Mapping[str, Any]] = {}

    # Inputs ------------------------------------------------------------------------------

    async def load_existing_bindings(self) -> None:
        """Read the namespace's ModelBindings once at start-up (one LIST)."""
        bindings = await asyncio.to_thread(self._kube.list_bindings, self._config.namespace)
        for binding in bindings:
            metadata = binding.get("metadata", {})
            self._found_bindings[metadata.get("name", "")] = binding

    async def expect_existing_inference_services(self) -> None:
        """Tell the book which opted-in InferenceServices exist at start-up (one metadata
        LIST), so that the no-webhook guard waits for them instead of finding none."""
        try:
            items = await asyncio.to_thread(
                self._kube.list_inference_service_metadata, self._config.namespace
            )
        except KubeCallError as error:
            log.warning("%s; PipelineRuns are decided without waiting for them", error)
            return
        self._book.expect(
            item["metadata"].get("name", "")
            for item in items
            if isinstance(item.get("metadata"), dict) and is_opted_in(item)
        )

    async def on_inference_service(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """One watch event of an InferenceService (any, opted in or not)."""
        facts = read_inference_service(body, self._config.keys)
        if not facts.name:
            return
        async with self._lock(facts.name):
            self._book.note_unmanaged(facts.name, event_type != "DELETED" and not facts.opted_in)
            if event_type == "DELETED":
                # The ModelBinding goes with its owner (garbage collection).
                await self._book.forget(facts.name)
                self._found_bindings.pop(facts.name, None)
            elif not facts.opted_in:
                await self._stop_managing(facts)
            else:
                await self._reconcile(facts)
        if event_type == "DELETED" and not self._lock(facts.name).locked():
            self._locks.pop(facts.name, None)  # per-object state ends with the object

    async def on_registry_refresh(self) -> None:
        """Re-resolve every known InferenceService whose answer the refresh changed.

        Resolution against the shared index is cheap; only changed answers cost API calls.
        GitOps conflicts are looked at again too, since their window may have passed, and
        so are label patches and binding writes the apiserver refused or never got (an
        outage, a policy): no watch event follows a failed write, so nothing else would
        try again.
        """
        index = self._current_index()
        for entry in self._book:
            name = entry.facts.name
            async with self._lock(name):
                current = self._book.get(name)
                if current is None:
                    continue
                fresh = self._resolve(current.facts, index, current.resolution)
                in_conflict = current.ready_reason == Reason.GITOPS_CONFLICT.value
                refused = (
                    current.status is None  # the binding's last write failed
                    or _labels_reason(current.status) == Reason.LABEL_PATCH_FAILED.value
                )
                if _same_answer(fresh, current.resolution) and not (in_conflict or refused):
                    continue
                await self._reconcile(current.facts)

    # Work --------------------------------------------------------------------------------

    def _lock(self, name: str) -> asyncio.Lock:
        lock = self._locks.get(name)
        if lock is None:
            lock = self._locks[name] = asyncio.Lock()
        return lock

    def _current_index(self) -> ReferenceIndex | None:
        snapshot = self._source.snapshot
        if snapshot is not self._indexed:
            self._indexed = snapshot
            self._index = (
                ReferenceIndex.from_snapshot(snapshot, self._config.owners) if snapshot else None
            )
        return self._index

    def _resolve(
        self,
        facts: InferenceServiceFacts,
        index: ReferenceIndex | None,
        previous: Resolution | None,
    ) -> Resolution:
        return resolve(
            facts.deployed.storage,
            index,
            snapshot_current=self._source.is_current,
            now_ms=self._now_ms(),
            pin=facts.pin,
            previous=previous,
            registry_problem=str(error) if (error := self._source.last_error) else None,
        )

    async def _reconcile(self, facts: InferenceServiceFacts) -> None:
        entry = self._book.get(facts.name) or BindingEntry(facts=facts)
        # After a restart the last answer is the one the ModelBinding recorded: an outage
        # must keep it, not forget it (and then deny or cancel every run).
        previous = entry.resolution or self._recorded_answer(facts)
        resolution = self._resolve(facts, self._current_index(), previous)
        storage = facts.deployed.storage
        # A new deployment should not wait for the next periodic refresh.
        if (
            resolution.outcome is Outcome.NOT_REGISTERED
            and isinstance(storage, StorageUri)
            and await self._source.request_refresh_for(storage.uri)
        ):
            resolution = self._resolve(facts, self._current_index(), previous)
        self._metrics.resolutions.labels(resolution.outcome.value).inc()

        previous_status = entry.status
        if previous_status is None and facts.name in self._found_bindings:
            previous_status = self._found_bindings[facts.name].get("status")
        decision = self._decide(facts, resolution, entry, previous_status)
        # The webhook answers from the book: it learns the new answer before the cluster
        # shows it (labels, binding), so no run is admitted with an answer already withdrawn.
        await self._book.put(
            replace(
                entry,
                facts=facts,
                resolution=resolution,
                ready=decision.ready,
                ready_reason=decision.ready_reason,
                ready_message=decision.ready_message,
            )
        )
        if decision.label_patch:
            applied = await self._patch_labels(facts, resolution, entry, previous_status, decision)
            if applied is None:
                return  # the object changed under us: its next event brings the news
            decision = applied
        binding_uid, written = await self._write_binding(facts, entry, decision, previous_status)
        for note in decision.events:
            await self._post(facts, note)
        await self._book.put(
            BindingEntry(
                facts=facts,
                resolution=resolution,
                history=decision.history,
                # Unknown when the write failed: the next refresh writes it again.
                status=decision.status if written else None,
                binding_uid=binding_uid,
                ready=decision.ready,
                ready_reason=decision.ready_reason,
                ready_message=decision.ready_message,
            )
        )

    def _decide(
        self,
        facts: InferenceServiceFacts,
        resolution: Resolution,
        entry: BindingEntry,
        previous_status: Mapping[str, Any] | None,
        label_patch_error: str | None = None,
    ) -> BindingDecision:
        return decide_binding(
            facts,
            resolution,
            keys=self._config.keys,
            registry_name=self._config.registry_name,
            history=entry.history,
            policy=self._config.gitops,
            previous_status=previous_status,
            now_ms=self._now_ms(),
            label_patch_error=label_patch_error,
            names=self._config.names,
        )

    async def _patch_labels(
        self,
        facts: InferenceServiceFacts,
        resolution: Resolution,
        entry: BindingEntry,
        previous_status: Mapping[str, Any] | None,
        decision: BindingDecision,
    ) -> BindingDecision | None:
        assert decision.label_patch is not None
        ref = ObjectRef(facts.namespace, facts.name)
        try:
            await asyncio.to_thread(
                self._kube.patch_inference_service_labels,
                ref,
                decision.label_patch,
                facts.resource_version,
            )
        except KubeCallError as error:
            if error.conflict or error.gone:
                log.info("%s changed while being corrected; waiting for its next event", ref)
                return None
            log.warning("%s", error)
            return self._decide(facts, resolution, entry, previous_status, str(error))
        self._metrics.label_corrections.inc()
        return decision

    async def _write_binding(
        self,
        facts: InferenceServiceFacts,
        entry: BindingEntry,
        decision: BindingDecision,
        previous_status: Mapping[str, Any] | None,
    ) -> tuple[str | None, bool]:
        """Create or update the ModelBinding: its uid, and whether it now holds the status."""
        ref = ObjectRef(facts.namespace, facts.name)
        binding_uid = entry.binding_uid or self._found_binding_uid(facts)
        try:
            if binding_uid is None:
                binding_uid, previous_status = await self._create_binding(facts, ref)
                if binding_uid is None:
                    return None, False
            if _without_nones(decision.status) != _without_nones(previous_status):
                await asyncio.to_thread(self._kube.patch_binding_status, ref, decision.status)
        except KubeCallError as error:
            log.warning("%s", error)
            if error.gone:
                # Deleted meanwhile (by the garbage collector, or a person): create it anew.
                self._found_bindings.pop(facts.name, None)
                return None, False
            return binding_uid, False
        return binding_uid, True

    async def _create_binding(
        self, facts: InferenceServiceFacts, ref: ObjectRef
    ) -> tuple[str | None, Mapping[str, Any] | None]:
        """Create the binding, or adopt the one that exists; its uid and current status.

        None for the uid when an existing binding belongs to an earlier InferenceService
        of the same name: the garbage collector removes it, and a later event creates ours.
        """
        try:
            body = new_model_binding(facts.name, facts.uid, self._config.namespace)
            created = await asyncio.to_thread(self._kube.create_binding, body)
        except KubeCallError as error:
            if not error.conflict:
                raise
            existing = await asyncio.to_thread(self._kube.find_binding, ref)
            if existing is None or not _owned_by(existing, facts.uid):
                log.info("%s: a ModelBinding of an earlier InferenceService is in the way", ref)
                return None, None
            return existing.get("metadata", {}).get("uid"), existing.get("status")
        return created.get("metadata", {}).get("uid"), None

    def _recorded_answer(self, facts: InferenceServiceFacts) -> Resolution | None:
        found = self._found_bindings.get(facts.name)
        if found is None or not _owned_by(found, facts.uid):
            return None
        return recorded_answer(found.get("status"))

    def _found_binding_uid(self, facts: InferenceServiceFacts) -> str | None:
        found = self._found_bindings.get(facts.name)
        if found is None:
            return None
        if not _owned_by(found, facts.uid):
            # A binding left from an earlier InferenceService of the same name: the garbage
            # collector removes it; a new one is created once it is gone.
            return None
        uid = found.get("metadata", {}).get("uid")
        return uid if isinstance(uid, str) else None

    async def _stop_managing(self, facts: InferenceServiceFacts) -> None:
        """Annotation removed (or never there): delete the binding, leave the labels alone."""
        known = self._book.get(facts.name) is not None or facts.name in self._found_bindings
        if not known:
            return
        found = self._found_bindings.pop(facts.name, None)
        owned = found is None or _owned_by(found, facts.uid)
        await self._book.forget(facts.name)
        if owned:
            try:
                await asyncio.to_thread(
                    self._kube.delete_binding, ObjectRef(facts.namespace, facts.name)
                )
            except KubeCallError as error:
                log.warning("%s", error)
                return
            await self._post(
                facts,
                EventNote(
                    "Normal",
                    "NoLongerManaged",
                    "annotation registry-sync.io/enabled is gone: ModelBinding deleted, "
                    "labels left as they are",
                ),
            )

    async def _post(self, facts: InferenceServiceFacts, note: EventNote) -> None:
        subject = {
            "apiVersion": f"{INFERENCE_SERVICES.group}/{INFERENCE_SERVICES.version}",
            "kind": "InferenceService",
            "metadata": {"name": facts.name, "namespace": facts.namespace, "uid": facts.uid},
        }
        try:
            await asyncio.to_thread(
                self._kube.post_event, subject, note.type, note.reason, note.message
            )
        except KubeCallError as error:  # Events are best-effort: never let one stop the work.
            log.warning("could not post Event %s on %s: %s", note.reason, facts.name, error)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)


def _owned_by(binding: Mapping[str, Any], uid: str) -> bool:
    owners = binding.get("metadata", {}).get("ownerReferences") or []
    return any(owner.get("uid") == uid for owner in owners)


def _labels_reason(status: Mapping[str, Any] | None) -> str | None:
    """The reason of a binding status's LabelsInSync condition, if it has one."""
    for found in (status or {}).get("conditions", []):
        if found.get("type") == "LabelsInSync":
            reason = found.get("reason")
            return reason if isinstance(reason, str) else None
    return None


def _same_answer(fresh: Resolution, known: Resolution | None) -> bool:
    """Whether two resolutions say the same thing (an outage's ageing message aside)."""
    if known is None:
        return False
    return (
        fresh.outcome,
        fresh.registered_model_id,
        fresh.model_version_id,
        fresh.registered_model_name,
        fresh.model_version_name,
        fresh.candidates,
    ) == (
        known.outcome,
        known.registered_model_id,
        known.model_version_id,
        known.registered_model_name,
        known.model_version_name,
        known.candidates,
    )


def _without_nones(status: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A status as the apiserver keeps it: a merge patch drops the fields set to None."""
    if status is None:
        return None
    return {key: value for key, value in status.items() if value is not None}
