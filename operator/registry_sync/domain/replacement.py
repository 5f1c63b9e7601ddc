"""What to do about a model-testing PipelineRun when no admission webhook can be installed.

Tekton refuses every spec change to an existing run except `spec.status: Cancelled`, so a
run with the wrong params can only be replaced or stopped:
- a pending run (`spec.status: PipelineRunPending`) is replaced by a corrected copy with a
  name derived from the original (so a second attempt finds the copy instead of making
  another), owned by the original (so a run of that name made by anyone else is never taken
  for it), and the original is cancelled once the copy exists;
- a started run with wrong params, or one whose target cannot be trusted, is cancelled before
  it can publish, with an Event saying why; except a run started with the answer its binding
  gave while Ready, which a later change in the registry does not stop (`Report`);
- finished and already cancelled runs are left alone (the audit reports them).
The rules about params and bindings are the admission webhook's (`decide_admission`).
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from registry_sync.domain.admission import (
    Admitted,
    BindingView,
    Denied,
    decide_admission,
)
from registry_sync.domain.metadata import (
    CANCELLED_BECAUSE_ANNOTATION,
    KEPT_RUNNING_ANNOTATION,
    REPLACED_BY_ANNOTATION,
    REPLACEMENT_OF_ANNOTATION,
    REPLACEMENT_OF_LABEL,
    VERSION_ANNOTATION,
)
from registry_sync.domain.params import ParamNames
from registry_sync.domain.pipeline_run import (
    CANCELLED,
    PENDING,
    annotations_of,
    created_ms,
    is_stopped,
    label_target,
    metadata_of,
    read_run_status,
    spec_status_of,
    string_map,
)

REPLACEMENT_NAME_TAKEN: Final = "ReplacementNameTaken"
BINDING_NOT_READY: Final = "BindingNotReady"
_MAX_NAME: Final = 63
_MAX_ANNOTATION: Final = 1024
# `metadata.creationTimestamp` has whole seconds: a run stamped second S was created before S+1.
_CREATION_PRECISION_MS: Final = 1000


@dataclass(frozen=True, slots=True)
class Leave:
    """Nothing to do; `why` is for the log."""

    why: str


@dataclass(frozen=True, slots=True)
class Replace:
    """Create `copy` (or find it created), then merge-patch the original with `cancel_patch`."""

    copy: Mapping[str, Any]
    cancel_patch: Mapping[str, Any]
    message: str


@dataclass(frozen=True, slots=True)
class Cancel:
    """Merge-patch the run with `patch` and post a Warning Event with `message`."""

    patch: Mapping[str, Any]
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Report:
    """Leave the run running; merge-patch `patch` (a note on the run, which also keeps the
    report from being repeated) and post a Warning Event with `message`."""

    patch: Mapping[str, Any]
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Stamp:
    """Leave the run running with its params; merge-patch `patch`, which records the model
    version it runs for (`registry-sync.io/model-version-id`), as the webhook would have:
    `publish` refuses a run without it."""

    patch: Mapping[str, Any]


Action = Leave | Replace | Cancel | Report | Stamp


@dataclass(frozen=True, slots=True)
class LastReady:
    """The answer a binding gave while it was last Ready, and when it stopped being Ready.

    `binding` is the binding as it was then (Ready, with its names); `ended_at_ms` is when
    the operator learned it was no longer Ready (milliseconds since the epoch), None while it
    still is.
    """

    binding: BindingView
    ended_at_ms: int | None


def decide_without_webhook(
    run: Mapping[str, Any],
    binding: BindingView | None,
    param_names: ParamNames,
    *,
    inference_service_exists: bool = False,
    last_ready: LastReady | None = None,
) -> Action:
    """Leave, replace, cancel or report one opted-in PipelineRun. Pure; never raises.

    A started run whose binding is not Ready now is cancelled, unless it was admitted with
    the binding's last Ready answer (`admitted_with`): then it is left running and reported.
    Whoever can register a model can make any binding Ambiguous; that must stop new runs
    (they would publish to a guessed model) but not one started with the answer that was
    right when it started.
    """
    settled = left_alone_whatever_the_binding(run)
    if settled is not None:
        return settled
    name = metadata_of(run).get("name")
    assert isinstance(name, str)  # checked by left_alone_whatever_the_binding
    spec_status = spec_status_of(run)
    decision = decide_admission(
        run, binding, param_names, inference_service_exists=inference_service_exists
    )
    if isinstance(decision, Admitted) and decision.params is None:
        if VERSION_ANNOTATION in annotations_of(run):
            # Stamped already, by the webhook or an earlier pass; a stamp that disagrees
            # with the binding is `publish`'s to refuse, not the guard's to rewrite.
            return Leave("params already right")
        stamp = {VERSION_ANNOTATION: decision.annotations[VERSION_ANNOTATION]}
        return Stamp({"metadata": {"annotations": stamp}})
    if isinstance(decision, Denied):
        if (
            spec_status != PENDING
            and binding is not None
            and not binding.ready
            and last_ready is not None
            and admitted_with(run, last_ready, param_names)
        ):
            return _kept_running(run, name, binding, last_ready.binding)
        message = decision.message.replace("is refused", "is cancelled").replace(
            "create the run again", "create a new run"
        )
        return Cancel(_cancel_patch(message), decision.reason, message)
    if spec_status == PENDING:
        copy_name = replacement_name(name)
        cancel_message = f"replaced by {copy_name}, a copy with the params corrected"
        cancel_patch = _cancel_patch(cancel_message)
        cancel_patch["metadata"]["annotations"][REPLACED_BY_ANNOTATION] = copy_name
        return Replace(
            copy=_corrected_copy(run, name, copy_name, decision),
            cancel_patch=cancel_patch,
            message=f"PipelineRun {name} {cancel_message}",
        )
    changed = ", ".join(decision.changed)
    message = (
        f"PipelineRun {name} started with wrong params ({changed}) and would publish results "
        "to the wrong model; cancelled before it could. Create a new run: registry-sync "
        "corrects pending runs (spec.status: PipelineRunPending) by replacing them."
    )
    return Cancel(_cancel_patch(message), "WrongParams", message)


def admitted_with(run: Mapping[str, Any], last_ready: LastReady, param_names: ParamNames) -> bool:
    """Whether `run` was admitted with the binding's last Ready answer, as far as the run shows.

    All of these must hold, else it was not (fail closed):
    - the Ready period has ended, and the run was created before it ended: its
      `creationTimestamp` has whole seconds, so the second after it must lie before the end
      (a run created in the last second of the period counts as created after it);
    - its params are exactly what that answer gives (the webhook would have left them
      alone): they cannot have changed since, Tekton refuses spec changes;
    - its stamp `registry-sync.io/model-version-id`, which the webhook and the corrected copy
      carry, names that answer's version if it is there at all (runs started without a
      webhook carry none; a stamp naming another version means another answer).
    """
    ended_at_ms = last_ready.ended_at_ms
    created = created_ms(run)
    if ended_at_ms is None or created is None:
        return False
    if created + _CREATION_PRECISION_MS > ended_at_ms:
        return False
    if label_target(run) != last_ready.binding.inference_service:
        return False
    then = decide_admission(run, last_ready.binding, param_names)
    if not (isinstance(then, Admitted) and then.params is None):
        return False
    stamp = annotations_of(run).get(VERSION_ANNOTATION)
    return stamp is None or stamp == last_ready.binding.version_id


def when_copy_name_taken(
    run: Mapping[str, Any], replace: Replace, existing: Mapping[str, Any] | None
) -> Replace | Cancel:
    """What to do when creating `replace.copy` found its name taken: the replacement goes on
    if the run holding the name is this run's copy (made by an earlier attempt), else the
    original is cancelled with reason `ReplacementNameTaken`. Pure; never raises.

    The copy is recognised by its owner reference to the original's uid and its
    `registry-sync.io/replacement-of` annotation naming the original. Anyone may create a run
    named `<name>-rs`, but not before the original exists with its uid; a name is no proof.
    `existing` None: the run holding the name is gone again (deleted meanwhile): not a copy.
    """
    metadata = metadata_of(run)
    name, uid = metadata.get("name"), metadata.get("uid")
    if existing is not None and isinstance(uid, str) and uid and _is_copy_of(existing, name, uid):
        return replace
    copy_name = replace.copy["metadata"]["name"]
    message = (
        f"PipelineRun {name} has params that would publish results to the wrong model and "
        f"could not be replaced: the name of its corrected copy, {copy_name}, is taken by a "
        f"PipelineRun that is not its copy (the copy is owned by {name}). {name} is "
        f"cancelled rather than pointed at a run registry-sync did not make; delete or "
        f"rename {copy_name}, then create a new run."
    )
    return Cancel(_cancel_patch(message), REPLACEMENT_NAME_TAKEN, message)


def _is_copy_of(existing: Mapping[str, Any], name: object, uid: str) -> bool:
    metadata = metadata_of(existing)
    annotations = string_map(metadata.get("annotations"))
    if annotations.get(REPLACEMENT_OF_ANNOTATION) != name:
        return False
    owners = metadata.get("ownerReferences")
    return isinstance(owners, list) and any(
        isinstance(owner, Mapping)
        and owner.get("uid") == uid
        and owner.get("kind") == "PipelineRun"
        and owner.get("name") == name
        for owner in owners
    )


def left_alone_whatever_the_binding(run: Mapping[str, Any]) -> Leave | None:
    """A Leave for a run no binding could change anything about (unnamed, cancelled or
    finished), else None. Lets the guard skip waiting for a binding it does not need."""
    name = metadata_of(run).get("name")
    if not isinstance(name, str) or not name:
        return Leave("the PipelineRun has no name yet")
    if is_stopped(run):
        return Leave("already cancelled")
    if read_run_status(run).finished:
        return Leave("already finished: too late to correct (registry-sync audit reports it)")
    return None


def replacement_name(name: str) -> str:
    """The copy's name: the original's plus `-rs`, shortened with a hash to fit 63 characters."""
    candidate = f"{name}-rs"
    if len(candidate) <= _MAX_NAME:
        return candidate
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: _MAX_NAME - len(digest) - 4].rstrip('-.')}-{digest}-rs"


def _cancel_patch(message: str) -> dict[str, Any]:
    return {
        "metadata": {"annotations": {CANCELLED_BECAUSE_ANNOTATION: message[:_MAX_ANNOTATION]}},
        "spec": {"status": CANCELLED},
    }


def _kept_running(
    run: Mapping[str, Any], name: str, binding: BindingView, then: BindingView
) -> Leave | Report:
    target = binding.inference_service
    message = (
        f"PipelineRun {name} started with model {then.model_name} version {then.version_name} "
        f"(id {then.version_id}), the answer of the ModelBinding of InferenceService {target} "
        f"while it was Ready. The binding is no longer Ready ({binding.reason}): "
        f"{binding.message}. The run is left running, not cancelled: a registry change after "
        f"it started does not stop it; check `oc describe mb {target}` before trusting where "
        "it publishes."
    )
    note = message[:_MAX_ANNOTATION]
    if annotations_of(run).get(KEPT_RUNNING_ANNOTATION) == note:
        return Leave("left running, and reported already")
    patch = {"metadata": {"annotations": {KEPT_RUNNING_ANNOTATION: note}}}
    return Report(patch, BINDING_NOT_READY, message)


def _corrected_copy(
    run: Mapping[str, Any], name: str, copy_name: str, decision: Admitted
) -> dict[str, Any]:
    metadata = metadata_of(run)
    labels = string_map(metadata.get("labels"))
    labels[REPLACEMENT_OF_LABEL] = name if len(name) <= _MAX_NAME else copy_name
    annotations = {
        k: v
        for k, v in string_map(metadata.get("annotations")).items()
        if k != "kubectl.kubernetes.io/last-applied-configuration"
    }
    annotations.update(decision.annotations)
    annotations[REPLACEMENT_OF_ANNOTATION] = name
    uid = metadata.get("uid")
    spec = run.get("spec")
    new_spec = copy.deepcopy(dict(spec)) if isinstance(spec, Mapping) else {}
    new_spec["params"] = copy.deepcopy(decision.params)
    body: dict[str, Any] = {
        "apiVersion": run.get("apiVersion", "tekton.dev/v1"),
        "kind": "PipelineRun",
        "metadata": {
            "name": copy_name,
            "namespace": metadata.get("namespace"),
            "labels": labels,
            "annotations": annotations,
        },
        "spec": new_spec,
    }
    if isinstance(uid, str) and uid:
        # Proof that registry-sync made it (see `when_copy_name_taken`). No blockOwnerDeletion:
        # setting it needs the owner's finalizers permission, which the Role does not grant.
        body["metadata"]["ownerReferences"] = [
            {
                "apiVersion": run.get("apiVersion", "tekton.dev/v1"),
                "kind": "PipelineRun",
                "name": name,
                "uid": uid,
            }
        ]
    return body
