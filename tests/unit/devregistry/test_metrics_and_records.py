"""The stand-in's metric artifacts and InferenceService records, as the real server keeps them."""

from __future__ import annotations

from typing import Any

import pytest

from registry_sync.devregistry.entities import INFERENCE_SERVICE, MODEL_VERSION, Json
from registry_sync.devregistry.errors import ApiError
from registry_sync.devregistry.store import RegistryStore, VersionArtifactWrite

RUN = {"metadataType": "MetadataStringValue", "string_value": "ns/model-testing-abc12"}


class _Clock:
    """A clock that moves one millisecond per reading, so create and update times differ."""

    def __init__(self) -> None:
        self.now = 1_000

    def __call__(self) -> int:
        self.now += 1
        return self.now


@pytest.fixture
def store() -> RegistryStore:
    return RegistryStore(clock=_Clock())


def _model_with_version(store: RegistryStore, model_name: str = "m") -> tuple[Json, Json]:
    model = store.create_registered_model({"name": model_name})
    version = store.create_model_version({"name": "v", "registeredModelId": model["id"]})
    return model, version


def _metric(name: str = "ttft_p90", **fields: Any) -> Json:
    return {"artifactType": "metric", "name": name, **fields}


def test_a_new_metric_is_upserted_not_created(store: RegistryStore) -> None:
    _, version = _model_with_version(store)

    metric, write = store.add_version_artifact(version["id"], _metric(value=182.5))

    assert write is VersionArtifactWrite.UPSERTED
    assert (metric["value"], "state" in metric) == (182.5, False)


def test_a_metric_posted_again_by_name_is_the_same_artifact_with_the_new_value(
    store: RegistryStore,
) -> None:
    _, version = _model_with_version(store)
    first, _ = store.add_version_artifact(
        version["id"],
        _metric(value=182.5, timestamp="1764150000000", customProperties={"run": RUN}),
    )

    again, _ = store.add_version_artifact(version["id"], _metric(value=190))

    assert (again["id"], again["value"]) == (first["id"], 190)
    assert again["createTimeSinceEpoch"] == first["createTimeSinceEpoch"]
    assert int(again["lastUpdateTimeSinceEpoch"]) > int(first["lastUpdateTimeSinceEpoch"])
    # Fields the second post left out are those of the first.
    assert (again["timestamp"], again["customProperties"]) == ("1764150000000", {"run": RUN})


def test_one_metric_name_on_two_versions_is_two_artifacts(store: RegistryStore) -> None:
    _, version = _model_with_version(store)
    _, other = _model_with_version(store, "n")

    first, _ = store.add_version_artifact(version["id"], _metric(value=1.0))
    second, _ = store.add_version_artifact(other["id"], _metric(value=2.0))

    assert first["id"] != second["id"]
    assert [a["value"] for a in store.artifacts_of_version(version["id"])] == [1.0]


def test_publishing_a_metric_leaves_the_version_unchanged(store: RegistryStore) -> None:
    _, version = _model_with_version(store)

    store.add_version_artifact(version["id"], _metric(value=1.0))

    assert store.get(MODEL_VERSION, version["id"]) == version


@pytest.mark.parametrize(
    "fields",
    [
        {"value": "182.5"},
        {"value": True},
        {"value": float("nan")},
        {"value": 1.0, "timestamp": 1764150000000},
        {"value": 1.0, "timestamp": "yesterday"},
        {"value": 1.0, "step": 1.5},
        {"value": 1.0, "uri": "s3://b/k"},
    ],
    ids=[
        "value-string",
        "value-bool",
        "value-nan",
        "timestamp-number",
        "timestamp-words",
        "step-fraction",
        "unknown-field",
    ],
)
def test_a_metric_the_registry_would_refuse_is_refused(store: RegistryStore, fields: Json) -> None:
    _, version = _model_with_version(store)

    with pytest.raises(ApiError) as error:
        store.add_version_artifact(version["id"], _metric(**fields))

    assert (error.value.status, error.value.code) == (400, "Bad Request")


