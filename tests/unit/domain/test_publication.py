"""`verify-run` and `publish` decisions: the run's names, its stamp, its binding and the
registry's version must agree; figures are written once, never over a newer run's."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_sync.domain.admission import BindingView
from registry_sync.domain.metadata import TARGET_LABEL, VERSION_ANNOTATION
from registry_sync.domain.params import ParamNames
from registry_sync.domain.publication import (
    MetricWrite,
    Publication,
    Refused,
    RegisteredVersion,
    StoredMetric,
    StoredRecord,
    Verified,
    plan_publication,
    run_record_name,
    stored_binding_view,
    verify_run,
)
from registry_sync.domain.run_figures import Figure
from unit.domain.seed import INFERENCE_SERVICE_NAME, NAMESPACE, READY_BINDING
from unit.domain.strategies import json_values

NAMES = ParamNames()
RUN = "model-testing-abc12"
RUN_UID = "6f1c2d3e-0000-4000-8000-000000000001"
STARTED = "2026-12-01T10:00:00Z"
STARTED_MS = 1_796_119_200_000
VERSION = RegisteredVersion(
    id=READY_BINDING.version_id or "",
    name=READY_BINDING.version_name or "",
    model_name=READY_BINDING.model_name or "",
)
MOVED_BINDING = replace(READY_BINDING, version_id="9", version_name="24b-w4a16-1gpu")
TTFT = Figure("ttft_p90@rate=2", 182.5, "ms", "guidellm", "0.8.1", "rate=2")
ACCURACY = Figure("lm_eval.gsm8k.exact_match", 0.71, "", "lm-eval", "0.4.13")


def right_params() -> list[dict[str, Any]]:
    return [
        {"name": "inference_service_name", "value": INFERENCE_SERVICE_NAME},
        {"name": "vllm_model_name", "value": READY_BINDING.served_name},
        {"name": "model_name", "value": READY_BINDING.model_name},
        {"name": "version_name", "value": READY_BINDING.version_name},
    ]


def run(
    params: list[dict[str, Any]] | None = None,
    *,
    stamp: str | None = READY_BINDING.version_id,
    uid: str = RUN_UID,
    started: str | None = STARTED,
    name: str = RUN,
) -> dict[str, Any]:
    """A model-testing PipelineRun as `publish` reads it at its last task."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": NAMESPACE,
        "uid": uid,
        "creationTimestamp": "2026-12-01T09:59:58Z",
        "labels": {TARGET_LABEL: INFERENCE_SERVICE_NAME},
    }
    if stamp is not None:
        metadata["annotations"] = {VERSION_ANNOTATION: stamp}
    body: dict[str, Any] = {
        "metadata": metadata,
        "spec": {"params": right_params() if params is None else params},
    }
    if started is not None:
        body["status"] = {"startTime": started}
    return body


def plan(
    the_run: dict[str, Any] | None = None,
    *,
    binding: BindingView | None = READY_BINDING,
    version: RegisteredVersion | None = VERSION,
    figures: tuple[Figure, ...] = (TTFT, ACCURACY),
    metrics: tuple[StoredMetric, ...] = (),
    records: tuple[StoredRecord, ...] = (),
    running_digest: str | None = None,
) -> Publication | Refused:
    return plan_publication(
        run() if the_run is None else the_run,
        binding,
        version,
        figures,
        metrics,
        records,
        NAMES,
        running_digest,
    )


def published(**kwargs: Any) -> Publication:
    decided = plan(**kwargs)
    assert isinstance(decided, Publication), decided
    return decided


def refused(**kwargs: Any) -> Refused:
    decided = plan(**kwargs)
    assert isinstance(decided, Refused), decided
    return decided


def stored_as_written(publication: Publication) -> tuple[tuple[StoredMetric, ...], StoredRecord]:
    """What the registry holds after `publication` was applied (ids made up here)."""
    metrics = tuple(
        StoredMetric(
            id=str(index),
            name=write.name,
            value=write.value,
            timestamp_ms=write.timestamp_ms,
            run=write.properties["run"],
            run_uid=write.properties["run_uid"],
        )
        for index, write in enumerate(publication.metrics, start=10)
    )
    assert publication.record is not None
    record = StoredRecord("99", publication.record.name, dict(publication.record.properties))
    return metrics, record


