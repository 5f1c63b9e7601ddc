"""What to do about one opted-in InferenceService, given its resolution.

`decide_binding` turns the facts read from the InferenceService, the resolver's answer, the
label corrections made so far and the binding's previous status into one `BindingDecision`:
the labels to merge-patch (if any), the ModelBinding status to write, and the Events worth
posting. The shell applies it and does nothing else.

Rules (README "How it behaves"):
- Labels are written only for `Resolved` and `Pinned`, only in `enforce` mode, and never
  removed: on any other outcome existing labels stay exactly as they are.
- A label correction counts towards GitOps conflict detection; after `max_corrections`
  within `window_ms` the operator stops correcting and says which labels to commit. The
  conflict ends when the labels are found correct, when the mode annotation changes, or
  when the window has passed since the corrections.
- `Ready` (a model-testing run may be injected now) follows the resolution's `has_answer`,
  except during a GitOps conflict, when a name to inject fails the allow-list
  (`UnsafeRegistryName`: such a name would become code in a pipeline's script), and when a
  check of what runs (`Check`: the digest, the served name) blocks it; a blocking check
  also leaves the labels as they are.
- Every text written for people (messages, Events) is escaped: registry names and registry
  errors are other people's text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from registry_sync.domain.answer import Outcome, Resolution
from registry_sync.domain.checks import Check
from registry_sync.domain.escaping import escaped
from registry_sync.domain.inference_service import InferenceServiceFacts, Mode
from registry_sync.domain.metadata import (
    PIN_ANNOTATION,
    LabelKeys,
)
from registry_sync.domain.model_binding import (
    binding_status,
    previous_conditions,
    recorded_corrections,
    with_transition_times,
)
from registry_sync.domain.safe_names import (
    DEFAULT_NAME_POLICY,
    NamePolicy,
    UnsafeName,
    unsafe_names,
)


class Reason(StrEnum):
    """Condition reasons besides the resolution outcomes."""

    LABELS_MATCH = "LabelsMatch"
    LABELS_CORRECTED = "LabelsCorrected"
    AUDIT_MODE = "AuditMode"
    INVALID_MODE = "InvalidMode"
    GITOPS_CONFLICT = "GitOpsConflict"
    LABELS_OUT_OF_SYNC = "LabelsOutOfSync"
    LABEL_PATCH_FAILED = "LabelPatchFailed"
    UNSAFE_REGISTRY_NAME = "UnsafeRegistryName"


@dataclass(frozen=True, slots=True)
class CorrectionHistory:
    """Label corrections made to one InferenceService within the GitOps window.

    `stopped` is set while the operator declines to correct (GitOpsConflict).
    `mode_annotation` is the mode annotation seen last: a change of it ends a conflict
    (someone looked at the object and decided). `deployment` is what the corrections were
    made for (storage URI and pin): labels changed because the deployment changed are not
    a revert, so a new deployment starts the count afresh.
    """

    times_ms: tuple[int, ...] = ()
    mode_annotation: str | None = None
    stopped: bool = False
    deployment: str | None = None


@dataclass(frozen=True, slots=True)
class GitOpsPolicy:
    max_corrections: int = 3
    window_ms: int = 600_000


@dataclass(frozen=True, slots=True)
class EventNote:
    """An Event to post on the InferenceService."""

    type: str  # "Normal" or "Warning"
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class BindingDecision:
    """What the shell applies: a label patch or none, the binding status, Events to post."""

    label_patch: Mapping[str, str] | None
    status: Mapping[str, Any]
    events: tuple[EventNote, ...]
    history: CorrectionHistory
    ready: bool
    ready_reason: str
    ready_message: str
    expected_labels: Mapping[str, str] = field(default_factory=dict)
    checks: tuple[Check, ...] = ()


def expected_labels(
    resolution: Resolution, keys: LabelKeys, registry_name: str | None
) -> dict[str, str]:
    """The labels a resolution implies; empty when it names no model version."""
    if resolution.registered_model_id is None or resolution.model_version_id is None:
        return {}
    labels = {
        keys.registered_model_id: resolution.registered_model_id,
        keys.model_version_id: resolution.model_version_id,
    }
    if registry_name:
        labels[keys.registry_name] = registry_name
    return labels


def decide_binding(
    facts: InferenceServiceFacts,
    resolution: Resolution,
    *,
    keys: LabelKeys,
    registry_name: str | None,
    history: CorrectionHistory,
    policy: GitOpsPolicy,
    previous_status: Mapping[str, Any] | None,
    now_ms: int,
    label_patch_error: str | None = None,
    names: NamePolicy = DEFAULT_NAME_POLICY,
    checks: tuple[Check, ...] = (),
    record_label: Mapping[str, str] | None = None,
) -> BindingDecision:
    """Decide labels, status and Events for one InferenceService. Pure; never raises.

    `label_patch_error` is given when the shell tried the decided patch and the apiserver
    refused it: the status then says so instead of claiming the labels are in sync.
    `names` is the allow-list every name to inject or record must pass. `checks` are the
    findings about what runs, in order of precedence. `record_label` is the
    `<prefix>/inference-service-id` label naming the registry's record of the deployment
    (`--registry-records on`): it goes with the other labels, and its reverts count too.
    """
    unsafe = names_failing(facts, resolution, names)
    blocker = next((check.blocker for check in checks if check.blocker is not None), None)
    # An answer naming an unsafe name is no answer to write anywhere: labels stay as they are.
    expected = {} if unsafe else expected_labels(resolution, keys, registry_name)
    if expected and record_label:
        expected.update(record_label)
    labels_writable = (
        resolution.outcome in (Outcome.RESOLVED, Outcome.PINNED)
        and bool(expected)
        and blocker is None
    )
    in_sync = bool(expected) and all(facts.labels.get(k) == v for k, v in expected.items())
    history = _current_history(history, facts, policy, now_ms, in_sync)
    conflict = not in_sync and labels_writable and len(history.times_ms) >= policy.max_corrections

    label_patch: dict[str, str] | None = None
    should_correct = labels_writable and not in_sync and not conflict
    if should_correct and facts.mode is Mode.ENFORCE and label_patch_error is None:
        label_patch = {k: v for k, v in expected.items() if facts.labels.get(k) != v}
        history = CorrectionHistory(
            times_ms=(*history.times_ms, now_ms),
            mode_annotation=facts.mode_annotation,
            deployment=_deployment(facts),
        )
    elif conflict:
        history = replace(history, stopped=True)

    labels_condition = _labels_condition(
        facts, resolution, expected, in_sync, conflict, label_patch, label_patch_error, unsafe
    )
    if blocker is not None and not in_sync and not unsafe and resolution.has_answer:
        labels_condition = _condition(False, blocker[0], f"labels left as they are: {blocker[1]}")
    overriding = next(
        (check.blocker for check in checks if check.blocks_without_answer and check.blocker),
        None,
    )
    ready, ready_reason, ready_message = _readiness(
        resolution, conflict, expected, facts, unsafe, blocker, overriding
    )
    resolved_condition = _resolved_condition(resolution)
    conditions = with_transition_times(
        [
            {"type": "Resolved", **resolved_condition},
            {"type": "LabelsInSync", **labels_condition},
            *(
                {"type": check.condition_type, **check.condition}
                for check in checks
                if check.condition is not None
            ),
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "reason": ready_reason,
                "message": ready_message,
            },
        ],
        previous_status,
        facts.generation,
        now_ms,
    )
    status = binding_status(
        facts, resolution, registry_name, expected, conflict, conditions, unsafe, history.times_ms
    )
    for check in checks:
        status.update(check.status_fields)
    events = _events(
        facts, resolution, previous_status, ready, ready_reason, ready_message, label_patch, keys
    ) + _check_events(checks, previous_status, ready_reason)
    return BindingDecision(
        label_patch=label_patch,
        status=status,
        events=events,
        history=history,
        ready=ready,
        ready_reason=ready_reason,
        ready_message=ready_message,
        expected_labels=expected,
        checks=checks,
    )


def names_failing(
    facts: InferenceServiceFacts, resolution: Resolution, policy: NamePolicy
) -> tuple[UnsafeName, ...]:
    """The names an answer would inject or record that fail the allow-list (none when the
    resolution has no answer: then nothing is injected anyway)."""
    if not resolution.has_answer:
        return ()
    return unsafe_names(
        {
            "model name": resolution.registered_model_name,
            "version name": resolution.model_version_name,
            "vLLM name": facts.deployed.served_name.name or facts.name,
            "registered model id": resolution.registered_model_id,
            "model version id": resolution.model_version_id,
        },
        policy,
    )


def _unsafe_message(unsafe: tuple[UnsafeName, ...]) -> str:
    return (
        f"refused to inject or record {'; '.join(name.describe() for name in unsafe)}: "
        "names are pasted into model-testing pipelines, where such characters could run as "
        "code. Rename the model or version in the Model Registry (or fix the served model "
        "name), or pin another version with the annotation "
        f"{PIN_ANNOTATION}; model-testing runs are refused until then"
    )


def _current_history(
    history: CorrectionHistory,
    facts: InferenceServiceFacts,
    policy: GitOpsPolicy,
    now_ms: int,
    in_sync: bool,
) -> CorrectionHistory:
    recent = tuple(t for t in history.times_ms if now_ms - t < policy.window_ms)
    redeployed = history.deployment is not None and history.deployment != _deployment(facts)
    if redeployed:
        # Corrections for an earlier deployment say nothing about a GitOps tool reverting
        # this one's labels (a new storage URI or pin needs new labels).
        return CorrectionHistory(mode_annotation=facts.mode_annotation)
    if history.mode_annotation != facts.mode_annotation or (history.stopped and in_sync):
        # A changed mode annotation, or correct labels found while the operator had stopped
        # correcting (someone committed them), end a conflict: start afresh. Correct labels
        # after the operator's own correction do not: that is how a revert loop looks.
        return CorrectionHistory(mode_annotation=facts.mode_annotation)
    return CorrectionHistory(
        times_ms=recent,
        mode_annotation=history.mode_annotation,
        stopped=history.stopped and len(recent) >= policy.max_corrections,
        deployment=history.deployment,
    )


def recorded_history(
    status: Mapping[str, Any] | None, facts: InferenceServiceFacts
) -> CorrectionHistory:
    """The correction history a ModelBinding's status records, for an operator that did not
    make those corrections itself (a restart, a take-over by another replica): the times in
    `labelCorrections`, stopped when Ready says `GitOpsConflict`. Corrections recorded for
    another storage URI count for nothing (the deployment changed). Pure; never raises."""
    fresh = CorrectionHistory(mode_annotation=facts.mode_annotation)
    if not isinstance(status, Mapping):
        return fresh
    times = recorded_corrections(status)
    uri = getattr(facts.deployed.storage, "uri", None)
    if not times or status.get("storageUri") != uri:
        return fresh
    ready = previous_conditions(status).get("Ready", {})
    return CorrectionHistory(
        times_ms=times,
        mode_annotation=facts.mode_annotation,
        stopped=ready.get("reason") == Reason.GITOPS_CONFLICT.value,
        deployment=_deployment(facts),
    )


def _deployment(facts: InferenceServiceFacts) -> str:
    """What decides the expected labels on the object's side: its storage and its pin."""
    return f"{facts.deployed.storage!r} pin={facts.pin!r}"


