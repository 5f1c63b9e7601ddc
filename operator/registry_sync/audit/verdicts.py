"""The audit's rules: what is wrong in one namespace, as a pure function over plain data.

`audit_namespace` takes the InferenceService and PipelineRun bodies of a namespace, a
registry snapshot and the registry's InferenceService records, and returns one
`AuditReport`: a finding with a verdict for every InferenceService and every model-testing
PipelineRun, and the registry-side findings (tag reuse, records pointing elsewhere). It
reads, it never decides to change anything, and it never raises on odd object content.

Rules (docs/audit.md):
- An InferenceService is judged whether it opted in or not. The registry's answer is the
  resolver's (`domain.resolve`, honouring a pin); its labels are compared with
  `domain.binding.expected_labels`. A label with another value is `wrong-labels`, before
  an absent one (`missing-labels`).
- A PipelineRun is a model-testing run when it carries the opt-in label, all three
  configured param names, or an `inference_service_name` param beside one of them. Its
  target is the label's InferenceService, else the `inference_service_name` param's.
- Every verdict other than `ok` (and `unjudged` for registry records) is a mismatch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from registry_sync.domain.binding import (
    InferenceServiceFacts,
    expected_labels,
    read_inference_service,
)
from registry_sync.domain.inference_service import StorageUri
from registry_sync.domain.metadata import TARGET_LABEL, TARGET_PARAM, LabelKeys
from registry_sync.domain.params import ModelNames, ParamNames, ParamPlanError, plan_params
from registry_sync.domain.reference_index import IndexedArtifact, ReferenceIndex
from registry_sync.domain.resolution import (
    Candidate,
    Outcome,
    Resolution,
    candidates_of,
    id_order,
    resolve,
)
from registry_sync.domain.snapshot import RegistrySnapshot


class InferenceServiceVerdict(StrEnum):
    OK = "ok"
    WRONG_LABELS = "wrong-labels"
    MISSING_LABELS = "missing-labels"
    AMBIGUOUS = "ambiguous"
    NOT_REGISTERED = "not-registered"
    PIN_MISMATCH = "pin-mismatch"
    INVALID_STORAGE = "invalid-storage"


class PipelineRunVerdict(StrEnum):
    OK = "ok"
    WRONG_REGISTRY_TARGET = "wrong-registry-target"
    WRONG_VLLM_NAME = "wrong-vllm-name"
    UNKNOWN_INFERENCE_SERVICE = "unknown-inference-service"
    UNRESOLVED_TARGET = "unresolved-target"
    INVALID_PARAMS = "invalid-params"


class RecordVerdict(StrEnum):
    OK = "ok"
    WRONG_VERSION = "wrong-version"
    UNJUDGED = "unjudged"


class TargetSource(StrEnum):
    LABEL = "label"
    PARAM = "param"


class ClaimState(StrEnum):
    """How one label compares with what the registry implies."""

    OK = "ok"
    WRONG = "wrong"
    MISSING = "missing"
    UNJUDGED = "unjudged"  # the registry gives no answer to compare with, or none is expected


# The verdict of each outcome that names no version to judge the labels against (labels are
# judged only for Resolved and Pinned).
_VERDICT_OF_OUTCOME: Final = {
    Outcome.AMBIGUOUS: InferenceServiceVerdict.AMBIGUOUS,
    Outcome.NOT_REGISTERED: InferenceServiceVerdict.NOT_REGISTERED,
    Outcome.PIN_MISMATCH: InferenceServiceVerdict.PIN_MISMATCH,
    Outcome.INVALID_STORAGE_URI: InferenceServiceVerdict.INVALID_STORAGE,
    Outcome.UNSUPPORTED_STORAGE: InferenceServiceVerdict.INVALID_STORAGE,
    # The audit resolves against a snapshot it has just read; kept for completeness.
    Outcome.REGISTRY_UNAVAILABLE: InferenceServiceVerdict.NOT_REGISTERED,
}


@dataclass(frozen=True, slots=True)
class RegistryInferenceServiceRecord:
    """A registry-side InferenceService record (what the registry believes is deployed)."""

    id: str
    name: str
    serving_environment_id: str
    registered_model_id: str
    model_version_id: str | None = None


@dataclass(frozen=True, slots=True)
class LabelClaim:
    """One modelregistry label: its value, the value expected, and what the registry calls it.

    `registry_name` is the name the registry gives the id (a model's or a version's name);
    for a version id, `owner_model_id`/`owner_model_name` say whose version it is.
    """

    key: str
    value: str | None
    expected: str | None
    registry_name: str | None = None
    owner_model_id: str | None = None
    owner_model_name: str | None = None

    @property
    def state(self) -> ClaimState:
        if self.expected is None:
            return ClaimState.UNJUDGED
        if self.value is None:
            return ClaimState.MISSING
        return ClaimState.OK if self.value == self.expected else ClaimState.WRONG


@dataclass(frozen=True, slots=True)
class LabelClaims:
    """The three modelregistry labels of one InferenceService."""

    registered_model_id: LabelClaim
    model_version_id: LabelClaim
    registry_name: LabelClaim

    def all(self) -> tuple[LabelClaim, LabelClaim, LabelClaim]:
        return (self.registered_model_id, self.model_version_id, self.registry_name)


@dataclass(frozen=True, slots=True)
class InferenceServiceFinding:
    name: str
    opted_in: bool
    storage_uri: str | None
    served_name: str | None
    labels: LabelClaims
    resolution: Resolution
    verdict: InferenceServiceVerdict
    problems: tuple[str, ...]

    @property
    def mismatch(self) -> bool:
        return self.verdict is not InferenceServiceVerdict.OK


@dataclass(frozen=True, slots=True)
class ParamClaim:
    """One of the three params a model-testing run carries, and the value it should hold."""

    param: str
    value: str | None
    expected: str | None

    @property
    def state(self) -> ClaimState:
        if self.expected is None:
            return ClaimState.UNJUDGED
        if self.value is None:
            return ClaimState.MISSING
        return ClaimState.OK if self.value == self.expected else ClaimState.WRONG


@dataclass(frozen=True, slots=True)
class RunStatus:
    """Tekton's `Succeeded` condition: status (`True`/`False`/`Unknown`) and reason."""

    succeeded: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class PipelineRunFinding:
    name: str
    inference_service: str | None
    targeted_by: TargetSource | None
    vllm_model_name: ParamClaim
    model_name: ParamClaim
    version_name: ParamClaim
    status: RunStatus
    verdict: PipelineRunVerdict
    problems: tuple[str, ...]

    @property
    def mismatch(self) -> bool:
        return self.verdict is not PipelineRunVerdict.OK


