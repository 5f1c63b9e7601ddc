"""The report as a table for people (120 columns) and as a stable JSON document."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from registry_sync.audit.findings import AuditReport, RegistryInferenceServiceRecord
from registry_sync.audit.report import (
    SCHEMA_VERSION,
    WIDTH,
    error_document,
    render_json,
    render_table,
    report_document,
)
from registry_sync.audit.verdicts import audit_namespace
from unit.audit.scenario import (
    INCIDENT_LABELS,
    INCIDENT_PARAMS,
    ISVC,
    NAMESPACE,
    RIGHT_LABELS,
    RIGHT_PARAMS,
    TARGET_LABEL,
    inference_service,
    labelled_run,
    pipeline_run,
    snapshot,
    with_tag_reuse,
)

URL = "http://127.0.0.1:8080"


def seed_report(**overrides: Any) -> AuditReport:
    arguments: dict[str, Any] = {
        "inference_services": [inference_service(labels=INCIDENT_LABELS)],
        "pipeline_runs": [
            pipeline_run(
                "benchmark",
                {**INCIDENT_PARAMS, "inference_service_name": ISVC},
                conditions=[{"type": "Succeeded", "status": "True", "reason": "Succeeded"}],
            )
        ],
        "snapshot": snapshot(),
        "records": [RegistryInferenceServiceRecord("20", ISVC, "19", "8", "9")],
    }
    arguments.update(overrides)
    return audit_namespace(NAMESPACE, **arguments)


def document(report: AuditReport | None = None) -> dict[str, Any]:
    return report_document(report or seed_report(), registry_url=URL)


# -- JSON ------------------------------------------------------------------------------------


def test_the_json_document_has_the_documented_top_level_keys_in_order() -> None:
    assert list(document()) == [
        "schemaVersion",
        "namespace",
        "clean",
        "mismatches",
        "settings",
        "registry",
        "summary",
        "inferenceServices",
        "pipelineRuns",
        "tagReuse",
        "inferenceServiceRecords",
        "notes",
    ]


def test_the_json_document_carries_its_schema_version() -> None:
    assert document()["schemaVersion"] == SCHEMA_VERSION == 1


def test_an_inference_service_entry_has_the_documented_keys() -> None:
    (entry,) = document()["inferenceServices"]

    assert list(entry) == [
        "name",
        "optedIn",
        "storageUri",
        "vllmModelName",
        "labels",
        "registry",
        "digest",
        "verdict",
        "problems",
    ]
    assert list(entry["labels"]) == ["registeredModelId", "modelVersionId", "registryName"]
    assert entry["labels"]["modelVersionId"] == {
        "key": "modelregistry.opendatahub.io/model-version-id",
        "value": "9",
        "expected": "5",
        "state": "wrong",
        "registryName": "quantized-optimized-test",
        "registeredModelId": "8",
        "registeredModelName": "Mistral-24B-Instruct",
    }


def test_a_pipeline_run_entry_has_the_documented_keys() -> None:
    (entry,) = document()["pipelineRuns"]

    assert entry == {
        "name": "benchmark",
        "inferenceService": ISVC,
        "targetedBy": "param",
        "params": {
            "vllmModelName": {
                "param": "vllm_model_name",
                "value": ISVC,
                "expected": ISVC,
                "state": "ok",
            },
            "modelName": {
                "param": "model_name",
                "value": "Mistral-24B-Instruct",
                "expected": "Mistral-Small-24B-Instruct",
                "state": "wrong",
            },
            "versionName": {
                "param": "version_name",
                "value": "24b-w4a16-1gpu",
                "expected": "quantized-w4a16-2501",
                "state": "wrong",
            },
        },
        "status": {"succeeded": "True", "reason": "Succeeded"},
        "verdict": "wrong-registry-target",
        "problems": entry["problems"],
    }


def test_a_registry_record_entry_has_the_documented_keys() -> None:
    (entry,) = document()["inferenceServiceRecords"]

    assert list(entry) == [
        "id",
        "name",
        "servingEnvironmentId",
        "registeredModelId",
        "registeredModelName",
        "modelVersionId",
        "modelVersionName",
        "deployed",
        "verdict",
        "message",
    ]
    assert entry["verdict"] == "wrong-version"


def test_a_tag_reuse_entry_has_the_documented_keys() -> None:
    (entry,) = document(seed_report(snapshot=with_tag_reuse()))["tagReuse"]

    assert list(entry) == ["reference", "versions", "message"]
    assert [v["modelVersionId"] for v in entry["versions"]] == ["5", "11"]


def test_the_summary_counts_every_verdict_including_zeros() -> None:
    summary = document()["summary"]

    assert summary["inferenceServices"] == {
        "ok": 0,
        "wrong-labels": 1,
        "missing-labels": 0,
        "ambiguous": 0,
        "not-registered": 0,
        "pin-mismatch": 0,
        "invalid-storage": 0,
    }
    assert summary["pipelineRuns"]["wrong-registry-target"] == 1
    assert summary["inferenceServiceRecords"] == {"ok": 0, "wrong-version": 1, "unjudged": 0}
    assert summary["tagReuse"] == 0


def test_the_json_rendering_is_deterministic_and_parses_back() -> None:
    first, second = render_json(document()), render_json(document())

    assert first == second
    assert json.loads(first) == document()


def test_the_error_document_names_the_namespace_and_the_reason() -> None:
    assert error_document(NAMESPACE, "registry down") == {
        "schemaVersion": 1,
        "namespace": NAMESPACE,
        "error": "registry down",
    }


# -- table -----------------------------------------------------------------------------------


def test_the_table_shows_each_object_with_its_verdict() -> None:
    table = render_table(seed_report(), registry_url=URL)

    assert any(line.startswith(ISVC) and "wrong-labels" in line for line in table.splitlines())
    assert any(
        line.startswith("benchmark") and "wrong-registry-target" in line
        for line in table.splitlines()
    )


def test_the_table_ends_with_the_mismatch_count() -> None:
    table = render_table(seed_report(), registry_url=URL)

    result = table[table.index("\nRESULT: ") + 1 :]
    assert result.startswith("RESULT: 3 mismatches (InferenceServices: 1 wrong-labels;")


def test_a_clean_table_says_so() -> None:
    report = audit_namespace(
        NAMESPACE,
        [inference_service(labels=RIGHT_LABELS)],
        [labelled_run(RIGHT_PARAMS)],
        snapshot(),
    )

    assert render_table(report, registry_url=URL).splitlines()[-1] == "RESULT: no mismatches"


def test_the_table_lists_what_the_run_should_be_told() -> None:
    table = render_table(seed_report(), registry_url=URL)

    assert (
        "should be: vllm_model_name=mistral-24b-quantized  model_name=Mistral-Small-24B-Instruct"
        in table
    )


long_names = st.text(alphabet="abcdefghij-0123456789", min_size=1, max_size=253)


@given(isvc_name=long_names, run_name=long_names, value=st.text(max_size=300))
def test_no_table_line_is_wider_than_120_columns(isvc_name: str, run_name: str, value: str) -> None:
    report = audit_namespace(
        NAMESPACE,
        [
            inference_service(isvc_name, labels=INCIDENT_LABELS),
            inference_service(f"{isvc_name}-x", uri=f"oci://quay.io/a/{value}:v"),
        ],
        [
            pipeline_run(
                run_name,
                {**INCIDENT_PARAMS, "model_name": value},
                labels={TARGET_LABEL: isvc_name},
            )
        ],
        with_tag_reuse(),
        [RegistryInferenceServiceRecord("20", isvc_name, "19", "8", "9")],
        notes=[value],
    )

    table = render_table(report, registry_url=URL)

    assert max(len(line) for line in table.splitlines()) <= WIDTH


# -- other people's text never drives the reader's terminal ----------------------------------

FORGED_RESULT = "a\nRESULT: no mismatches"
OSC_52 = "\x1b]52;c;ZWNobyBwd25lZA==\x07"  # writes the reader's clipboard
BIDI = "model\u202egnp.exe"


def hostile_report() -> AuditReport:
    return seed_report(
        inference_services=[
            inference_service(labels=INCIDENT_LABELS, args=[f"--served-model-name={FORGED_RESULT}"])
        ],
        pipeline_runs=[
            labelled_run(
                {
                    "vllm_model_name": OSC_52,
                    "model_name": BIDI,
                    "version_name": "v\x85\u2028x",
                }
            )
        ],
    )


def raw_controls(text: str) -> list[str]:
    return [c for c in text if c not in "\n" and (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F)] + [
        c for c in text if c in "\u202e\u2028\u2029\u200b"
    ]


def test_the_table_shows_hostile_names_params_and_args_escaped() -> None:
    table = render_table(hostile_report(), registry_url=URL)
    assert raw_controls(table) == []
    result_lines = [line for line in table.splitlines() if line.startswith("RESULT")]
    assert len(result_lines) == 1 and "no mismatches" not in result_lines[0], result_lines
    assert "a\\x0aRESULT: no mismatches" in table
    assert "\\x1b]52;c;" in table


def test_the_json_document_carries_no_raw_control_or_bidi_character() -> None:
    text = render_json(document(hostile_report()))
    assert raw_controls(text) == []
    assert all(ord(c) < 0x80 for c in text)
    # Still the same data for machines: the escapes decode to the original text.
    params = json.loads(text)["pipelineRuns"][0]["params"]
    assert params["vllmModelName"]["value"] == OSC_52
    assert params["modelName"]["value"] == BIDI
