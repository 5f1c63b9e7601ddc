"""One namespace's report as a whole: the seed's mismatches, counting, and invariants."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from registry_sync.audit.findings import (
    InferenceServiceVerdict,
    PipelineRunVerdict,
    RegistryInferenceServiceRecord,
)
from registry_sync.audit.verdicts import audit_namespace
from unit.audit.scenario import (
    COMPARISON_URI,
    DEPLOYED_URI,
    INCIDENT_LABELS,
    INCIDENT_PARAMS,
    ISVC,
    MODEL_LABEL,
    NAMESPACE,
    ONE_GPU_URI,
    OPTIMIZED_URI,
    RIGHT_LABELS,
    RIGHT_PARAMS,
    TARGET_LABEL,
    UNREGISTERED_URI,
    VERSION_LABEL,
    inference_service,
    labelled_run,
    pipeline_run,
    snapshot,
    with_tag_reuse,
)


def seed_report() -> Any:
    return audit_namespace(
        NAMESPACE,
        [inference_service(labels=INCIDENT_LABELS)],
        [pipeline_run("benchmark", {**INCIDENT_PARAMS, "inference_service_name": ISVC})],
        snapshot(),
    )


def test_the_seed_namespace_yields_exactly_its_two_mismatches() -> None:
    report = seed_report()

    assert [(f.name, f.verdict) for f in report.inference_services] == [
        (ISVC, InferenceServiceVerdict.WRONG_LABELS)
    ]
    assert [(f.name, f.verdict) for f in report.pipeline_runs] == [
        ("benchmark", PipelineRunVerdict.WRONG_REGISTRY_TARGET)
    ]
    assert (report.tag_reuse, report.records, report.mismatches) == ((), (), 2)


def test_in_the_seed_run_the_vllm_name_is_right() -> None:
    (run,) = seed_report().pipeline_runs

    assert run.vllm_model_name.state.value == "ok"


def test_a_namespace_whose_names_agree_is_clean() -> None:
    report = audit_namespace(
        NAMESPACE,
        [inference_service(labels=RIGHT_LABELS)],
        [labelled_run(RIGHT_PARAMS)],
        snapshot(),
        [RegistryInferenceServiceRecord("20", ISVC, "19", "4", "5")],
    )

    assert (report.clean, report.mismatches) == (True, 0)


def test_tag_reuse_in_the_registry_is_a_mismatch() -> None:
    report = audit_namespace(NAMESPACE, [], [], with_tag_reuse())

    assert (len(report.tag_reuse), report.clean) == (1, False)


def test_an_empty_namespace_is_clean() -> None:
    assert audit_namespace(NAMESPACE, [], [], snapshot()).clean


def test_findings_are_reported_in_name_order() -> None:
    report = audit_namespace(
        NAMESPACE,
        [inference_service(name) for name in ("c", "a", "b")],
        [labelled_run(RIGHT_PARAMS, target=name) for name in ("z",)],
        snapshot(),
    )

    assert [f.name for f in report.inference_services] == ["a", "b", "c"]


# -- invariants ----------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def shaped_like(kind: str) -> st.SearchStrategy[Any]:
    """Bodies that look like the real thing in places and hold anything elsewhere."""
    metadata = st.fixed_dictionaries(
        {},
        optional={
            "name": st.text(max_size=10) | json_values,
            "labels": st.dictionaries(
                st.sampled_from([MODEL_LABEL, VERSION_LABEL, TARGET_LABEL, "x"]),
                st.sampled_from(["4", "5", "9", ISVC, ""]) | json_values,
            )
            | json_values,
            "annotations": json_values,
        },
    )
    if kind == "isvc":
        spec = st.fixed_dictionaries(
            {
                "predictor": st.fixed_dictionaries(
                    {
                        "model": st.fixed_dictionaries(
                            {},
                            optional={
                                "storageUri": st.sampled_from([DEPLOYED_URI, "oci://", "s3://b/k"])
                                | json_values,
                                "args": json_values,
                            },
                        )
                    }
                )
                | json_values
            }
        )
    else:
        spec = st.fixed_dictionaries(
            {
                "params": st.lists(
                    st.fixed_dictionaries(
                        {},
                        optional={
                            "name": st.sampled_from(
                                [
                                    "vllm_model_name",
                                    "model_name",
                                    "version_name",
                                    "inference_service_name",
                                ]
                            )
                            | json_values,
                            "value": st.sampled_from([ISVC, "Mistral-24B-Instruct"]) | json_values,
                        },
                    ),
                    max_size=5,
                )
                | json_values
            }
        )
    body = st.fixed_dictionaries(
        {}, optional={"metadata": metadata | json_values, "spec": spec, "status": json_values}
    )
    return body | json_values


@given(
    services=st.lists(shaped_like("isvc"), max_size=4),
    runs=st.lists(shaped_like("run"), max_size=4),
)
def test_any_object_content_gets_a_report_never_an_exception(
    services: list[Any], runs: list[Any]
) -> None:
    report = audit_namespace(NAMESPACE, services, runs, snapshot())

    assert len(report.inference_services) == len(services)


uris = st.sampled_from([DEPLOYED_URI, OPTIMIZED_URI, ONE_GPU_URI, COMPARISON_URI, UNREGISTERED_URI])
ids = st.sampled_from(["4", "5", "6", "7", "8", "9", "10", "99"])
names = st.sampled_from(
    [ISVC, "Mistral-24B-Instruct", "Mistral-Small-24B-Instruct", "quantized-w4a16-2501", "x"]
)


@st.composite
def namespaces(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    isvc_names = draw(st.lists(st.sampled_from([ISVC, "a", "b", "c"]), unique=True, max_size=4))
    services = [
        inference_service(
            name,
            uri=draw(uris),
            labels=draw(st.dictionaries(st.sampled_from([MODEL_LABEL, VERSION_LABEL]), ids)),
        )
        for name in isvc_names
    ]
    runs = [
        labelled_run(
            draw(st.dictionaries(st.sampled_from(list(RIGHT_PARAMS)), names)),
            target=draw(st.sampled_from([ISVC, "a", "gone"])),
        )
        for _ in range(draw(st.integers(0, 3)))
    ]
    return services, [
        {**run, "metadata": {**run["metadata"], "name": f"r{i}"}} for i, run in enumerate(runs)
    ]


@given(namespaces())
def test_a_finding_is_ok_exactly_when_it_has_no_problems(
    scenario: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    services, runs = scenario

    report = audit_namespace(NAMESPACE, services, runs, snapshot())

    for finding in (*report.inference_services, *report.pipeline_runs):
        assert (finding.verdict.value == "ok") == (finding.problems == ())


@given(namespaces())
def test_the_mismatch_count_is_the_number_of_findings_not_ok(
    scenario: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    services, runs = scenario

    report = audit_namespace(NAMESPACE, services, runs, snapshot())

    not_ok = [
        f for f in (*report.inference_services, *report.pipeline_runs) if f.verdict.value != "ok"
    ]
    assert report.mismatches == len(not_ok)
