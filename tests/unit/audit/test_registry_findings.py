"""The registry side of an audit: tag reuse, and the registry's own InferenceService records."""

from __future__ import annotations

import pytest

from registry_sync.audit.findings import (
    RecordFinding,
    RecordVerdict,
    RegistryInferenceServiceRecord,
)
from registry_sync.audit.verdicts import audit_namespace, find_tag_reuse
from registry_sync.domain.reference_index import ReferenceIndex
from registry_sync.domain.snapshot import (
    ModelArtifact,
    ModelVersion,
    RegisteredModel,
    RegistrySnapshot,
    State,
)
from unit.audit.scenario import (
    DEPLOYED_URI,
    ISVC,
    NAMESPACE,
    ONE_GPU_URI,
    SEED_ARTIFACTS,
    SEED_MODELS,
    SEED_VERSIONS,
    UNREGISTERED_URI,
    inference_service,
    snapshot,
    with_tag_reuse,
)

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


def reuse_in(registry: RegistrySnapshot) -> list[set[str]]:
    """The version ids of each tag-reuse group."""
    found = find_tag_reuse(ReferenceIndex.from_snapshot(registry))
    return [{candidate.model_version_id for candidate in group.versions} for group in found]


def test_the_seed_registry_has_no_tag_reuse() -> None:
    assert reuse_in(snapshot()) == []


def test_two_live_versions_with_one_reference_are_tag_reuse() -> None:
    assert reuse_in(with_tag_reuse()) == [{"5", "11"}]


def test_tag_reuse_names_the_reference_and_every_claimant() -> None:
    (group,) = find_tag_reuse(ReferenceIndex.from_snapshot(with_tag_reuse()))

    assert group.reference == DEPLOYED_URI
    assert [(c.registered_model_name, c.model_version_name) for c in group.versions] == [
        ("Mistral-Small-24B-Instruct", "quantized-w4a16-2501"),
        ("Mistral-24B-Instruct", "re-tagged"),
    ]


def test_an_archived_version_does_not_reuse_a_tag() -> None:
    assert reuse_in(with_tag_reuse(state=State.ARCHIVED)) == []


def test_a_version_of_an_archived_model_does_not_reuse_a_tag() -> None:
    models = [
        RegisteredModel(m.id, m.name, State.ARCHIVED) if m.id == "8" else m for m in SEED_MODELS
    ]
    registry = with_tag_reuse()

    assert reuse_in(snapshot(models, list(registry.versions.values()), registry.artifacts)) == []


def test_tag_and_digest_forms_of_one_reference_are_one_group() -> None:
    versions = (
        *SEED_VERSIONS,
        ModelVersion(id="11", name="digest-a", registered_model_id="8"),
        ModelVersion(id="12", name="digest-b", registered_model_id="8"),
    )
    artifacts = (
        *SEED_ARTIFACTS,
        ModelArtifact(id="5", name="a", uri=f"{ONE_GPU_URI}@{DIGEST_A}", model_version_id="11"),
        ModelArtifact(id="6", name="b", uri=f"{ONE_GPU_URI}@{DIGEST_B}", model_version_id="12"),
    )

    assert reuse_in(snapshot(versions=versions, artifacts=artifacts)) == [{"10", "11", "12"}]


def test_several_artifacts_of_one_version_are_no_tag_reuse() -> None:
    artifacts = (
        *SEED_ARTIFACTS,
        ModelArtifact(id="5", name="copy", uri=DEPLOYED_URI, model_version_id="5"),
    )

    assert reuse_in(snapshot(artifacts=artifacts)) == []


def record(
    version_id: str | None, name: str = ISVC, model_id: str = "4"
) -> RegistryInferenceServiceRecord:
    return RegistryInferenceServiceRecord(
        id="20",
        name=name,
        serving_environment_id="19",
        registered_model_id=model_id,
        model_version_id=version_id,
    )


def judge_record(
    registry_record: RegistryInferenceServiceRecord, uri: str = DEPLOYED_URI
) -> RecordFinding:
    report = audit_namespace(
        NAMESPACE, [inference_service(uri=uri)], [], snapshot(), [registry_record]
    )
    (finding,) = report.records
    return finding


RECORDS: list[tuple[str, RegistryInferenceServiceRecord, str, RecordVerdict]] = [
    ("points at the deployed version", record("5"), DEPLOYED_URI, RecordVerdict.OK),
    (
        "points at another version",
        record("9", model_id="8"),
        DEPLOYED_URI,
        RecordVerdict.WRONG_VERSION,
    ),
    (
        "right model, another version of it",
        record("10", model_id="4"),
        DEPLOYED_URI,
        RecordVerdict.WRONG_VERSION,
    ),
    ("no version, the deployed model", record(None), DEPLOYED_URI, RecordVerdict.OK),
    (
        "no version, another model",
        record(None, model_id="8"),
        DEPLOYED_URI,
        RecordVerdict.WRONG_VERSION,
    ),
    ("no deployment of that name", record("5", name="gone"), DEPLOYED_URI, RecordVerdict.UNJUDGED),
    ("the deployment does not resolve", record("5"), UNREGISTERED_URI, RecordVerdict.UNJUDGED),
]


@pytest.mark.parametrize(
    ("registry_record", "uri", "verdict"),
    [case[1:] for case in RECORDS],
    ids=[case[0] for case in RECORDS],
)
def test_a_registry_record_is_judged_against_the_deployment_of_its_name(
    registry_record: RegistryInferenceServiceRecord, uri: str, verdict: RecordVerdict
) -> None:
    assert judge_record(registry_record, uri).verdict is verdict


def test_only_a_record_pointing_elsewhere_is_a_mismatch() -> None:
    assert judge_record(record("9", model_id="8")).mismatch
    assert not judge_record(record("5", name="gone")).mismatch


def test_a_stale_record_names_both_versions() -> None:
    finding = judge_record(record("9", model_id="8"))

    assert (finding.record_version_name, finding.deployed_version_name) == (
        "quantized-optimized-test",
        "quantized-w4a16-2501",
    )
    assert "quantized-optimized-test" in finding.message
    assert "quantized-w4a16-2501" in finding.message


def audit_records(
    body: dict[str, object], *records: RegistryInferenceServiceRecord
) -> tuple[RecordFinding, ...]:
    return audit_namespace(NAMESPACE, [body], [], snapshot(), list(records)).records


def test_a_record_is_found_as_the_operator_finds_it_label_first() -> None:
    body = inference_service(labels={"modelregistry.opendatahub.io/inference-service-id": "20"})
    labelled = record("9", name="made-by-hand", model_id="8")

    (finding,) = audit_records(body, labelled)

    assert finding.verdict is RecordVerdict.WRONG_VERSION


@pytest.mark.parametrize("suffix", ["", "/model-4"])
def test_a_record_named_after_the_deployments_uid_is_its_record(suffix: str) -> None:
    body = inference_service()
    body["metadata"]["uid"] = "u-1"  # type: ignore[index]

    (finding,) = audit_records(body, record("5", name=f"{ISVC}/u-1{suffix}"))

    assert finding.verdict is RecordVerdict.OK


def test_undeployed_records_are_skipped() -> None:
    undeployed = RegistryInferenceServiceRecord(
        id="21",
        name=ISVC,
        serving_environment_id="19",
        registered_model_id="8",
        model_version_id="9",
        deployed=False,
    )

    assert audit_records(inference_service(), undeployed) == ()