def _resolved_condition(resolution: Resolution) -> dict[str, str]:
    if resolution.outcome in (Outcome.RESOLVED, Outcome.PINNED):
        status = "True"
    elif resolution.outcome is Outcome.REGISTRY_UNAVAILABLE:
        status = "True" if resolution.has_answer else "Unknown"
    else:
        status = "False"
    return {
        "status": status,
        "reason": resolution.outcome.value,
        "message": escaped(resolution.message),
    }


def _labels_condition(
    facts: InferenceServiceFacts,
    resolution: Resolution,
    expected: Mapping[str, str],
    in_sync: bool,
    conflict: bool,
    label_patch: Mapping[str, str] | None,
    label_patch_error: str | None,
    unsafe: tuple[UnsafeName, ...],
) -> dict[str, str]:
    wanted = _describe_labels(expected)
    if unsafe:
        return _condition(
            False,
            Reason.UNSAFE_REGISTRY_NAME,
            f"labels left as they are: {_unsafe_message(unsafe)}",
        )
    if in_sync or label_patch:
        # Worded the same before and after a correction, so that seeing the corrected labels
        # come back does not rewrite the status; the correction itself is an Event.
        return _condition(True, Reason.LABELS_MATCH, f"labels match the registry: {wanted}")
    if resolution.outcome not in (Outcome.RESOLVED, Outcome.PINNED):
        return _condition(
            False,
            resolution.outcome.value,
            f"labels left as they are: no trustworthy answer to write ({resolution.outcome.value})",
        )
    if conflict:
        return _condition(False, Reason.GITOPS_CONFLICT, _conflict_message(wanted))
    if facts.mode_problem is not None:
        return _condition(False, Reason.INVALID_MODE, facts.mode_problem)
    if facts.mode is Mode.AUDIT:
        return _condition(
            False, Reason.AUDIT_MODE, f"audit mode: labels not changed; they should be {wanted}"
        )
    if label_patch_error is not None:
        return _condition(
            False,
            Reason.LABEL_PATCH_FAILED,
            f"could not set {wanted}: {escaped(label_patch_error)}",
        )
    return _condition(False, Reason.LABELS_OUT_OF_SYNC, f"labels should be {wanted}")