# verify-run ---------------------------------------------------------------------------------


def test_a_run_with_its_ready_bindings_names_is_verified() -> None:
    verdict = verify_run(run(), READY_BINDING, NAMES)

    assert verdict == Verified(
        run=RUN,
        inference_service=INFERENCE_SERVICE_NAME,
        version_id=VERSION.id,
        served_name=READY_BINDING.served_name or "",
        model_name=VERSION.model_name,
        version_name=VERSION.name,
    )


def test_an_unstamped_run_with_the_right_names_passes_verify() -> None:
    assert isinstance(verify_run(run(stamp=None), READY_BINDING, NAMES), Verified)


def test_a_run_with_the_incidents_wrong_names_fails_verify_saying_the_right_ones() -> None:
    params = right_params()
    params[2]["value"] = "Mistral-24B-Instruct"
    params[3]["value"] = "24b-w4a16-1gpu"

    verdict = verify_run(run(params), READY_BINDING, NAMES)

    assert isinstance(verdict, Refused) and verdict.reason == "WrongParams"
    assert "model_name, version_name" in verdict.message
    assert f"version_name={READY_BINDING.version_name}" in verdict.message


@pytest.mark.parametrize(
    ("binding", "reason"),
    [
        (None, "UnknownInferenceService"),
        (replace(READY_BINDING, ready=False, reason="Ambiguous"), "Ambiguous"),
    ],
    ids=["no-binding", "not-ready"],
)
def test_a_run_whose_binding_is_missing_or_not_ready_fails_verify(
    binding: BindingView | None, reason: str
) -> None:
    verdict = verify_run(run(), binding, NAMES)

    assert isinstance(verdict, Refused) and verdict.reason == reason


def test_a_run_whose_target_param_names_another_deployment_fails_verify() -> None:
    params = right_params()
    params[0]["value"] = "granite-8b"

    verdict = verify_run(run(params), READY_BINDING, NAMES)

    assert isinstance(verdict, Refused) and verdict.reason == "TargetMismatch"


def test_a_run_stamped_for_another_version_than_its_binding_now_names_fails_verify() -> None:
    verdict = verify_run(run(stamp="9"), READY_BINDING, NAMES)

    assert isinstance(verdict, Refused) and verdict.reason == "DeploymentMoved"
    assert "9" in verdict.message and str(READY_BINDING.version_id) in verdict.message


def test_a_cancelled_run_fails_verify_with_why_it_was_cancelled() -> None:
    cancelled = run()
    cancelled["spec"]["status"] = "Cancelled"
    cancelled["metadata"]["annotations"]["registry-sync.io/cancelled-because"] = "wrong params"

    verdict = verify_run(cancelled, READY_BINDING, NAMES)

    assert isinstance(verdict, Refused) and verdict.reason == "RunCancelled"
    assert "wrong params" in verdict.message


# Reading a stored binding ------------------------------------------------------------------


def stored_binding(status: object) -> dict[str, Any]:
    return {"spec": {"inferenceServiceName": INFERENCE_SERVICE_NAME}, "status": status}


def test_a_stored_ready_binding_reads_as_the_view_the_webhook_has() -> None:
    status = {
        "vllmModelName": READY_BINDING.served_name,
        "registeredModelName": READY_BINDING.model_name,
        "modelVersionName": READY_BINDING.version_name,
        "modelVersionId": READY_BINDING.version_id,
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "Resolved", "message": "resolved"}
        ],
    }

    view = stored_binding_view(INFERENCE_SERVICE_NAME, stored_binding(status))

    assert view == replace(READY_BINDING, message="resolved")


@pytest.mark.parametrize(
    "status",
    [None, {}, {"conditions": "Ready"}, {"conditions": [{"type": "Ready", "status": "Unknown"}]}],
    ids=["no-status", "empty", "odd-conditions", "unknown"],
)
def test_a_stored_binding_without_a_true_ready_condition_is_not_ready(status: object) -> None:
    view = stored_binding_view(INFERENCE_SERVICE_NAME, stored_binding(status))

    assert view is not None and not view.ready and view.reason


