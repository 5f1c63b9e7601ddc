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
- A registry record is judged against the InferenceService it describes, found as the
  operator finds records (domain/registry_record.py): the `<prefix>/inference-service-id`
  label naming it, then `<name>/<uid>` (or `<name>/<uid>/model-<id>`), then the name.
  UNDEPLOYED records describe nothing that runs: they are skipped.
- With the digest check on, every InferenceService's answer is also judged against what
  its pods run, as the operator judges it (`domain.reconcile.judge_running_digest`): the
  same image registered twice makes the answer `Ambiguous` (verdict `ambiguous`), and
  whatever would make the operator's `Ready` False (`TagMoved`, `RolloutInProgress`; a
  digest not known in `enforce`) is a mismatch of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from registry_sync.audit.findings import (
    _VERDICT_OF_OUTCOME,
    AuditReport,
    ClaimState,
    ImageDigestFinding,
    InferenceServiceFinding,
    InferenceServiceVerdict,
    LabelClaim,
    LabelClaims,
    RecordFinding,
    RecordVerdict,
    RegistryInferenceServiceRecord,
    RunningImages,
    TagReuse,
)
from registry_sync.audit.pipeline_run_verdicts import _judge_pipeline_run, is_model_testing_run
from registry_sync.domain.answer import Candidate, Outcome, Resolution
from registry_sync.domain.binding import expected_labels
from registry_sync.domain.digest_check import DigestCheck, DigestFinding, RegisteredDigests
from registry_sync.domain.inference_service import (
    InferenceServiceFacts,
    StorageUri,
    read_inference_service,
)
from registry_sync.domain.metadata import LabelKeys
from registry_sync.domain.params import ParamNames
from registry_sync.domain.reconcile import (
    BindingRules,
    RegistryView,
    WhatRuns,
    judge_running_digest,
)
from registry_sync.domain.reference_index import IndexedArtifact, ReferenceIndex
from registry_sync.domain.registry_record import DeploymentRef, RegistryRecord, owner_of_record
from registry_sync.domain.resolution import candidates_of, id_order, resolve
from registry_sync.domain.running_image import PodFacts, read_pod
from registry_sync.domain.snapshot import RegistrySnapshot


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
    digest_check: DigestCheck = DigestCheck.OFF,
    running: RunningImages | None = None,
) -> AuditReport:
    """Judge every InferenceService and model-testing PipelineRun of one namespace.

    `records` are the registry's InferenceService records of the serving environment named
    after the namespace. Unless `digest_check` is off, every InferenceService's answer is
    judged against `running` (no `running`: pods not read). Objects are reported in name
    order; bodies that are not InferenceServices, PipelineRuns or pods at all are judged as
    best they can be, never raised on.
    """
    keys = keys or LabelKeys()
    param_names = param_names or ParamNames()
    index = ReferenceIndex.from_snapshot(snapshot)
    digests = (
        None
        if digest_check is DigestCheck.OFF
        else _DigestContext.of(digest_check, running or RunningImages(None), index, keys)
    )
    services = sorted(
        (
            _judge_inference_service(body, index, keys, registry_name, now_ms, digests)
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
            _judge_record(record, services, snapshot)
            for record in sorted(records, key=lambda r: (r.name, id_order(r.id)))
            if record.deployed  # an UNDEPLOYED record describes nothing that runs
        ),
        notes=tuple(notes),
        digest_check=digest_check,
    )