def _conflict_message(wanted: str) -> str:
    return (
        "labels keep being reverted (a GitOps tool syncing old values?); registry-sync "
        f"stopped correcting them. Commit these labels to the source of truth: {wanted}"
    )


def _readiness(
    resolution: Resolution,
    conflict: bool,
    expected: Mapping[str, str],
    facts: InferenceServiceFacts,
    unsafe: tuple[UnsafeName, ...],
    blocker: tuple[str, str] | None,
    overriding: tuple[str, str] | None,
) -> tuple[bool, str, str]:
    if overriding is not None:
        return False, str(overriding[0]), escaped(overriding[1])
    if unsafe:
        return False, Reason.UNSAFE_REGISTRY_NAME.value, _unsafe_message(unsafe)
    if conflict:
        return False, Reason.GITOPS_CONFLICT.value, _conflict_message(_describe_labels(expected))
    if not resolution.has_answer:
        return False, resolution.outcome.value, escaped(resolution.message)
    if blocker is not None:
        return False, str(blocker[0]), escaped(blocker[1])
    served = facts.deployed.served_name.name or facts.name
    if resolution.outcome is Outcome.REGISTRY_UNAVAILABLE:
        return True, resolution.outcome.value, escaped(resolution.message)
    return (
        True,
        resolution.outcome.value,
        f"model-testing runs get model {resolution.registered_model_name} version "
        f"{resolution.model_version_name} (id {resolution.model_version_id}), "
        f"vLLM name {served}",
    )