def test_a_document_is_created_and_changed_through_the_generic_artifact_patch(
    store: RegistryStore,
) -> None:
    _, version = _model_with_version(store)
    document, write = store.add_version_artifact(
        version["id"], {"artifactType": "doc-artifact", "name": "report", "uri": "s3://b/r1"}
    )

    changed = store.update_artifact(document["id"], {"uri": "s3://b/r2"})

    assert write is VersionArtifactWrite.CREATED
    assert (changed["artifactType"], changed["uri"]) == ("doc-artifact", "s3://b/r2")


def _environment_and_record(store: RegistryStore, **fields: Any) -> tuple[Json, Json, Json]:
    model, _ = _model_with_version(store)
    environment = store.create_serving_environment({"name": "ns"})
    record = store.create_inference_service(
        {
            "name": "isvc",
            "registeredModelId": model["id"],
            "servingEnvironmentId": environment["id"],
            **fields,
        }
    )
    return model, environment, record


def test_a_record_created_without_a_desired_state_is_deployed(store: RegistryStore) -> None:
    _, _, record = _environment_and_record(store)

    assert record["desiredState"] == "DEPLOYED"


def test_a_record_name_is_taken_within_its_environment_only(store: RegistryStore) -> None:
    model, environment, _ = _environment_and_record(store)
    elsewhere = store.create_serving_environment({"name": "other-ns"})
    body = {"name": "isvc", "registeredModelId": model["id"]}

    store.create_inference_service({**body, "servingEnvironmentId": elsewhere["id"]})
    with pytest.raises(ApiError) as error:
        store.create_inference_service({**body, "servingEnvironmentId": environment["id"]})

    assert (error.value.status, error.value.code) == (409, "Conflict")


@pytest.mark.parametrize("field", ["registeredModelId", "servingEnvironmentId", "name"])
def test_a_record_cannot_be_moved_or_renamed(store: RegistryStore, field: str) -> None:
    model, _, record = _environment_and_record(store)

    with pytest.raises(ApiError) as error:
        store.update(INFERENCE_SERVICE, record["id"], {field: model["id"]})

    assert (error.value.status, error.value.message) == (
        400,
        f'json: unknown field "{field}": bad request',
    )


def test_the_version_of_a_record_with_one_is_that_version(store: RegistryStore) -> None:
    model, _ = _model_with_version(store)
    pinned = store.create_model_version({"name": "pinned", "registeredModelId": model["id"]})
    store.create_model_version({"name": "newer", "registeredModelId": model["id"]})
    environment = store.create_serving_environment({"name": "ns"})
    record = store.create_inference_service(
        {
            "registeredModelId": model["id"],
            "servingEnvironmentId": environment["id"],
            "modelVersionId": pinned["id"],
        }
    )

    assert store.version_of_inference_service(record["id"])["id"] == pinned["id"]


def test_the_version_of_a_record_without_one_is_the_models_newest_live_version(
    store: RegistryStore,
) -> None:
    model, _, record = _environment_and_record(store)
    newest_live = store.create_model_version({"name": "v2", "registeredModelId": model["id"]})
    archived = store.create_model_version({"name": "v3", "registeredModelId": model["id"]})
    store.update(MODEL_VERSION, archived["id"], {"state": "ARCHIVED"})

    assert store.version_of_inference_service(record["id"])["id"] == newest_live["id"]


def test_a_record_whose_model_has_no_live_version_has_no_version(store: RegistryStore) -> None:
    _, _, record = _environment_and_record(store)
    (version,) = store.all(MODEL_VERSION)
    store.update(MODEL_VERSION, version["id"], {"state": "ARCHIVED"})

    with pytest.raises(ApiError) as error:
        store.version_of_inference_service(record["id"])

    assert error.value.status == 404
