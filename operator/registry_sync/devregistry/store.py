"""The stand-in's registry state and the rules of writes: ids, clock, reads, creates, updates.

Entities are kept as the JSON objects the API returns. Registered models, model
versions, serving environments and inference services draw ids from one sequence,
artifacts from another, as on the real server. Every write takes a timestamp strictly
greater than the previous one, so ordering by update time is deterministic even when
two writes fall in the same millisecond. What a body may carry is checked in `entities`;
saving and loading the state is `state_file`'s.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from registry_sync.devregistry.entities import (
    ARTIFACT_TYPES,
    INFERENCE_SERVICE,
    METRIC,
    MODEL_ARTIFACT,
    MODEL_VERSION,
    OUTPUT_FIELDS,
    REGISTERED_MODEL,
    SERVING_ENVIRONMENT,
    EntityKind,
    Json,
    accept_body,
)
from registry_sync.devregistry.errors import (
    bad_request,
    conflict,
    missing_required_field,
    not_found,
)
from registry_sync.devregistry.paging import parse_id

# The state's collections, in the order a saved state lists them.
COLLECTIONS = (
    "registeredModels",
    "modelVersions",
    "servingEnvironments",
    "inferenceServices",
    "artifacts",
)


class VersionArtifactWrite(Enum):
    """What `POST /model_versions/{id}/artifacts` did; the real server answers 201 only
    for CREATED (a metric, new or not, is answered 200)."""

    CREATED = "created"
    ATTACHED = "attached"
    UPSERTED = "upserted"


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class StoreContents:
    """Everything a store holds besides its clock: what a saved state carries."""

    entities: dict[str, dict[str, Json]] = field(
        default_factory=lambda: {name: {} for name in COLLECTIONS}
    )
    # version id → ids of its artifacts, in the order they were attached
    version_artifacts: dict[str, list[str]] = field(default_factory=dict)
    next_ids: dict[str, int] = field(default_factory=lambda: {"context": 1, "artifact": 1})
    last_time_ms: int = 0


class RegistryStore:
    """All registry entities, with the real server's rules for creating and changing them."""

    def __init__(
        self, clock: Callable[[], int] = wall_clock_ms, contents: StoreContents | None = None
    ) -> None:
        self._clock = clock
        self._contents = contents if contents is not None else StoreContents()

    @property
    def contents(self) -> StoreContents:
        """The store's own contents, not a copy: for saving them."""
        return self._contents

    # -- clock and ids ---------------------------------------------------------------

    def _now(self) -> str:
        self._contents.last_time_ms = max(self._clock(), self._contents.last_time_ms + 1)
        return str(self._contents.last_time_ms)

    def _allocate(self, sequence: str) -> str:
        allocated = self._contents.next_ids[sequence]
        self._contents.next_ids[sequence] = allocated + 1
        return str(allocated)

    # -- reading -------------------------------------------------------------------

    def get(self, kind: EntityKind, entity_id: str) -> Json:
        """A copy of one entity; 404 in the real server's words when there is none."""
        entity = self._contents.entities[kind.collection].get(entity_id)
        if entity is None or (
            kind is MODEL_ARTIFACT and entity["artifactType"] != "model-artifact"
        ):
            raise not_found(f"no {kind.noun} found for id {entity_id}")
        return copy.deepcopy(entity)

    def get_artifact(self, artifact_id: str) -> Json:
        entity = self._contents.entities["artifacts"].get(artifact_id)
        if entity is None:
            raise not_found(f"no artifact found for id {artifact_id}")
        return copy.deepcopy(entity)

    def all(self, kind: EntityKind) -> list[Json]:
        """Every entity of `kind` (every artifact type for an artifact kind).

        The stored dicts themselves, not copies: list answers only read and serialise them,
        and copying the whole registry on every list made large registries slow.
        """
        return list(self._contents.entities[kind.collection].values())

    def artifacts_of_version(self, version_id: str) -> list[Json]:
        """The stored artifacts of one version (read-only, like `all`)."""
        self.get(MODEL_VERSION, version_id)
        return [
            self._contents.entities["artifacts"][a]
            for a in self._contents.version_artifacts.get(version_id, [])
        ]

    def version_of_inference_service(self, service_id: str) -> Json:
        """The version a record serves: its `modelVersionId`, or else its model's newest
        live version (by creation), as the real server answers for a record without one."""
        service = self.get(INFERENCE_SERVICE, service_id)
        if service.get("modelVersionId"):
            return self.get(MODEL_VERSION, service["modelVersionId"])
        live = [
            v
            for v in self._contents.entities["modelVersions"].values()
            if v["registeredModelId"] == service["registeredModelId"] and v["state"] == "LIVE"
        ]
        if not live:
            raise not_found(f"no model version found for inference service {service_id}")
        newest = max(live, key=lambda v: (int(v["createTimeSinceEpoch"]), int(v["id"])))
        return copy.deepcopy(newest)

    def versions_of_artifact(self, artifact_id: str) -> list[str]:
        return [
            v
            for v, artifacts in self._contents.version_artifacts.items()
            if artifact_id in artifacts
        ]

    # -- creating ------------------------------------------------------------------

    def _insert(self, kind: EntityKind, fields: Json) -> Json:
        now = self._now()
        entity: Json = {"customProperties": {}, **fields}
        if kind.default_state is not None:
            entity.setdefault("state", kind.default_state)
        entity.update(
            id=self._allocate(kind.sequence), createTimeSinceEpoch=now, lastUpdateTimeSinceEpoch=now
        )
        self._contents.entities[kind.collection][entity["id"]] = entity
        return copy.deepcopy(entity)

    def _require_reference(self, kind: EntityKind, entity_id: str, holder: str) -> None:
        if entity_id not in self._contents.entities[kind.collection]:
            raise bad_request(f"{holder} refers to {kind.noun} {entity_id}, which does not exist")

    def create_registered_model(self, body: Any) -> Json:
        fields = accept_body(body, REGISTERED_MODEL, REGISTERED_MODEL.create_fields)
        name = fields.get("name", "")
        if not name:
            raise bad_request("a registered model needs a non-empty name")
        if any(m["name"] == name for m in self._contents.entities["registeredModels"].values()):
            raise conflict(f"registered model with name {name} already exists")
        return self._insert(REGISTERED_MODEL, fields)

    def create_model_version(self, body: Any, registered_model_id: str | None = None) -> Json:
        """A new version; `registered_model_id` (from the path) overrides the body's."""
        ignored = OUTPUT_FIELDS if registered_model_id is not None else frozenset()
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
            for v in self._contents.entities["modelVersions"].values()
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
        if any(e["name"] == name for e in self._contents.entities["servingEnvironments"].values()):
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
            for s in self._contents.entities["inferenceServices"].values()
        ):
            # The real server's words: it keeps a record's name prefixed by its environment.
            raise conflict(
                f"inference service with name {fields['servingEnvironmentId']}:{name} "
                "already exists"
            )
        fields.setdefault("desiredState", "DEPLOYED")
        return self._insert(INFERENCE_SERVICE, fields)

    def create_model_artifact(self, body: Any) -> Json:
        """A model artifact attached to no version (`POST /model_artifacts`)."""
        fields = accept_body(body, MODEL_ARTIFACT, MODEL_ARTIFACT.create_fields)
        if fields.setdefault("artifactType", "model-artifact") != "model-artifact":
            raise bad_request(
                f"artifactType must be model-artifact, not {fields['artifactType']!r}"
            )
        return self._insert(MODEL_ARTIFACT, fields)

    def add_version_artifact(self, version_id: str, body: Any) -> tuple[Json, VersionArtifactWrite]:
        """Create an artifact in a version, attach an existing one named by `id`, or upsert
        a metric by name.

        Returns the artifact and what the write did, which decides the answer's status.
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
            return artifact, VersionArtifactWrite.ATTACHED
        fields = accept_body(body, kind, kind.create_fields, OUTPUT_FIELDS)
        if kind is METRIC:
            return self._upsert_metric(version_id, fields), VersionArtifactWrite.UPSERTED
        artifact = self._insert(kind, fields)
        self._attach(version_id, artifact["id"])
        return artifact, VersionArtifactWrite.CREATED

    def _upsert_metric(self, version_id: str, fields: Json) -> Json:
        """A version holds one metric per name: a second post of a name changes that one.

        Given fields replace stored ones, the rest are kept (a repost without
        `customProperties` or `timestamp` keeps the first ones), the creation time stays,
        the update time moves, and the state is left as it was, as on the real server.
        """
        name = fields.get("name", "")
        if not name:
            raise bad_request("a metric needs a non-empty name")
        for artifact_id in self._contents.version_artifacts.get(version_id, []):
            stored = self._contents.entities["artifacts"][artifact_id]
            if stored["artifactType"] == "metric" and stored.get("name") == name:
                stored.update(fields)
                stored["lastUpdateTimeSinceEpoch"] = self._now()
                return copy.deepcopy(stored)
        artifact = self._insert(METRIC, fields)
        self._attach(version_id, artifact["id"])
        return artifact

    def _attach(self, version_id: str, artifact_id: str) -> None:
        attached = self._contents.version_artifacts.setdefault(version_id, [])
        if artifact_id not in attached:
            attached.append(artifact_id)

    # -- changing ------------------------------------------------------------------

    def update_artifact(self, artifact_id: str, body: Any) -> Json:
        """A PATCH of any artifact (`/artifacts/{id}`), by the rules of its own type."""
        current = self.get_artifact(artifact_id)
        return self.update(ARTIFACT_TYPES[current["artifactType"]], artifact_id, body)

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
        stored = self._contents.entities[kind.collection][entity_id]
        stored.update(fields)
        stored["lastUpdateTimeSinceEpoch"] = self._now()
        return copy.deepcopy(stored)