def _condition(ok: bool, reason: str, message: str) -> dict[str, str]:
    return {"status": "True" if ok else "False", "reason": str(reason), "message": message}


def _events(
    facts: InferenceServiceFacts,
    resolution: Resolution,
    previous_status: Mapping[str, Any] | None,
    ready: bool,
    ready_reason: str,
    ready_message: str,
    label_patch: Mapping[str, str] | None,
    keys: LabelKeys,
) -> tuple[EventNote, ...]:
    events: list[EventNote] = []
    if label_patch:
        changes = ", ".join(
            f"{key.removeprefix(keys.prefix + '/')}={value} (was {facts.labels.get(key, 'unset')})"
            for key, value in label_patch.items()
        )
        events.append(EventNote("Normal", Reason.LABELS_CORRECTED.value, escaped(f"set {changes}")))
    previous_ready = previous_conditions(previous_status).get("Ready", {})
    # Announce only news (no Event storms): Ready turning, a new reason, or a new message
    # except for an outage, whose message only ages.
    status_changed = previous_ready.get("status") != ("True" if ready else "False")
    reason_changed = previous_ready.get("reason") != ready_reason
    message_changed = previous_ready.get("message") != ready_message
    outage = ready_reason == Outcome.REGISTRY_UNAVAILABLE.value
    if status_changed or reason_changed or (message_changed and not outage):
        events.append(EventNote("Normal" if ready else "Warning", ready_reason, ready_message))
    return tuple(events)


def _check_events(
    checks: tuple[Check, ...], previous_status: Mapping[str, Any] | None, ready_reason: str
) -> tuple[EventNote, ...]:
    """A Warning when a check turns bad without changing Ready (`report` mode shows what it
    does not enforce); a check that blocks is announced by the Ready Event already."""
    previous = previous_conditions(previous_status)
    events: list[EventNote] = []
    for check in checks:
        if check.condition is None or not check.announce:
            continue
        reason, status = check.condition.get("reason", ""), check.condition.get("status")
        if status == "True" or reason == ready_reason:
            continue
        if previous.get(check.condition_type, {}).get("reason") != reason:
            events.append(EventNote("Warning", reason, check.condition.get("message", "")))
    return tuple(events)


def _describe_labels(labels: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in labels.items()) or "(none)"
