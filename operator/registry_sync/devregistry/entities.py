"""What the registry holds and what a write may say: the entity kinds and body validation.

Each `EntityKind` names one kind of entity (its collection in the state, its id sequence,
its states) and the fields its create and update bodies may carry. `accept_body` checks a
request body against a kind as the real server's decoder does, in the same words, so that
the store's rules work on fields already known to be well-formed.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

from registry_sync.devregistry.errors import bad_request
from registry_sync.devregistry.paging import parse_id

Json = dict[str, Any]

_COMMON_FIELDS = frozenset({"customProperties", "description", "externalId"})
_BASE_MODEL_FIELDS = frozenset(
    {
        "readme",
        "maturity",
        "language",
        "tasks",
        "provider",
        "logo",
        "license",
        "licenseLink",
        "libraryName",
    }
)
_MODEL_ARTIFACT_FIELDS = frozenset(
    {
        "artifactType",
        "uri",
        "state",
        "modelFormatName",
        "modelFormatVersion",
        "storageKey",
        "storagePath",
        "serviceAccountName",
        "modelSourceKind",
        "modelSourceClass",
        "modelSourceGroup",
        "modelSourceId",
        "modelSourceName",
    }
)
# Output-only fields an `Artifact`/`ModelVersion` body may carry; accepted and ignored.
OUTPUT_FIELDS = frozenset(
    {"id", "createTimeSinceEpoch", "lastUpdateTimeSinceEpoch", "experimentId", "experimentRunId"}
)
_ID_FIELDS = {
    "registeredModelId": "registered model",
    "modelVersionId": "model version",
    "servingEnvironmentId": "serving environment",
}
_STRING_LIST_FIELDS = frozenset({"language", "tasks"})
# Fields that are JSON numbers, not strings, and the Go type the real server decodes them as.
_NUMBER_FIELDS = {"value": "float64", "step": "int64"}
_METRIC_FIELDS = frozenset({"artifactType", "value", "timestamp", "step", "state"})
ARTIFACT_STATES = (
    "UNKNOWN",
    "PENDING",
    "LIVE",
    "MARKED_FOR_DELETION",
    "DELETED",
    "ABANDONED",
    "REFERENCE",
)
_METADATA_VALUE_KEYS = {
    "MetadataStringValue": "string_value",
    "MetadataIntValue": "int_value",
    "MetadataDoubleValue": "double_value",
    "MetadataBoolValue": "bool_value",
    "MetadataStructValue": "struct_value",
    "MetadataProtoValue": "proto_value",
}


@dataclass(frozen=True, slots=True)
class EntityKind:
    """One kind of registry entity and the shape of its create and update bodies."""

    collection: str  # key in the state document
    noun: str  # as the real server names it in messages
    sequence: str  # "context" or "artifact"
    type_name: str  # the API type of a create body, for messages
    create_fields: frozenset[str]
    update_fields: frozenset[str]
    states: tuple[str, ...] = ()
    default_state: str | None = None


REGISTERED_MODEL = EntityKind(
    collection="registeredModels",
    noun="registered model",
    sequence="context",
    type_name="RegisteredModelCreate",
    create_fields=_COMMON_FIELDS | _BASE_MODEL_FIELDS | {"name", "owner", "state"},
    update_fields=_COMMON_FIELDS | _BASE_MODEL_FIELDS | {"owner", "state"},
    states=("LIVE", "ARCHIVED"),
    default_state="LIVE",
)
MODEL_VERSION = EntityKind(
    collection="modelVersions",
    noun="model version",
    sequence="context",
    type_name="ModelVersionCreate",
    create_fields=_COMMON_FIELDS | {"name", "registeredModelId", "state", "author"},
    update_fields=_COMMON_FIELDS | {"state", "author"},
    states=("LIVE", "ARCHIVED"),
    default_state="LIVE",
)
SERVING_ENVIRONMENT = EntityKind(
    collection="servingEnvironments",
    noun="serving environment",
    sequence="context",
    type_name="ServingEnvironmentCreate",
    create_fields=_COMMON_FIELDS | {"name"},
    update_fields=_COMMON_FIELDS,
)
INFERENCE_SERVICE = EntityKind(
    collection="inferenceServices",
    noun="inference service",
    sequence="context",
    type_name="InferenceServiceCreate",
    create_fields=_COMMON_FIELDS
    | {
        "name",
        "registeredModelId",
        "servingEnvironmentId",
        "modelVersionId",
        "runtime",
        "desiredState",
    },
    update_fields=_COMMON_FIELDS | {"modelVersionId", "runtime", "desiredState"},
)
MODEL_ARTIFACT = EntityKind(
    collection="artifacts",
    noun="model artifact",
    sequence="artifact",
    type_name="ModelArtifactCreate",
    create_fields=_COMMON_FIELDS | _MODEL_ARTIFACT_FIELDS | {"name"},
    update_fields=_COMMON_FIELDS | _MODEL_ARTIFACT_FIELDS,
    states=ARTIFACT_STATES,
)
DOC_ARTIFACT = EntityKind(
    collection="artifacts",
    noun="doc artifact",
    sequence="artifact",
    type_name="DocArtifactCreate",
    create_fields=_COMMON_FIELDS | {"name", "artifactType", "uri", "state"},
    update_fields=_COMMON_FIELDS | {"artifactType", "uri", "state"},
    states=ARTIFACT_STATES,
)
METRIC = EntityKind(
    collection="artifacts",
    noun="metric",
    sequence="artifact",
    type_name="MetricCreate",
    create_fields=_COMMON_FIELDS | _METRIC_FIELDS | {"name"},
    update_fields=_COMMON_FIELDS | _METRIC_FIELDS,
    states=ARTIFACT_STATES,
)
# Every artifact, whatever its type: for generic listings and lookups.
ANY_ARTIFACT = EntityKind(
    collection="artifacts",
    noun="artifact",
    sequence="artifact",
    type_name="Artifact",
    create_fields=frozenset(),
    update_fields=frozenset(),
)
ARTIFACT_TYPES = {
    "model-artifact": MODEL_ARTIFACT,
    "doc-artifact": DOC_ARTIFACT,
    "metric": METRIC,
}
CONTEXT_KINDS = (REGISTERED_MODEL, MODEL_VERSION, SERVING_ENVIRONMENT, INFERENCE_SERVICE)


def _go_type_of(value: Any) -> str:
    """How Go's JSON decoder names a JSON value's type in its error messages."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _metadata_value_fits(metadata_type: str, value: Any) -> bool:
    if metadata_type == "MetadataBoolValue":
        return isinstance(value, bool)
    if metadata_type == "MetadataDoubleValue":
        return isinstance(value, int | float) and not isinstance(value, bool)
    # int64 values travel as strings in this API, like every other value kind here
    return isinstance(value, str)