@given(json_values())
def test_reading_any_stored_binding_never_raises(body: object) -> None:
    view = stored_binding_view(INFERENCE_SERVICE_NAME, body)

    assert view is None or isinstance(view, BindingView)


# publish: refusals ---------------------------------------------------------------------------


def test_an_unstamped_run_is_refused_naming_the_annotation() -> None:
    decided = refused(the_run=run(stamp=None))

    assert decided.reason == "NotStamped"
    assert VERSION_ANNOTATION in decided.message


def test_a_run_whose_deployment_moved_while_it_ran_is_refused() -> None:
    decided = refused(binding=MOVED_BINDING)

    assert decided.reason == "DeploymentMoved"


def test_a_run_whose_stamped_version_is_not_in_the_registry_is_refused() -> None:
    assert refused(version=None).reason == "VersionNotFound"


def test_names_that_disagree_with_the_stamped_id_are_refused() -> None:
    renamed = replace(VERSION, name="quantized-w4a16-2502")

    decided = refused(version=renamed)

    assert decided.reason == "NamesDisagree"
    assert "quantized-w4a16-2502" in decided.message


def test_a_run_whose_names_are_not_its_stamped_versions_is_refused_naming_both() -> None:
    params = right_params()
    params[3]["value"] = "24b-w4a16-1gpu"

    decided = refused(the_run=run(params))

    assert decided.reason == "NamesDisagree"
    assert "24b-w4a16-1gpu" in decided.message and VERSION.name in decided.message


def test_a_run_that_asked_another_served_name_is_refused_as_wrong_params() -> None:
    params = right_params()
    params[1]["value"] = "granite-8b"

    assert refused(the_run=run(params)).reason == "WrongParams"


def test_a_stamp_set_by_hand_to_another_version_is_refused_as_names_disagreeing() -> None:
    other = RegisteredVersion("9", "24b-w4a16-1gpu", "Mistral-24B-Instruct")

    decided = refused(the_run=run(stamp="9"), version=other)

    assert decided.reason == "NamesDisagree"


def test_a_run_whose_target_param_names_another_deployment_is_refused() -> None:
    params = right_params()
    params[0]["value"] = "granite-8b"

    assert refused(the_run=run(params)).reason == "TargetMismatch"


def test_a_figure_that_is_not_a_finite_number_is_refused() -> None:
    nan = Figure("ttft_p99", float("nan"), "ms", "guidellm", "0.8.1")

    assert refused(figures=(TTFT, nan)).reason == "NotANumber"


def test_a_run_without_a_uid_is_refused() -> None:
    nameless = run()
    del nameless["metadata"]["uid"]

    assert refused(the_run=nameless).reason == "RunUnreadable"


# publish: what is written -----------------------------------------------------------------


def test_a_first_publication_writes_every_figure_then_the_runs_record() -> None:
    publication = published(running_digest="sha256:" + "a" * 64)

    assert publication.version_id == VERSION.id
    assert [write.name for write in publication.metrics] == [TTFT.name, ACCURACY.name]
    ttft = publication.metrics[0]
    assert ttft == MetricWrite(
        TTFT.name,
        TTFT.value,
        STARTED_MS,
        {
            "run": f"{NAMESPACE}/{RUN}",
            "run_uid": RUN_UID,
            "served_name": str(READY_BINDING.served_name),
            "tool": "guidellm",
            "tool_version": "0.8.1",
            "unit": "ms",
            "profile": "rate=2",
            "running_digest": "sha256:" + "a" * 64,
        },
    )
    record = publication.record
    assert record is not None and record.existing_id is None
    assert record.name == f"pipelinerun:{NAMESPACE}/{RUN}:{RUN_UID}"
    assert json.loads(record.properties["figures"]) == {TTFT.name: 182.5, ACCURACY.name: 0.71}
    assert record.properties["model_version_id"] == VERSION.id
    assert record.properties["tools"] == "guidellm 0.8.1, lm-eval 0.4.13"


def test_without_a_start_time_the_creation_time_orders_the_run() -> None:
    publication = published(the_run=run(started=None))

    assert {write.timestamp_ms for write in publication.metrics} == {STARTED_MS - 2000}


def test_publishing_the_same_run_again_writes_nothing() -> None:
    metrics, record = stored_as_written(published())

    again = published(metrics=metrics, records=(record,))

    assert again.writes_nothing
    assert set(again.unchanged) == {TTFT.name, ACCURACY.name}


