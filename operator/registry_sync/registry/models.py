"""The Model Registry's v1alpha3 JSON, as pydantic models: parse at the edge.

Tolerant of fields this project does not read (the server may add some), strict on the
ones it does: ids are decimal strings, times are millisecond strings, states are the
documented enums. `customProperties` values are a union keyed by `metadataType`; a type
this client does not know is kept as `UnrecognisedMetadataValue` rather than failing the
whole entity, because custom properties never decide anything here.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    Tag,
)

from registry_sync.domain.snapshot import ModelArtifact, ModelVersion, RegisteredModel, State

API_PREFIX = "/api/model_registry/v1alpha3"
MODEL_ARTIFACT_TYPE = "model-artifact"
METRIC_TYPE = "metric"
DOC_ARTIFACT_TYPE = "doc-artifact"


def _parse_millis(value: object) -> int:
    """Milliseconds since the epoch, sent by the registry as a decimal string."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    raise ValueError(f"expected milliseconds since the epoch as a decimal string, got {value!r}")


def _check_base64(value: object) -> object:
    if isinstance(value, str):
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as error:
            raise ValueError(f"expected base64 text: {error}") from error
    return value


EntityId = Annotated[StrictStr, StringConstraints(pattern=r"^[0-9]+$")]
"""A registry id: a decimal string (a JSON number is a protocol error, not an id)."""

Millis = Annotated[int, BeforeValidator(_parse_millis)]
Base64Text = Annotated[StrictStr, BeforeValidator(_check_base64)]


