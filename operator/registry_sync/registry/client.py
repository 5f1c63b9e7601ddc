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
    MODEL_ARTIFACT_TYPE,
    ArtifactRecord,
    EntityState,
    InferenceServiceRecord,
    MetadataValue,
    ModelVersionRecord,
    Page,
    RegisteredModelRecord,
    ServingEnvironmentRecord,
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
        """Create a registered model. A name already taken raises `RegistryRejected` (409)."""
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
