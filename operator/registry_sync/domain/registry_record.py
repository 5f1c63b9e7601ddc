"""The registry's InferenceService record of one deployment: which record it is, and what
to write so that it points at the resolved version (`--registry-records on`). Pure.

The Model Registry keeps its own record of what is deployed where: a serving environment
named after the namespace, holding InferenceService records that name a registered model
and a model version. Its own InferenceService controller (kubeflow/hub
`pkg/inferenceservice-controller`) may run beside registry-sync: it names a record
`<name>/<uid>`, looks it up through the `<prefix>/inference-service-id` label first (then by
that name), writes the label back, and never re-syncs a version once the label is set.

Rules:
- The record of a deployment is, in this order: the one the label names, `<name>/<uid>`,
  registry-sync's replacement name `<name>/<uid>/model-<model id>`, the deployment's plain
  name, then any record registry-sync marked as this deployment's. The first of those
  under the resolved model is the right one.
- Same model: point it at the resolved version (`modelVersionId` always set: a record
  without one silently follows the model's newest version) and mark it DEPLOYED.
- No record under the resolved model: create one (a record cannot change model, and names
  are unique per environment) named `<name>/<uid>` when free, else the replacement name:
  deterministic, so that a retry finds its own record instead of making another.
- Every other DEPLOYED record among those found (under another model, or a duplicate) is
  marked UNDEPLOYED: one record describes one deployment.
- Records registry-sync creates or corrects carry the custom property `DEPLOYMENT_UID`, so
  that they can be marked UNDEPLOYED when their deployment goes, even after a restart.
- A record changed back repeatedly (`max_corrections` rounds of writes within the window for
  the same version) is left alone: `RegistryRecordConflict`, no fight.
- The condition `RegistryRecordInSync` never blocks Ready: the binding is right whatever
  the registry's record says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final

from registry_sync.domain.checks import Check
from registry_sync.domain.escaping import escaped

CONDITION_TYPE: Final = "RegistryRecordInSync"
DEPLOYMENT_UID: Final = "registry-sync.io/deployment-uid"
"""Custom property on the records registry-sync created or corrected: the deployment's uid."""


class RecordReason(StrEnum):
    MATCHES = "RecordMatches"
    # Writes are due: what a refresh foresees before `keep` writes; never written to a binding.
    OUT_OF_SYNC = "RecordOutOfSync"
    AUDIT_MODE = "AuditMode"
    CONFLICT = "RegistryRecordConflict"
    FAILED = "RegistryRecordFailed"
    NO_VERSION = "NoVersionToRecord"
    NOT_READ = "RecordsNotRead"


@dataclass(frozen=True, slots=True)
class RegistryRecord:
    """One InferenceService record of the serving environment, as decisions need it."""

    id: str
    name: str
    registered_model_id: str
    model_version_id: str | None
    deployed: bool  # desiredState is not UNDEPLOYED
    marked_for: str | None = None  # the `DEPLOYMENT_UID` property, None when absent


@dataclass(frozen=True, slots=True)
class EnvironmentRecords:
    """A serving environment's records, indexed the ways a deployment's record is found
    (built once per read: a decision per deployment costs no pass over all records)."""

    by_id: Mapping[str, RegistryRecord]
    by_name: Mapping[str, RegistryRecord]
    by_marker: Mapping[str, tuple[RegistryRecord, ...]]

    @classmethod
    def of(cls, records: Iterable[RegistryRecord]) -> EnvironmentRecords:
        by_id = {record.id: record for record in records}
        ordered = sorted(by_id.values(), key=lambda record: (len(record.id), record.id))
        by_marker: dict[str, list[RegistryRecord]] = {}
        for record in ordered:
            if record.marked_for is not None:
                by_marker.setdefault(record.marked_for, []).append(record)
        return cls(
            by_id,
            {record.name: record for record in ordered},
            {uid: tuple(found) for uid, found in by_marker.items()},
        )


@dataclass(frozen=True, slots=True)
class DeploymentRef:
    """What a deployment contributes to finding its record."""

    name: str
    uid: str
    label_record_id: str | None  # the `<prefix>/inference-service-id` label


@dataclass(frozen=True, slots=True)
class WantedVersion:
    """The resolved answer the record must name; `description` for messages."""

    registered_model_id: str
    model_version_id: str
    description: str


@dataclass(frozen=True, slots=True)
class Create:
    name: str
    registered_model_id: str
    model_version_id: str


@dataclass(frozen=True, slots=True)
class Repoint:
    """Set `modelVersionId` (and DEPLOYED when `deploy`) and mark the record as this
    deployment's."""

    record: RegistryRecord
    model_version_id: str
    deploy: bool


@dataclass(frozen=True, slots=True)
class Undeploy:
    record: RegistryRecord


RecordWrite = Create | Repoint | Undeploy


@dataclass(frozen=True, slots=True)
class RecordPolicy:
    """When repeated corrections become a conflict (the GitOps policy's numbers)."""

    max_corrections: int = 3
    window_ms: int = 600_000


