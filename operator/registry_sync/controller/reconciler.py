"""Applies the domain core's decisions about deployments (InferenceServices and
LLMInferenceServices) to the cluster.

The shell around `reconcile_step` (domain/reconcile.py): for one event it gathers what the
book knows, asks the core once (and at most once more, after the refresh or the refused
label patch the core asked about), records the answer in the book, and applies it: label
patch, ModelBinding, Events, metrics. It holds no rule of its own about models or versions,
and keeps no state besides the book.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from registry_sync.controller.binding_book import BindingBook, BindingEntry
from registry_sync.controller.event_queue import EventSink, EventsNow
from registry_sync.controller.kube_calls import (
    ALWAYS_OPEN,
    KubeCallError,
    KubeObjects,
    ObjectRef,
    WriteGate,
)
from registry_sync.controller.metrics import OperatorMetrics
from registry_sync.controller.pod_book import PodBook
from registry_sync.controller.registry_records import RegistryRecordKeeper
from registry_sync.controller.served_name_probe import ServedNameProbe
from registry_sync.domain.binding import (
    BindingDecision,
    EventNote,
    GitOpsPolicy,
    Reason,
    recorded_history,
)
from registry_sync.domain.digest_check import DigestCheck, RegisteredDigests
from registry_sync.domain.inference_service import (
    InferenceServiceFacts,
    is_opted_in,
    read_inference_service,
)
from registry_sync.domain.llm_inference_service import read_llm_inference_service
from registry_sync.domain.metadata import (
    INFERENCE_SERVICES,
    DeploymentKind,
    LabelKeys,
    Resource,
    new_model_binding,
)
from registry_sync.domain.model_binding import as_stored, read_model_binding
from registry_sync.domain.name_clash import NameClash, find_name_clash
from registry_sync.domain.reconcile import (
    BindingRules,
    Decided,
    Known,
    RefreshFirst,
    RegistryView,
    WhatRuns,
    answer_for,
    judge_runs,
    reconcile_step,
    worth_reconciling_again,
)
from registry_sync.domain.reference_index import ReferenceIndex, RegistryOwners
from registry_sync.domain.registry_record import RecordStanding
from registry_sync.domain.safe_names import DEFAULT_NAME_POLICY, NamePolicy
from registry_sync.domain.served_names import (
    NoModelsEndpoint,
    ProbeFailed,
    ProbeProblem,
    ProbeResult,
    ServedNameCheck,
)
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
    digest_check: DigestCheck = DigestCheck.OFF
    served_name_check: ServedNameCheck = ServedNameCheck.OFF
    # The LLMInferenceService version the cluster serves (None: the CRD is absent).
    llm_inference_services: Resource | None = None

    def resource_of(self, kind: DeploymentKind) -> Resource:
        """Where objects of `kind` are patched and named in Events."""
        if kind is DeploymentKind.INFERENCE_SERVICE or self.llm_inference_services is None:
            return INFERENCE_SERVICES
        return self.llm_inference_services

    @property
    def rules(self) -> BindingRules:
        return BindingRules(
            self.keys,
            self.registry_name,
            self.gitops,
            self.names,
            self.digest_check,
            self.served_name_check,
        )


class DigestSource(Protocol):
    """What the registry's artifacts name, as far as the digest cache knows now (no I/O)."""

    def registered_digests(self, index: ReferenceIndex | None) -> RegisteredDigests: ...


@dataclass(frozen=True, slots=True)
class RunningPods:
    """Where the reconciler reads what runs: the pod book, or why pods cannot be read
    (`problem`: the reason and the message the binding shows)."""

    book: PodBook | None = None
    problem: tuple[str, str] = ("DigestUnknown", "its pods are not watched")


class _Changed:
    """The object changed while its labels were being patched: its next event decides."""


CHANGED = _Changed()


