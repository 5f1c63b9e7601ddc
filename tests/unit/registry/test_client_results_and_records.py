"""The calls the publisher and the record keeper make, against mocked HTTP: the requests
they send, the answers they accept, and which of them are retried."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx

from registry_sync.registry.client import RegistryClient
from registry_sync.registry.errors import (
    RegistryConflict,
    RegistryProtocolError,
    RegistryRejected,
    RegistryUnavailable,
)
from registry_sync.registry.models import (
    DesiredState,
    DocArtifactRecord,
    MetadataStringValue,
    MetricArtifactRecord,
)
from registry_sync.registry.transport import RetryPolicy

SERVER = "https://registry.test:8443"
API = SERVER + "/api/model_registry/v1alpha3"
RUN = MetadataStringValue(string_value="ns/model-testing-abc12")


def metric_json(artifact_id: str = "5", value: float = 182.5, **extra: Any) -> dict[str, Any]:
    return {
        "artifactType": "metric",
        "id": artifact_id,
        "name": "ttft_p90",
        "value": value,
        "createTimeSinceEpoch": "10",
        "lastUpdateTimeSinceEpoch": "10",
        **extra,
    }


def doc_json(artifact_id: str = "7", uri: str = "s3://results/r1.json") -> dict[str, Any]:
    return {
        "artifactType": "doc-artifact",
        "id": artifact_id,
        "name": "model-testing-abc12",
        "uri": uri,
        "createTimeSinceEpoch": "10",
        "lastUpdateTimeSinceEpoch": "10",
    }


def model_artifact_json(artifact_id: str = "1") -> dict[str, Any]:
    return {
        "artifactType": "model-artifact",
        "id": artifact_id,
        "uri": "oci://q/m:1",
        "lastUpdateTimeSinceEpoch": "1",
    }


def environment_json(environment_id: str = "9", name: str = "private-ai-demo") -> dict[str, Any]:
    return {"id": environment_id, "name": name, "lastUpdateTimeSinceEpoch": "1"}


def record_json(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "10",
        "name": "mistral-24b-quantized",
        "servingEnvironmentId": "9",
        "registeredModelId": "1",
        "modelVersionId": "2",
        "desiredState": "DEPLOYED",
        "runtime": "vllm",
        "createTimeSinceEpoch": "1",
        "lastUpdateTimeSinceEpoch": "1",
    }
    body.update(overrides)
    return body


def page_json(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"items": items, "nextPageToken": "", "pageSize": 100, "size": len(items)}


def sent(route: respx.Route) -> Any:
    return json.loads(route.calls.last.request.content)


async def _no_sleep(_: float) -> None:
    return None


@pytest.fixture
async def client() -> AsyncIterator[RegistryClient]:
    async with RegistryClient(
        SERVER, retry=RetryPolicy(attempts=3, base_delay_s=0.01), sleep=_no_sleep
    ) as registry:
        yield registry


@pytest.fixture
def http() -> respx.MockRouter:
    with respx.mock(base_url=API, assert_all_called=False) as router:
        yield router


# Metrics and documents --------------------------------------------------------------


async def test_a_metric_is_posted_to_its_version_with_value_and_timestamp(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    route = http.post("/model_versions/2/artifacts").respond(
        200, json=metric_json(timestamp="1764150000000", customProperties={})
    )

    metric = await client.upsert_metric(
        "2",
        name="ttft_p90",
        value=182.5,
        timestamp_ms=1764150000000,
        custom_properties={"run": RUN},
    )

    assert sent(route) == {
        "artifactType": "metric",
        "name": "ttft_p90",
        "value": 182.5,
        "timestamp": "1764150000000",
        "customProperties": {
            "run": {"metadataType": "MetadataStringValue", "string_value": RUN.string_value}
        },
    }
    assert (metric.id, metric.value, metric.timestamp_ms) == ("5", 182.5, 1764150000000)


async def test_a_metric_step_is_sent_as_an_integer_when_given(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    route = http.post("/model_versions/2/artifacts").respond(200, json=metric_json(step=0))

    await client.upsert_metric("2", name="ttft_p90", value=182.5, step=0)

    assert sent(route)["step"] == 0


@pytest.mark.parametrize("step", [True, 1.5, "0"], ids=["bool", "float", "string"])
async def test_a_step_that_is_not_an_integer_is_refused_before_any_request(
    client: RegistryClient, step: Any
) -> None:
    with pytest.raises(ValueError, match="step"):
        await client.upsert_metric("2", name="m", value=1.0, step=step)

    assert client.request_count == 0


async def test_an_integer_metric_value_is_sent_and_read_as_a_number(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    # The real server echoes 190.0 as 190.
    route = http.post("/model_versions/2/artifacts").respond(200, json=metric_json(value=190))

    metric = await client.upsert_metric("2", name="ttft_p90", value=190)

    assert (sent(route)["value"], metric.value) == (190.0, 190.0)


async def test_a_metric_upsert_is_retried_after_an_ambiguous_failure(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    route = http.post("/model_versions/2/artifacts").mock(
        side_effect=[httpx.Response(502), httpx.Response(200, json=metric_json())]
    )

    await client.upsert_metric("2", name="ttft_p90", value=182.5)

    assert route.call_count == 2


@pytest.mark.parametrize(
    ("value", "timestamp_ms"),
    [(float("nan"), None), (float("inf"), None), (True, None), ("1.0", None), (1.0, -1)],
    ids=["nan", "infinity", "bool", "string", "negative-time"],
)
async def test_a_metric_json_cannot_carry_is_refused_before_any_request(
    client: RegistryClient, value: Any, timestamp_ms: int | None
) -> None:
    with pytest.raises(ValueError, match="metric 'm'"):
        await client.upsert_metric("2", name="m", value=value, timestamp_ms=timestamp_ms)

    assert client.request_count == 0


async def test_a_metric_answer_without_a_numeric_value_is_a_protocol_error(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    http.post("/model_versions/2/artifacts").respond(200, json=metric_json(value="182.5"))

    with pytest.raises(RegistryProtocolError, match="value"):
        await client.upsert_metric("2", name="ttft_p90", value=182.5)


async def test_a_document_is_created_once_and_not_retried_after_an_ambiguous_failure(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    route = http.post("/model_versions/2/artifacts").respond(502)

    with pytest.raises(RegistryUnavailable):
        await client.create_doc_artifact("2", name="model-testing-abc12", uri="s3://r/1.json")

    assert route.call_count == 1
    assert sent(route) == {
        "artifactType": "doc-artifact",
        "name": "model-testing-abc12",
        "uri": "s3://r/1.json",
    }


async def test_a_document_without_a_uri_is_sent_without_one(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    answer = {key: value for key, value in doc_json().items() if key != "uri"}
    route = http.post("/model_versions/2/artifacts").respond(201, json=answer)

    document = await client.create_doc_artifact(
        "2", name="model-testing-abc12", custom_properties={"run": RUN}
    )

    assert "uri" not in sent(route)
    assert document.uri is None


async def test_a_created_document_is_read_as_a_document(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    http.post("/model_versions/2/artifacts").respond(201, json=doc_json())

    document = await client.create_doc_artifact("2", name="model-testing-abc12", uri="s3://x")

    assert isinstance(document, DocArtifactRecord)
    assert document.uri == "s3://results/r1.json"


async def test_a_document_is_changed_through_the_generic_artifact_path(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    route = http.patch("/artifacts/7").respond(json=doc_json(uri="s3://r/2.json"))

    changed = await client.update_doc_artifact("7", uri="s3://r/2.json")

    assert sent(route) == {"artifactType": "doc-artifact", "uri": "s3://r/2.json"}
    assert changed.uri == "s3://r/2.json"


async def test_a_document_patch_with_nothing_to_change_is_refused(client: RegistryClient) -> None:
    with pytest.raises(ValueError, match="something to change"):
        await client.update_doc_artifact("7")

    assert client.request_count == 0


async def test_a_versions_metrics_are_asked_for_by_type_and_checked_on_arrival(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    # Should the server ignore artifactType, what is not a metric is still left out.
    route = http.get("/model_versions/2/artifacts").respond(
        json=page_json([model_artifact_json(), metric_json(), doc_json()])
    )

    metrics = await client.list_version_metrics("2")

    assert route.calls.last.request.url.params["artifactType"] == "metric"
    assert [(type(m), m.id) for m in metrics] == [(MetricArtifactRecord, "5")]


async def test_a_versions_documents_are_listed_by_type(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    route = http.get("/model_versions/2/artifacts").respond(
        json=page_json([doc_json(), metric_json()])
    )

    documents = await client.list_version_doc_artifacts("2")

    assert route.calls.last.request.url.params["artifactType"] == "doc-artifact"
    assert [d.id for d in documents] == ["7"]


async def test_the_existing_listing_still_reads_a_version_of_mixed_artifacts(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    http.get("/model_versions/2/artifacts").respond(
        json=page_json([model_artifact_json(), metric_json(), doc_json()])
    )

    listed = await client.list_version_artifacts("2")

    assert [a.is_model_artifact for a in listed] == [True, False, False]


# Serving environments and InferenceService records ----------------------------------


async def test_a_serving_environment_is_found_by_name_or_is_none(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    http.get("/serving_environment", params={"name": "private-ai-demo"}).respond(
        json=environment_json()
    )
    http.get("/serving_environment", params={"name": "elsewhere"}).respond(
        404, json={"code": "Not Found", "message": "no serving environment found"}
    )

    found = await client.find_serving_environment("private-ai-demo")

    assert found is not None and found.id == "9"
    assert await client.find_serving_environment("elsewhere") is None


async def test_a_serving_environment_name_already_taken_is_a_conflict(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    route = http.post("/serving_environments").respond(
        409, json={"code": "Conflict", "message": "already exists"}
    )

    with pytest.raises(RegistryConflict):
        await client.create_serving_environment("private-ai-demo")

    assert sent(route) == {"name": "private-ai-demo"}


async def test_a_record_is_found_by_name_within_its_environment(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    route = http.get("/inference_service").respond(json=record_json())

    record = await client.find_inference_service_record("mistral-24b-quantized", "9")

    assert dict(route.calls.last.request.url.params) == {
        "name": "mistral-24b-quantized",
        "parentResourceId": "9",
    }
    assert record is not None
    assert (record.model_version_id, record.desired_state) == ("2", DesiredState.DEPLOYED)


async def test_an_unknown_record_name_is_none(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    http.get("/inference_service").respond(404, json={"code": "Not Found", "message": "none"})

    assert await client.find_inference_service_record("isvc/uid", "9") is None


async def test_a_name_with_path_characters_travels_escaped_in_the_query(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    # The upstream controller names records `<isvc name>/<isvc uid>`.
    route = http.get("/inference_service").respond(json=record_json(name="m/u&x=1"))

    await client.find_inference_service_record("m/u&x=1", "9")

    request = route.calls.last.request
    assert request.url.path.endswith("/inference_service")
    assert request.url.params["name"] == "m/u&x=1"


async def test_a_record_is_read_by_id(client: RegistryClient, http: respx.MockRouter) -> None:
    http.get("/inference_services/10").respond(json=record_json(desiredState="UNDEPLOYED"))

    record = await client.get_inference_service_record("10")

    assert record.desired_state is DesiredState.UNDEPLOYED


async def test_a_record_is_created_with_its_version_and_not_retried_when_in_doubt(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    route = http.post("/inference_services").respond(500)

    with pytest.raises(RegistryUnavailable):
        await client.create_inference_service_record(
            name="mistral-24b-quantized",
            serving_environment_id="9",
            registered_model_id="1",
            model_version_id="2",
            runtime="vllm",
        )

    assert route.call_count == 1
    assert sent(route) == {
        "name": "mistral-24b-quantized",
        "servingEnvironmentId": "9",
        "registeredModelId": "1",
        "modelVersionId": "2",
        "runtime": "vllm",
    }


async def test_a_record_name_taken_in_the_environment_is_a_conflict_a_caller_can_tell(
    client: RegistryClient, http: respx.MockRouter
) -> None:
    http.post("/inference_services").respond(
        409, json={"code": "Conflict", "message": "inference service with name 9:x exists"}
    )

    with pytest.raises(RegistryConflict) as caught:
        await client.create_inference_service_record(
            name="x", serving_environment_id="9", registered_model_id="1", model_version_id="2"
        )

    assert isinstance(caught.value, RegistryRejected)
    assert (caught.value.status, caught.value.code) == (409, "Conflict")


@pytest.mark.parametrize(
    ("changes", "body"),
    [
        ({"model_version_id": "6"}, {"modelVersionId": "6"}),
        ({"desired_state": DesiredState.UNDEPLOYED}, {"desiredState": "UNDEPLOYED"}),
        (
            {"model_version_id": "6", "desired_state": DesiredState.DEPLOYED},
            {"modelVersionId": "6", "desiredState": "DEPLOYED"},
        ),
    ],
    ids=["repoint", "undeploy", "both"],
)
async def test_a_record_is_repointed_or_marked_with_a_patch(
    client: RegistryClient, http: respx.MockRouter, changes: dict[str, Any], body: dict[str, str]
) -> None:
    route = http.patch("/inference_services/10").respond(json=record_json())

    await client.update_inference_service_record("10", **changes)

    assert sent(route) == body


async def test_a_record_patch_with_nothing_to_change_is_refused(client: RegistryClient) -> None:
    with pytest.raises(ValueError, match="something to change"):
        await client.update_inference_service_record("10")

    assert client.request_count == 0


@pytest.mark.parametrize("bad_id", ["", "10/../1", "-1", "1 0", "\u0661\u0660"])
async def test_no_unchecked_id_reaches_a_path_or_a_body(
    client: RegistryClient, http: respx.MockRouter, bad_id: str
) -> None:
    calls = [
        client.upsert_metric(bad_id, name="m", value=1.0),
        client.create_doc_artifact(bad_id, name="d", uri="s3://x"),
        client.update_doc_artifact(bad_id, uri="s3://x"),
        client.list_version_metrics(bad_id),
        client.get_inference_service_record(bad_id),
        client.find_inference_service_record("x", bad_id),
        client.update_inference_service_record(bad_id, desired_state=DesiredState.UNDEPLOYED),
        client.update_inference_service_record("10", model_version_id=bad_id),
        client.create_inference_service_record(
            name="x", serving_environment_id="9", registered_model_id=bad_id, model_version_id="2"
        ),
        client.create_inference_service_record(
            name="x", serving_environment_id="9", registered_model_id="1", model_version_id=bad_id
        ),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="decimal"):
            await call

    assert client.request_count == 0
