"""The registry's InferenceService records, kept pointing at the resolved versions
(`--registry-records on`): the shell around domain/registry_record.py.

It reads the records of the serving environment named after the namespace once per
registry refresh (one paged listing: the cost does not grow with a GET per deployment),
asks the core for a plan per deployment over that view, and applies it with the registry
client. Errors never fail a reconcile: they become the condition's message and a log line,
and the next refresh tries again. No finalizer anywhere: a deleted deployment's records are
marked UNDEPLOYED when its deletion is seen, best effort, and at the next start otherwise
(`sweep`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from registry_sync.controller.kube_calls import ALWAYS_OPEN, WriteGate
from registry_sync.domain.answer import Outcome
from registry_sync.domain.inference_service import InferenceServiceFacts, Mode
from registry_sync.domain.metadata import DeploymentKind, LabelKeys
from registry_sync.domain.reconcile import Judged
from registry_sync.domain.registry_record import (
    DEPLOYMENT_UID,
    Create,
    DeploymentRef,
    EnvironmentRecords,
    RecordCorrections,
    RecordPlan,
    RecordPolicy,
    RecordStanding,
    RecordWrite,
    RegistryRecord,
    Repoint,
    Undeploy,
    WantedVersion,
    decide_record,
    foreseen,
    no_version_standing,
    not_read_standing,
    records_to_undeploy,
    standing_of,
)
from registry_sync.registry.client import RegistryClient
from registry_sync.registry.errors import RegistryConflict, RegistryError
from registry_sync.registry.models import (
    DesiredState,
    InferenceServiceRecord,
    MetadataStringValue,
)

log = logging.getLogger(__name__)

PAGE_SIZE = 100


def as_registry_record(record: InferenceServiceRecord) -> RegistryRecord:
    """A record as the core reads it."""
    marker = record.custom_properties.get(DEPLOYMENT_UID)
    return RegistryRecord(
        id=record.id,
        name=record.name,
        registered_model_id=record.registered_model_id,
        model_version_id=record.model_version_id or None,
        deployed=record.desired_state is not DesiredState.UNDEPLOYED,
        marked_for=marker.value if isinstance(marker, MetadataStringValue) else None,
    )


class RegistryRecordKeeper:
    """Keeps each bound InferenceService's registry record in line (module docstring).

    In memory: the environment's records as last read (plus this process's writes since),
    and per deployment uid the corrections made within the window. Called under the
    reconciler's per-name lock."""

    def __init__(
        self,
        client: RegistryClient,
        namespace: str,
        keys: LabelKeys,
        policy: RecordPolicy,
        clock: Callable[[], float] = time.time,
        gate: WriteGate = ALWAYS_OPEN,
    ) -> None:
        self._gate = gate  # several replicas: only the Lease holder writes records
        self._client = client
        self._namespace = namespace
        self._keys = keys
        self._policy = policy
        self._clock = clock
        self._environment_id: str | None = None
        self._records: dict[str, InferenceServiceRecord] = {}
        self._index = EnvironmentRecords.of(())
        self._read = False
        self._read_error: str | None = None
        self._written_while_reading: dict[str, InferenceServiceRecord] | None = None
        self._corrections: dict[str, RecordCorrections] = {}

    # Reading -----------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Read the serving environment's records again (after each registry refresh)."""
        self._written_while_reading = {}
        try:
            environment = await self._client.find_serving_environment(self._namespace)
            records: dict[str, InferenceServiceRecord] = {}
            if environment is not None:
                async for page in self._client.inference_service_pages(
                    environment.id, page_size=PAGE_SIZE
                ):
                    records.update((item.id, item) for item in page.items)
        except RegistryError as error:
            self._read_error = str(error)
            log.warning("registry records of %s not read: %s", self._namespace, error)
            return
        finally:
            written, self._written_while_reading = self._written_while_reading, None
        if environment is not None:
            self._environment_id = environment.id
        # A write made while the listing was under way may be missing from it.
        self._records = {**records, **written}
        self._reindex()
        self._read, self._read_error = True, None

    @property
    def records(self) -> EnvironmentRecords:
        """The environment's records as last read (and written since), as the core reads them."""
        return self._index

    def _reindex(self) -> None:
        self._index = EnvironmentRecords.of(as_registry_record(r) for r in self._records.values())

    # Deciding ----------------------------------------------------------------------------

    def foresee(self, facts: InferenceServiceFacts, judged: Judged) -> RecordStanding | None:
        """What `keep` would find, without writing: what a registry refresh compares with
        the standing last written (None: the deployment has no record to keep)."""
        wanted = self._wanted(facts, judged)
        if wanted is None or isinstance(wanted, RecordStanding):
            return wanted
        if not self._read:
            return not_read_standing(self._read_error or "not read yet")
        return foreseen(self._plan(facts, wanted))

    async def keep(self, facts: InferenceServiceFacts, judged: Judged) -> RecordStanding | None:
        """Make the deployment's record point at its answer; what the binding says about it.
        Never raises on a registry error (it becomes the standing)."""
        wanted = self._wanted(facts, judged)
        if wanted is None or isinstance(wanted, RecordStanding):
            return wanted
        if not self._read:
            await self.refresh()
            if not self._read:
                return not_read_standing(self._read_error or "not read yet")
        plan = self._plan(facts, wanted)
        if not plan.writes:
            self._corrections[facts.uid] = plan.corrections
            return standing_of(plan)
        if not self._gate.may_write():
            return foreseen(plan)  # the writer's term ended meanwhile: it is the next one's
        try:
            created = await self._apply(plan, facts.uid)
        except RegistryConflict:
            # The view was behind: someone (the registry's own controller?) created that
            # name meanwhile. Look it up and decide once more.
            try:
                await self._note_named(plan)
                plan = self._plan(facts, wanted)
                created = await self._apply(plan, facts.uid)
            except RegistryError as again:
                return self._failed(facts, plan, again)
        except RegistryError as error:
            return self._failed(facts, plan, error)
        self._corrections[facts.uid] = plan.corrections
        standing = standing_of(plan, created)
        log.info("%s/%s: registry records: %s", facts.namespace, facts.name, standing.corrected)
        return standing

    def forget(self, uid: str) -> None:
        """The deployment opted out: its record is left alone (it still serves)."""
        self._corrections.pop(uid, None)

    def _wanted(
        self, facts: InferenceServiceFacts, judged: Judged
    ) -> WantedVersion | RecordStanding | None:
        if facts.kind is not DeploymentKind.INFERENCE_SERVICE:
            return None  # the registry records InferenceServices only
        answer = judged.resolution
        blocker = next((check.blocker for check in judged.checks if check.blocker), None)
        if answer.outcome not in (Outcome.RESOLVED, Outcome.PINNED):
            return no_version_standing(answer.outcome.value)
        if blocker is not None:
            return no_version_standing(blocker[0])
        if answer.registered_model_id is None or answer.model_version_id is None:
            return no_version_standing(answer.outcome.value)
        return WantedVersion(
            answer.registered_model_id,
            answer.model_version_id,
            f"model {answer.registered_model_name} version {answer.model_version_name} "
            f"(id {answer.model_version_id})",
        )

    def _plan(self, facts: InferenceServiceFacts, wanted: WantedVersion) -> RecordPlan:
        return decide_record(
            DeploymentRef(facts.name, facts.uid, facts.labels.get(self._keys.inference_service_id)),
            wanted,
            self.records,
            corrections=self._corrections.get(facts.uid, RecordCorrections()),
            policy=self._policy,
            now_ms=int(self._clock() * 1000),
            may_write=facts.mode is Mode.ENFORCE,
            environment=self._namespace,
        )

    def _failed(
        self, facts: InferenceServiceFacts, plan: RecordPlan, error: RegistryError
    ) -> RecordStanding:
        log.warning("%s/%s: registry records not corrected: %s", facts.namespace, facts.name, error)
        return standing_of(plan, error=str(error))

    # Writing -----------------------------------------------------------------------------

    async def _apply(self, plan: RecordPlan, uid: str) -> str | None:
        """Make the plan's writes, in order; the id of the record created, if one was."""
        created: str | None = None
        for write in plan.writes:
            record = await self._write(write, uid)
            if isinstance(write, Create):
                created = record.id
        return created

    async def _write(self, write: RecordWrite, uid: str) -> InferenceServiceRecord:
        marker = {DEPLOYMENT_UID: MetadataStringValue(string_value=uid)}
        match write:
            case Create():
                record = await self._client.create_inference_service_record(
                    name=write.name,
                    serving_environment_id=await self._environment(),
                    registered_model_id=write.registered_model_id,
                    model_version_id=write.model_version_id,
                    custom_properties=marker,
                )
            case Repoint():
                current = self._records.get(write.record.id)
                kept = dict(current.custom_properties) if current is not None else {}
                record = await self._client.update_inference_service_record(
                    write.record.id,
                    model_version_id=write.model_version_id,
                    desired_state=DesiredState.DEPLOYED if write.deploy else None,
                    custom_properties={**kept, **marker},
                )
            case Undeploy():
                record = await self._undeploy(write.record.id)
        self._note(record)
        return record

    async def _undeploy(self, record_id: str) -> InferenceServiceRecord:
        return await self._client.update_inference_service_record(
            record_id, desired_state=DesiredState.UNDEPLOYED
        )

    async def _environment(self) -> str:
        """The serving environment named after the namespace, created when missing."""
        if self._environment_id is None:
            environment = await self._client.find_serving_environment(self._namespace)
            if environment is None:
                try:
                    environment = await self._client.create_serving_environment(self._namespace)
                except RegistryConflict:  # created meanwhile (by the registry's controller?)
                    environment = await self._client.find_serving_environment(self._namespace)
                if environment is None:
                    raise RegistryError(
                        f"serving environment {self._namespace} was neither found nor created",
                        method="POST",
                        url="/serving_environments",
                    )
            self._environment_id = environment.id
        return self._environment_id

    async def _note_named(self, plan: RecordPlan) -> None:
        environment = await self._environment()
        found = await self._client.find_inference_service_record(plan.record_name, environment)
        if found is not None:
            self._note(found)

    def _note(self, record: InferenceServiceRecord) -> None:
        self._records[record.id] = record
        self._reindex()  # writes are few: only where something was wrong
        if self._written_while_reading is not None:
            self._written_while_reading[record.id] = record

    # Deployments gone --------------------------------------------------------------------

    async def deployment_gone(self, uid: str) -> None:
        """A deployment was deleted: mark the records registry-sync created or corrected for
        it UNDEPLOYED. Best effort: a failure is logged, and the next start tries again."""
        self._corrections.pop(uid, None)
        if not self._read:
            await self.refresh()
        await self._undeploy_all(r for r in self.records.by_marker.get(uid, ()) if r.deployed)

    async def sweep(self, existing_uids: Iterable[str]) -> None:
        """Mark UNDEPLOYED the records of deployments deleted while no operator watched.
        `existing_uids` must be listed after the records were read (so a record made for a
        deployment created since cannot be taken for an orphan)."""
        await self._undeploy_all(records_to_undeploy(self.records.by_id.values(), existing_uids))

    async def _undeploy_all(self, records: Iterable[RegistryRecord]) -> None:
        for record in tuple(records):
            if not self._gate.may_write():
                log.info("registry records of deleted deployments left to the next writer")
                return
            try:
                self._note(await self._undeploy(record.id))
            except RegistryError as error:
                log.warning(
                    "registry record %s (id %s) of a deleted deployment not marked UNDEPLOYED: "
                    "%s; tried again at the next start",
                    record.name,
                    record.id,
                    error,
                )
            else:
                log.info(
                    "registry record %s (id %s): its deployment is gone, marked UNDEPLOYED",
                    record.name,
                    record.id,
                )