@dataclass(frozen=True, slots=True)
class RecordCorrections:
    """Rounds of record writes made for one deployment within the window; `version` is the
    version they were made for (a new answer starts the count afresh)."""

    times_ms: tuple[int, ...] = ()
    stopped: bool = False
    version: str | None = None


@dataclass(frozen=True, slots=True)
class RecordPlan:
    """What to write (nothing, when `reason` is not `MATCHES`), the right record if it exists
    (None: `writes` creates it, under `record_name`), and the corrections after it. For
    `MATCHES`, `message` says where the record points, without naming it."""

    writes: tuple[RecordWrite, ...]
    record: RegistryRecord | None
    record_name: str
    reason: RecordReason
    message: str
    corrections: RecordCorrections


@dataclass(frozen=True, slots=True)
class RecordStanding:
    """What the binding says about the record: the condition, and the record id the
    `<prefix>/inference-service-id` label should hold (None: leave the label alone)."""

    status: str
    reason: str
    message: str
    record_id: str | None = None
    corrected: str | None = None  # what was written, for an Event

    def as_check(self) -> Check:
        failing = self.status == "False" and self.reason in (
            RecordReason.CONFLICT,
            RecordReason.FAILED,
        )
        return Check(
            CONDITION_TYPE,
            {"status": self.status, "reason": self.reason, "message": escaped(self.message)},
            announce=failing,
        )


def upstream_record_name(deployment: DeploymentRef) -> str:
    """The name the Model Registry's own controller gives a deployment's record."""
    return f"{deployment.name}/{deployment.uid}"


def replacement_record_name(deployment: DeploymentRef, registered_model_id: str) -> str:
    """The name of a record registry-sync creates when `<name>/<uid>` is taken by a record
    of another model."""
    return f"{upstream_record_name(deployment)}/model-{registered_model_id}"


def candidate_records(
    deployment: DeploymentRef, registered_model_id: str, records: EnvironmentRecords
) -> tuple[RegistryRecord, ...]:
    """The records that describe `deployment`, in the order they are looked at."""
    by_name = records.by_name
    found: list[RegistryRecord | None] = [
        records.by_id.get(deployment.label_record_id) if deployment.label_record_id else None,
        by_name.get(upstream_record_name(deployment)),
        by_name.get(replacement_record_name(deployment, registered_model_id)),
        by_name.get(deployment.name),
        *records.by_marker.get(deployment.uid, ()),
    ]
    unique: dict[str, RegistryRecord] = {}
    for record in found:
        if record is not None and record.id not in unique:
            unique[record.id] = record
    return tuple(unique.values())


def decide_record(
    deployment: DeploymentRef,
    wanted: WantedVersion,
    records: EnvironmentRecords,
    *,
    corrections: RecordCorrections,
    policy: RecordPolicy,
    now_ms: int,
    may_write: bool,
    environment: str,
) -> RecordPlan:
    """What to write so that `deployment`'s record points at `wanted` (module docstring).
    `records` are the serving environment's; `may_write` is False in audit mode.
    Pure; never raises."""
    candidates = candidate_records(deployment, wanted.registered_model_id, records)
    right = next(
        (r for r in candidates if r.registered_model_id == wanted.registered_model_id), None
    )
    # Any other DEPLOYED record of this deployment is stale: one record describes it.
    stale = tuple(Undeploy(r) for r in candidates if r is not right and r.deployed)
    writes: tuple[RecordWrite, ...]
    if right is None:
        taken = records.by_name
        name = upstream_record_name(deployment)
        if name in taken:
            name = replacement_record_name(deployment, wanted.registered_model_id)
        if name in taken:  # by a record of another model, made by someone else
            other = taken[name]
            return RecordPlan(
                (),
                None,
                name,
                RecordReason.CONFLICT,
                f"the record name {name} is taken by record {other.id} of model "
                f"{other.registered_model_id} in serving environment {environment}; rename or "
                f"undeploy that record so that one for {wanted.description} can be created",
                corrections,
            )
        writes = (Create(name, wanted.registered_model_id, wanted.model_version_id), *stale)
    else:
        name = right.name
        right_now = (
            right.model_version_id == wanted.model_version_id
            and right.deployed
            and right.marked_for in (None, deployment.uid)
        )
        repoint = (
            () if right_now else (Repoint(right, wanted.model_version_id, not right.deployed),)
        )
        writes = (*repoint, *stale)

    history = _current_corrections(corrections, wanted, policy, now_ms, in_sync=not writes)
    where = f"in serving environment {environment}"
    if not writes:
        return RecordPlan(
            (),
            right,
            name,
            RecordReason.MATCHES,
            f"{where} points at {wanted.description}",
            history,
        )
    todo = describe_writes(writes)
    if len(history.times_ms) >= policy.max_corrections:
        return RecordPlan(
            (),
            right,
            name,
            RecordReason.CONFLICT,
            f"the registry's record of this deployment keeps being changed back "
            f"({len(history.times_ms)} corrections within {policy.window_ms // 1000} s): "
            f"registry-sync stopped correcting it. Find the other writer; the record should "
            f"be right after: {todo}",
            replace(history, stopped=True),
        )
    if not may_write:
        return RecordPlan(
            (),
            right,
            name,
            RecordReason.AUDIT_MODE,
            f"audit mode: the registry's records {where} are not changed; they should be: {todo}",
            history,
        )
    return RecordPlan(
        writes,
        right,
        name,
        RecordReason.MATCHES,
        f"{where} points at {wanted.description}",
        RecordCorrections((*history.times_ms, now_ms), False, wanted.model_version_id),
    )


