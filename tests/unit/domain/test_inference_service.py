"""Reading what an InferenceService deploys: storage URI and vLLM served name."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_sync.domain.inference_service import (
    DeployedModel,
    MissingStorageUri,
    ServedName,
    ServedNameSource,
    StorageUri,
    UnsupportedStorage,
    read_deployed_model,
    read_served_name,
    read_storage,
)
from unit.domain.strategies import json_values

URI = "oci://quay.io/team/llm:v1"


def isvc(predictor: Any, name: Any = "llm") -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"predictor": predictor}}


@pytest.mark.parametrize(
    ("predictor", "expected"),
    [
        pytest.param(
            {"model": {"modelFormat": {"name": "vLLM"}, "storageUri": URI}},
            StorageUri(URI, "spec.predictor.model.storageUri"),
            id="model-storage-uri",
        ),
        *(
            pytest.param(
                {framework: {"storageUri": URI}},
                StorageUri(URI, f"spec.predictor.{framework}.storageUri"),
                id=f"legacy-{framework}",
            )
            for framework in (
                "sklearn",
                "xgboost",
                "tensorflow",
                "pytorch",
                "onnx",
                "triton",
                "pmml",
                "lightgbm",
                "paddle",
                "huggingface",
            )
        ),
        pytest.param(
            {"someFutureFramework": {"storageUri": URI}},
            StorageUri(URI, "spec.predictor.someFutureFramework.storageUri"),
            id="legacy-unknown-framework-key",
        ),
        pytest.param(
            {"model": {"storageUri": URI, "storage": {"key": "s3-creds"}}},
            StorageUri(URI, "spec.predictor.model.storageUri"),
            id="storage-uri-wins-over-storage-block",
        ),
        pytest.param(
            {"model": {"storageUri": "whatever the user wrote"}},
            StorageUri("whatever the user wrote", "spec.predictor.model.storageUri"),
            id="the-uri-is-not-judged-here",
        ),
        pytest.param(
            {"serviceAccountName": "sa", "tolerations": [], "sklearn": {"storageUri": URI}},
            StorageUri(URI, "spec.predictor.sklearn.storageUri"),
            id="pod-fields-beside-the-framework-are-ignored",
        ),
    ],
)
def test_the_storage_uri_is_found(predictor: Any, expected: StorageUri) -> None:
    assert read_storage(isvc(predictor)) == expected


def test_the_storage_key_and_path_form_is_unsupported() -> None:
    storage = read_storage(isvc({"model": {"storage": {"key": "creds", "path": "models/m1"}}}))
    assert isinstance(storage, UnsupportedStorage)
    assert storage.field_path == "spec.predictor.model.storage"
    assert "set spec.predictor.model.storageUri instead" in storage.message


@pytest.mark.parametrize(
    ("body", "in_message"),
    [
        pytest.param(
            isvc({"model": {"modelFormat": {"name": "vLLM"}}}), "no storage URI", id="none"
        ),
        pytest.param(isvc({"model": {"storageUri": None}}), "no storage URI", id="null"),
        pytest.param(
            isvc({"model": {"storageUri": 42}}),
            "spec.predictor.model.storageUri is a number, expected a string",
            id="not-a-string",
        ),
        pytest.param(
            isvc({"sklearn": {"storageUri": ["s3://a"]}}),
            "spec.predictor.sklearn.storageUri is a list",
            id="legacy-not-a-string",
        ),
        pytest.param(
            isvc({"sklearn": {"storageUri": "s3://a"}, "onnx": {"storageUri": "s3://b"}}),
            "several frameworks with a storageUri (onnx, sklearn)",
            id="several-frameworks",
        ),
        pytest.param(
            isvc({"model": "oci://x"}), "spec.predictor.model is a string", id="model-not-a-mapping"
        ),
        pytest.param(isvc(None), "spec.predictor is missing", id="no-predictor"),
        pytest.param(isvc([1, 2]), "spec.predictor is a list", id="predictor-a-list"),
        pytest.param({"spec": "x"}, "spec is a string", id="spec-a-string"),
        pytest.param({}, "spec is missing", id="empty-body"),
        pytest.param("isvc", "the InferenceService is a string", id="body-a-string"),
        pytest.param(None, "the InferenceService is missing", id="body-none"),
    ],
)
def test_a_missing_or_malformed_storage_uri_says_what_is_wrong(
    body: object, in_message: str
) -> None:
    storage = read_storage(body)
    assert isinstance(storage, MissingStorageUri)
    assert in_message in storage.message


@pytest.mark.parametrize(
    ("args", "served"),
    [
        pytest.param(["--served-model-name=custom"], "custom", id="equals-form"),
        pytest.param(["--served-model-name", "custom"], "custom", id="separate-form"),
        pytest.param(
            ["--served-model-name", "first", "second", "--max-model-len", "4096"],
            "first",
            id="first-of-several",
        ),
        pytest.param(
            ["--served-model-name=first", "--served-model-name=last"], "last", id="last-flag-wins"
        ),
        pytest.param(["--served_model_name=underscored"], "underscored", id="underscore-spelling"),
        pytest.param(
            ["--max-model-len=4096", "--served-model-name", "x"], "x", id="among-other-args"
        ),
    ],
)
def test_the_served_name_comes_from_the_args(args: list[str], served: str) -> None:
    name = read_served_name(isvc({"model": {"storageUri": URI, "args": args}}))
    assert name == ServedName(served, ServedNameSource.ARGS)


def test_the_served_name_comes_from_the_legacy_framework_args() -> None:
    body = isvc({"huggingface": {"storageUri": URI, "args": ["--served-model-name=hf-name"]}})
    assert read_served_name(body).name == "hf-name"


def test_without_the_flag_the_served_name_is_the_inference_service_name() -> None:
    name = read_served_name(isvc({"model": {"storageUri": URI, "args": ["--max-model-len=8"]}}))
    assert name == ServedName("llm", ServedNameSource.INFERENCE_SERVICE_NAME)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        pytest.param(
            ["--served-model-name"], "--served-model-name is given without a name", id="no-value"
        ),
        pytest.param(["--served-model-name="], "given without a name", id="empty-value"),
        pytest.param(
            ["--served-model-name", "--port", "8080"],
            "given without a name",
            id="followed-by-a-flag",
        ),
        pytest.param(["--served-model-name", 7], "not strings", id="non-string-arg"),
        pytest.param("--served-model-name=x", "expected a list of strings", id="args-a-string"),
    ],
)
def test_unusable_args_fall_back_to_the_name_and_say_why(args: object, problem: str) -> None:
    name = read_served_name(isvc({"model": {"storageUri": URI, "args": args}}))
    assert name.name == "llm"
    assert name.source is ServedNameSource.INFERENCE_SERVICE_NAME
    assert any(problem in text for text in name.problems), name.problems


@pytest.mark.parametrize("metadata_name", [None, "", 5], ids=["missing", "empty", "int"])
def test_without_args_or_name_there_is_no_served_name(metadata_name: object) -> None:
    name = read_served_name(isvc({"model": {"storageUri": URI}}, name=metadata_name))
    assert name.name is None
    assert name.source is ServedNameSource.NONE
    assert any("metadata.name" in text for text in name.problems)


def test_read_deployed_model_reads_both() -> None:
    body = isvc({"model": {"storageUri": URI, "args": ["--served-model-name=x"]}})
    assert read_deployed_model(body) == DeployedModel(
        StorageUri(URI, "spec.predictor.model.storageUri"), ServedName("x", ServedNameSource.ARGS)
    )


def test_reading_does_not_modify_the_body() -> None:
    body = isvc({"model": {"storageUri": URI, "args": ["--served-model-name", "a", "b"]}})
    snapshot = repr(body)
    read_deployed_model(body)
    assert repr(body) == snapshot


PREDICTOR_KEYS = st.sampled_from(
    ["model", "sklearn", "huggingface", "args", "storageUri", "storage", "x"]
)


def near_inference_services() -> st.SearchStrategy[Any]:
    """InferenceService-shaped bodies with arbitrary JSON where the fields should be."""
    leaves = json_values()
    model = st.dictionaries(
        st.sampled_from(["storageUri", "storage", "args", "modelFormat"]), leaves, max_size=4
    )
    predictor = st.dictionaries(PREDICTOR_KEYS, model | leaves, max_size=4)
    return st.fixed_dictionaries(
        {},
        optional={
            "metadata": st.fixed_dictionaries({}, optional={"name": leaves}) | leaves,
            "spec": st.fixed_dictionaries({}, optional={"predictor": predictor | leaves}) | leaves,
        },
    )


@given(json_values() | near_inference_services())
def test_reading_arbitrary_data_never_raises(body: Any) -> None:
    deployed = read_deployed_model(body)
    storage = deployed.storage
    if isinstance(storage, StorageUri):
        assert isinstance(storage.uri, str)
    else:
        assert storage.message
    served = deployed.served_name
    assert (served.name is None) == (served.source is ServedNameSource.NONE)
    assert served.name is None or isinstance(served.name, str)
