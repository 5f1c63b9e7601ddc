"""One InferenceService event, decided: the core the reconciler calls.

`reconcile_step` resolves the deployment against the registry, judges what runs against
that answer (domain/digest_check.py) and decides the binding (domain/binding.py). It may
first ask for one I/O step, and the shell calls it at most once more after that step,
telling it so:
- `RefreshFirst`: the deployed URI is not registered in the data at hand; a registry
  refresh may bring it (a model registered seconds ago). Called again with
  `refreshed=True`, it never asks again.
- a refused label patch: called again with `label_patch_error`, its decision asks for no
  patch (the binding says the patch failed; the next registry refresh tries again).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from registry_sync.domain.answer import Outcome, Resolution
from registry_sync.domain.binding import (
    BindingDecision,
    CorrectionHistory,
    EventNote,
    GitOpsPolicy,
    decide_binding,
)
from registry_sync.domain.checks import Check, checks_gist
from registry_sync.domain.digest_check import (
    DigestCheck,
    DigestFinding,
    RegisteredDigests,
    digest_not_read_for_kind,
    judge_digest,
)
from registry_sync.domain.escaping import escaped
from registry_sync.domain.inference_service import InferenceServiceFacts, StorageUri
from registry_sync.domain.metadata import DeploymentKind, LabelKeys
from registry_sync.domain.name_clash import NameClash, name_clash_check
from registry_sync.domain.reference_index import ReferenceIndex
from registry_sync.domain.references import InvalidStorageUri, parse_storage_uri
from registry_sync.domain.registry_record import RecordStanding
from registry_sync.domain.resolution import resolve
from registry_sync.domain.running_image import (
    DigestNotKnowable,
    PodFacts,
    RunningImage,
    running_digest,
)
from registry_sync.domain.safe_names import DEFAULT_NAME_POLICY, NamePolicy
from registry_sync.domain.served_names import (
    ProbeResult,
    ServedNameCheck,
    decide_served_name,
    judge,
    served_name_check,
)


@dataclass(frozen=True, slots=True)
class BindingRules:
    """The settings that shape every decision."""

    keys: LabelKeys = field(default_factory=LabelKeys)
    registry_name: str | None = None
    gitops: GitOpsPolicy = field(default_factory=GitOpsPolicy)
    names: NamePolicy = DEFAULT_NAME_POLICY
    digest_check: DigestCheck = DigestCheck.OFF
    served_name_check: ServedNameCheck = ServedNameCheck.OFF


@dataclass(frozen=True, slots=True)
class RegistryView:
    """The registry data at hand: its index (None before the first good read), whether it
    is current, and why not."""

    index: ReferenceIndex | None
    current: bool
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class WhatRuns:
    """What the shell knows of what runs: the InferenceService's pods (None when they cannot
    be read, `pods_problem` says why, with the reason to show), and what the registry's
    artifacts name."""

    pods: tuple[PodFacts, ...] | None = None
    pods_problem: tuple[str, str] = ("DigestUnknown", "its pods are not watched")
    digests: RegisteredDigests = field(default_factory=RegisteredDigests.nothing)
    served: ProbeResult | None = None  # what its vLLM answered; None: not asked


@dataclass(frozen=True, slots=True)
class Judged:
    """The answer after the checks of what runs (the digest check may make it `Ambiguous`)
    and the checks themselves, in the order they block Ready."""

    resolution: Resolution
    checks: tuple[Check, ...]


@dataclass(frozen=True, slots=True)
class Known:
    """What the operator knew of the InferenceService before this event: its last answer
    (in memory, or recorded on its ModelBinding after a restart), the label corrections in
    the GitOps window, and the binding's status as last written or found."""

    answer: Resolution | None = None
    history: CorrectionHistory = field(default_factory=CorrectionHistory)
    status: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RefreshFirst:
    """Refresh the registry for `uri` (rate-limited), then call again with `refreshed=True`."""

    uri: str


@dataclass(frozen=True, slots=True)
class Decided:
    resolution: Resolution
    decision: BindingDecision


