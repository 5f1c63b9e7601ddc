"""Every answer of the stand-in validates against the Model Registry's OpenAPI spec.

Answers come from the replay of the recordings and from a tour of every route the
stand-in serves. The real server departs from its own spec in three recorded ways; the
stand-in copies those, and they are listed in `SPEC_DEVIATIONS` and nowhere else. The
recorded answers themselves are checked too, so a recording outside the spec that the
list misses fails here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.exceptions import OpenAPIError
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.testing import MockRequest, MockResponse
from openapi_schema_validator import OAS30Validator

from contract.exchanges import parametrize_by_exchange
from contract.replay import PATH_ID_SEQUENCE, Outcome, SentRequest
from registry_sync.devregistry.app import API_BASE, build_application
from registry_sync.devregistry.store import RegistryStore
from support.devregistry import start_dev_registry
from support.third_party import require_upstream_file

pytestmark = pytest.mark.upstream

SPEC_SERVER = "http://localhost:8080"  # a server the spec lists; only the path matters


def _is_integer(text: str) -> bool:
    return re.fullmatch(r"[+-]?\d+", text) is not None


def _has_non_numeric_id(request: SentRequest) -> bool:
    segments = request.path.split("/")
    return any(
        segments[i - 1] in PATH_ID_SEQUENCE and not _is_integer(segments[i])
        for i in range(1, len(segments))
    )


@dataclass(frozen=True)
class SpecDeviation:
    """A recorded answer of the real server that its spec does not declare."""

    name: str
    reason: str
    status: int
    applies_to: Callable[[SentRequest], bool]
    # The declared status whose schema the body must still match; None: the Error schema.
    validate_as: int | None


SPEC_DEVIATIONS: tuple[SpecDeviation, ...] = (
    SpecDeviation(
        name="POST /inference_services answers 201",
        reason="the spec declares 200; the real server answers 201 Created "
        "(recordings 'record deployed inference service', 'record without a model version')",
        status=201,
        applies_to=lambda r: r.method == "POST" and r.path == f"{API_BASE}/inference_services",
        validate_as=200,
    ),
    SpecDeviation(
        name="400 for a non-numeric pageSize",
        reason="list endpoints declare no 400; the real server answers 400 Bad Request "
        "(recording 'error: bad pageSize')",
        status=400,
        applies_to=lambda r: not _is_integer(r.query.get("pageSize", "0")),
        validate_as=None,
    ),
    SpecDeviation(
        name="400 for a non-numeric id",
        reason="get-by-id endpoints declare no 400; the real server answers 400 Bad Request "
        "(recording 'error: non-numeric id')",
        status=400,
        applies_to=_has_non_numeric_id,
        validate_as=None,
    ),
)


def _describe(error: Exception) -> str:
    details = getattr(error.__cause__, "schema_errors", None) or ()
    return "; ".join([f"{type(error).__name__}: {error}", *(e.message for e in details)])


class SpecCheck:
    """Validates one answer against the spec, allowing exactly the listed deviations."""

    def __init__(self, openapi: OpenAPI, error_schema: dict[str, Any]) -> None:
        self._openapi = openapi
        self._error_body = OAS30Validator(error_schema)

    def _validate(self, request: SentRequest, status: int, body: Any) -> None:
        self._openapi.validate_response(
            MockRequest(SPEC_SERVER, request.method.lower(), request.path, args=request.query),
            MockResponse(json.dumps(body).encode(), status_code=status),
        )

    def problems(
        self, request: SentRequest, status: int, body: Any
    ) -> tuple[list[str], SpecDeviation | None]:
        """What is wrong with the answer (empty if nothing), and the deviation it relied on."""
        try:
            self._validate(request, status, body)
            return [], None
        except ResponseNotFound as error:
            deviation = next(
                (d for d in SPEC_DEVIATIONS if d.status == status and d.applies_to(request)), None
            )
            if deviation is None:
                return [_describe(error)], None
        except OpenAPIError as error:
            return [_describe(error)], None
        if deviation.validate_as is None:
            return [e.message for e in self._error_body.iter_errors(body)], deviation
        try:
            self._validate(request, deviation.validate_as, body)
        except OpenAPIError as error:
            return [_describe(error)], deviation
        return [], deviation


@pytest.fixture(scope="session")
def spec_check() -> SpecCheck:
    path = require_upstream_file("model-registry/openapi.yaml")
    error_schema = yaml.safe_load(path.read_text(encoding="utf-8"))["components"]["schemas"][
        "Error"
    ]
    return SpecCheck(OpenAPI.from_file_path(str(path)), error_schema)


@dataclass(frozen=True)
class Call:
    """One request of the tour and the stand-in's answer."""

    step: str
    request: SentRequest
    expected_status: int
    status: int
    body: Any