# -- InferenceServices -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _DigestContext:
    """What every InferenceService's digest check shares, built once per audit: the rules,
    the registry view, the pods by InferenceService (None: not read) and what the
    registry's live OCI artifacts name."""

    rules: BindingRules
    registry: RegistryView
    pods: Mapping[str, tuple[PodFacts, ...]] | None
    pods_problem: tuple[str, str]
    registered: RegisteredDigests

    @classmethod
    def of(
        cls, mode: DigestCheck, running: RunningImages, index: ReferenceIndex, keys: LabelKeys
    ) -> _DigestContext:
        pods: dict[str, list[PodFacts]] | None = None
        if running.pods is not None:
            pods = {}
            for body in running.pods:
                facts = read_pod(body)
                if facts is not None:
                    pods.setdefault(facts.inference_service, []).append(facts)
        return cls(
            BindingRules(keys=keys, digest_check=mode),
            # The audit judges a snapshot it has just read: current by definition.
            RegistryView(index, current=True),
            None if pods is None else {name: tuple(found) for name, found in pods.items()},
            running.pods_problem,
            RegisteredDigests.of(index, running.lookup),
        )

    def judge(self, name: str, resolution: Resolution, now_ms: int) -> DigestFinding:
        runs = WhatRuns(
            None if self.pods is None else self.pods.get(name, ()),
            self.pods_problem,
            self.registered,
        )
        return judge_running_digest(resolution, self.registry, self.rules, runs, now_ms)


def _judge_inference_service(
    body: object,
    index: ReferenceIndex,
    keys: LabelKeys,
    registry_name: str | None,
    now_ms: int,
    digests: _DigestContext | None,
) -> InferenceServiceFinding:
    facts = read_inference_service(body, keys)
    resolution = resolve(
        facts.deployed.storage, index, snapshot_current=True, now_ms=now_ms, pin=facts.pin
    )
    digest: ImageDigestFinding | None = None
    if digests is not None:
        judged = digests.judge(facts.name, resolution, now_ms)
        resolution = judged.resolution  # Ambiguous when the running image is registered twice
        digest = _digest_finding(judged)
    expected = expected_labels(resolution, keys, registry_name)
    claims = _label_claims(facts, expected, keys, index.snapshot)
    verdict = _inference_service_verdict(resolution, claims)
    problems = _inference_service_problems(verdict, resolution, claims, index.snapshot)
    if digest is not None and digest.mismatch_message is not None:
        problems += (digest.mismatch_message,)
    return InferenceServiceFinding(
        name=facts.name,
        opted_in=facts.opted_in,
        storage_uri=_written_uri(facts),
        served_name=facts.deployed.served_name.name,
        labels=claims,
        resolution=resolution,
        verdict=verdict,
        problems=problems,
        digest=digest,
        uid=facts.uid,
        record_label=facts.labels.get(keys.inference_service_id),
    )


def _digest_finding(judged: DigestFinding) -> ImageDigestFinding | None:
    """The operator's digest decision as the audit shows it: a mismatch exactly when it
    would make the binding's Ready False."""
    condition = judged.condition
    if condition is None:  # the check is off
        return None
    return ImageDigestFinding(
        status=condition["status"],
        reason=condition["reason"],
        message=condition["message"],
        running_digest=judged.running_digest,
        registered_digest=judged.registered_digest,
        unverified=judged.unverified,
        mismatch_message=None if judged.blocker is None else judged.blocker[1],
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
    services: Sequence[InferenceServiceFinding],
    snapshot: RegistrySnapshot,
) -> RecordFinding:
    model = snapshot.models.get(record.registered_model_id)
    version = (
        snapshot.versions.get(record.model_version_id)
        if record.model_version_id is not None
        else None
    )
    deployment = _deployment_of(record, services)
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
        return finding(RecordVerdict.UNJUDGED, f"{said}; no InferenceService here it describes")
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


def _deployment_of(
    record: RegistryInferenceServiceRecord, services: Sequence[InferenceServiceFinding]
) -> InferenceServiceFinding | None:
    """The InferenceService a record describes, found as the operator finds records: the
    `<prefix>/inference-service-id` label, then `<name>/<uid>`, then the name."""
    refs = [DeploymentRef(service.name, service.uid, service.record_label) for service in services]
    as_read = RegistryRecord(
        record.id, record.name, record.registered_model_id, record.model_version_id, True
    )
    owner = owner_of_record(as_read, refs)
    return None if owner is None else services[refs.index(owner)]


# -- reading bodies ------------------------------------------------------------------------


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