@dataclass(frozen=True, slots=True)
class TagReuse:
    """Several live model versions whose artifacts claim one reference."""

    reference: str
    versions: tuple[Candidate, ...]

    @property
    def message(self) -> str:
        claimants = ", ".join(
            f"model {c.registered_model_name} (id {c.registered_model_id}) version "
            f"{c.model_version_name} (id {c.model_version_id}) as {c.artifact_uri}"
            for c in self.versions
        )
        return (
            f"{len(self.versions)} live versions claim {self.reference}: {claimants}; "
            "a deployment of it cannot be told apart: give each version its own tag or digest"
        )


@dataclass(frozen=True, slots=True)
class RecordFinding:
    """A registry InferenceService record of this namespace, against the deployment."""

    record: RegistryInferenceServiceRecord
    record_model_name: str | None
    record_version_name: str | None
    deployed_model_id: str | None
    deployed_version_id: str | None
    deployed_version_name: str | None
    verdict: RecordVerdict
    message: str

    @property
    def mismatch(self) -> bool:
        return self.verdict is RecordVerdict.WRONG_VERSION


@dataclass(frozen=True, slots=True)
class AuditReport:
    """Everything one audit found. `mismatches` counts the findings that are not right."""

    namespace: str
    label_keys: LabelKeys
    param_names: ParamNames
    registry_name: str | None
    snapshot: RegistrySnapshot
    inference_services: tuple[InferenceServiceFinding, ...]
    pipeline_runs: tuple[PipelineRunFinding, ...]
    tag_reuse: tuple[TagReuse, ...]
    records: tuple[RecordFinding, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def mismatches(self) -> int:
        return (
            sum(finding.mismatch for finding in self.inference_services)
            + sum(finding.mismatch for finding in self.pipeline_runs)
            + len(self.tag_reuse)
            + sum(finding.mismatch for finding in self.records)
        )

    @property
    def clean(self) -> bool:
        return self.mismatches == 0


def audit_namespace(
    namespace: str,
    inference_services: Sequence[object],
    pipeline_runs: Sequence[object],
    snapshot: RegistrySnapshot,
    records: Sequence[RegistryInferenceServiceRecord] = (),
    *,
    keys: LabelKeys | None = None,
    param_names: ParamNames | None = None,
    registry_name: str | None = None,
    now_ms: int = 0,
    notes: Sequence[str] = (),
) -> AuditReport:
    """Judge every InferenceService and model-testing PipelineRun of one namespace.

    `records` are the registry's InferenceService records of the serving environment named
    after the namespace. Objects are reported in name order; bodies that are not
    InferenceServices or PipelineRuns at all are judged as best they can be, never raised on.
    """
    keys = keys or LabelKeys()
    param_names = param_names or ParamNames()
    index = ReferenceIndex.from_snapshot(snapshot)
    services = sorted(
        (
            _judge_inference_service(body, index, keys, registry_name, now_ms)
            for body in inference_services
        ),
        key=lambda finding: finding.name,
    )
    by_name = {finding.name: finding for finding in services}
    runs = sorted(
        (
            _judge_pipeline_run(body, by_name, param_names)
            for body in pipeline_runs
            if is_model_testing_run(body, param_names)
        ),
        key=lambda finding: finding.name,
    )
    return AuditReport(
        namespace=namespace,
        label_keys=keys,
        param_names=param_names,
        registry_name=registry_name,
        snapshot=snapshot,
        inference_services=tuple(services),
        pipeline_runs=tuple(runs),
        tag_reuse=find_tag_reuse(index),
        records=tuple(
            _judge_record(record, by_name, snapshot)
            for record in sorted(records, key=lambda r: (r.name, id_order(r.id)))
        ),
        notes=tuple(notes),
    )


# -- InferenceServices -------------------------------------------------------------------


def _judge_inference_service(
    body: object,
    index: ReferenceIndex,
    keys: LabelKeys,
    registry_name: str | None,
    now_ms: int,
) -> InferenceServiceFinding:
    facts = read_inference_service(body, keys)
    resolution = resolve(
        facts.deployed.storage, index, snapshot_current=True, now_ms=now_ms, pin=facts.pin
    )
    expected = expected_labels(resolution, keys, registry_name)
    claims = _label_claims(facts, expected, keys, index.snapshot)
    verdict = _inference_service_verdict(resolution, claims)
    return InferenceServiceFinding(
        name=facts.name,
        opted_in=facts.opted_in,
        storage_uri=_written_uri(facts),
        served_name=facts.deployed.served_name.name,
        labels=claims,
        resolution=resolution,
        verdict=verdict,
        problems=_inference_service_problems(verdict, resolution, claims, index.snapshot),
    )


def _written_uri(facts: InferenceServiceFacts) -> str | None:
    storage = facts.deployed.storage
    return storage.uri if isinstance(storage, StorageUri) else None


def _label_claims(
    facts: InferenceServiceFacts,
    expected: Mapping[str, str],
    keys: LabelKeys,
    snapshot: RegistrySnapshot,
) -> LabelClaims:
    model_value = facts.labels.get(keys.registered_model_id)
    model = snapshot.models.get(model_value) if model_value is not None else None
    version_value = facts.labels.get(keys.model_version_id)
    version = snapshot.versions.get(version_value) if version_value is not None else None
    owner = snapshot.models.get(version.registered_model_id) if version is not None else None
    return LabelClaims(
        registered_model_id=LabelClaim(
            key=keys.registered_model_id,
            value=model_value,
            expected=expected.get(keys.registered_model_id),
            registry_name=model.name if model is not None else None,
        ),
        model_version_id=LabelClaim(
            key=keys.model_version_id,
            value=version_value,
            expected=expected.get(keys.model_version_id),
            registry_name=version.name if version is not None else None,
            owner_model_id=version.registered_model_id if version is not None else None,
            owner_model_name=owner.name if owner is not None else None,
        ),
        registry_name=LabelClaim(
            key=keys.registry_name,
            value=facts.labels.get(keys.registry_name),
            expected=expected.get(keys.registry_name),
        ),
    )


def _inference_service_verdict(
    resolution: Resolution, claims: LabelClaims
) -> InferenceServiceVerdict:
    if resolution.outcome not in (Outcome.RESOLVED, Outcome.PINNED):
        return _VERDICT_OF_OUTCOME[resolution.outcome]
    states = {claim.state for claim in claims.all()}
    if ClaimState.WRONG in states:
        return InferenceServiceVerdict.WRONG_LABELS
    if ClaimState.MISSING in states:
        return InferenceServiceVerdict.MISSING_LABELS
    return InferenceServiceVerdict.OK


def _inference_service_problems(
    verdict: InferenceServiceVerdict,
    resolution: Resolution,
    claims: LabelClaims,
    snapshot: RegistrySnapshot,
) -> tuple[str, ...]:
    if verdict is InferenceServiceVerdict.OK:
        return ()
    problems: list[str] = []
    if verdict not in (
        InferenceServiceVerdict.WRONG_LABELS,
        InferenceServiceVerdict.MISSING_LABELS,
    ):
        problems.append(resolution.message)
    model, version, name = claims.all()
    for claim, meaning, should_be in (
        (model, _model_meaning(model.value, snapshot), _model_meaning(model.expected, snapshot)),
        (
            version,
            _version_meaning(version.value, snapshot),
            _version_meaning(version.expected, snapshot),
        ),
        (name, "", "the --registry-name setting"),
    ):
        if claim.state is ClaimState.WRONG:
            said = f" ({meaning})" if meaning else ""
            problems.append(
                f"label {claim.key}={claim.value}{said} should be {claim.expected} ({should_be})"
            )
        elif claim.state is ClaimState.MISSING:
            problems.append(
                f"label {claim.key} is missing; it should be {claim.expected} ({should_be})"
            )
    if (
        model.value is not None
        and version.owner_model_id is not None
        and version.owner_model_id != model.value
    ):
        problems.append(
            f"label {version.key}={version.value} is a version of model "
            f"{version.owner_model_name} (id {version.owner_model_id}), not of the labelled "
            f"model {model.registry_name or '(unknown)'} (id {model.value})"
        )
    return tuple(problems)


def _model_meaning(model_id: str | None, snapshot: RegistrySnapshot) -> str:
    model = snapshot.models.get(model_id) if model_id is not None else None
    return f"model {model.name}" if model is not None else "no such registered model"


def _version_meaning(version_id: str | None, snapshot: RegistrySnapshot) -> str:
    version = snapshot.versions.get(version_id) if version_id is not None else None
    if version is None:
        return "no such model version"
    owner = snapshot.models.get(version.registered_model_id)
    owner_name = owner.name if owner is not None else "(unknown)"
    return f"version {version.name} of model {owner_name} (id {version.registered_model_id})"


# -- PipelineRuns --------------------------------------------------------------------------


def is_model_testing_run(body: object, param_names: ParamNames) -> bool:
    """Whether a PipelineRun is a model-testing run the audit judges.

    It is when it carries the opt-in label, or all three configured params, or an
    `inference_service_name` param together with at least one of them.
    """
    if TARGET_LABEL in _labels(body):
        return True
    carried = set(_param_entries(body))
    ours = set(param_names.as_tuple())
    return ours <= carried or (TARGET_PARAM in carried and bool(ours & carried))


def read_run_status(body: object) -> RunStatus:
    """Tekton's `Succeeded` condition of a PipelineRun; empty when it has none yet."""
    status = body.get("status") if isinstance(body, Mapping) else None
    conditions = status.get("conditions") if isinstance(status, Mapping) else None
    if not isinstance(conditions, list):
        return RunStatus()
    for condition in conditions:
        if isinstance(condition, Mapping) and condition.get("type") == "Succeeded":
            succeeded, reason = condition.get("status"), condition.get("reason")
            return RunStatus(
                succeeded=succeeded if isinstance(succeeded, str) else None,
                reason=reason if isinstance(reason, str) else None,
            )
    return RunStatus()


def _judge_pipeline_run(
    body: object,
    services: Mapping[str, InferenceServiceFinding],
    param_names: ParamNames,
) -> PipelineRunFinding:
    name = _text(_metadata(body).get("name"))
    values = _param_entries(body)
    target, source = _target_of(body, values)
    finding = services.get(target) if target is not None else None
    answer = finding.resolution if finding is not None and finding.resolution.has_answer else None
    served = (finding.served_name or finding.name) if finding is not None else None
    expected = (
        ModelNames(
            served_name=served or "",
            model_name=answer.registered_model_name or "",
            version_name=answer.model_version_name or "",
        )
        if answer is not None
        else None
    )
    claims = (
        ParamClaim(param_names.served_name, _shown(values, param_names.served_name), served),
        ParamClaim(
            param_names.model_name,
            _shown(values, param_names.model_name),
            expected.model_name if expected else None,
        ),
        ParamClaim(
            param_names.version_name,
            _shown(values, param_names.version_name),
            expected.version_name if expected else None,
        ),
    )
    problems: list[str] = []
    verdict = _run_verdict(body, target, source, finding, expected, claims, param_names, problems)
    return PipelineRunFinding(
        name=name,
        inference_service=target,
        targeted_by=source,
        vllm_model_name=claims[0],
        model_name=claims[1],
        version_name=claims[2],
        status=read_run_status(body),
        verdict=verdict,
        problems=tuple(problems),
    )


def _run_verdict(
    body: object,
    target: str | None,
    source: TargetSource | None,
    finding: InferenceServiceFinding | None,
    expected: ModelNames | None,
    claims: tuple[ParamClaim, ParamClaim, ParamClaim],
    param_names: ParamNames,
    problems: list[str],
) -> PipelineRunVerdict:
    if target is None:
        problems.append(
            f"names no InferenceService: give it the label {TARGET_LABEL}=<name> "
            f"(or a {TARGET_PARAM} param)"
        )
        return PipelineRunVerdict.UNKNOWN_INFERENCE_SERVICE
    if finding is None:
        where = f"label {TARGET_LABEL}" if source is TargetSource.LABEL else f"param {TARGET_PARAM}"
        problems.append(f"its {where} names InferenceService {target}, which does not exist here")
        return PipelineRunVerdict.UNKNOWN_INFERENCE_SERVICE
    if expected is not None:
        spec = body.get("spec") if isinstance(body, Mapping) else None
        params = spec.get("params") if isinstance(spec, Mapping) else None
        try:
            plan_params(params, expected, param_names)
        except ParamPlanError as error:
            problems.append(f"{error}")
            return PipelineRunVerdict.INVALID_PARAMS
    served, model, version = claims
    verdict = PipelineRunVerdict.OK
    if expected is None:
        problems.append(
            f"InferenceService {target} does not resolve to one model version "
            f"({finding.verdict.value}), so the registry target cannot be checked: "
            f"{finding.resolution.message}"
        )
        verdict = PipelineRunVerdict.UNRESOLVED_TARGET
    registry_wrong = [claim for claim in (model, version) if claim.state is not ClaimState.OK]
    if registry_wrong and expected is not None:
        problems.append(
            f"publishes to model {model.value or '(missing)'} version "
            f"{version.value or '(missing)'}, but InferenceService {target} serves model "
            f"{expected.model_name} version {expected.version_name}: set "
            + ", ".join(f"{claim.param}={claim.expected}" for claim in registry_wrong)
        )
        verdict = PipelineRunVerdict.WRONG_REGISTRY_TARGET
    if served.state is not ClaimState.OK:
        problems.append(
            f"benchmarks vLLM model {served.value or '(missing)'}, but InferenceService "
            f"{target} serves it as {served.expected}: set {served.param}={served.expected}"
        )
        if verdict is PipelineRunVerdict.OK:
            verdict = PipelineRunVerdict.WRONG_VLLM_NAME
    return verdict


def _target_of(
    body: object, values: Mapping[str, object]
) -> tuple[str | None, TargetSource | None]:
    labelled = _labels(body).get(TARGET_LABEL)
    if labelled:
        return labelled, TargetSource.LABEL
    named = values.get(TARGET_PARAM)
    if isinstance(named, str) and named:
        return named, TargetSource.PARAM
    return None, None


def _param_entries(body: object) -> dict[str, object]:
    """`spec.params` as {name: value}; the first entry of a name wins, odd entries are skipped."""
    spec = body.get("spec") if isinstance(body, Mapping) else None
    params = spec.get("params") if isinstance(spec, Mapping) else None
    values: dict[str, object] = {}
    if not isinstance(params, list):
        return values
    for entry in params:
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
            values.setdefault(entry["name"], entry.get("value"))
    return values


def _shown(values: Mapping[str, object], name: str) -> str | None:
    """A param's value as text: strings as they are, arrays and objects as compact JSON."""
    if name not in values:
        return None
    value = values[name]
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


# -- the registry side -------------------------------------------------------------------


def find_tag_reuse(index: ReferenceIndex) -> tuple[TagReuse, ...]:
    """Groups of live versions whose artifacts claim one reference, largest claims first.

    Artifacts matching each other (`repo:tag` and `repo:tag@sha256:…`) count as one
    reference; a group contained in one already reported is not reported again.
    """
    live = [entry for entries in index.by_version.values() for entry in entries if entry.live]
    claims: list[tuple[IndexedArtifact, tuple[Candidate, ...]]] = []
    for entry in live:
        versions = candidates_of(m for m in index.matching(entry.reference) if m.live)
        if len(versions) > 1:
            claims.append((entry, versions))
    claims.sort(key=lambda claim: (-len(claim[1]), id_order(claim[0].artifact.id)))
    found: list[TagReuse] = []
    reported: list[frozenset[str]] = []
    for entry, versions in claims:
        ids = frozenset(candidate.model_version_id for candidate in versions)
        if any(ids <= seen for seen in reported):
            continue
        reported.append(ids)
        found.append(TagReuse(reference=entry.reference.canonical, versions=versions))
    return tuple(found)


def _judge_record(
    record: RegistryInferenceServiceRecord,
    services: Mapping[str, InferenceServiceFinding],
    snapshot: RegistrySnapshot,
) -> RecordFinding:
    model = snapshot.models.get(record.registered_model_id)
    version = (
        snapshot.versions.get(record.model_version_id)
        if record.model_version_id is not None
        else None
    )
    deployment = services.get(record.name)
    answer = (
        deployment.resolution
        if deployment is not None and deployment.resolution.has_answer
        else None
    )

    def finding(verdict: RecordVerdict, message: str) -> RecordFinding:
        return RecordFinding(
            record=record,
            record_model_name=model.name if model else None,
            record_version_name=version.name if version else None,
            deployed_model_id=answer.registered_model_id if answer else None,
            deployed_version_id=answer.model_version_id if answer else None,
            deployed_version_name=answer.model_version_name if answer else None,
            verdict=verdict,
            message=message,
        )

    said = (
        f"registry record {record.name} (id {record.id}) points at model "
        f"{model.name if model else record.registered_model_id}"
        + (
            f" version {version.name if version else record.model_version_id}"
            if record.model_version_id is not None
            else " (no version)"
        )
    )
    if deployment is None:
        return finding(RecordVerdict.UNJUDGED, f"{said}; no InferenceService of that name here")
    if answer is None:
        return finding(
            RecordVerdict.UNJUDGED,
            f"{said}; the InferenceService does not resolve ({deployment.verdict.value})",
        )
    deployed = (
        f"the deployment is model {answer.registered_model_name} version "
        f"{answer.model_version_name} (id {answer.model_version_id})"
    )
    if record.model_version_id is None:
        right = record.registered_model_id == answer.registered_model_id
    else:
        right = record.model_version_id == answer.model_version_id
    if right:
        return finding(RecordVerdict.OK, f"{said}; {deployed}")
    return finding(
        RecordVerdict.WRONG_VERSION,
        f"{said}, but {deployed}; the registry's record of this deployment is stale "
        "(its InferenceService controller does not re-sync a version change)",
    )


# -- reading bodies ------------------------------------------------------------------------


def _metadata(body: object) -> Mapping[str, object]:
    metadata = body.get("metadata") if isinstance(body, Mapping) else None
    return metadata if isinstance(metadata, Mapping) else {}


def _labels(body: object) -> dict[str, str]:
    labels = _metadata(body).get("labels")
    if not isinstance(labels, Mapping):
        return {}
    return {k: v for k, v in labels.items() if isinstance(k, str) and isinstance(v, str)}


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


__all__ = [
    "TARGET_LABEL",
    "TARGET_PARAM",
    "AuditReport",
    "ClaimState",
    "InferenceServiceFinding",
    "InferenceServiceVerdict",
    "LabelClaim",
    "LabelClaims",
    "ParamClaim",
    "PipelineRunFinding",
    "PipelineRunVerdict",
    "RecordFinding",
    "RecordVerdict",
    "RegistryInferenceServiceRecord",
    "RunStatus",
    "TagReuse",
    "TargetSource",
    "audit_namespace",
    "find_tag_reuse",
    "is_model_testing_run",
    "read_run_status",
]
