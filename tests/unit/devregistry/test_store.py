"""The stand-in's rules for creating and changing registry entities, and for saving them."""

from __future__ import annotations

from typing import Any

import pytest

from registry_sync.devregistry.entities import MODEL_ARTIFACT, MODEL_VERSION, REGISTERED_MODEL, Json
from registry_sync.devregistry.errors import ApiError
from registry_sync.devregistry.state_file import (
    StateFileError,
    store_from_document,
    store_to_document,
)
from registry_sync.devregistry.store import RegistryStore


def _frozen_clock() -> int:
    return 1_000


@pytest.fixture
def store() -> RegistryStore:
    return RegistryStore(clock=_frozen_clock)


def _model_with_version(store: RegistryStore) -> tuple[Json, Json]:
    model = store.create_registered_model({"name": "m"})
    version = store.create_model_version({"name": "v", "registeredModelId": model["id"]})
    return model, version


def test_writes_within_one_millisecond_still_get_increasing_times(store: RegistryStore) -> None:
    model, version = _model_with_version(store)
    archived = store.update(REGISTERED_MODEL, model["id"], {"state": "ARCHIVED"})

    times = [model["createTimeSinceEpoch"], version["createTimeSinceEpoch"]]
    times.append(archived["lastUpdateTimeSinceEpoch"])
    assert times == ["1000", "1001", "1002"]


def test_models_versions_environments_and_services_share_one_id_sequence(
    store: RegistryStore,
) -> None:
    model, version = _model_with_version(store)
    artifact, _ = store.add_version_artifact(
        version["id"], {"artifactType": "model-artifact", "uri": "oci://q/a:1"}
    )
    environment = store.create_serving_environment({"name": "ns"})
    service = store.create_inference_service(
        {"registeredModelId": model["id"], "servingEnvironmentId": environment["id"]}
    )

    ids = [model["id"], version["id"], environment["id"], service["id"], artifact["id"]]
    assert ids == ["1", "2", "3", "4", "1"]


def test_archiving_a_model_leaves_its_versions_live(store: RegistryStore) -> None:
    model, version = _model_with_version(store)

    store.update(REGISTERED_MODEL, model["id"], {"state": "ARCHIVED"})

    assert store.get(MODEL_VERSION, version["id"])["state"] == "LIVE"


def test_changing_an_artifact_makes_its_state_read_unknown(store: RegistryStore) -> None:
    _, version = _model_with_version(store)
    artifact, _ = store.add_version_artifact(
        version["id"], {"artifactType": "model-artifact", "uri": "oci://q/a:1"}
    )

    changed = store.update(MODEL_ARTIFACT, artifact["id"], {"uri": "oci://q/a:2"})

    assert ("state" in artifact, changed["state"]) == (False, "UNKNOWN")


def test_patched_custom_properties_replace_the_old_ones(store: RegistryStore) -> None:
    text = {"metadataType": "MetadataStringValue", "string_value": "x"}
    model = store.create_registered_model({"name": "m", "customProperties": {"a": text}})

    changed = store.update(REGISTERED_MODEL, model["id"], {"customProperties": {"b": text}})

    assert changed["customProperties"] == {"b": text}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"name": "x"}, 422, "Bad Request"),
        ({"registeredModelId": "1"}, 422, "Bad Request"),
        ({"name": "x", "registeredModelId": "77"}, 400, "Bad Request"),
        ({"name": "x", "registeredModelId": "one"}, 400, "Bad Request"),
        ({"name": "x", "registeredModelId": "1", "colour": "red"}, 400, "Bad Request"),
        ({"name": "x", "registeredModelId": "1", "state": "GONE"}, 400, "Bad Request"),
        ({"name": 5, "registeredModelId": "1"}, 400, "Bad Request"),
        (["name"], 400, "Bad Request"),
        ({"name": "v", "registeredModelId": "1"}, 409, "Conflict"),
    ],
)
def test_a_version_the_registry_would_refuse_is_refused(
    store: RegistryStore, body: Any, status: int, code: str
) -> None:
    _model_with_version(store)

    with pytest.raises(ApiError) as error:
        store.create_model_version(body)

    assert (error.value.status, error.value.code) == (status, code)


def test_a_custom_property_without_metadata_type_is_refused(store: RegistryStore) -> None:
    with pytest.raises(ApiError) as error:
        store.create_registered_model({"name": "m", "customProperties": {"a": {"x": 1}}})

    assert "custom property 'a' needs a metadataType" in error.value.message


def test_the_state_document_continues_where_it_left_off(store: RegistryStore) -> None:
    _, version = _model_with_version(store)
    store.add_version_artifact(version["id"], {"artifactType": "model-artifact", "uri": "u"})

    reloaded = store_from_document(store_to_document(store), clock=_frozen_clock)
    newer = reloaded.create_registered_model({"name": "n"})

    assert (
        store_to_document(reloaded)["entities"]["artifacts"]
        == store_to_document(store)["entities"]["artifacts"]
    )
    assert (newer["id"], newer["createTimeSinceEpoch"]) == ("3", "1003")


def test_a_foreign_document_is_refused_with_a_reason() -> None:
    with pytest.raises(StateFileError, match="not a stand-in state document"):
        store_from_document({"registeredModels": []})
