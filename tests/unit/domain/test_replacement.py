"""What the operator does about a model-testing PipelineRun when no webhook is installed.

Specification: DESIGN.md, "Model-testing PipelineRuns" (without a webhook). Tekton refuses
spec changes to an existing run except cancelling it, so a pending run with wrong params is
replaced by a corrected copy and cancelled; a started one is cancelled before it publishes;
finished and cancelled runs are left alone. The params and binding rules are the webhook's.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from registry_sync.domain.admission import BindingView
from registry_sync.domain.metadata import (
    CANCELLED_BECAUSE_ANNOTATION,
    KEPT_RUNNING_ANNOTATION,
    ORIGINAL_PARAMS_ANNOTATION,
    REPLACED_BY_ANNOTATION,
    REPLACEMENT_OF_ANNOTATION,
    REPLACEMENT_OF_LABEL,
    TARGET_LABEL,
    VERSION_ANNOTATION,
)
from registry_sync.domain.params import ParamNames
from registry_sync.domain.pipeline_run import read_run_status
from registry_sync.domain.replacement import (
    Cancel,
    LastReady,
    Leave,
    Replace,
    Report,
    Stamp,
    decide_without_webhook,
    replacement_name,
    when_copy_name_taken,
)
from unit.domain.seed import INFERENCE_SERVICE_NAME, NAMESPACE, READY_BINDING
from unit.domain.strategies import JSON_SCALARS, json_values

RUN_NAME = "model-test-x7k2p"
NAMES = ParamNames()
PENDING = "PipelineRunPending"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

NOT_READY_BINDING = replace(
    READY_BINDING,
    ready=False,
    reason="NotRegistered",
    message="no registry artifact holds the deployed URI",
    model_name=None,
    version_name=None,
    version_id=None,
)

WRONG_PARAMS = [
    {"name": "inference_service_name", "value": INFERENCE_SERVICE_NAME},
    {"name": "model_name", "value": "Mistral-24B-Instruct"},
    {"name": "version_name", "value": "24b-w4a16-1gpu"},
    {"name": "benchmark_profile", "value": "sweep"},
]
CORRECTED_PARAMS = [
    {"name": "inference_service_name", "value": INFERENCE_SERVICE_NAME},
    {"name": "model_name", "value": "Mistral-Small-24B-Instruct"},
    {"name": "version_name", "value": "quantized-w4a16-2501"},
    {"name": "benchmark_profile", "value": "sweep"},
    {"name": "vllm_model_name", "value": "mistral-24b-quantized"},
]
RIGHT_PARAMS = [
    {"name": "vllm_model_name", "value": "mistral-24b-quantized"},
    {"name": "model_name", "value": "Mistral-Small-24B-Instruct"},
    {"name": "version_name", "value": "quantized-w4a16-2501"},
]


def pipeline_run(
    params: object = WRONG_PARAMS,
    *,
    spec_status: str | None = None,
    status: dict[str, Any] | None = None,
    name: object = RUN_NAME,
) -> dict[str, Any]:
    """A model-testing PipelineRun as the API server returns it."""
    spec: dict[str, Any] = {
        "pipelineRef": {"name": "model-testing"},
        "params": copy.deepcopy(params),
        "timeouts": {"pipeline": "1h0m0s"},
        "taskRunTemplate": {"serviceAccountName": "pipeline"},
    }
    if spec_status is not None:
        spec["status"] = spec_status
    run: dict[str, Any] = {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "uid": "0f1e2d3c-aaaa-bbbb-cccc-000000000001",
            "resourceVersion": "48213",
            "generation": 1,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {TARGET_LABEL: INFERENCE_SERVICE_NAME, "team": "perf"},
            "annotations": {
                "note": "nightly benchmark",
                LAST_APPLIED: '{"kind":"PipelineRun"}',
            },
        },
        "spec": spec,
    }
    if status is not None:
        run["status"] = status
    return run


def pending_run(params: object = WRONG_PARAMS) -> dict[str, Any]:
    return pipeline_run(params, spec_status=PENDING)


def running_status() -> dict[str, Any]:
    return {
        "startTime": "2026-01-01T00:00:05Z",
        "conditions": [{"type": "Succeeded", "status": "Unknown", "reason": "Running"}],
    }


def decide(
    run: dict[str, Any],
    binding: BindingView | None = READY_BINDING,
    *,
    exists: bool = False,
    last_ready: LastReady | None = None,
) -> Leave | Replace | Cancel | Report:
    return decide_without_webhook(
        run, binding, NAMES, inference_service_exists=exists, last_ready=last_ready
    )


def replaced(run: dict[str, Any] | None = None) -> Replace:
    action = decide(run if run is not None else pending_run())
    assert isinstance(action, Replace), action
    return action


def cancelled(run: dict[str, Any], binding: BindingView | None = READY_BINDING) -> Cancel:
    action = decide(run, binding)
    assert isinstance(action, Cancel), action
    return action


# Left alone ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec_status", ["Cancelled", "CancelledRunFinally", "StoppedRunFinally", "PipelineRunCancelled"]
)
@pytest.mark.parametrize(
    "binding", [READY_BINDING, NOT_READY_BINDING, None], ids=["ready", "not-ready", "unknown"]
)
def test_a_run_already_cancelled_is_left_alone(
    spec_status: str, binding: BindingView | None
) -> None:
    assert decide(pipeline_run(spec_status=spec_status), binding) == Leave("already cancelled")


@pytest.mark.parametrize(
    "status",
    [
        pytest.param({"conditions": [{"type": "Succeeded", "status": "True"}]}, id="succeeded"),
        pytest.param({"conditions": [{"type": "Succeeded", "status": "False"}]}, id="failed"),
        pytest.param({"completionTime": "2026-01-01T01:00:00Z"}, id="completion-time"),
    ],
)
@pytest.mark.parametrize("binding", [READY_BINDING, NOT_READY_BINDING], ids=["ready", "not-ready"])
def test_a_finished_run_is_left_alone(status: dict[str, Any], binding: BindingView) -> None:
    action = decide(pipeline_run(status=status), binding)
    assert isinstance(action, Leave)
    assert "already finished" in action.why


@pytest.mark.parametrize(
    ("spec_status", "status"),
    [
        pytest.param(PENDING, None, id="pending"),
        pytest.param(None, running_status(), id="running"),
    ],
)
def test_a_run_with_the_right_params_is_stamped_with_the_version_it_runs_for(
    spec_status: str | None, status: dict[str, Any] | None
) -> None:
    run = pipeline_run(RIGHT_PARAMS, spec_status=spec_status, status=status)

    action = decide(run)

    assert action == Stamp(
        {"metadata": {"annotations": {VERSION_ANNOTATION: READY_BINDING.version_id}}}
    )


@pytest.mark.parametrize("stamp", ["5", "999"], ids=["the-bindings", "another"])
def test_a_stamped_run_with_the_right_params_is_left_alone(stamp: str) -> None:
    run = pipeline_run(RIGHT_PARAMS, status=running_status())
    run["metadata"]["annotations"] = {VERSION_ANNOTATION: stamp}

    assert decide(run) == Leave("params already right")


def test_a_run_right_but_for_its_target_param_is_cancelled_not_stamped() -> None:
    params = [*RIGHT_PARAMS, {"name": "inference_service_name", "value": "granite-8b"}]
    run = pipeline_run(params, status=running_status())

    action = decide(run)

    assert isinstance(action, Cancel)
    assert action.reason == "TargetMismatch"


@pytest.mark.parametrize("name", [None, "", 7], ids=["missing", "empty", "not-a-string"])
def test_a_run_without_a_name_is_left_alone(name: object) -> None:
    run = pipeline_run(name=name)
    assert decide(run, None) == Leave("the PipelineRun has no name yet")


# A pending run with wrong params is replaced ----------------------------------------------------


def test_the_copy_is_named_after_the_original() -> None:
    metadata = replaced().copy["metadata"]
    assert metadata["name"] == replacement_name(RUN_NAME) == f"{RUN_NAME}-rs"
    assert metadata["namespace"] == NAMESPACE


def test_the_copy_carries_the_corrected_params_in_the_originals_order() -> None:
    assert replaced().copy["spec"]["params"] == CORRECTED_PARAMS


def test_the_copy_has_the_same_spec_otherwise_and_is_still_pending() -> None:
    run = pending_run()
    spec = dict(replaced(run).copy["spec"])
    del spec["params"]
    expected = dict(run["spec"])
    del expected["params"]
    assert spec == expected
    assert spec["status"] == PENDING


def test_the_copy_keeps_the_labels_and_says_what_it_replaces() -> None:
    assert replaced().copy["metadata"]["labels"] == {
        TARGET_LABEL: INFERENCE_SERVICE_NAME,
        "team": "perf",
        REPLACEMENT_OF_LABEL: RUN_NAME,
    }


def test_the_copy_records_the_original_params_the_version_and_the_run_it_replaces() -> None:
    annotations = replaced().copy["metadata"]["annotations"]
    assert json.loads(annotations.pop(ORIGINAL_PARAMS_ANNOTATION)) == {
        "vllm_model_name": None,
        "model_name": "Mistral-24B-Instruct",
        "version_name": "24b-w4a16-1gpu",
    }
    assert annotations == {
        "note": "nightly benchmark",
        VERSION_ANNOTATION: "5",
        REPLACEMENT_OF_ANNOTATION: RUN_NAME,
    }


def test_the_copy_drops_the_last_applied_configuration() -> None:
    assert LAST_APPLIED not in replaced().copy["metadata"]["annotations"]


def test_the_copy_carries_none_of_the_originals_server_set_fields() -> None:
    run = pending_run()
    run["status"] = {"conditions": [{"type": "Succeeded", "status": "Unknown"}]}
    body = replaced(run).copy
    assert set(body) == {"apiVersion", "kind", "metadata", "spec"}
    assert set(body["metadata"]) == {
        "name",
        "namespace",
        "labels",
        "annotations",
        "ownerReferences",
    }
    assert (body["apiVersion"], body["kind"]) == ("tekton.dev/v1", "PipelineRun")


def test_the_original_is_cancelled_pointing_at_its_copy() -> None:
    patch = replaced().cancel_patch
    assert patch["spec"] == {"status": "Cancelled"}
    annotations = patch["metadata"]["annotations"]
    assert annotations[REPLACED_BY_ANNOTATION] == f"{RUN_NAME}-rs"
    assert f"replaced by {RUN_NAME}-rs" in annotations[CANCELLED_BECAUSE_ANNOTATION]


def test_the_replacement_message_names_both_runs() -> None:
    message = replaced().message
    assert RUN_NAME in message
    assert f"{RUN_NAME}-rs" in message


def test_the_copy_shares_nothing_with_the_original() -> None:
    run = pending_run()
    before = copy.deepcopy(run)
    body = replaced(run).copy
    body["spec"]["timeouts"]["pipeline"] = "2h"
    body["spec"]["params"][0]["value"] = "edited"
    body["metadata"]["labels"]["team"] = "edited"
    assert run == before


def test_configured_param_names_are_used_for_the_copy() -> None:
    names = ParamNames("served", "registry_model", "registry_version")
    action = decide_without_webhook(pending_run([]), READY_BINDING, names)
    assert isinstance(action, Replace)
    assert [entry["name"] for entry in action.copy["spec"]["params"]] == list(names.as_tuple())


# Started runs with wrong params, and runs that cannot be trusted, are cancelled ----------------


def test_a_started_run_with_wrong_params_is_cancelled() -> None:
    action = cancelled(pipeline_run(status=running_status()))
    assert action.reason == "WrongParams"
    assert action.patch["spec"] == {"status": "Cancelled"}


def test_the_cancellation_says_which_params_were_wrong_and_what_to_do() -> None:
    action = cancelled(pipeline_run(status=running_status()))
    assert action.message.startswith(
        f"PipelineRun {RUN_NAME} started with wrong params "
        "(vllm_model_name, model_name, version_name)"
    )
    assert "spec.status: PipelineRunPending" in action.message
    assert action.patch["metadata"]["annotations"][CANCELLED_BECAUSE_ANNOTATION] == action.message


def test_a_run_not_yet_started_nor_pending_counts_as_started() -> None:
    assert cancelled(pipeline_run()).reason == "WrongParams"


@pytest.mark.parametrize(
    ("binding", "reason"),
    [
        pytest.param(NOT_READY_BINDING, "NotRegistered", id="binding-not-ready"),
        pytest.param(None, "UnknownInferenceService", id="unknown-target"),
        pytest.param(replace(READY_BINDING, version_id=None), "IncompleteBinding", id="incomplete"),
    ],
)
@pytest.mark.parametrize(
    ("params", "spec_status", "status"),
    [
        pytest.param(WRONG_PARAMS, PENDING, None, id="pending-wrong"),
        pytest.param(RIGHT_PARAMS, PENDING, None, id="pending-right"),
        pytest.param(WRONG_PARAMS, None, running_status(), id="started-wrong"),
        pytest.param(RIGHT_PARAMS, None, running_status(), id="started-right"),
    ],
)
def test_a_run_the_webhook_would_deny_is_cancelled_with_the_denial_reason(
    binding: BindingView | None,
    reason: str,
    params: object,
    spec_status: str | None,
    status: dict[str, Any] | None,
) -> None:
    run = pipeline_run(params, spec_status=spec_status, status=status)
    action = cancelled(run, binding)
    assert action.reason == reason
    assert action.patch["spec"] == {"status": "Cancelled"}
    assert action.message.startswith(f"PipelineRun {RUN_NAME}: ")
    assert action.patch["metadata"]["annotations"][CANCELLED_BECAUSE_ANNOTATION] == action.message


def test_a_denial_turned_cancellation_speaks_of_cancelling_not_refusing() -> None:
    action = cancelled(pending_run(), NOT_READY_BINDING)
    assert "is cancelled" in action.message
    assert "refused" not in action.message
    assert "create a new run" in action.message


def test_a_run_with_params_that_cannot_be_corrected_is_cancelled_as_invalid() -> None:
    action = cancelled(pending_run([{"name": "model_name", "value": ["a", "b"]}]))
    assert action.reason == "InvalidParams"


def test_the_cancellation_annotation_fits_an_annotation_value() -> None:
    long_message_binding = replace(NOT_READY_BINDING, message="x" * 5000)
    action = cancelled(pending_run(), long_message_binding)
    assert len(action.patch["metadata"]["annotations"][CANCELLED_BECAUSE_ANNOTATION]) <= 1024


# The copy is owned by its original, and a run merely named like it is not the copy ----------

ORIGINAL_UID = "0f1e2d3c-aaaa-bbbb-cccc-000000000001"


def stored_copy(**metadata_changes: Any) -> dict[str, Any]:
    """The copy as the apiserver returns it after an earlier attempt created it."""
    body = copy.deepcopy(dict(replaced().copy))
    body["metadata"].update(uid="copy-uid", resourceVersion="48300", generation=1)
    body["metadata"].update(metadata_changes)
    return body


def foreign_run() -> dict[str, Any]:
    """Someone else's run that happens to have the copy's name."""
    run = pipeline_run(RIGHT_PARAMS, spec_status=PENDING, name=f"{RUN_NAME}-rs")
    run["metadata"]["uid"] = "foreign-uid"
    return run


def test_the_copy_is_owned_by_the_original_without_blocking_its_deletion() -> None:
    # blockOwnerDeletion would need the finalizers permission on the original.
    assert replaced().copy["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "tekton.dev/v1",
            "kind": "PipelineRun",
            "name": RUN_NAME,
            "uid": ORIGINAL_UID,
        }
    ]


def test_a_copy_made_by_an_earlier_attempt_is_taken_as_the_copy() -> None:
    action = replaced()
    assert when_copy_name_taken(pending_run(), action, stored_copy()) is action


@pytest.mark.parametrize(
    "existing",
    [
        pytest.param(foreign_run(), id="made-by-anyone"),
        pytest.param(
            {**foreign_run(), "metadata": {**foreign_run()["metadata"], "annotations": {
                REPLACEMENT_OF_ANNOTATION: RUN_NAME}}},
            id="claims-to-be-the-copy-without-an-owner",
        ),
        pytest.param(
            stored_copy(ownerReferences=[{"apiVersion": "tekton.dev/v1", "kind": "PipelineRun",
                                          "name": RUN_NAME, "uid": "an-earlier-run-uid"}]),
            id="owned-by-an-earlier-run-of-that-name",
        ),
        pytest.param(stored_copy(annotations={}), id="owned-but-not-saying-whose-copy"),
        pytest.param(
            stored_copy(annotations={REPLACEMENT_OF_ANNOTATION: "another-run"}),
            id="copy-of-another-run",
        ),
        pytest.param(None, id="gone-again"),
    ],
)  # fmt: skip
def test_a_run_holding_the_copys_name_that_is_not_the_copy_cancels_the_original(
    existing: dict[str, Any] | None,
) -> None:
    action = when_copy_name_taken(pending_run(), replaced(), existing)
    assert isinstance(action, Cancel)
    assert action.reason == "ReplacementNameTaken"
    assert action.patch["spec"] == {"status": "Cancelled"}


def test_a_taken_name_never_points_the_original_at_the_run_holding_it() -> None:
    action = when_copy_name_taken(pending_run(), replaced(), foreign_run())
    assert isinstance(action, Cancel)
    assert REPLACED_BY_ANNOTATION not in action.patch["metadata"]["annotations"]
    assert action.patch["metadata"]["annotations"][CANCELLED_BECAUSE_ANNOTATION] == action.message


def test_the_taken_name_cancellation_names_both_runs_and_what_to_do() -> None:
    action = when_copy_name_taken(pending_run(), replaced(), foreign_run())
    assert isinstance(action, Cancel)
    assert f"PipelineRun {RUN_NAME} " in action.message
    assert f"{RUN_NAME}-rs, is taken by a PipelineRun that is not its copy" in action.message
    assert "then create a new run" in action.message


def test_an_original_without_a_uid_never_takes_a_run_for_its_copy() -> None:
    run = pending_run()
    del run["metadata"]["uid"]
    action = decide(run)
    assert isinstance(action, Replace)
    assert "ownerReferences" not in action.copy["metadata"]
    assert isinstance(when_copy_name_taken(run, action, stored_copy()), Cancel)


# A registration after the start does not stop a run started with the Ready answer -----------

CREATED_MS = 1_767_225_600_000  # the runs' creationTimestamp, 2026-01-01T00:00:00Z
AMBIGUOUS_BINDING = replace(
    NOT_READY_BINDING,
    reason="Ambiguous",
    message="2 live versions claim the deployed URI (tag reuse): model Mistral-Small-24B-Instruct "
    "version quantized-w4a16-2501 (id 5), model Squatter version v1 (id 12)",
)
# Ready with the seed's answer until a minute after the runs were created.
LAST_READY = LastReady(READY_BINDING, ended_at_ms=CREATED_MS + 60_000)


def started_right_run(annotations: dict[str, str] | None = None) -> dict[str, Any]:
    run = pipeline_run(RIGHT_PARAMS, status=running_status())
    run["metadata"]["annotations"].update(annotations or {})
    return run


def reported(run: dict[str, Any], last_ready: LastReady = LAST_READY) -> Report:
    action = decide(run, AMBIGUOUS_BINDING, last_ready=last_ready)
    assert isinstance(action, Report), action
    return action


def test_a_squatting_registration_does_not_cancel_a_run_started_with_the_ready_answer() -> None:
    action = reported(started_right_run())
    assert action.reason == "BindingNotReady"
    assert action.patch == {"metadata": {"annotations": {KEPT_RUNNING_ANNOTATION: action.message}}}


def test_the_report_says_what_the_run_publishes_to_and_why_it_is_left_running() -> None:
    message = reported(started_right_run()).message
    assert message.startswith(
        f"PipelineRun {RUN_NAME} started with model Mistral-Small-24B-Instruct version "
        "quantized-w4a16-2501 (id 5)"
    )
    assert "no longer Ready (Ambiguous): 2 live versions claim" in message
    assert "left running, not cancelled" in message
    assert f"oc describe mb {INFERENCE_SERVICE_NAME}" in message


def test_a_run_reported_already_is_not_reported_again() -> None:
    note = reported(started_right_run()).message
    run = started_right_run({KEPT_RUNNING_ANNOTATION: note})
    assert decide(run, AMBIGUOUS_BINDING, last_ready=LAST_READY) == Leave(
        "left running, and reported already"
    )


def test_a_new_reason_is_reported_again() -> None:
    run = started_right_run({KEPT_RUNNING_ANNOTATION: "an earlier report"})
    reported(run)


def test_a_stamp_naming_the_ready_answers_version_counts_as_admitted_with_it() -> None:
    reported(started_right_run({VERSION_ANNOTATION: "5"}))


def test_a_long_binding_message_still_fits_the_annotation() -> None:
    binding = replace(AMBIGUOUS_BINDING, message="x" * 5000)
    action = decide(started_right_run(), binding, last_ready=LAST_READY)
    assert isinstance(action, Report)
    assert len(action.patch["metadata"]["annotations"][KEPT_RUNNING_ANNOTATION]) <= 1024


def _without_creation_time() -> dict[str, Any]:
    run = started_right_run()
    del run["metadata"]["creationTimestamp"]
    return run


@pytest.mark.parametrize(
    ("run", "last_ready"),
    [
        pytest.param(
            started_right_run(), LastReady(READY_BINDING, CREATED_MS - 1), id="created-after-it"
        ),
        # The timestamp has whole seconds: created in the second Ready ended is not "before".
        pytest.param(
            started_right_run(), LastReady(READY_BINDING, CREATED_MS + 999), id="same-second"
        ),
        pytest.param(started_right_run(), LastReady(READY_BINDING, None), id="not-ended"),
        pytest.param(
            pipeline_run(WRONG_PARAMS, status=running_status()), LAST_READY, id="other-params"
        ),
        pytest.param(
            started_right_run({VERSION_ANNOTATION: "10"}), LAST_READY, id="stamp-of-another-version"
        ),
        pytest.param(_without_creation_time(), LAST_READY, id="no-creation-time"),
        pytest.param(
            started_right_run(),
            LastReady(replace(READY_BINDING, inference_service="other"), CREATED_MS + 60_000),
            id="answer-of-another-inference-service",
        ),
    ],
)
def test_a_started_run_not_admitted_with_the_last_ready_answer_is_cancelled(
    run: dict[str, Any], last_ready: LastReady
) -> None:
    action = decide(run, AMBIGUOUS_BINDING, last_ready=last_ready)
    assert isinstance(action, Cancel)
    assert action.reason == "Ambiguous"


def test_without_a_last_ready_answer_a_started_run_is_cancelled() -> None:
    # After a restart while the binding is not Ready: nothing proves what the run was started
    # with, so fail closed.
    action = decide(started_right_run(), AMBIGUOUS_BINDING, last_ready=None)
    assert isinstance(action, Cancel)


def test_a_pending_run_is_cancelled_whatever_answer_it_was_created_with() -> None:
    run = pipeline_run(RIGHT_PARAMS, spec_status=PENDING)
    action = decide(run, AMBIGUOUS_BINDING, last_ready=LAST_READY)
    assert isinstance(action, Cancel)


def test_a_run_whose_inference_service_is_gone_is_cancelled_whatever_answer_it_had() -> None:
    action = decide(started_right_run(), None, last_ready=LAST_READY)
    assert isinstance(action, Cancel)
    assert action.reason == "UnknownInferenceService"


def test_a_run_whose_binding_is_ready_with_another_answer_is_cancelled() -> None:
    moved = replace(READY_BINDING, version_name="v2", version_id="12")
    action = decide(started_right_run(), moved, last_ready=LAST_READY)
    assert isinstance(action, Cancel)
    assert action.reason == "WrongParams"


# replacement_name ------------------------------------------------------------------------------

LONG_NAME = "nightly-model-test-" + "a" * 50


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("x", "x-rs", id="short"),
        pytest.param(RUN_NAME, f"{RUN_NAME}-rs", id="generated"),
        pytest.param("n" * 60, "n" * 60 + "-rs", id="just-fits"),
    ],
)
def test_a_name_that_fits_gets_rs_appended(name: str, expected: str) -> None:
    assert replacement_name(name) == expected


def test_a_name_too_long_for_rs_is_shortened_to_63_characters() -> None:
    copy_name = replacement_name("n" * 61)
    assert len(copy_name) <= 63
    assert re.fullmatch(r"n+-[0-9a-f]{8}-rs", copy_name)


def test_a_shortened_name_keeps_the_start_of_the_original() -> None:
    assert replacement_name(LONG_NAME).startswith("nightly-model-test-aaaa")


def test_a_shortened_name_does_not_cut_at_a_dash() -> None:
    name = "a" * 50 + "-" + "b" * 20
    assert "--" not in replacement_name(name)


DNS_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
DNS_NAMES = st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,250}[a-z0-9])?", fullmatch=True)
# Long names alike in the part a shortened name keeps: only the hash can tell them apart.
SHARED_START = "nightly-model-test-" + "p" * 40
LONG_NAMES_ALIKE = st.text(alphabet="ab0-.", min_size=2, max_size=30).map(
    lambda rest: SHARED_START + rest
)


@given(st.text(min_size=1, max_size=300))
def test_a_replacement_name_never_exceeds_63_characters(name: str) -> None:
    assert len(replacement_name(name)) <= 63


@given(st.text(min_size=1, max_size=300))
def test_a_replacement_name_is_deterministic(name: str) -> None:
    assert replacement_name(name) == replacement_name(name)


@given(st.lists(LONG_NAMES_ALIKE, min_size=2, max_size=5, unique=True))
def test_distinct_long_names_get_distinct_replacement_names(names: list[str]) -> None:
    assert len({replacement_name(name) for name in names}) == len(names)


@given(DNS_NAMES)
def test_a_valid_object_name_gets_a_valid_object_name(name: str) -> None:
    assert DNS_NAME.fullmatch(replacement_name(name))


# read_run_status(...).finished ------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "finished"),
    [
        pytest.param(None, False, id="no-status"),
        pytest.param({}, False, id="empty-status"),
        pytest.param(running_status(), False, id="running"),
        pytest.param({"conditions": [{"type": "Succeeded", "status": "True"}]}, True, id="ok"),
        pytest.param({"conditions": [{"type": "Succeeded", "status": "False"}]}, True, id="failed"),
        pytest.param({"completionTime": "2026-01-01T01:00:00Z"}, True, id="completion-time"),
        pytest.param({"completionTime": ""}, False, id="empty-completion-time"),
        pytest.param({"conditions": [{"type": "Other", "status": "True"}]}, False, id="other"),
        pytest.param({"conditions": "Succeeded"}, False, id="conditions-not-a-list"),
        pytest.param({"conditions": ["Succeeded"]}, False, id="condition-not-a-map"),
        pytest.param("Succeeded", False, id="status-not-a-map"),
    ],
)
def test_a_run_is_finished_when_succeeded_is_decided_or_it_completed(
    status: object, finished: bool
) -> None:
    run: dict[str, Any] = {"metadata": {"name": RUN_NAME}}
    if status is not None:
        run["status"] = status
    assert read_run_status(run).finished is finished


# Invariants ------------------------------------------------------------------------------------

BINDINGS = st.sampled_from([READY_BINDING, NOT_READY_BINDING, AMBIGUOUS_BINDING, None])
OURS = NAMES.as_tuple()
BINDING_VALUES = {
    "vllm_model_name": "mistral-24b-quantized",
    "model_name": "Mistral-Small-24B-Instruct",
    "version_name": "quantized-w4a16-2501",
}
# Mostly the usual case, so that replacements and cancellations are common; sometimes odd.
USUALLY = st.sampled_from([True, True, True, False])
SPEC_STATUSES = st.sampled_from(
    [PENDING, None, "Cancelled", "StoppedRunFinally", "CancelledRunFinally", ""]
) | st.text(max_size=10)
FINISHED_OR_ODD_STATUSES = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "completionTime": JSON_SCALARS,
            "conditions": st.lists(
                st.fixed_dictionaries(
                    {
                        "type": st.sampled_from(["Succeeded", "Other"]),
                        "status": st.sampled_from(["True", "False", "Unknown"]) | JSON_SCALARS,
                    }
                )
                | JSON_SCALARS,
                max_size=2,
            ),
        },
    ),
    JSON_SCALARS,
)


@st.composite
def run_params(draw: st.DrawFn) -> object:
    """Ours at most once each, right, wrong or missing, among others; sometimes not a list."""
    if not draw(USUALLY):
        return draw(st.lists(st.fixed_dictionaries({"name": st.sampled_from(OURS)})) | JSON_SCALARS)
    params: list[dict[str, Any]] = [{"name": "other", "value": draw(JSON_SCALARS)}]
    for name, right in BINDING_VALUES.items():
        held = draw(st.sampled_from(["right", "wrong", "missing"]))
        if held != "missing":
            params.append({"name": name, "value": right if held == "right" else "wrong"})
    return draw(st.permutations(params))


@st.composite
def pipeline_runs(draw: st.DrawFn, spec_statuses: st.SearchStrategy[Any]) -> dict[str, Any]:
    """Opted-in runs in every state, with odd params, names and statuses."""
    name = RUN_NAME if draw(USUALLY) else draw(st.sampled_from(["x" * 70, ""]) | JSON_SCALARS)
    run = pipeline_run(draw(run_params()), name=name)
    spec_status = PENDING if draw(USUALLY) else draw(spec_statuses)
    if spec_status is not None:
        run["spec"]["status"] = spec_status
    if not draw(USUALLY):
        run["status"] = draw(FINISHED_OR_ODD_STATUSES)
    elif spec_status != PENDING:
        run["status"] = running_status()
    return run


def _with_spec_status(spec_status: object) -> dict[str, Any]:
    run = pending_run()
    run["spec"]["status"] = spec_status
    return run


@pytest.mark.parametrize("spec_status", [[PENDING], {"value": PENDING}], ids=["list", "object"])
def test_an_unhashable_spec_status_is_decided_not_a_crash(spec_status: object) -> None:
    action = decide(_with_spec_status(spec_status))
    assert isinstance(action, Leave | Replace | Cancel | Report | Stamp)


@given(
    pipeline_runs(SPEC_STATUSES | json_values())
    | st.dictionaries(st.text(max_size=8), json_values()),
    BINDINGS,
    st.booleans(),
)
@example(_with_spec_status([PENDING]), READY_BINDING, False)
def test_decide_without_webhook_never_raises_on_arbitrary_runs(
    run: dict[str, Any], binding: BindingView | None, exists: bool
) -> None:
    action = decide_without_webhook(run, binding, NAMES, inference_service_exists=exists)
    assert isinstance(action, Leave | Replace | Cancel | Report | Stamp)


@given(pipeline_runs(SPEC_STATUSES), BINDINGS)
def test_decide_without_webhook_never_modifies_the_run(
    run: dict[str, Any], binding: BindingView | None
) -> None:
    before = copy.deepcopy(run)
    decide_without_webhook(run, binding, NAMES)
    assert run == before


@given(pipeline_runs(SPEC_STATUSES), BINDINGS)
def test_only_pending_runs_are_replaced_and_every_change_cancels_the_original(
    run: dict[str, Any], binding: BindingView | None
) -> None:
    action = decide_without_webhook(run, binding, NAMES)
    if isinstance(action, Replace):
        assert run["spec"]["status"] == PENDING
        assert action.cancel_patch["spec"] == {"status": "Cancelled"}
    if isinstance(action, Cancel):
        assert action.patch["spec"] == {"status": "Cancelled"}


@given(pipeline_runs(SPEC_STATUSES))
def test_a_copy_holds_each_of_our_params_once_with_the_bindings_values(run: dict[str, Any]) -> None:
    action = decide_without_webhook(run, READY_BINDING, NAMES)
    if not isinstance(action, Replace):
        return
    ours = [entry for entry in action.copy["spec"]["params"] if entry.get("name") in OURS]
    assert sorted(entry["name"] for entry in ours) == sorted(OURS)
    assert {entry["name"]: entry["value"] for entry in ours} == BINDING_VALUES
    assert len(action.copy["metadata"]["name"]) <= 63
    assert len(action.copy["metadata"]["labels"][REPLACEMENT_OF_LABEL]) <= 63


@given(
    pipeline_runs(SPEC_STATUSES),
    BINDINGS,
    st.sampled_from([None, LAST_READY, LastReady(READY_BINDING, None)]),
)
def test_a_run_is_only_ever_left_running_through_a_report_when_started_and_not_ready(
    run: dict[str, Any], binding: BindingView | None, last_ready: LastReady | None
) -> None:
    action = decide_without_webhook(run, binding, NAMES, last_ready=last_ready)
    if isinstance(action, Report):
        assert run["spec"].get("status") != PENDING
        assert binding is not None and not binding.ready
        assert "spec" not in action.patch