def describe_writes(writes: Iterable[RecordWrite]) -> str:
    """The writes as a person reads them, in order."""
    parts = []
    for write in writes:
        match write:
            case Create(name=name, model_version_id=version):
                parts.append(f"create record {name} for version {version}")
            case Repoint(record=record, model_version_id=version, deploy=deploy):
                parts.append(
                    f"point record {record.name} (id {record.id}) at version {version}"
                    + (" and mark it DEPLOYED" if deploy else "")
                )
            case Undeploy(record=record):
                parts.append(
                    f"mark record {record.name} (id {record.id}, model "
                    f"{record.registered_model_id}) UNDEPLOYED"
                )
    return "; ".join(parts)


def foreseen(plan: RecordPlan) -> RecordStanding:
    """What the binding says before the plan's writes are made (`OUT_OF_SYNC` while some are
    due): what a registry refresh compares with the last written standing."""
    if plan.writes:
        return RecordStanding(
            "False",
            RecordReason.OUT_OF_SYNC,
            f"due: {describe_writes(plan.writes)}",
            plan.record.id if plan.record else None,
        )
    return standing_of(plan)


def standing_of(
    plan: RecordPlan, created_id: str | None = None, error: str | None = None
) -> RecordStanding:
    """What the binding says once the plan's writes were made (`created_id`: the id of the
    record the plan created), or failed with `error`."""
    record_id = plan.record.id if plan.record is not None else created_id
    if error is not None:
        todo = describe_writes(plan.writes)
        return RecordStanding(
            "False",
            RecordReason.FAILED,
            f"could not {todo}: {error}; tried again at the next registry refresh",
            record_id,
        )
    ok = plan.reason is RecordReason.MATCHES
    message = plan.message
    if ok:
        named = plan.record_name + (f" (id {record_id})" if record_id is not None else "")
        message = f"registry record {named} {message}"
    return RecordStanding(
        "True" if ok else "False",
        plan.reason,
        message,
        record_id,
        describe_writes(plan.writes) if plan.writes else None,
    )


def no_version_standing(why: str) -> RecordStanding:
    """No answer to record (not Resolved or Pinned, or a check of what runs blocks it): the
    record is left as it is."""
    return RecordStanding(
        "Unknown",
        RecordReason.NO_VERSION,
        f"no version to record ({why}): the registry's record is left as it is",
    )


def not_read_standing(error: str) -> RecordStanding:
    return RecordStanding(
        "Unknown",
        RecordReason.NOT_READ,
        f"the registry's InferenceService records could not be read: {error}; tried again "
        "at the next registry refresh",
    )


def records_to_undeploy(
    records: Iterable[RegistryRecord], existing_uids: Iterable[str]
) -> tuple[RegistryRecord, ...]:
    """The DEPLOYED records registry-sync created or corrected whose deployment no longer
    exists (a deployment still there, opted in or not, keeps its record)."""
    alive = set(existing_uids)
    return tuple(
        record
        for record in records
        if record.deployed and record.marked_for is not None and record.marked_for not in alive
    )


def owner_of_record(
    record: RegistryRecord, deployments: Iterable[DeploymentRef]
) -> DeploymentRef | None:
    """The deployment a record describes, found as the operator finds records: the label
    naming its id, then `<name>/<uid>` (or registry-sync's replacement name), then the plain
    name. The audit judges a record against this deployment."""
    listed = tuple(deployments)
    by_label = next((d for d in listed if d.label_record_id == record.id), None)
    if by_label is not None:
        return by_label
    for deployment in listed:
        upstream = upstream_record_name(deployment)
        if record.name == upstream or record.name.startswith(f"{upstream}/model-"):
            return deployment
    return next((d for d in listed if d.name == record.name), None)


def _current_corrections(
    corrections: RecordCorrections,
    wanted: WantedVersion,
    policy: RecordPolicy,
    now_ms: int,
    *,
    in_sync: bool,
) -> RecordCorrections:
    if corrections.version is not None and corrections.version != wanted.model_version_id:
        return RecordCorrections()  # a new answer: earlier corrections were for another one
    if corrections.stopped and in_sync:
        return RecordCorrections()  # someone set it right: the conflict is over
    recent = tuple(t for t in corrections.times_ms if now_ms - t < policy.window_ms)
    return RecordCorrections(
        recent, corrections.stopped and len(recent) >= policy.max_corrections, corrections.version
    )