class _Wire(BaseModel):
    """Registry JSON: camelCase on the wire, unknown fields ignored, immutable once parsed."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class MetadataStringValue(_Wire):
    metadata_type: Literal["MetadataStringValue"] = Field(
        default="MetadataStringValue", alias="metadataType"
    )
    string_value: StrictStr

    @property
    def value(self) -> str:
        return self.string_value


class MetadataIntValue(_Wire):
    """An int32 the registry sends as a string, e.g. `"42"`."""

    metadata_type: Literal["MetadataIntValue"] = Field(
        default="MetadataIntValue", alias="metadataType"
    )
    int_value: Annotated[StrictStr, StringConstraints(pattern=r"^-?[0-9]+$")]

    @property
    def value(self) -> int:
        return int(self.int_value)


class MetadataDoubleValue(_Wire):
    metadata_type: Literal["MetadataDoubleValue"] = Field(
        default="MetadataDoubleValue", alias="metadataType"
    )
    double_value: float

    @property
    def value(self) -> float:
        return self.double_value


class MetadataBoolValue(_Wire):
    metadata_type: Literal["MetadataBoolValue"] = Field(
        default="MetadataBoolValue", alias="metadataType"
    )
    bool_value: StrictBool

    @property
    def value(self) -> bool:
        return self.bool_value


class MetadataStructValue(_Wire):
    """A struct, base64-encoded by the registry."""

    metadata_type: Literal["MetadataStructValue"] = Field(
        default="MetadataStructValue", alias="metadataType"
    )
    struct_value: Base64Text

    @property
    def value(self) -> bytes:
        return base64.b64decode(self.struct_value)


class MetadataProtoValue(_Wire):
    """A protobuf message: its type URL and its base64-encoded bytes."""

    metadata_type: Literal["MetadataProtoValue"] = Field(
        default="MetadataProtoValue", alias="metadataType"
    )
    type: StrictStr
    proto_value: Base64Text

    @property
    def value(self) -> bytes:
        return base64.b64decode(self.proto_value)


class UnrecognisedMetadataValue(BaseModel):
    """A custom property of a `metadataType` this client does not know, kept as sent."""

    model_config = ConfigDict(extra="allow", frozen=True)


_METADATA_TYPES = frozenset(
    {
        "MetadataStringValue",
        "MetadataIntValue",
        "MetadataDoubleValue",
        "MetadataBoolValue",
        "MetadataStructValue",
        "MetadataProtoValue",
    }
)


def _metadata_tag(value: Any) -> str:
    if isinstance(value, Mapping):
        tag = value.get("metadataType")
    else:
        tag = getattr(value, "metadata_type", None)
    return tag if isinstance(tag, str) and tag in _METADATA_TYPES else "unrecognised"


MetadataValue = Annotated[
    Annotated[MetadataStringValue, Tag("MetadataStringValue")]
    | Annotated[MetadataIntValue, Tag("MetadataIntValue")]
    | Annotated[MetadataDoubleValue, Tag("MetadataDoubleValue")]
    | Annotated[MetadataBoolValue, Tag("MetadataBoolValue")]
    | Annotated[MetadataStructValue, Tag("MetadataStructValue")]
    | Annotated[MetadataProtoValue, Tag("MetadataProtoValue")]
    | Annotated[UnrecognisedMetadataValue, Tag("unrecognised")],
    Discriminator(_metadata_tag),
]
"""One `customProperties` value, chosen by its `metadataType`."""

CustomProperties = dict[str, MetadataValue]


class EntityState(StrEnum):
    """`state` of registered models and model versions (LIVE/ARCHIVED; UNKNOWN tolerated)."""

    LIVE = "LIVE"
    ARCHIVED = "ARCHIVED"
    UNKNOWN = "UNKNOWN"


class ArtifactState(StrEnum):
    """`state` of artifacts, as the API defines it (ml-metadata's artifact states)."""

    UNKNOWN = "UNKNOWN"
    PENDING = "PENDING"
    LIVE = "LIVE"
    MARKED_FOR_DELETION = "MARKED_FOR_DELETION"
    DELETED = "DELETED"
    ABANDONED = "ABANDONED"
    REFERENCE = "REFERENCE"


# An artifact that is going or gone must not be resolved to: it reads as ARCHIVED in the
# snapshot, whose states are those of models and versions.
_ARTIFACT_STATE_IN_SNAPSHOT: Mapping[ArtifactState, State] = {
    ArtifactState.UNKNOWN: State.UNKNOWN,
    ArtifactState.PENDING: State.UNKNOWN,
    ArtifactState.REFERENCE: State.UNKNOWN,
    ArtifactState.LIVE: State.LIVE,
    ArtifactState.MARKED_FOR_DELETION: State.ARCHIVED,
    ArtifactState.DELETED: State.ARCHIVED,
    ArtifactState.ABANDONED: State.ARCHIVED,
}


class _Entity(_Wire):
    id: EntityId
    create_time_ms: Millis = Field(default=0, alias="createTimeSinceEpoch")
    last_update_ms: Millis = Field(alias="lastUpdateTimeSinceEpoch")
    custom_properties: CustomProperties = Field(default_factory=dict, alias="customProperties")
    description: StrictStr | None = None
    external_id: StrictStr | None = Field(default=None, alias="externalId")


class RegisteredModelRecord(_Entity):
    name: StrictStr
    state: EntityState = EntityState.LIVE
    owner: StrictStr | None = None

    @property
    def snapshot_state(self) -> State:
        return State(self.state.value)

    def as_snapshot_entry(self) -> RegisteredModel:
        return RegisteredModel(
            id=self.id,
            name=self.name,
            state=self.snapshot_state,
            last_update_ms=self.last_update_ms,
            owner=self.owner,
        )


class ModelVersionRecord(_Entity):
    name: StrictStr
    registered_model_id: EntityId = Field(alias="registeredModelId")
    state: EntityState = EntityState.LIVE
    author: StrictStr | None = None

    @property
    def snapshot_state(self) -> State:
        return State(self.state.value)

    def as_snapshot_entry(self) -> ModelVersion:
        return ModelVersion(
            id=self.id,
            name=self.name,
            registered_model_id=self.registered_model_id,
            state=self.snapshot_state,
            last_update_ms=self.last_update_ms,
        )


class ArtifactRecord(_Entity):
    """Any artifact; `/model_versions/{id}/artifacts` also lists non-model ones (docs, metrics)."""

    artifact_type: StrictStr = Field(default=MODEL_ARTIFACT_TYPE, alias="artifactType")
    name: StrictStr = ""
    uri: StrictStr | None = None
    state: ArtifactState | None = None
    model_format_name: StrictStr | None = Field(default=None, alias="modelFormatName")
    model_format_version: StrictStr | None = Field(default=None, alias="modelFormatVersion")

    @property
    def is_model_artifact(self) -> bool:
        return self.artifact_type == MODEL_ARTIFACT_TYPE

    @property
    def snapshot_state(self) -> State | None:
        return None if self.state is None else _ARTIFACT_STATE_IN_SNAPSHOT[self.state]

    def as_snapshot_entry(self, model_version_id: str) -> ModelArtifact:
        """This artifact as part of `model_version_id`; an artifact without a URI gets ""."""
        return ModelArtifact(
            id=self.id,
            name=self.name,
            uri=self.uri or "",
            model_version_id=model_version_id,
            state=self.snapshot_state,
            last_update_ms=self.last_update_ms,
        )


class MetricArtifactRecord(_Entity):
    """A figure on a model version. The registry holds one per name and version: posting
    a name again changes that artifact's value (its id and creation time stay)."""

    artifact_type: Literal["metric"] = Field(default="metric", alias="artifactType")
    name: StrictStr
    value: StrictFloat
    timestamp_ms: Millis | None = Field(default=None, alias="timestamp")
    step: StrictInt | None = None
    state: ArtifactState | None = None


class DocArtifactRecord(_Entity):
    """A document on a model version (a report, a run's record), found at `uri`."""

    artifact_type: Literal["doc-artifact"] = Field(default="doc-artifact", alias="artifactType")
    name: StrictStr = ""
    uri: StrictStr | None = None
    state: ArtifactState | None = None


def _artifact_tag(value: Any) -> str:
    if isinstance(value, Mapping):
        tag = value.get("artifactType")
    else:
        tag = getattr(value, "artifact_type", None)
    return tag if tag in (METRIC_TYPE, DOC_ARTIFACT_TYPE) else "other"


VersionArtifact = Annotated[
    Annotated[MetricArtifactRecord, Tag(METRIC_TYPE)]
    | Annotated[DocArtifactRecord, Tag(DOC_ARTIFACT_TYPE)]
    | Annotated[ArtifactRecord, Tag("other")],
    Discriminator(_artifact_tag),
]
"""One artifact of a version's listing, parsed by its `artifactType`: a metric or a
document as its own record, anything else (model artifacts first) as `ArtifactRecord`."""


class ServingEnvironmentRecord(_Entity):
    """Where models are served; OpenShift AI names one after each namespace."""

    name: StrictStr


class DesiredState(StrEnum):
    """`desiredState` of an InferenceService record; the registry creates records DEPLOYED."""

    DEPLOYED = "DEPLOYED"
    UNDEPLOYED = "UNDEPLOYED"


class InferenceServiceRecord(_Entity):
    """The registry's own record of a deployment: which model (and version) it serves.

    A record cannot move to another model; without `modelVersionId` it follows the
    model's newest version.
    """

    name: StrictStr = ""
    serving_environment_id: EntityId = Field(alias="servingEnvironmentId")
    registered_model_id: EntityId = Field(alias="registeredModelId")
    model_version_id: EntityId | None = Field(default=None, alias="modelVersionId")
    runtime: StrictStr | None = None
    desired_state: DesiredState | None = Field(default=None, alias="desiredState")


RecordT = TypeVar("RecordT", bound=_Entity)


class Page(_Wire, Generic[RecordT]):
    """One page of a list: `nextPageToken` is opaque and empty on the last page."""

    items: list[RecordT] = Field(default_factory=list)
    next_page_token: StrictStr = Field(default="", alias="nextPageToken")
    page_size: int | None = Field(default=None, alias="pageSize")
    size: int | None = None


class ErrorBody(_Wire):
    """The registry's error body: `{"code": "Not Found", "message": "..."}`."""

    code: StrictStr | None = None
    message: StrictStr | None = None


def custom_properties_json(properties: Mapping[str, MetadataValue]) -> dict[str, Any]:
    """Custom properties as the registry expects them in a request body."""
    return {key: value.model_dump(mode="json", by_alias=True) for key, value in properties.items()}
