"""What the audit reports: verdicts, findings and the whole report, as plain values.

Their shape is the audit's output (the table and the JSON document, docs/audit.md); the
rules that fill them are `audit.verdicts` and `audit.pipeline_run_verdicts`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from registry_sync.domain.answer import Candidate, Outcome, Resolution
from registry_sync.domain.digest_check import (
    DigestCheck,
    DigestReason,
    RegisteredDigest,
    UnlearnedDigest,
)
from registry_sync.domain.metadata import LabelKeys
from registry_sync.domain.params import ParamNames
from registry_sync.domain.pipeline_run import (
    RunStatus,
)
from registry_sync.domain.references import OciReference
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
    TARGET_MISMATCH = "target-mismatch"


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
    deployed: bool = True  # desiredState is not UNDEPLOYED


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


# The `DigestVerified` reasons an audit can give: `DigestCached` needs an earlier lookup
# that a one-shot command never made, and `NotSupportedForKind` a kind it does not list.
AUDIT_DIGEST_REASONS: Final = (
    DigestReason.DIGEST_MATCHES,
    DigestReason.TAG_MOVED,
    DigestReason.ROLLOUT_IN_PROGRESS,
    DigestReason.DIGEST_UNKNOWN,
    DigestReason.HOST_NOT_ALLOWED,
    DigestReason.FORBIDDEN,
)


@dataclass(frozen=True, slots=True)
class RunningImages:
    """What an audit's digest check reads, besides the registry snapshot.

    `pods` are the namespace's model pod bodies (KServe's InferenceService label), None
    when they could not be listed: `pods_problem` then gives the reason (a `DigestReason`
    value) and the message every InferenceService's digest shows. `registered` is what
    each live OCI artifact reference names, by canonical reference; a reference absent
    from it was not looked up.
    """

    pods: tuple[object, ...] | None
    pods_problem: tuple[str, str] = (DigestReason.DIGEST_UNKNOWN, "pods were not read")
    registered: Mapping[str, RegisteredDigest] = field(default_factory=dict)

    def lookup(self, reference: OciReference) -> RegisteredDigest:
        """What `reference` names, as far as this audit learned (a `DigestLookup`)."""
        found = self.registered.get(reference.canonical)
        if found is not None:
            return found
        return UnlearnedDigest(
            DigestReason.DIGEST_UNKNOWN,
            f"{reference.canonical} was not looked up (no pod of the namespace reports a "
            "manifest digest to compare it with)",
        )


@dataclass(frozen=True, slots=True)
class ImageDigestFinding:
    """The digest check of one InferenceService, as the operator's `DigestVerified`
    condition says it: `status` (True, False, Unknown), `reason` and `message`; the digest
    its pods run and the one its registry artifact names (None when not known); the live
    OCI artifacts whose digest could not be learned (`unverified`, escaped URIs: any could
    be the same image registered again). `mismatch`: the check makes the binding's Ready
    False in the mode audited (`TagMoved` and `RolloutInProgress` always, a digest not
    known only in `enforce`); `mismatch_message` then says why."""

    status: str
    reason: str
    message: str
    running_digest: str | None = None
    registered_digest: str | None = None
    unverified: tuple[str, ...] = ()
    mismatch_message: str | None = None

    @property
    def mismatch(self) -> bool:
        return self.mismatch_message is not None


@dataclass(frozen=True, slots=True)
class InferenceServiceFinding:
    """One InferenceService: its claims, the registry's answer (made `Ambiguous` by the
    digest check when the running image is registered more than once) and the verdict on
    its labels; `digest` is the digest check, None when it is off."""

    name: str
    opted_in: bool
    storage_uri: str | None
    served_name: str | None
    labels: LabelClaims
    resolution: Resolution
    verdict: InferenceServiceVerdict
    problems: tuple[str, ...]
    digest: ImageDigestFinding | None = None
    uid: str = ""
    record_label: str | None = None  # the <prefix>/inference-service-id label

    @property
    def digest_mismatch(self) -> bool:
        return self.digest is not None and self.digest.mismatch

    @property
    def mismatch(self) -> bool:
        """Whether anything is wrong with it: its verdict, or what its pods run."""
        return self.verdict is not InferenceServiceVerdict.OK or self.digest_mismatch

    @property
    def mismatches(self) -> int:
        """The verdict and the digest check count one mismatch each."""
        return int(self.verdict is not InferenceServiceVerdict.OK) + int(self.digest_mismatch)


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
    digest_check: DigestCheck = DigestCheck.OFF

    @property
    def mismatches(self) -> int:
        return (
            sum(finding.mismatches for finding in self.inference_services)
            + sum(finding.mismatch for finding in self.pipeline_runs)
            + len(self.tag_reuse)
            + sum(finding.mismatch for finding in self.records)
        )

    @property
    def clean(self) -> bool:
        return self.mismatches == 0
