"""How the audit judges an InferenceService: the registry's answer against its labels."""

from __future__ import annotations

from typing import Any

import pytest

from registry_sync.audit.findings import (
    ClaimState,
    InferenceServiceFinding,
    InferenceServiceVerdict,
)
from registry_sync.audit.verdicts import audit_namespace
from registry_sync.domain.snapshot import RegistrySnapshot
from unit.audit.scenario import (
    COMPARISON_URI,
    DEPLOYED_URI,
    INCIDENT_LABELS,
    MODEL_LABEL,
    NAME_LABEL,
    NAMESPACE,
    RIGHT_LABELS,
    UNREGISTERED_URI,
    VERSION_LABEL,
    inference_service,
    snapshot,
    with_tag_reuse,
)

V = InferenceServiceVerdict
PIN = "registry-sync.io/model-version-id"
ENABLED = {"registry-sync.io/enabled": "true"}


def judge(
    body: dict[str, Any],
    registry: RegistrySnapshot | None = None,
    registry_name: str | None = None,
) -> InferenceServiceFinding:
    report = audit_namespace(
        NAMESPACE, [body], [], registry or snapshot(), registry_name=registry_name
    )
    (finding,) = report.inference_services
    return finding


VERDICTS: list[tuple[str, dict[str, Any], RegistrySnapshot | None, str | None, V]] = [
    # (case, InferenceService, registry (None: the seed), --registry-name, verdict)
    ("labels name the deployed version", inference_service(labels=RIGHT_LABELS), None, None, V.OK),
    (
        "the incident's labels",
        inference_service(labels=INCIDENT_LABELS),
        None,
        None,
        V.WRONG_LABELS,
    ),
    ("no labels", inference_service(), None, None, V.MISSING_LABELS),
    (
        "right model, version label absent",
        inference_service(labels={MODEL_LABEL: "4"}),
        None,
        None,
        V.MISSING_LABELS,
    ),
    (
        "wrong model, version label absent: wrong before missing",
        inference_service(labels={MODEL_LABEL: "8"}),
        None,
        None,
        V.WRONG_LABELS,
    ),
    (
        "labels name an id the registry does not have",
        inference_service(labels={MODEL_LABEL: "4", VERSION_LABEL: "999"}),
        None,
        None,
        V.WRONG_LABELS,
    ),
    (
        "registry name configured, name label absent",
        inference_service(labels=RIGHT_LABELS),
        None,
        "demo-registry",
        V.MISSING_LABELS,
    ),
    (
        "registry name configured, name label differs",
        inference_service(labels={**RIGHT_LABELS, NAME_LABEL: "other"}),
        None,
        "demo-registry",
        V.WRONG_LABELS,
    ),
    (
        "registry name configured and labelled",
        inference_service(labels={**RIGHT_LABELS, NAME_LABEL: "demo-registry"}),
        None,
        "demo-registry",
        V.OK,
    ),
    (
        "a name label is not judged without the setting",
        inference_service(labels={**RIGHT_LABELS, NAME_LABEL: "anything"}),
        None,
        None,
        V.OK,
    ),
    (
        "not opted in, judged all the same",
        inference_service(labels=INCIDENT_LABELS, annotations={"team": "demo"}),
        None,
        None,
        V.WRONG_LABELS,
    ),
    (
        "deployed URI not in the registry",
        inference_service(uri=UNREGISTERED_URI, labels=RIGHT_LABELS),
        None,
        None,
        V.NOT_REGISTERED,
    ),
    (
        "two live versions claim the deployed URI",
        inference_service(labels=RIGHT_LABELS),
        with_tag_reuse(),
        None,
        V.AMBIGUOUS,
    ),
    ("no storage URI", inference_service(uri=None), None, None, V.INVALID_STORAGE),
    ("unparsable storage URI", inference_service(uri="oci://"), None, None, V.INVALID_STORAGE),
    (
        "storage key + path form",
        inference_service(model={"storage": {"key": "s3", "path": "models/m"}}),
        None,
        None,
        V.INVALID_STORAGE,
    ),
    (
        "pinned to the deployed version, labelled so",
        inference_service(labels=RIGHT_LABELS, annotations={**ENABLED, PIN: "5"}),
        None,
        None,
        V.OK,
    ),
    (
        "pinned to a version whose artifact is elsewhere",
        inference_service(labels=RIGHT_LABELS, annotations={**ENABLED, PIN: "9"}),
        None,
        None,
        V.PIN_MISMATCH,
    ),
    (
        "a pin settles tag reuse",
        inference_service(labels=RIGHT_LABELS, annotations={**ENABLED, PIN: "5"}),
        with_tag_reuse(),
        None,
        V.OK,
    ),
]


