"""The stand-in's registry state: entities, id sequences and clock, and the rules of writes.

Entities are kept as the JSON objects the API returns. Registered models, model
versions, serving environments and inference services draw ids from one sequence,
artifacts from another, as on the real server. Every write takes a timestamp strictly
greater than the previous one, so ordering by update time is deterministic even when
two writes fall in the same millisecond.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from registry_sync.devregistry.errors import (
    bad_request,
    conflict,
    missing_required_field,
    not_found,
)
from registry_sync.devregistry.paging import parse_id

Json = dict[str, Any]

STATE_FORMAT = "registry-sync dev-registry state v1"

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
_OUTPUT_FIELDS = frozenset(
    {"id", "createTimeSinceEpoch", "lastUpdateTimeSinceEpoch", "experimentId", "experimentRunId"}
)
_ID_FIELDS = {
    "registeredModelId": "registered model",
    "modelVersionId": "model version",
    "servingEnvironmentId": "serving environment",
}
_STRING_LIST_FIELDS = frozenset({"language", "tasks"})
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
# Every artifact, whatever its type: for generic listings and lookups.
ANY_ARTIFACT = EntityKind(
    collection="artifacts",
    noun="artifact",
    sequence="artifact",
    type_name="Artifact",
    create_fields=frozenset(),
    update_fields=frozenset(),
)
ARTIFACT_TYPES = {"model-artifact": MODEL_ARTIFACT, "doc-artifact": DOC_ARTIFACT}
CONTEXT_KINDS = (REGISTERED_MODEL, MODEL_VERSION, SERVING_ENVIRONMENT, INFERENCE_SERVICE)


class StateFileError(ValueError):
    """A saved state that cannot be loaded; the message names the problem."""


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


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
        if key in _ID_FIELDS and value != "":
            value = parse_id(value, _ID_FIELDS[key])
        if key == "state" and value not in kind.states:
            raise bad_request(f"invalid value {value!r} for state, expected one of {kind.states}")
        if key == "desiredState" and value not in ("DEPLOYED", "UNDEPLOYED"):
            raise bad_request(f"invalid value {value!r} for desiredState")
        accepted[key] = value
    return accepted


class RegistryStore:
    """All registry entities, with the real server's rules for creating and changing them."""

    def __init__(self, clock: Callable[[], int] = wall_clock_ms) -> None:
        self._clock = clock
        self._entities: dict[str, dict[str, Json]] = {
            "registeredModels": {},
            "modelVersions": {},
            "servingEnvironments": {},
            "inferenceServices": {},
            "artifacts": {},
        }
        self._version_artifacts: dict[str, list[str]] = {}
        self._next_ids = {"context": 1, "artifact": 1}
        self._last_time_ms = 0

    # -- clock and ids ---------------------------------------------------------------

    def _now(self) -> str:
        self._last_time_ms = max(self._clock(), self._last_time_ms + 1)
        return str(self._last_time_ms)

    def _allocate(self, sequence: str) -> str:
        allocated = self._next_ids[sequence]
        self._next_ids[sequence] = allocated + 1
        return str(allocated)

    # -- reading -------------------------------------------------------------------

    def get(self, kind: EntityKind, entity_id: str) -> Json:
        """A copy of one entity; 404 in the real server's words when there is none."""
        entity = self._entities[kind.collection].get(entity_id)
        if entity is None or (
            kind is MODEL_ARTIFACT and entity["artifactType"] != "model-artifact"
        ):
            raise not_found(f"no {kind.noun} found for id {entity_id}")
        return copy.deepcopy(entity)

    def get_artifact(self, artifact_id: str) -> Json:
        entity = self._entities["artifacts"].get(artifact_id)
        if entity is None:
            raise not_found(f"no artifact found for id {artifact_id}")
        return copy.deepcopy(entity)

    def all(self, kind: EntityKind) -> list[Json]:
        """Every entity of `kind` (every artifact type for an artifact kind).

        The stored dicts themselves, not copies: list answers only read and serialise them,
        and copying the whole registry on every list made large registries slow.
        """
        return list(self._entities[kind.collection].values())

    def artifacts_of_version(self, version_id: str) -> list[Json]:
        """The stored artifacts of one version (read-only, like `all`)."""
        self.get(MODEL_VERSION, version_id)
        return [self._entities["artifacts"][a] for a in self._version_artifacts.get(version_id, [])]

    def versions_of_artifact(self, artifact_id: str) -> list[str]:
        return [v for v, artifacts in self._version_artifacts.items() if artifact_id in artifacts]

    # -- creating ------------------------------------------------------------------

    def _insert(self, kind: EntityKind, fields: Json) -> Json:
        now = self._now()
        entity: Json = {"customProperties": {}, **fields}
        if kind.default_state is not None:
            entity.setdefault("state", kind.default_state)
        entity.update(
            id=self._allocate(kind.sequence), createTimeSinceEpoch=now, lastUpdateTimeSinceEpoch=now
        )
        self._entities[kind.collection][entity["id"]] = entity
        return copy.deepcopy(entity)

    def _require_reference(self, kind: EntityKind, entity_id: str, holder: str) -> None:
        if entity_id not in self._entities[kind.collection]:
            raise bad_request(f"{holder} refers to {kind.noun} {entity_id}, which does not exist")

    def create_registered_model(self, body: Any) -> Json:
        fields = accept_body(body, REGISTERED_MODEL, REGISTERED_MODEL.create_fields)
        name = fields.get("name", "")
        if not name:
            raise bad_request("a registered model needs a non-empty name")
        if any(m["name"] == name for m in self._entities["registeredModels"].values()):
            raise conflict(f"registered model with name {name} already exists")
        return self._insert(REGISTERED_MODEL, fields)

    def create_model_version(self, body: Any, registered_model_id: str | None = None) -> Json:
        """A new version; `registered_model_id` (from the path) overrides the body's."""
        ignored = _OUTPUT_FIELDS if registered_model_id is not None else frozenset()
        fields = accept_body(body, MODEL_VERSION, MODEL_VERSION.create_fields, ignored)
        if registered_model_id is not None:
            self.get(REGISTERED_MODEL, registered_model_id)
            fields["registeredModelId"] = registered_model_id
        for required in ("registeredModelId", "name"):
            if not fields.get(required):
                raise missing_required_field(required)
        model_id, name = fields["registeredModelId"], fields["name"]
        self._require_reference(REGISTERED_MODEL, model_id, f"model version {name!r}")
        if any(
            v["name"] == name and v["registeredModelId"] == model_id
            for v in self._entities["modelVersions"].values()
        ):
            raise conflict(
                f"model version with name {name} already exists in registered model {model_id}"
            )
        return self._insert(MODEL_VERSION, fields)

    def create_serving_environment(self, body: Any) -> Json:
        fields = accept_body(body, SERVING_ENVIRONMENT, SERVING_ENVIRONMENT.create_fields)
        name = fields.get("name", "")
        if not name:
            raise bad_request("a serving environment needs a non-empty name")
        if any(e["name"] == name for e in self._entities["servingEnvironments"].values()):
            raise conflict(f"serving environment with name {name} already exists")
        return self._insert(SERVING_ENVIRONMENT, fields)

    def create_inference_service(
        self, body: Any, serving_environment_id: str | None = None
    ) -> Json:
        """A new inference service record; the path's environment overrides the body's."""
        fields = accept_body(body, INFERENCE_SERVICE, INFERENCE_SERVICE.create_fields)
        if serving_environment_id is not None:
            self.get(SERVING_ENVIRONMENT, serving_environment_id)
            fields["servingEnvironmentId"] = serving_environment_id
        holder = f"inference service {fields.get('name', '')!r}"
        for required, kind in (
            ("registeredModelId", REGISTERED_MODEL),
            ("servingEnvironmentId", SERVING_ENVIRONMENT),
        ):
            if not fields.get(required):
                raise bad_request(f"{holder} needs {required}")
            self._require_reference(kind, fields[required], holder)
        if fields.get("modelVersionId"):
            self._require_reference(MODEL_VERSION, fields["modelVersionId"], holder)
        name = fields.get("name")
        if name and any(
            s.get("name") == name and s["servingEnvironmentId"] == fields["servingEnvironmentId"]
            for s in self._entities["inferenceServices"].values()
        ):
            raise conflict(
                f"inference service with name {name} already exists in serving environment "
                f"{fields['servingEnvironmentId']}"
            )
        return self._insert(INFERENCE_SERVICE, fields)

    def create_model_artifact(self, body: Any) -> Json:
        """A model artifact attached to no version (`POST /model_artifacts`)."""
        fields = accept_body(body, MODEL_ARTIFACT, MODEL_ARTIFACT.create_fields)
        if fields.setdefault("artifactType", "model-artifact") != "model-artifact":
            raise bad_request(
                f"artifactType must be model-artifact, not {fields['artifactType']!r}"
            )
        return self._insert(MODEL_ARTIFACT, fields)

    def add_version_artifact(self, version_id: str, body: Any) -> tuple[Json, bool]:
        """Create an artifact in a version, or attach an existing one named by `id`.

        Returns the artifact and whether it was created (201) rather than attached (200).
        """
        self.get(MODEL_VERSION, version_id)
        artifact_type = body.get("artifactType") if isinstance(body, dict) else None
        kind = ARTIFACT_TYPES.get(artifact_type) if isinstance(artifact_type, str) else None
        if kind is None:
            raise bad_request(
                f"artifactType must be one of {', '.join(ARTIFACT_TYPES)}, not {artifact_type!r}"
            )
        existing_id = body.get("id")
        if existing_id is not None:
            artifact_id = parse_id(str(existing_id), "artifact")
            artifact = self.get_artifact(artifact_id)
            self._attach(version_id, artifact_id)
            return artifact, False
        fields = accept_body(body, kind, kind.create_fields, _OUTPUT_FIELDS)
        artifact = self._insert(kind, fields)
        self._attach(version_id, artifact["id"])
        return artifact, True

    def _attach(self, version_id: str, artifact_id: str) -> None:
        attached = self._version_artifacts.setdefault(version_id, [])
        if artifact_id not in attached:
            attached.append(artifact_id)

    # -- changing ------------------------------------------------------------------

    def update(self, kind: EntityKind, entity_id: str, body: Any) -> Json:
        """Apply a PATCH: given fields replace stored ones (customProperties as a whole).

        The update time always moves; a changed artifact reads state `UNKNOWN` unless the
        patch sets one, as on the real server.
        """
        current = self.get(kind, entity_id)
        fields = accept_body(body, kind, kind.update_fields)
        if kind.sequence == "artifact":
            given_type = fields.get("artifactType", current["artifactType"])
            if given_type != current["artifactType"]:
                raise bad_request(
                    f"artifact {entity_id} is a {current['artifactType']}, not a {given_type}"
                )
            fields.setdefault("state", "UNKNOWN")
        if fields.get("modelVersionId"):
            self._require_reference(
                MODEL_VERSION, fields["modelVersionId"], f"{kind.noun} {entity_id}"
            )
        stored = self._entities[kind.collection][entity_id]
        stored.update(fields)
        stored["lastUpdateTimeSinceEpoch"] = self._now()
        return copy.deepcopy(stored)

    # -- state document --------------------------------------------------------------

    def to_document(self) -> Json:
        """Everything needed to continue later, as JSON-ready data."""
        return {
            "format": STATE_FORMAT,
            "nextIds": dict(self._next_ids),
            "lastTimeMs": self._last_time_ms,
            "entities": {name: list(items.values()) for name, items in self._entities.items()},
            "versionArtifacts": {v: list(a) for v, a in self._version_artifacts.items()},
        }

    @classmethod
    def from_document(
        cls, document: Any, clock: Callable[[], int] = wall_clock_ms
    ) -> RegistryStore:
        """A store continuing from `to_document()`'s output; StateFileError when malformed."""
        if not isinstance(document, dict) or document.get("format") != STATE_FORMAT:
            raise StateFileError(
                f"not a stand-in state document (expected format {STATE_FORMAT!r})"
            )
        store = cls(clock)
        try:
            store._next_ids = {
                "context": int(document["nextIds"]["context"]),
                "artifact": int(document["nextIds"]["artifact"]),
            }
            store._last_time_ms = int(document["lastTimeMs"])
            for name in store._entities:
                entities: Iterable[Mapping[str, Any]] = document["entities"].get(name, [])
                store._entities[name] = {str(e["id"]): dict(e) for e in entities}
            store._version_artifacts = {
                str(v): [str(a) for a in artifacts]
                for v, artifacts in document.get("versionArtifacts", {}).items()
            }
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise StateFileError(f"malformed state document: {error!r}") from None
        return store
