"""What to do about a model-testing PipelineRun when no admission webhook can be installed.

Tekton refuses every spec change to an existing run except `spec.status: Cancelled`, so a
run with the wrong params can only be replaced or stopped:
- a pending run (`spec.status: PipelineRunPending`) is replaced by a corrected copy with a
  name derived from the original (so a second attempt finds the copy instead of making
  another), and the original is cancelled once the copy exists;
- a started run with wrong params, or one whose target cannot be trusted, is cancelled before
  it can publish, with an Event saying why;
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
from registry_sync.domain.params import ParamNames

REPLACED_BY_ANNOTATION: Final = "registry-sync.io/replaced-by"
REPLACEMENT_OF_LABEL: Final = "registry-sync.io/replacement-of"
REPLACEMENT_OF_ANNOTATION: Final = "registry-sync.io/replacement-of"
CANCELLED_BECAUSE_ANNOTATION: Final = "registry-sync.io/cancelled-because"
PENDING: Final = "PipelineRunPending"
CANCELLED: Final = "Cancelled"
_STOPPED: Final = frozenset(
    {"Cancelled", "CancelledRunFinally", "StoppedRunFinally", "PipelineRunCancelled"}
)
_MAX_NAME: Final = 63


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


Action = Leave | Replace | Cancel


def decide_without_webhook(
    run: Mapping[str, Any],
    binding: BindingView | None,
    param_names: ParamNames,
    *,
    inference_service_exists: bool = False,
) -> Action:
    """Leave, replace or cancel one opted-in PipelineRun. Pure; never raises."""
    settled = left_alone_whatever_the_binding(run)
    if settled is not None:
        return settled
    name = _metadata(run).get("name")
    assert isinstance(name, str)  # checked by left_alone_whatever_the_binding
    spec = run.get("spec")
    spec_status = spec.get("status") if isinstance(spec, Mapping) else None
    decision = decide_admission(
        run, binding, param_names, inference_service_exists=inference_service_exists
    )
    if isinstance(decision, Admitted) and decision.params is None:
        return Leave("params already right")
    if isinstance(decision, Denied):
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


def left_alone_whatever_the_binding(run: Mapping[str, Any]) -> Leave | None:
    """A Leave for a run no binding could change anything about (unnamed, cancelled or
    finished), else None. Lets the guard skip waiting for a binding it does not need."""
    name = _metadata(run).get("name")
    if not isinstance(name, str) or not name:
        return Leave("the PipelineRun has no name yet")
    spec = run.get("spec")
    spec_status = spec.get("status") if isinstance(spec, Mapping) else None
    if isinstance(spec_status, str) and spec_status in _STOPPED:
        return Leave("already cancelled")
    if is_finished(run):
        return Leave("already finished: too late to correct (registry-sync audit reports it)")
    return None


def replacement_name(name: str) -> str:
    """The copy's name: the original's plus `-rs`, shortened with a hash to fit 63 characters."""
    candidate = f"{name}-rs"
    if len(candidate) <= _MAX_NAME:
        return candidate
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: _MAX_NAME - len(digest) - 4].rstrip('-.')}-{digest}-rs"


def is_finished(run: Mapping[str, Any]) -> bool:
    """Tekton's Succeeded condition is True or False, or a completion time is set."""
    status = run.get("status")
    if not isinstance(status, Mapping):
        return False
    if status.get("completionTime"):
        return True
    conditions = status.get("conditions")
    if not isinstance(conditions, list):
        return False
    return any(
        isinstance(c, Mapping)
        and c.get("type") == "Succeeded"
        and c.get("status") in ("True", "False")
        for c in conditions
    )


def _cancel_patch(message: str) -> dict[str, Any]:
    return {
        "metadata": {"annotations": {CANCELLED_BECAUSE_ANNOTATION: message[:1024]}},
        "spec": {"status": CANCELLED},
    }


def _corrected_copy(
    run: Mapping[str, Any], name: str, copy_name: str, decision: Admitted
) -> dict[str, Any]:
    metadata = _metadata(run)
    labels = _string_map(metadata.get("labels"))
    labels[REPLACEMENT_OF_LABEL] = name if len(name) <= _MAX_NAME else copy_name
    annotations = {
        k: v
        for k, v in _string_map(metadata.get("annotations")).items()
        if k != "kubectl.kubernetes.io/last-applied-configuration"
    }
    annotations.update(decision.annotations)
    annotations[REPLACEMENT_OF_ANNOTATION] = name
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
    return body


def _metadata(run: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = run.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def _string_map(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}