def test_the_registry_giving_a_whole_number_back_still_counts_as_the_same_value() -> None:
    whole = Figure("requests_per_second@rate=2", 2.0, "requests/s", "guidellm", "0.8.1")
    metrics, record = stored_as_written(published(figures=(whole,)))
    as_read = tuple(replace(metric, value=2) for metric in metrics)
    as_recorded = json.dumps({whole.name: 2})
    record = replace(record, properties={**record.properties, "figures": as_recorded})

    assert published(figures=(whole,), metrics=as_read, records=(record,)).writes_nothing


def test_the_same_run_with_one_figure_changed_writes_that_figure_and_updates_its_record() -> None:
    metrics, record = stored_as_written(published())
    changed = replace(TTFT, value=190.0)

    again = published(figures=(changed, ACCURACY), metrics=metrics, records=(record,))

    assert [write.name for write in again.metrics] == [TTFT.name]
    assert again.record is not None and again.record.existing_id == record.id
    assert json.loads(again.record.properties["figures"])[TTFT.name] == 190.0


def test_a_newer_run_writes_over_an_older_runs_figures() -> None:
    metrics, _ = stored_as_written(published())

    newer = published(
        the_run=run(uid="newer-uid", name="model-testing-later", started="2026-12-02T10:00:00Z"),
        metrics=metrics,
    )

    assert [write.name for write in newer.metrics] == [TTFT.name, ACCURACY.name]
    assert newer.record is not None and "model-testing-later" in newer.record.name


def test_an_older_run_is_refused_over_a_newer_runs_figures_naming_it() -> None:
    newer = published(
        the_run=run(uid="newer-uid", name="model-testing-later", started="2026-12-02T10:00:00Z")
    )
    metrics, _ = stored_as_written(newer)

    decided = refused(metrics=metrics)

    assert decided.reason == "NewerResults"
    assert "model-testing-later" in decided.message


def test_an_older_run_published_before_the_newer_one_republishes_as_nothing_new() -> None:
    older_metrics, older_record = stored_as_written(published())
    newer = published(
        the_run=run(uid="newer-uid", name="model-testing-later", started="2026-12-02T10:00:00Z"),
        metrics=older_metrics,
    )
    newer_metrics, newer_record = stored_as_written(newer)

    again = published(metrics=newer_metrics, records=(older_record, newer_record))

    assert again.writes_nothing
    assert set(again.superseded) == {TTFT.name, ACCURACY.name}


def test_a_metric_not_written_by_publish_is_not_overwritten() -> None:
    by_hand = StoredMetric("3", TTFT.name, 150.0, None, None, None)

    decided = refused(metrics=(by_hand,))

    assert decided.reason == "FiguresNotOurs"
    assert TTFT.name in decided.message


def test_a_metric_not_written_by_publish_with_the_same_value_is_left_as_it_is() -> None:
    by_hand = StoredMetric("3", TTFT.name, TTFT.value, None, None, None)

    publication = published(metrics=(by_hand,))

    assert [write.name for write in publication.metrics] == [ACCURACY.name]
    assert publication.unchanged == (TTFT.name,)


def test_a_refusal_lists_a_few_figures_and_counts_the_rest() -> None:
    figures = tuple(replace(TTFT, name=f"ttft_p90@rate={rate}") for rate in range(12))
    by_hand = tuple(
        StoredMetric(str(i), f.name, 1.0, None, None, None) for i, f in enumerate(figures)
    )

    decided = refused(figures=figures, metrics=by_hand)

    assert "and 7 more" in decided.message


def test_the_record_name_says_namespace_run_and_uid() -> None:
    assert run_record_name("team/run-1", "u-1") == "pipelinerun:team/run-1:u-1"


@given(json_values(), st.none() | st.just(READY_BINDING) | st.just(MOVED_BINDING))
def test_planning_never_raises_on_any_run(body: Any, binding: BindingView | None) -> None:
    decided = plan_publication(
        body if isinstance(body, dict) else {"metadata": body},
        binding,
        VERSION,
        (TTFT,),
        (),
        (),
        NAMES,
    )

    assert isinstance(decided, Publication | Refused)