def reconcile_step(
    facts: InferenceServiceFacts,
    known: Known,
    registry: RegistryView,
    rules: BindingRules,
    now_ms: int,
    *,
    runs: WhatRuns | None = None,
    refreshed: bool = False,
    label_patch_error: str | None = None,
    clash: NameClash | None = None,
    record: RecordStanding | None = None,
) -> RefreshFirst | Decided:
    """Resolve and decide, or ask for a refresh first (see the module docstring). Pure.

    `Decided.resolution` is the registry's answer; the decision holds what the checks of
    what runs made of it. `clash`: another kind of deployment has the same name. `record`:
    what the shell found and did about the registry's record of the deployment (None:
    `--registry-records off`): a condition that never blocks Ready, and the record id the
    `<prefix>/inference-service-id` label should hold."""
    resolution = answer_for(facts, known.answer, registry, now_ms)
    storage = facts.deployed.storage
    first_call = not refreshed and label_patch_error is None
    if (
        first_call
        and resolution.outcome is Outcome.NOT_REGISTERED
        and isinstance(storage, StorageUri)
    ):
        return RefreshFirst(storage.uri)
    judged = judge_runs(facts, resolution, registry, rules, runs or WhatRuns(), now_ms, clash=clash)
    checks = judged.checks if record is None else (*judged.checks, record.as_check())
    record_label = (
        {rules.keys.inference_service_id: record.record_id}
        if record is not None and record.record_id is not None
        else None
    )
    decision = decide_binding(
        facts,
        judged.resolution,
        keys=rules.keys,
        registry_name=rules.registry_name,
        history=known.history,
        policy=rules.gitops,
        previous_status=known.status,
        now_ms=now_ms,
        label_patch_error=label_patch_error,
        names=rules.names,
        checks=checks,
        record_label=record_label,
    )
    if record is not None and record.corrected is not None:
        note = EventNote(
            "Normal", "RegistryRecordCorrected", escaped(f"registry: {record.corrected}")
        )
        decision = replace(decision, events=(*decision.events, note))
    return Decided(resolution, decision)


def judge_runs(
    facts: InferenceServiceFacts,
    resolution: Resolution,
    registry: RegistryView,
    rules: BindingRules,
    runs: WhatRuns,
    now_ms: int,
    *,
    clash: NameClash | None = None,
) -> Judged:
    """The checks of what runs: the pods' digest against the answer, then the name vLLM
    serves against the one runs are given; a name clash before both (it blocks whatever
    they say)."""
    if facts.kind is DeploymentKind.INFERENCE_SERVICE or rules.digest_check is DigestCheck.OFF:
        digest = judge_running_digest(resolution, registry, rules, runs, now_ms)
    else:
        digest = digest_not_read_for_kind(rules.digest_check, resolution, facts.kind.value)
    finding = (
        None
        if runs.served is None
        else judge(runs.served, facts.deployed.served_name.name or facts.name)
    )
    served = served_name_check(decide_served_name(finding, rules.served_name_check))
    clash_check = name_clash_check(clash)
    checks = (digest.as_check(), served)
    return Judged(digest.resolution, checks if clash_check is None else (clash_check, *checks))


def judge_running_digest(
    resolution: Resolution,
    registry: RegistryView,
    rules: BindingRules,
    runs: WhatRuns,
    now_ms: int,
) -> DigestFinding:
    """The digest check of one answer against what its pods run (`rules.digest_check`).

    Pods that could not be read (`runs.pods` None) make the digest not knowable, under
    `runs.pods_problem`'s reason. Pure; `judge_runs` and the audit both decide through it.
    """
    if rules.digest_check is DigestCheck.OFF:
        return DigestFinding(resolution)
    image: RunningImage
    if runs.pods is None:
        image = DigestNotKnowable(runs.pods_problem[1])
    else:
        try:
            deployed = parse_storage_uri(resolution.storage_uri)
        except InvalidStorageUri:
            deployed = None
        image = running_digest(runs.pods, deployed)
    finding = judge_digest(
        rules.digest_check, resolution, image, registry.index, runs.digests, now_ms
    )
    if runs.pods is None and finding.condition is not None:
        # Pods unreadable (the Role lacks the rule): say so with its own reason.
        reason = runs.pods_problem[0]
        condition = {**finding.condition, "reason": reason}
        blocker = None if finding.blocker is None else (reason, finding.blocker[1])
        finding = DigestFinding(finding.resolution, condition, blocker)
    return finding


def answer_for(
    facts: InferenceServiceFacts, previous: Resolution | None, registry: RegistryView, now_ms: int
) -> Resolution:
    """What the registry data at hand says the InferenceService deploys (`resolve`)."""
    return resolve(
        facts.deployed.storage,
        registry.index,
        snapshot_current=registry.current,
        now_ms=now_ms,
        pin=facts.pin,
        previous=previous,
        registry_problem=registry.problem,
    )


def worth_reconciling_again(
    fresh: Resolution,
    known: Resolution | None,
    *,
    pending: bool,
    fresh_checks: tuple[Check, ...] = (),
    known_checks: tuple[Check, ...] = (),
) -> bool:
    """After a registry refresh: whether an InferenceService needs its event handled again.

    Yes when the answer changed (an outage's ageing message aside), when a check of what
    runs says something else (a cached digest's ageing message aside), or when something
    is `pending`: a GitOps conflict whose window may have passed, or a write the apiserver
    refused or never got (no watch event follows a failed write).
    """
    return (
        pending
        or known is None
        or not fresh.says_the_same(known)
        or checks_gist(fresh_checks) != checks_gist(known_checks)
    )