class Tour:
    """Requests against a stand-in, recorded for validation; bodies of answers returned."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client
        self.calls: list[Call] = []

    def __call__(
        self,
        step: str,
        method: str,
        path: str,
        expected_status: int,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
    ) -> Any:
        request = SentRequest(method, API_BASE + path, query or {}, body)
        answer = self._client.request(method, request.path, params=request.query, json=body)
        self.calls.append(Call(step, request, expected_status, answer.status_code, answer.json()))
        return answer.json()


def _tour_every_route(go: Tour) -> None:
    """Create, read, change, find and list through every route the stand-in serves."""
    string_value = {"metadataType": "MetadataStringValue", "string_value": "x"}
    model = go(
        "create a model",
        "POST",
        "/registered_models",
        201,
        body={
            "name": "tour-model",
            "owner": "tour",
            "language": ["en"],
            "customProperties": {"n": {"metadataType": "MetadataIntValue", "int_value": "3"}},
        },
    )["id"]
    go("list models", "GET", "/registered_models", 200, query={"orderBy": "CREATE_TIME"})
    go("get a model", "GET", f"/registered_models/{model}", 200)
    go("archive a model", "PATCH", f"/registered_models/{model}", 200, body={"state": "ARCHIVED"})
    go("find a model", "GET", "/registered_model", 200, query={"name": "tour-model"})
    version = go(
        "create a version",
        "POST",
        "/model_versions",
        201,
        body={"name": "v1", "registeredModelId": model, "customProperties": {"s": string_value}},
    )["id"]
    other = go(
        "create a version under its model",
        "POST",
        f"/registered_models/{model}/versions",
        201,
        body={"name": "v2", "author": "tour"},
    )["id"]
    go("list a model's versions", "GET", f"/registered_models/{model}/versions", 200)
    go("filter versions", "GET", "/model_versions", 200, query={"filterQuery": "s = 'x'"})
    go("get a version", "GET", f"/model_versions/{version}", 200)
    go(
        "mark a version",
        "PATCH",
        f"/model_versions/{version}",
        200,
        body={
            "customProperties": {"ok": {"metadataType": "MetadataBoolValue", "bool_value": True}}
        },
    )
    go(
        "find a version",
        "GET",
        "/model_version",
        200,
        query={"name": "v1", "parentResourceId": model},
    )
    artifact = go(
        "add a model artifact to a version",
        "POST",
        f"/model_versions/{version}/artifacts",
        201,
        body={
            "artifactType": "model-artifact",
            "name": "a1",
            "uri": "oci://q/a:1",
            "state": "LIVE",
        },
    )["id"]
    go(
        "attach an existing artifact to another version",
        "POST",
        f"/model_versions/{other}/artifacts",
        200,
        body={"artifactType": "model-artifact", "id": artifact},
    )
    document = go(
        "add a document to a version",
        "POST",
        f"/model_versions/{version}/artifacts",
        201,
        body={"artifactType": "doc-artifact", "name": "readme", "uri": "https://x/readme"},
    )["id"]
    metric = {
        "artifactType": "metric",
        "name": "ttft_p90",
        "value": 182.5,
        "timestamp": "1764150000000",
        "customProperties": {"run": string_value},
    }
    go(
        "publish a metric on a version",
        "POST",
        f"/model_versions/{version}/artifacts",
        200,
        body=metric,
    )
    go(
        "publish the metric again",
        "POST",
        f"/model_versions/{version}/artifacts",
        200,
        body={"artifactType": "metric", "name": "ttft_p90", "value": 190},
    )
    go("list a version's artifacts", "GET", f"/model_versions/{version}/artifacts", 200)
    go(
        "list a version's metrics",
        "GET",
        f"/model_versions/{version}/artifacts",
        200,
        query={"artifactType": "metric"},
    )
    go("list metrics", "GET", "/artifacts", 200, query={"artifactType": "metric"})
    go(
        "describe a document",
        "PATCH",
        f"/artifacts/{document}",
        200,
        body={"artifactType": "doc-artifact", "description": "the report"},
    )
    loose = go(
        "create a model artifact",
        "POST",
        "/model_artifacts",
        201,
        body={"name": "loose", "uri": "s3://b/k", "modelFormatName": "onnx"},
    )["id"]
    go("page model artifacts", "GET", "/model_artifacts", 200, query={"pageSize": "1"})
    go("get a model artifact", "GET", f"/model_artifacts/{loose}", 200)
    go("move an artifact", "PATCH", f"/model_artifacts/{loose}", 200, body={"uri": "s3://b/k2"})
    go(
        "find a model artifact",
        "GET",
        "/model_artifact",
        200,
        query={"name": "a1", "parentResourceId": version},
    )
    go("filter artifacts", "GET", "/artifacts", 200, query={"filterQuery": "uri LIKE '%q/a%'"})
    go("get an artifact", "GET", f"/artifacts/{document}", 200)
    go(
        "find an artifact",
        "GET",
        "/artifact",
        200,
        query={"name": "readme", "parentResourceId": version},
    )
    environment = go(
        "create a serving environment", "POST", "/serving_environments", 201, body={"name": "ns"}
    )["id"]
    go("list serving environments", "GET", "/serving_environments", 200)
    go("get a serving environment", "GET", f"/serving_environments/{environment}", 200)
    go(
        "describe a serving environment",
        "PATCH",
        f"/serving_environments/{environment}",
        200,
        body={"description": "namespace ns"},
    )
    go("find a serving environment", "GET", "/serving_environment", 200, query={"name": "ns"})
    service = go(
        "record an inference service",
        "POST",
        "/inference_services",
        201,
        body={
            "name": "isvc",
            "registeredModelId": model,
            "servingEnvironmentId": environment,
            "modelVersionId": version,
            "desiredState": "DEPLOYED",
        },
    )["id"]
    go(
        "record an inference service in its environment",
        "POST",
        f"/serving_environments/{environment}/inference_services",
        201,
        body={"name": "isvc2", "registeredModelId": model},
    )
    go(
        "list an environment's inference services",
        "GET",
        f"/serving_environments/{environment}/inference_services",
        200,
    )
    go("list inference services", "GET", "/inference_services", 200)
    go("get an inference service", "GET", f"/inference_services/{service}", 200)
    go(
        "repoint an inference service",
        "PATCH",
        f"/inference_services/{service}",
        200,
        body={"modelVersionId": other},
    )
    go(
        "mark an inference service undeployed",
        "PATCH",
        f"/inference_services/{service}",
        200,
        body={"desiredState": "UNDEPLOYED"},
    )
    go(
        "the version an inference service serves",
        "GET",
        f"/inference_services/{service}/version",
        200,
    )
    go(
        "find an inference service",
        "GET",
        "/inference_service",
        200,
        query={"name": "isvc", "parentResourceId": environment},
    )
    go("unknown model", "GET", "/registered_models/424242", 404)
    go("unknown version to change", "PATCH", "/model_versions/424242", 404, body={})
    go("duplicate model", "POST", "/registered_models", 409, body={"name": "tour-model"})
    go("version without model", "POST", "/model_versions", 422, body={"name": "x"})
    go("unknown field", "POST", "/registered_models", 400, body={"name": "y", "colour": "red"})
    go("bad filter", "GET", "/artifacts", 400, query={"filterQuery": "uri = = 'x'"})
    go("find a version without its model", "GET", "/model_version", 400, query={"name": "v1"})
    go("find an unknown model", "GET", "/registered_model", 404, query={"name": "nope"})
    go(
        "move an inference service to another model",
        "PATCH",
        f"/inference_services/{service}",
        400,
        body={"registeredModelId": model},
    )
    go(
        "a second record of the same name in the environment",
        "POST",
        "/inference_services",
        409,
        body={"name": "isvc", "registeredModelId": model, "servingEnvironmentId": environment},
    )
    go("non-numeric pageSize", "GET", "/model_versions", 400, query={"pageSize": "ten"})
    go("non-numeric id", "GET", "/model_artifacts/abc", 400)


@pytest.fixture(scope="session")
def tour() -> Iterator[list[Call]]:
    """The tour's calls, against a fresh stand-in of its own."""
    with start_dev_registry() as registry, httpx.Client(base_url=registry.url) as client:
        go = Tour(client)
        _tour_every_route(go)
        yield go.calls


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_by_exchange(metafunc)