class InferenceServiceReconciler:
    """Keeps each opted-in deployment's labels and ModelBinding in line with the registry:
    InferenceServices and LLMInferenceServices alike, told apart by `facts.kind`."""

    def __init__(
        self,
        config: ReconcilerConfig,
        kube: KubeObjects,
        source: RegistrySnapshotSource,
        book: BindingBook,
        metrics: OperatorMetrics,
        clock: Callable[[], float] = time.time,
        *,
        pods: RunningPods | None = None,
        digests: DigestSource | None = None,
        served_names: ServedNameProbe | None = None,
        records: RegistryRecordKeeper | None = None,
        gate: WriteGate = ALWAYS_OPEN,
        events: EventSink | None = None,
    ) -> None:
        self._config = config
        # Default: posted inline; the operator queues them (controller/event_queue.py).
        self._events = events or EventsNow(kube)
        self._records = records  # None: --registry-records off
        self._gate = gate  # several replicas: whether this one writes (controller/leadership.py)
        self._pods = pods or RunningPods()
        self._digests = digests
        self._served_names = served_names
        self._rules = config.rules
        self._kube = kube
        self._source = source
        self._book = book
        self._metrics = metrics
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self._indexed: RegistrySnapshot | None = None
        self._index: ReferenceIndex | None = None

    # Inputs ------------------------------------------------------------------------------

    async def load_existing_bindings(self) -> None:
        """Read the namespace's ModelBindings once at start-up (one LIST) into the book, so
        that a restart rewrites nothing that is right and keeps the recorded answers."""
        bindings = await asyncio.to_thread(self._kube.list_bindings, self._config.namespace)
        self._book.record_found(
            {
                binding.get("metadata", {}).get("name", ""): read_model_binding(binding)
                for binding in bindings
            }
        )

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
        await self._on_deployment(event_type, read_inference_service(body, self._config.keys))

    async def on_llm_inference_service(
        self, event_type: str | None, body: Mapping[str, Any]
    ) -> None:
        """One watch event of an LLMInferenceService (any, opted in or not)."""
        facts = read_llm_inference_service(body, self._config.keys)
        await self._on_deployment(event_type, facts)

    async def _on_deployment(self, event_type: str | None, facts: InferenceServiceFacts) -> None:
        if not facts.name:
            return
        # One lock per name, whatever the kind: a name clash is decided under it.
        async with self._lock(facts.name):
            kinds_before = self._book.kinds_using(facts.name)
            self._book.note_unmanaged(
                facts.kind, facts.name, event_type != "DELETED" and not facts.opted_in
            )
            if event_type == "DELETED":
                # The ModelBinding goes with its owner (garbage collection).
                await self._book.forget(facts.kind, facts.name)
                if (
                    self._records is not None
                    and facts.kind is DeploymentKind.INFERENCE_SERVICE
                    and self._gate.may_write()
                ):
                    # Missed by a follower, or by a writer that lost its term meanwhile: the
                    # start-up sweep of the next writer marks it (best effort, as here).
                    await self._records.deployment_gone(facts.uid)
            elif not facts.opted_in:
                await self._stop_managing(facts)
            else:
                await self._reconcile(facts)
            if self._book.kinds_using(facts.name) != kinds_before:
                # A clash began or ended: the other kind's binding must say so now (its own
                # next event may be far away).
                for kind in DeploymentKind:
                    other = self._book.get(kind, facts.name) if kind is not facts.kind else None
                    if other is not None:
                        await self._reconcile(other.facts)
        if event_type == "DELETED" and not self._lock(facts.name).locked():
            self._locks.pop(facts.name, None)  # per-object state ends with the object

    async def on_registry_refresh(self) -> None:
        """Handle again every known InferenceService whose answer the refresh changed, or
        whose GitOps conflict or failed write is pending (`worth_reconciling_again`).

        Resolution against the shared index is cheap; only changed answers cost API calls.
        """
        registry = self._registry_view()
        for entry in self._book:
            name, kind = entry.facts.name, entry.facts.kind
            async with self._lock(name):
                current = self._book.get(kind, name)
                if current is None:
                    continue
                now_ms = self._now_ms()
                fresh = answer_for(current.facts, current.resolution, registry, now_ms)
                runs = await self._what_runs(current.facts, registry)
                judged = judge_runs(
                    current.facts,
                    fresh,
                    registry,
                    self._rules,
                    runs,
                    now_ms,
                    clash=self._name_clash(current.facts),
                )
                pending = current.write_failed or (
                    current.ready_reason == Reason.GITOPS_CONFLICT.value
                )
                checks = judged.checks
                record = self._records.foresee(current.facts, judged) if self._records else None
                if record is not None:
                    checks = (*checks, record.as_check())
                if worth_reconciling_again(
                    fresh,
                    current.resolution,
                    pending=pending,
                    fresh_checks=checks,
                    known_checks=current.decision.checks if current.decision else (),
                ):
                    await self._reconcile(current.facts)

    async def on_take_over(self) -> None:
        """This replica became the writer (at start, or when the Lease passed to it): read
        the ModelBindings again (the status, and the label corrections, the previous
        writer left) and decide every known deployment once more, so that what changed
        while nobody wrote converges."""
        if not len(self._book):
            return  # nothing decided yet: the first events decide as the writer
        try:
            await self.load_existing_bindings()
        except KubeCallError as error:
            log.warning("%s; deciding from what this replica knows", error)
        for known in self._book:
            name, kind = known.facts.name, known.facts.kind
            async with self._lock(name):
                current = self._book.get(kind, name)
                if current is None:
                    continue
                found = self._book.found(name)
                status = found.status if found is not None else None
                decision = current.decision
                if decision is not None:
                    decision = replace(decision, history=recorded_history(status, current.facts))
                # What the binding holds now is what the previous writer wrote.
                await self._book.put(
                    replace(
                        current,
                        decision=decision,
                        written_status=status,
                        binding_uid=found.uid if found is not None else current.binding_uid,
                    )
                )
                await self._reconcile(current.facts)

    async def on_pod(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """One watch event of a model pod: decide its InferenceService again when what its
        pods run may have changed."""
        if self._pods.book is None:
            return
        name = self._pods.book.note(event_type, body)
        if name is None or self._rules.digest_check is DigestCheck.OFF:
            return
        async with self._lock(name):
            # KServe's InferenceService label: the pods of an InferenceService.
            current = self._book.get(DeploymentKind.INFERENCE_SERVICE, name)
            if current is not None:
                await self._reconcile(current.facts)

    # Work --------------------------------------------------------------------------------

    def _lock(self, name: str) -> asyncio.Lock:
        lock = self._locks.get(name)
        if lock is None:
            lock = self._locks[name] = asyncio.Lock()
        return lock

    def registry_index(self) -> ReferenceIndex | None:
        """The index of the registry data at hand (None before the first good read)."""
        return self._registry_view().index

    def _registry_view(self) -> RegistryView:
        snapshot = self._source.snapshot
        if snapshot is not self._indexed:
            self._indexed = snapshot
            self._index = (
                ReferenceIndex.from_snapshot(snapshot, self._config.owners) if snapshot else None
            )
        error = self._source.last_error
        return RegistryView(self._index, self._source.is_current, str(error) if error else None)

    async def _what_runs(self, facts: InferenceServiceFacts, registry: RegistryView) -> WhatRuns:
        """What the checks of what runs read: pods and digests from memory, the served
        names from the predictor (cached per URL)."""
        digests = (
            self._digests.registered_digests(registry.index)
            if self._digests is not None
            else RegisteredDigests.nothing()
        )
        served = await self._served(facts)
        if self._pods.book is None or facts.kind is not DeploymentKind.INFERENCE_SERVICE:
            return WhatRuns(None, self._pods.problem, digests, served)
        return WhatRuns(self._pods.book.pods_of(facts.name), digests=digests, served=served)

    async def _served(self, facts: InferenceServiceFacts) -> ProbeResult | None:
        if self._served_names is None or self._rules.served_name_check is ServedNameCheck.OFF:
            return None
        endpoint = facts.models_endpoint
        if isinstance(endpoint, NoModelsEndpoint):
            return ProbeFailed(ProbeProblem.NO_URL, endpoint.reason)
        return await self._served_names.served_models(endpoint.url)

    def _step(
        self,
        facts: InferenceServiceFacts,
        known: Known,
        runs: WhatRuns,
        label_patch_error: str | None = None,
        record: RecordStanding | None = None,
    ) -> Decided:
        """The core's second call: after the refresh or the refused patch it asked about.
        It never asks again (domain/reconcile.py); a failure to keep that is a bug."""
        registry = self._registry_view()
        step = reconcile_step(
            facts,
            known,
            registry,
            self._rules,
            self._now_ms(),
            runs=runs,
            refreshed=True,
            label_patch_error=label_patch_error,
            clash=self._name_clash(facts),
            record=record,
        )
        assert isinstance(step, Decided), "the core asked for a second I/O step"
        return step

    async def _keep_record(
        self, facts: InferenceServiceFacts, known: Known, runs: WhatRuns
    ) -> RecordStanding | None:
        """The registry's record of the deployment, made to point at its answer (None:
        `--registry-records off`). Judged as the core judges it: records follow only an
        answer nothing blocks."""
        if self._records is None:
            return None
        registry, now_ms = self._registry_view(), self._now_ms()
        fresh = answer_for(facts, known.answer, registry, now_ms)
        clash = self._name_clash(facts)
        judged = judge_runs(facts, fresh, registry, self._rules, runs, now_ms, clash=clash)
        if not self._gate.may_write():
            # A follower writes no record either: it says what the writer will find.
            return self._records.foresee(facts, judged)
        return await self._records.keep(facts, judged)

    def _name_clash(self, facts: InferenceServiceFacts) -> NameClash | None:
        """Whether another kind of deployment uses this one's name (this one counts even
        before its first entry is in the book)."""
        return find_name_clash(facts.name, {*self._book.kinds_using(facts.name), facts.kind})

    async def _reconcile(self, facts: InferenceServiceFacts) -> None:
        entry = self._book.get(facts.kind, facts.name)
        found = self._book.found(facts.name)
        if found is not None and not found.owned_by(facts.uid):
            # A binding left from an earlier InferenceService of the same name: the garbage
            # collector removes it; a new one is created once it is gone.
            found = None
        known = Known(
            # After a restart the last answer is the one the ModelBinding recorded: an
            # outage must keep it, not forget it (and then deny or cancel every run).
            answer=(entry.resolution if entry else None) or (found.answer if found else None),
            # And the corrections it recorded: a restart buys no more of them.
            history=(
                entry.history if entry else recorded_history(found.status if found else None, facts)
            ),
            status=(entry.written_status if entry else None) or (found.status if found else None),
        )
        registry = self._registry_view()
        runs = await self._what_runs(facts, registry)
        record = await self._keep_record(facts, known, runs)
        first = reconcile_step(
            facts,
            known,
            registry,
            self._rules,
            self._now_ms(),
            runs=runs,
            clash=self._name_clash(facts),
            record=record,
        )
        if isinstance(first, RefreshFirst):
            # A new deployment should not wait for the next periodic refresh.
            await self._source.request_refresh_for(first.uri)
            record = await self._keep_record(facts, known, runs)
            step = self._step(facts, known, runs, record=record)
        else:
            step = first
        self._metrics.resolutions.labels(step.resolution.outcome.value).inc()
        writing = self._gate.may_write()
        entry = replace(
            entry or BindingEntry(facts, binding_uid=found.uid if found else None),
            facts=facts,
            resolution=step.resolution,
            # A follower corrects nothing, so it counts no correction (see `on_take_over`).
            decision=step.decision if writing else replace(step.decision, history=known.history),
        )
        # The webhook answers from the book: it learns the new answer before the cluster
        # shows it (labels, binding), so no run is admitted with an answer already withdrawn.
        await self._book.put(entry)
        if not writing:
            return  # another replica writes (controller/leadership.py)

        decision, patch_failed = step.decision, False
        with self._events.writes_first():
            if decision.label_patch:
                refused = await self._patch_labels(facts, decision.label_patch)
                if refused is CHANGED:
                    return  # the object changed under us: its next event brings the news
                if isinstance(refused, str):
                    step = self._step(facts, known, runs, refused, record=record)
                    decision, patch_failed = step.decision, True
            binding_uid, written = await self._write_binding(facts, entry, decision, known.status)
        for note in decision.events:
            await self._post(facts, note)
        await self._book.put(
            replace(
                entry,
                decision=decision,
                # Unknown when the write failed: the next refresh writes it again.
                written_status=decision.status if written else None,
                binding_uid=binding_uid,
                write_failed=patch_failed or not written,
            )
        )

    async def _patch_labels(
        self, facts: InferenceServiceFacts, label_patch: Mapping[str, str]
    ) -> str | _Changed | None:
        """Patch the labels: None when done, `CHANGED`, or why the apiserver refused."""
        ref = ObjectRef(facts.namespace, facts.name)
        try:
            await asyncio.to_thread(
                self._kube.patch_labels,
                self._config.resource_of(facts.kind),
                ref,
                label_patch,
                facts.resource_version,
            )
        except KubeCallError as error:
            if error.conflict or error.gone:
                log.info("%s changed while being corrected; waiting for its next event", ref)
                return CHANGED
            log.warning("%s", error)
            return str(error)
        self._metrics.label_corrections.inc()
        return None

    async def _write_binding(
        self,
        facts: InferenceServiceFacts,
        entry: BindingEntry,
        decision: BindingDecision,
        previous_status: Mapping[str, Any] | None,
    ) -> tuple[str | None, bool]:
        """Create or update the ModelBinding: its uid, and whether it now holds the status."""
        ref = ObjectRef(facts.namespace, facts.name)
        binding_uid = entry.binding_uid
        try:
            if binding_uid is None:
                binding_uid, previous_status = await self._create_binding(facts, ref)
                if binding_uid is None:
                    return None, False
            if as_stored(decision.status) != as_stored(previous_status):
                await asyncio.to_thread(self._kube.patch_binding_status, ref, decision.status)
        except KubeCallError as error:
            log.warning("%s", error)
            if error.gone:
                # Deleted meanwhile (by the garbage collector, or a person): create it anew.
                self._book.drop_found(facts.name)
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
            body = new_model_binding(
                facts.name,
                facts.uid,
                self._config.namespace,
                self._config.resource_of(facts.kind),
            )
            created = await asyncio.to_thread(self._kube.create_binding, body)
        except KubeCallError as error:
            if not error.conflict:
                raise
            existing = await asyncio.to_thread(self._kube.find_binding, ref)
            recorded = read_model_binding(existing) if existing is not None else None
            if recorded is None or not recorded.owned_by(facts.uid):
                log.info("%s: a ModelBinding of an earlier InferenceService is in the way", ref)
                return None, None
            return recorded.uid, recorded.status
        return read_model_binding(created).uid, None

    async def _stop_managing(self, facts: InferenceServiceFacts) -> None:
        """Annotation removed (or never there): delete the binding, leave the labels alone."""
        found = self._book.drop_found(facts.name)
        if self._records is not None:
            self._records.forget(facts.uid)  # it still serves: its record is left alone
        if self._book.get(facts.kind, facts.name) is None and found is None:
            return
        owned = found is None or found.owned_by(facts.uid)
        await self._book.forget(facts.kind, facts.name)
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
        metadata = {"name": facts.name, "namespace": facts.namespace, "uid": facts.uid}
        note_parts = (note.type, note.reason, note.message)
        await self._events.post(self._config.resource_of(facts.kind), metadata, note_parts)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)
