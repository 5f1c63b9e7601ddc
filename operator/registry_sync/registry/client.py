"""The Model Registry REST API (v1alpha3), endpoint by endpoint: `RegistryClient`.

Reads, lists and the writes a registering pipeline makes, each validated against the
model the API promises. Lists are paged through `nextPageToken` with an explicit
`pageSize`, and a listing is refused as a `RegistryProtocolError` past `AnswerLimits`
(items per page, pages, entities, page-token length).

How a request travels (TLS, token, retries, deadlines, bounded answers, observers) is
`registry_sync.registry.transport`'s business.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from registry_sync.registry.answers import AnswerLimits, ModelT, parsed
from registry_sync.registry.errors import RegistryNotFound, RegistryProtocolError
from registry_sync.registry.models import (
    DOC_ARTIFACT_TYPE,
    METRIC_TYPE,
    MODEL_ARTIFACT_TYPE,
    ArtifactRecord,
    DesiredState,
    DocArtifactRecord,
    EntityState,
    InferenceServiceRecord,
    MetadataValue,
    MetricArtifactRecord,
    ModelVersionRecord,
    Page,
    RegisteredModelRecord,
    ServingEnvironmentRecord,
    VersionArtifact,
    custom_properties_json,
)
from registry_sync.registry.transport import (
    DEFAULT_DEADLINE_S,
    DEFAULT_TIMEOUT,
    RegistryTransport,
    RequestObserver,
    RetryPolicy,
)

DEFAULT_PAGE_SIZE = 100

PageT = TypeVar("PageT", bound=Page[Any])
TypedArtifactT = TypeVar("TypedArtifactT", MetricArtifactRecord, DocArtifactRecord)

RecordT = TypeVar(
    "RecordT",
    RegisteredModelRecord,
    ModelVersionRecord,
    ArtifactRecord,
    ServingEnvironmentRecord,
    InferenceServiceRecord,
)


class OrderBy(StrEnum):
    CREATE_TIME = "CREATE_TIME"
    LAST_UPDATE_TIME = "LAST_UPDATE_TIME"
    ID = "ID"


class SortOrder(StrEnum):
    ASC = "ASC"
    DESC = "DESC"


def _checked_id(kind: str, value: str) -> str:
    if not (isinstance(value, str) and value.isascii() and value.isdigit()):
        raise ValueError(f"{kind} id must be a decimal string such as '4', got {value!r}")
    return value


class RegistryClient:
    """The Model Registry REST API, async. Use as `async with RegistryClient(url) as client`.

    Every option but `page_size` is the transport's (`RegistryTransport`).
    """

    def __init__(
        self,
        url: str,
        *,
        token_file: Path | str | None = None,
        token_audience: str | None = None,
        ca_file: Path | str | None = None,
        verify_tls: bool = True,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        max_connections: int = 10,
        observers: tuple[RequestObserver, ...] = (),
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        deadline_s: float | None = DEFAULT_DEADLINE_S,
        limits: AnswerLimits | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        self._transport = RegistryTransport(
            url,
            token_file=token_file,
            token_audience=token_audience,
            ca_file=ca_file,
            verify_tls=verify_tls,
            timeout=timeout,
            retry=retry,
            max_connections=max_connections,
            observers=observers,
            transport=transport,
            sleep=sleep,
            rng=rng,
            deadline_s=deadline_s,
            limits=limits,
        )
        self.page_size = page_size
        self.limits = self._transport.limits

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._transport.aclose()

    @property
    def api_url(self) -> str:
        return self._transport.api_url

    @property
    def deadline_s(self) -> float | None:
        return self._transport.deadline_s

    @property
    def request_count(self) -> int:
        """HTTP attempts made so far, retries included."""
        return self._transport.request_count

    @property
    def display_url(self) -> str:
        """The API root as errors name it: no user info, query or fragment."""
        return self._transport.display_url

    def add_observer(self, observer: RequestObserver) -> None:
        """Call `observer` after every HTTP attempt (retries included)."""
        self._transport.add_observer(observer)

    # Reads ---------------------------------------------------------------------------

    async def get_registered_model(self, model_id: str) -> RegisteredModelRecord:
        path = f"/registered_models/{_checked_id('registered model', model_id)}"
        return await self._get_one(path, RegisteredModelRecord)

    async def get_model_version(self, version_id: str) -> ModelVersionRecord:
        path = f"/model_versions/{_checked_id('model version', version_id)}"
        return await self._get_one(path, ModelVersionRecord)

    async def get_model_artifact(self, artifact_id: str) -> ArtifactRecord:
        path = f"/model_artifacts/{_checked_id('model artifact', artifact_id)}"
        return await self._get_one(path, ArtifactRecord)

    async def find_registered_model(self, name: str) -> RegisteredModelRecord | None:
        """The registered model called `name`, or None when there is none."""
        try:
            return await self._get_one(
                "/registered_model", RegisteredModelRecord, params={"name": name}
            )
        except RegistryNotFound:
            return None

    async def find_model_version(
        self, name: str, registered_model_id: str
    ) -> ModelVersionRecord | None:
        """The version called `name` of one registered model, or None when there is none."""
        params = {
            "name": name,
            "parentResourceId": _checked_id("registered model", registered_model_id),
        }
        try:
            return await self._get_one("/model_version", ModelVersionRecord, params=params)
        except RegistryNotFound:
            return None

    def registered_model_pages(
        self,
        *,
        order_by: OrderBy | None = None,
        sort_order: SortOrder | None = None,
        page_size: int | None = None,
    ) -> AsyncGenerator[Page[RegisteredModelRecord], None]:
        return self._pages(
            "/registered_models", RegisteredModelRecord, order_by, sort_order, page_size
        )

    def model_version_pages(
        self,
        *,
        order_by: OrderBy | None = None,
        sort_order: SortOrder | None = None,
        page_size: int | None = None,
    ) -> AsyncGenerator[Page[ModelVersionRecord], None]:
        return self._pages("/model_versions", ModelVersionRecord, order_by, sort_order, page_size)

    def model_artifact_pages(
        self,
        *,
        order_by: OrderBy | None = None,
        sort_order: SortOrder | None = None,
        page_size: int | None = None,
    ) -> AsyncGenerator[Page[ArtifactRecord], None]:
        """Every model artifact (never filtered server-side: the real server ignores filters)."""
        return self._pages("/model_artifacts", ArtifactRecord, order_by, sort_order, page_size)

    def version_artifact_pages(
        self,
        version_id: str,
        *,
        order_by: OrderBy | None = None,
        sort_order: SortOrder | None = None,
        page_size: int | None = None,
    ) -> AsyncGenerator[Page[ArtifactRecord], None]:
        """The artifacts of one version, of every type (check `is_model_artifact`)."""
        path = f"/model_versions/{_checked_id('model version', version_id)}/artifacts"
        return self._pages(path, ArtifactRecord, order_by, sort_order, page_size)

    def serving_environment_pages(
        self, *, page_size: int | None = None
    ) -> AsyncGenerator[Page[ServingEnvironmentRecord], None]:
        return self._pages("/serving_environments", ServingEnvironmentRecord, None, None, page_size)

    def inference_service_pages(
        self, serving_environment_id: str, *, page_size: int | None = None
    ) -> AsyncGenerator[Page[InferenceServiceRecord], None]:
        """The InferenceService records of one serving environment."""
        environment = _checked_id("serving environment", serving_environment_id)
        path = f"/serving_environments/{environment}/inference_services"
        return self._pages(path, InferenceServiceRecord, None, None, page_size)

    async def list_version_metrics(self, version_id: str) -> list[MetricArtifactRecord]:
        """The metric artifacts of one version (at most one per name)."""
        return await self._version_artifacts_of_type(version_id, METRIC_TYPE, MetricArtifactRecord)

    async def list_version_doc_artifacts(self, version_id: str) -> list[DocArtifactRecord]:
        """The document artifacts of one version."""
        return await self._version_artifacts_of_type(
            version_id, DOC_ARTIFACT_TYPE, DocArtifactRecord
        )

    async def find_serving_environment(self, name: str) -> ServingEnvironmentRecord | None:
        """The serving environment called `name` (a namespace), or None when there is none."""
        try:
            return await self._get_one(
                "/serving_environment", ServingEnvironmentRecord, params={"name": name}
            )
        except RegistryNotFound:
            return None

    async def get_inference_service_record(self, record_id: str) -> InferenceServiceRecord:
        path = f"/inference_services/{_checked_id('inference service', record_id)}"
        return await self._get_one(path, InferenceServiceRecord)

    async def find_inference_service_record(
        self, name: str, serving_environment_id: str
    ) -> InferenceServiceRecord | None:
        """The InferenceService record called `name` in one serving environment, or None."""
        params = {
            "name": name,
            "parentResourceId": _checked_id("serving environment", serving_environment_id),
        }
        try:
            return await self._get_one("/inference_service", InferenceServiceRecord, params=params)
        except RegistryNotFound:
            return None

    async def list_registered_models(self) -> list[RegisteredModelRecord]:
        return [item async for page in self.registered_model_pages() for item in page.items]

    async def list_model_versions(self) -> list[ModelVersionRecord]:
        return [item async for page in self.model_version_pages() for item in page.items]

    async def list_model_artifacts(self) -> list[ArtifactRecord]:
        return [item async for page in self.model_artifact_pages() for item in page.items]

    async def list_version_artifacts(self, version_id: str) -> list[ArtifactRecord]:
        pages = self.version_artifact_pages(version_id)
        return [item async for page in pages for item in page.items]

    # Writes (what a registering pipeline does) ----------------------------------------

    async def create_registered_model(
        self,
        name: str,
        *,
        description: str | None = None,
        owner: str | None = None,
        custom_properties: Mapping[str, MetadataValue] | None = None,
    ) -> RegisteredModelRecord:
        """Create a registered model. A name already taken raises `RegistryConflict` (409)."""
        body = _body(
            name=name,
            description=description,
            owner=owner,
            customProperties=_properties(custom_properties),
        )
        return await self._write(
            "POST", "/registered_models", body, RegisteredModelRecord, idempotent=False
        )

    async def create_model_version(
        self,
        registered_model_id: str,
        name: str,
        *,
        author: str | None = None,
        description: str | None = None,
        custom_properties: Mapping[str, MetadataValue] | None = None,
    ) -> ModelVersionRecord:
        body = _body(
            name=name,
            registeredModelId=_checked_id("registered model", registered_model_id),
            author=author,
            description=description,
            customProperties=_properties(custom_properties),
        )
        return await self._write(
            "POST", "/model_versions", body, ModelVersionRecord, idempotent=False
        )

    async def create_model_artifact(
        self,
        model_version_id: str,
        *,
        name: str,
        uri: str,
        model_format_name: str | None = None,
        model_format_version: str | None = None,
        description: str | None = None,
        custom_properties: Mapping[str, MetadataValue] | None = None,
    ) -> ArtifactRecord:
        """Create a model artifact as part of one model version."""
        path = f"/model_versions/{_checked_id('model version', model_version_id)}/artifacts"
        body = _body(
            artifactType=MODEL_ARTIFACT_TYPE,
            name=name,
            uri=uri,
            modelFormatName=model_format_name,
            modelFormatVersion=model_format_version,
            description=description,
            customProperties=_properties(custom_properties),
        )
        return await self._write("POST", path, body, ArtifactRecord, idempotent=False)

    async def set_registered_model_state(
        self, model_id: str, state: EntityState
    ) -> RegisteredModelRecord:
        path = f"/registered_models/{_checked_id('registered model', model_id)}"
        return await self._write("PATCH", path, {"state": state.value}, RegisteredModelRecord)

    async def set_model_version_state(
        self, version_id: str, state: EntityState
    ) -> ModelVersionRecord:
        path = f"/model_versions/{_checked_id('model version', version_id)}"
        return await self._write("PATCH", path, {"state": state.value}, ModelVersionRecord)

    async def update_model_artifact(
        self,
        artifact_id: str,
        *,
        uri: str | None = None,
        custom_properties: Mapping[str, MetadataValue] | None = None,
    ) -> ArtifactRecord:
        path = f"/model_artifacts/{_checked_id('model artifact', artifact_id)}"
        body = _body(
            artifactType=MODEL_ARTIFACT_TYPE,
            uri=uri,
            customProperties=_properties(custom_properties),
        )
        return await self._write("PATCH", path, body, ArtifactRecord)

    # Writes (what the publisher does) ---------------------------------------------------

    async def upsert_metric(
        self,
        version_id: str,
        *,
        name: str,
        value: float,
        timestamp_ms: int | None = None,
        step: int | None = None,
        custom_properties: Mapping[str, MetadataValue] | None = None,
    ) -> MetricArtifactRecord:
        """Set the metric `name` of one version to `value` (the registry answers 200).

        The registry keeps one metric per name and version: a second call with the same
        name changes that artifact; fields not given keep their earlier values. `step` is
        optional to the server, but the official Python client cannot read a metric
        without one.
        """
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"metric {name!r}: value must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"metric {name!r}: value must be finite (JSON has no {value})")
        if timestamp_ms is not None and (
            isinstance(timestamp_ms, bool) or not isinstance(timestamp_ms, int) or timestamp_ms < 0
        ):
            raise ValueError(
                f"metric {name!r}: timestamp_ms must be milliseconds since the epoch, "
                f"got {timestamp_ms!r}"
            )
        if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
            raise ValueError(f"metric {name!r}: step must be an integer, got {step!r}")
        path = f"/model_versions/{_checked_id('model version', version_id)}/artifacts"
        body = _body(
            artifactType=METRIC_TYPE,
            name=name,
            value=float(value),
            timestamp=None if timestamp_ms is None else str(timestamp_ms),
            step=step,
            customProperties=_properties(custom_properties),
        )
        # Retried like a PATCH: the registry upserts a metric by name within the version,
        # so sending the same post twice leaves the same single artifact with this value.
        return await self._write("POST", path, body, MetricArtifactRecord, idempotent=True)

    async def create_doc_artifact(
        self,
        version_id: str,
        *,
        name: str,
        uri: str | None = None,
        description: str | None = None,
        custom_properties: Mapping[str, MetadataValue] | None = None,
    ) -> DocArtifactRecord:
        """Attach a new document artifact to one version (201). Not retried once sent:
        a repeat could leave two documents.

        `uri` may be left out when the document is its properties (the spec allows an
        empty one; the recordings only show a document with a URI).
        """
        path = f"/model_versions/{_checked_id('model version', version_id)}/artifacts"
        body = _body(
            artifactType=DOC_ARTIFACT_TYPE,
            name=name,
            uri=uri,
            description=description,
            customProperties=_properties(custom_properties),
        )
        return await self._write("POST", path, body, DocArtifactRecord, idempotent=False)

    async def update_doc_artifact(
        self,
        artifact_id: str,
        *,
        uri: str | None = None,
        description: str | None = None,
        custom_properties: Mapping[str, MetadataValue] | None = None,
    ) -> DocArtifactRecord:
        """Change a document artifact (`PATCH /artifacts/{id}`); given custom properties
        replace the old ones as a whole. In the spec; not in the real server's recordings."""
        body = _body(
            artifactType=DOC_ARTIFACT_TYPE,
            uri=uri,
            description=description,
            customProperties=_properties(custom_properties),
        )
        if len(body) == 1:
            raise ValueError("update_doc_artifact needs something to change")
        path = f"/artifacts/{_checked_id('artifact', artifact_id)}"
        return await self._write("PATCH", path, body, DocArtifactRecord)

    # Writes (what the record keeper does) ------------------------------------------------

    async def create_serving_environment(
        self, name: str, *, description: str | None = None
    ) -> ServingEnvironmentRecord:
        """Create a serving environment. A name already taken raises `RegistryConflict`."""
        body = _body(name=name, description=description)
        return await self._write(
            "POST", "/serving_environments", body, ServingEnvironmentRecord, idempotent=False
        )

    async def create_inference_service_record(
        self,
        *,
        name: str,
        serving_environment_id: str,
        registered_model_id: str,
        model_version_id: str,
        runtime: str | None = None,
        custom_properties: Mapping[str, MetadataValue] | None = None,
    ) -> InferenceServiceRecord:
        """Create an InferenceService record (DEPLOYED) pointing at one version.

        The version is required: a record without one silently follows the model's newest
        version. A name already used in the environment raises `RegistryConflict`.
        """
        body = _body(
            name=name,
            servingEnvironmentId=_checked_id("serving environment", serving_environment_id),
            registeredModelId=_checked_id("registered model", registered_model_id),
            modelVersionId=_checked_id("model version", model_version_id),
            runtime=runtime,
            customProperties=_properties(custom_properties),
        )
        return await self._write(
            "POST", "/inference_services", body, InferenceServiceRecord, idempotent=False
        )

    async def update_inference_service_record(
        self,
        record_id: str,
        *,
        model_version_id: str | None = None,
        desired_state: DesiredState | None = None,
        custom_properties: Mapping[str, MetadataValue] | None = None,
    ) -> InferenceServiceRecord:
        """Point a record at another version of its model, or mark it (UN)DEPLOYED.

        A record cannot move to another model (the registry refuses it with a 400).
        `custom_properties` replace the record's as a whole: send the ones to keep too.
        """
        body = _body(
            modelVersionId=None
            if model_version_id is None
            else _checked_id("model version", model_version_id),
            desiredState=None if desired_state is None else DesiredState(desired_state).value,
            customProperties=_properties(custom_properties),
        )
        if not body:
            raise ValueError("update_inference_service_record needs something to change")
        path = f"/inference_services/{_checked_id('inference service', record_id)}"
        return await self._write("PATCH", path, body, InferenceServiceRecord)

    # The exchange ----------------------------------------------------------------------

    async def _get_one(
        self, path: str, model: type[ModelT], params: Mapping[str, str] | None = None
    ) -> ModelT:
        body = await self._transport.exchange("GET", path, params=params)
        return parsed(model, body, "GET", self._transport.display(path))

    async def _write(
        self,
        method: str,
        path: str,
        body: dict[str, Any],
        model: type[ModelT],
        *,
        idempotent: bool = True,
    ) -> ModelT:
        answer = await self._transport.exchange(method, path, json_body=body, idempotent=idempotent)
        return parsed(model, answer, method, self._transport.display(path))

    async def _pages(
        self,
        path: str,
        record: type[RecordT],
        order_by: OrderBy | None,
        sort_order: SortOrder | None,
        page_size: int | None,
    ) -> AsyncGenerator[Page[RecordT], None]:
        params: dict[str, str] = {"pageSize": str(page_size or self.page_size)}
        if order_by is not None:
            params["orderBy"] = order_by.value
        if sort_order is not None:
            params["sortOrder"] = sort_order.value
        page_model: type[Page[RecordT]] = Page[record]  # type: ignore[valid-type]
        async for page in self._paged(path, page_model, params):
            yield page

    async def _version_artifacts_of_type(
        self, version_id: str, artifact_type: str, record: type[TypedArtifactT]
    ) -> list[TypedArtifactT]:
        path = f"/model_versions/{_checked_id('model version', version_id)}/artifacts"
        params = {"pageSize": str(self.page_size), "artifactType": artifact_type}
        page_model: type[Page[VersionArtifact]] = Page[VersionArtifact]
        # Each item is parsed by its own artifactType and kept only if of the asked one:
        # the filter is the server's, and other endpoints are known to ignore theirs.
        return [
            item
            async for page in self._paged(path, page_model, params)
            for item in page.items
            if isinstance(item, record)
        ]

    async def _paged(
        self, path: str, page_model: type[PageT], params: dict[str, str]
    ) -> AsyncGenerator[PageT, None]:
        """Every page of a listing, following `nextPageToken` within `AnswerLimits`."""
        params = dict(params)
        limits = self.limits
        url = self._transport.display(path)
        tokens_seen: set[str] = set()
        pages = listed = 0
        while True:
            body = await self._transport.exchange("GET", path, params=params)
            self._check_page_items(body, url, params["pageSize"])
            page = parsed(page_model, body, "GET", url)
            del body  # not kept alive while the consumer works on the page
            pages += 1
            listed += len(page.items)
            token = page.next_page_token
            more = bool(token and page.items)
            if listed > limits.max_listed_items or (more and pages >= limits.max_pages):
                raise RegistryProtocolError(
                    f"GET {url}: the listing goes on past {limits.max_pages} pages or "
                    f"{limits.max_listed_items} entities ({pages} pages, {listed} entities "
                    "read); the registry is larger than one read allows, or it pages without "
                    "end (a new nextPageToken every time)",
                    method="GET",
                    url=url,
                )
            yield page
            if not more:
                return
            if len(token) > limits.max_page_token_chars:
                raise RegistryProtocolError(
                    f"GET {url}: the server sent a nextPageToken of {len(token)} characters "
                    f"(at most {limits.max_page_token_chars} are accepted); a page token is "
                    "an opaque cursor of a few dozen",
                    method="GET",
                    url=url,
                )
            if token in tokens_seen:
                raise RegistryProtocolError(
                    f"GET {url}: the server sent the same nextPageToken twice; "
                    "paging would never end",
                    method="GET",
                    url=url,
                )
            tokens_seen.add(token)
            params["nextPageToken"] = token

    def _check_page_items(self, body: Any, url: str, page_size: str) -> None:
        # Before validation: validating a million items, or collecting a million errors,
        # costs far more memory than the answer itself.
        items = body.get("items") if isinstance(body, dict) else None
        limit = self.limits.max_page_items
        if isinstance(items, list) and len(items) > limit:
            raise RegistryProtocolError(
                f"GET {url}: a page of {len(items)} items, more than the {limit} accepted "
                f"(pageSize asked for {page_size}); the server ignores pageSize",
                method="GET",
                url=url,
            )


def _body(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def _properties(properties: Mapping[str, MetadataValue] | None) -> dict[str, Any] | None:
    return None if properties is None else custom_properties_json(properties)