def test_replayed_answer_is_within_the_spec(
    exchange_index: int, replayed: list[Outcome], spec_check: SpecCheck
) -> None:
    outcome = replayed[exchange_index]

    problems, _ = spec_check.problems(outcome.sent, outcome.status, outcome.body)

    assert not problems, f"{outcome.exchange.label}: " + "\n".join(problems)


def test_the_real_servers_recorded_answer_is_within_the_spec_or_a_listed_deviation(
    exchange_index: int, replayed: list[Outcome], spec_check: SpecCheck
) -> None:
    # Keeps SPEC_DEVIATIONS complete: a new recording the spec does not declare fails here.
    # (A metric POST answered 200 is declared: the upsert path lists both 200 and 201.)
    outcome = replayed[exchange_index]
    exchange = outcome.exchange

    problems, _ = spec_check.problems(outcome.sent, exchange.status, exchange.response)

    assert not problems, f"{exchange.label}: " + "\n".join(problems)


def test_every_answer_of_the_tour_is_within_the_spec(
    tour: list[Call], spec_check: SpecCheck
) -> None:
    failures = []
    for call in tour:
        problems, _ = spec_check.problems(call.request, call.status, call.body)
        if call.status != call.expected_status:
            problems.append(f"status {call.status}, expected {call.expected_status}: {call.body}")
        failures += [
            f"{call.step} ({call.request.method} {call.request.path}): {p}" for p in problems
        ]

    assert not failures, "\n".join(failures)


def test_the_tour_covers_every_served_route(tour: list[Call]) -> None:
    served = {
        (route.method, route.resource.canonical)
        for route in build_application(RegistryStore()).router.routes()
        if route.resource is not None
    }
    patterns = {
        key: re.compile(re.sub(r"\\\{id\\\}", "[^/]+", re.escape(key[1])) + "$") for key in served
    }
    visited = {
        key
        for call in tour
        for key, pattern in patterns.items()
        if key[0] == call.request.method and pattern.match(call.request.path)
    }

    assert served - visited == set()


def test_every_listed_deviation_is_still_observed(
    tour: list[Call], replayed: list[Outcome], spec_check: SpecCheck
) -> None:
    answers = [(c.request, c.status, c.body) for c in tour]
    answers += [(o.sent, o.status, o.body) for o in replayed]
    observed = {spec_check.problems(*answer)[1] for answer in answers}

    assert {d.name for d in SPEC_DEVIATIONS} - {d.name for d in observed if d} == set()
