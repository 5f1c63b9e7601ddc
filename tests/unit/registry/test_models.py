"""The registry's JSON shapes: what is parsed, what is refused, what is tolerated."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from registry_sync.domain.snapshot import ModelArtifact, ModelVersion, RegisteredModel, State
from registry_sync.registry.models import (
    ArtifactRecord,
    ArtifactState,
    DocArtifactRecord,
    InferenceServiceRecord,
    MetadataBoolValue,
    MetadataDoubleValue,
    MetadataIntValue,
    MetadataProtoValue,
    MetadataStringValue,
    MetadataStructValue,
    MetricArtifactRecord,
    ModelVersionRecord,
    Page,
    RegisteredModelRecord,
    ServingEnvironmentRecord,
    UnrecognisedMetadataValue,
    VersionArtifact,
    custom_properties_json,
)
from support.third_party import require_upstream_file


def version_json(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "5",
        "name": "quantized-w4a16-2501",
        "registeredModelId": "4",
        "state": "LIVE",
        "createTimeSinceEpoch": "1795694348480",
        "lastUpdateTimeSinceEpoch": "1795694348543",
        "customProperties": {},
    }
    body.update(overrides)
    return body


@pytest.mark.parametrize(
    ("wire", "kind", "value"),
    [
        (
            {"metadataType": "MetadataStringValue", "string_value": "passed"},
            MetadataStringValue,
            "passed",
        ),
        ({"metadataType": "MetadataIntValue", "int_value": "-42"}, MetadataIntValue, -42),
        ({"metadataType": "MetadataDoubleValue", "double_value": 0.93}, MetadataDoubleValue, 0.93),
        ({"metadataType": "MetadataBoolValue", "bool_value": True}, MetadataBoolValue, True),
        (
            {"metadataType": "MetadataStructValue", "struct_value": "eyJhIjogMX0="},
            MetadataStructValue,
            b'{"a": 1}',
        ),
        (
            {
                "metadataType": "MetadataProtoValue",
                "type": "type.googleapis.com/google.protobuf.StringValue",
                "proto_value": "CgJoaQ==",
            },
            MetadataProtoValue,
            b"\n\x02hi",
        ),
    ],
)
def test_each_metadata_type_is_parsed_into_its_own_class(
    wire: dict[str, Any], kind: type, value: object
) -> None:
    version = ModelVersionRecord.model_validate(version_json(customProperties={"p": wire}))

    parsed = version.custom_properties["p"]

    assert isinstance(parsed, kind)
    assert parsed.value == value  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "wire",
    [
        {"metadataType": "MetadataStringValue", "string_value": 3},
        {"metadataType": "MetadataIntValue", "int_value": 3},
        {"metadataType": "MetadataIntValue", "int_value": "three"},
        {"metadataType": "MetadataBoolValue", "bool_value": "yes"},
        {"metadataType": "MetadataStructValue", "struct_value": "not base64!"},
        {"metadataType": "MetadataProtoValue", "proto_value": "CgJoaQ=="},
    ],
    ids=[
        "string-not-str",
        "int-not-string",
        "int-not-digits",
        "bool-not-bool",
        "bad-b64",
        "no-type",
    ],
)
def test_a_known_metadata_type_with_a_wrong_value_is_refused(wire: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ModelVersionRecord.model_validate(version_json(customProperties={"p": wire}))


def test_an_unknown_metadata_type_is_kept_rather_than_failing_the_entity() -> None:
    wire = {"metadataType": "MetadataListValue", "list_value": [1, 2]}

    version = ModelVersionRecord.model_validate(version_json(customProperties={"p": wire}))

    assert isinstance(version.custom_properties["p"], UnrecognisedMetadataValue)
    assert custom_properties_json(version.custom_properties) == {"p": wire}


def test_custom_properties_are_written_back_in_the_wire_shape() -> None:
    properties = {
        "test_status": MetadataStringValue(string_value="passed"),
        "runs": MetadataIntValue(int_value="3"),
    }

    assert custom_properties_json(properties) == {
        "test_status": {"metadataType": "MetadataStringValue", "string_value": "passed"},
        "runs": {"metadataType": "MetadataIntValue", "int_value": "3"},
    }


def test_unknown_fields_are_ignored() -> None:
    version = ModelVersionRecord.model_validate(version_json(futureField={"x": 1}, author="ci"))

    assert version.name == "quantized-w4a16-2501"
    assert version.author == "ci"


def test_times_are_millisecond_strings_read_as_integers() -> None:
    version = ModelVersionRecord.model_validate(version_json())

    assert version.create_time_ms == 1795694348480
    assert version.last_update_ms == 1795694348543


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", 5),
        ("id", "five"),
        ("id", ""),
        ("registeredModelId", 4),
        ("registeredModelId", "4a"),
        ("lastUpdateTimeSinceEpoch", 1795694348543),
        ("lastUpdateTimeSinceEpoch", "yesterday"),
        ("lastUpdateTimeSinceEpoch", None),
        ("name", None),
        ("state", "RETIRED"),
    ],
)
def test_a_used_field_of_the_wrong_type_is_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        ModelVersionRecord.model_validate(version_json(**{field: value}))


@pytest.mark.parametrize("missing", ["id", "name", "registeredModelId", "lastUpdateTimeSinceEpoch"])
def test_a_used_field_that_is_missing_is_refused(missing: str) -> None:
    body = version_json()
    del body[missing]

    with pytest.raises(ValidationError):
        ModelVersionRecord.model_validate(body)


def test_a_version_without_state_is_live() -> None:
    body = version_json()
    del body["state"]

    assert ModelVersionRecord.model_validate(body).as_snapshot_entry().state is State.LIVE


def test_a_model_becomes_a_snapshot_entry() -> None:
    record = RegisteredModelRecord.model_validate(
        {
            "id": "4",
            "name": "Mistral-Small-24B-Instruct",
            "state": "ARCHIVED",
            "lastUpdateTimeSinceEpoch": "20",
        }
    )

    assert record.as_snapshot_entry() == RegisteredModel(
        id="4", name="Mistral-Small-24B-Instruct", state=State.ARCHIVED, last_update_ms=20
    )


def test_a_version_becomes_a_snapshot_entry() -> None:
    record = ModelVersionRecord.model_validate(version_json())

    assert record.as_snapshot_entry() == ModelVersion(
        id="5",
        name="quantized-w4a16-2501",
        registered_model_id="4",
        state=State.LIVE,
        last_update_ms=1795694348543,
    )


def test_an_artifact_becomes_a_snapshot_entry_of_the_version_it_was_listed_under() -> None:
    record = ArtifactRecord.model_validate(
        {
            "artifactType": "model-artifact",
            "id": "1",
            "name": "mistral-24b-quantized",
            "uri": "oci://quay.io/org/model:v1",
            "lastUpdateTimeSinceEpoch": "30",
        }
    )

    assert record.as_snapshot_entry("5") == ModelArtifact(
        id="1",
        name="mistral-24b-quantized",
        uri="oci://quay.io/org/model:v1",
        model_version_id="5",
        state=None,
        last_update_ms=30,
    )


@pytest.mark.parametrize(
    ("wire_state", "snapshot_state"),
    [
        (None, None),
        ("UNKNOWN", State.UNKNOWN),
        ("PENDING", State.UNKNOWN),
        ("REFERENCE", State.UNKNOWN),
        ("LIVE", State.LIVE),
        ("MARKED_FOR_DELETION", State.ARCHIVED),
        ("DELETED", State.ARCHIVED),
        ("ABANDONED", State.ARCHIVED),
    ],
)
def test_artifact_states_map_to_snapshot_states(
    wire_state: str | None, snapshot_state: State | None
) -> None:
    body: dict[str, Any] = {"id": "1", "uri": "s3://b/m", "lastUpdateTimeSinceEpoch": "1"}
    if wire_state is not None:
        body["state"] = wire_state

    assert ArtifactRecord.model_validate(body).snapshot_state is snapshot_state


def test_every_artifact_state_of_the_api_has_a_snapshot_state() -> None:
    for state in ArtifactState:
        body = {"id": "1", "state": state.value, "lastUpdateTimeSinceEpoch": "1"}
        assert ArtifactRecord.model_validate(body).snapshot_state is not None


def test_a_non_model_artifact_is_recognised_as_such() -> None:
    doc = ArtifactRecord.model_validate(
        {
            "artifactType": "doc-artifact",
            "id": "9",
            "uri": "https://x/readme",
            "lastUpdateTimeSinceEpoch": "1",
        }
    )

    assert not doc.is_model_artifact


def test_a_list_page_is_parsed_with_its_token() -> None:
    page = Page[ModelVersionRecord].model_validate(
        {"items": [version_json()], "nextPageToken": "NDoxNzk1", "pageSize": 1, "size": 1}
    )

    assert [item.id for item in page.items] == ["5"]
    assert page.next_page_token == "NDoxNzk1"


def test_an_empty_last_page_has_no_token() -> None:
    page = Page[ModelVersionRecord].model_validate(
        {"items": [], "nextPageToken": "", "pageSize": 0, "size": 0}
    )

    assert page.items == []
    assert page.next_page_token == ""


RECORD_OF_PATH: dict[str, Any] = {
    "registered_models": RegisteredModelRecord,
    "model_versions": ModelVersionRecord,
    "model_artifacts": ArtifactRecord,
    "artifacts": VersionArtifact,
    "serving_environments": ServingEnvironmentRecord,
    "inference_services": InferenceServiceRecord,
}
SINGULAR_FINDERS = {
    "registered_model": "registered_models",
    "model_version": "model_versions",
    "model_artifact": "model_artifacts",
    "artifact": "artifacts",
    "serving_environment": "serving_environments",
    "inference_service": "inference_services",
}


def _kind_of(path: str) -> str:
    segments = path.split("/")[4:]
    if segments[-1] == "artifacts":
        return "artifacts"
    if segments[-1] in ("versions", "version"):
        return "model_versions"
    if segments[-1] == "inference_services":
        return "inference_services"
    return SINGULAR_FINDERS.get(segments[0], segments[0])


def _recorded_entities() -> list[tuple[str, dict[str, Any]]]:
    path = require_upstream_file("model-registry/recordings-full.json")
    found: list[tuple[str, dict[str, Any]]] = []
    for exchange in json.loads(path.read_text()):
        if exchange["status"] >= 300 or not isinstance(exchange["response"], dict):
            continue
        kind = _kind_of(exchange["path"])
        assert kind in RECORD_OF_PATH, f"no record type for {exchange['path']}"
        body = exchange["response"]
        for item in body.get("items", [body] if "id" in body else []):
            found.append((kind, item))
    return found


@pytest.mark.upstream
def test_every_entity_the_real_server_sent_is_parsed_as_its_own_record() -> None:
    entities = _recorded_entities()

    parsed = [
        (TypeAdapter(RECORD_OF_PATH[kind]).validate_python(item), item) for kind, item in entities
    ]

    for record, item in parsed:
        assert record.id == item["id"]
        if isinstance(record, MetricArtifactRecord):
            assert record.value == item["value"]
        if isinstance(record, ArtifactRecord):
            assert record.artifact_type == item.get("artifactType", "model-artifact")
    assert {type(record) for record, _ in parsed} == {
        RegisteredModelRecord,
        ModelVersionRecord,
        ArtifactRecord,
        MetricArtifactRecord,
        DocArtifactRecord,
        ServingEnvironmentRecord,
        InferenceServiceRecord,
    }