@pytest.mark.parametrize(
    ("body", "registry", "registry_name", "verdict"),
    [case[1:] for case in VERDICTS],
    ids=[case[0] for case in VERDICTS],
)
def test_an_inference_service_gets_the_verdict_of_its_case(
    body: dict[str, Any],
    registry: RegistrySnapshot | None,
    registry_name: str | None,
    verdict: V,
) -> None:
    assert judge(body, registry, registry_name).verdict is verdict


def test_the_incidents_labels_are_reported_as_a_version_of_another_model() -> None:
    finding = judge(inference_service(labels=INCIDENT_LABELS))

    assert finding.problems == (
        f"label {VERSION_LABEL}=9 (version quantized-optimized-test of model "
        "Mistral-24B-Instruct (id 8)) should be 5 (version quantized-w4a16-2501 of model "
        "Mistral-Small-24B-Instruct (id 4))",
        f"label {VERSION_LABEL}=9 is a version of model Mistral-24B-Instruct (id 8), not of "
        "the labelled model Mistral-Small-24B-Instruct (id 4)",
    )


def test_label_claims_carry_the_registrys_names_for_their_ids() -> None:
    labels = judge(inference_service(labels=INCIDENT_LABELS)).labels

    assert (labels.registered_model_id.value, labels.registered_model_id.registry_name) == (
        "4",
        "Mistral-Small-24B-Instruct",
    )
    assert (
        labels.model_version_id.registry_name,
        labels.model_version_id.owner_model_id,
        labels.model_version_id.owner_model_name,
    ) == ("quantized-optimized-test", "8", "Mistral-24B-Instruct")
    assert [claim.state for claim in labels.all()] == [
        ClaimState.OK,
        ClaimState.WRONG,
        ClaimState.UNJUDGED,
    ]


def test_a_missing_label_says_which_value_it_should_have() -> None:
    finding = judge(inference_service(labels={MODEL_LABEL: "4"}))

    assert finding.problems == (
        f"label {VERSION_LABEL} is missing; it should be 5 (version quantized-w4a16-2501 of "
        "model Mistral-Small-24B-Instruct (id 4))",
    )


def test_without_an_answer_labels_are_left_unjudged() -> None:
    finding = judge(inference_service(labels=INCIDENT_LABELS), with_tag_reuse())

    assert {claim.state for claim in finding.labels.all()} == {ClaimState.UNJUDGED}
    assert finding.problems[0] == finding.resolution.message


def test_the_registry_side_names_the_deployed_version() -> None:
    resolution = judge(inference_service()).resolution

    assert (
        resolution.registered_model_id,
        resolution.registered_model_name,
        resolution.model_version_id,
        resolution.model_version_name,
    ) == ("4", "Mistral-Small-24B-Instruct", "5", "quantized-w4a16-2501")


def test_the_vllm_name_is_the_served_model_name_argument_when_given() -> None:
    body = inference_service(args=["--served-model-name=mistral", "--max-model-len=8192"])

    assert judge(body).served_name == "mistral"


def test_the_deployed_uri_is_reported_as_written() -> None:
    assert judge(inference_service(uri=COMPARISON_URI)).storage_uri == COMPARISON_URI
    assert judge(inference_service(uri=DEPLOYED_URI)).storage_uri == DEPLOYED_URI


def test_an_ok_inference_service_has_no_problems_and_is_no_mismatch() -> None:
    finding = judge(inference_service(labels=RIGHT_LABELS))

    assert (finding.problems, finding.mismatch) == ((), False)