def _check_custom_properties(value: Any, type_name: str) -> Json:
    if not isinstance(value, dict):
        raise bad_request(
            f"json: cannot unmarshal {_go_type_of(value)} into Go struct field "
            f"{type_name}.customProperties of type map[string]openapi.MetadataValue"
        )
    for name, entry in value.items():
        kind = entry.get("metadataType") if isinstance(entry, dict) else None
        if kind not in _METADATA_VALUE_KEYS:
            raise bad_request(
                f"custom property {name!r} needs a metadataType, one of "
                f"{', '.join(_METADATA_VALUE_KEYS)}"
            )
        key = _METADATA_VALUE_KEYS[kind]
        if key in entry and not _metadata_value_fits(kind, entry[key]):
            raise bad_request(f"custom property {name!r}: {key} has the wrong type for {kind}")
    return copy.deepcopy(value)


def _number(value: Any, key: str, go_type: str, type_name: str) -> int | float:
    """A JSON number the real server decodes as `go_type` (an int64 refuses a fraction)."""
    fits = isinstance(value, int | float) and not isinstance(value, bool)
    if fits and not math.isfinite(value):
        # Python's JSON decoder reads NaN and Infinity; Go's, and JSON itself, do not.
        fits = False
    if fits and go_type == "int64" and not float(value).is_integer():
        fits = False
    if not fits:
        raise bad_request(
            f"json: cannot unmarshal {_go_type_of(value)} into Go struct field "
            f"{type_name}.{key} of type {go_type}"
        )
    return int(value) if go_type == "int64" else value


def accept_body(
    body: Any, kind: EntityKind, fields: frozenset[str], ignored: frozenset[str] = frozenset()
) -> Json:
    """The fields of a request body, checked against what `kind` accepts; 400 otherwise.

    Like the real server's decoder, unknown fields are refused; `null` means "not given".
    """
    if not isinstance(body, dict):
        raise bad_request(
            f"json: cannot unmarshal {_go_type_of(body)} into Go value of type "
            f"openapi.{kind.type_name}"
        )
    accepted: Json = {}
    for key, value in body.items():
        if key in ignored:
            continue
        if key not in fields:
            raise bad_request(f'json: unknown field "{key}"')
        if value is None:
            continue
        if key == "customProperties":
            accepted[key] = _check_custom_properties(value, kind.type_name)
            continue
        if key in _NUMBER_FIELDS:
            accepted[key] = _number(value, key, _NUMBER_FIELDS[key], kind.type_name)
            continue
        if key in _STRING_LIST_FIELDS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise bad_request(f"{kind.type_name}.{key} must be a list of strings")
            accepted[key] = list(value)
            continue
        if not isinstance(value, str):
            raise bad_request(
                f"json: cannot unmarshal {_go_type_of(value)} into Go struct field "
                f"{kind.type_name}.{key} of type string"
            )
        if key == "timestamp" and not (value.isascii() and value.isdigit()):
            raise bad_request(
                f"{kind.type_name}.timestamp must be milliseconds as a decimal string"
            )
        if key in _ID_FIELDS and value != "":
            value = parse_id(value, _ID_FIELDS[key])
        if key == "state" and value not in kind.states:
            raise bad_request(f"invalid value {value!r} for state, expected one of {kind.states}")
        if key == "desiredState" and value not in ("DEPLOYED", "UNDEPLOYED"):
            raise bad_request(f"invalid value {value!r} for desiredState")
        accepted[key] = value
    return accepted
