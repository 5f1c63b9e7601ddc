"""An async client for the Model Registry REST API (v1alpha3), safe on Kopf's event loop.

What it promises:
- TLS is verified (against `ca_file` when given); a bearer token is read from a file and
  re-read when the file changes; every request has explicit timeouts.
- Transient failures (connection refused or reset, timeouts, 5xx, 429) are retried with
  capped exponential backoff and jitter, honouring `Retry-After`; other 4xx never are.
  A create (POST) is only retried when the server certainly did not act on it.
- Failures surface as a few exception types (`registry_sync.registry.errors`) whose
  messages name the request and the status, never the token.
- Lists are paged through `nextPageToken` with an explicit `pageSize`.
- Every HTTP attempt is counted and reported to observers (metrics, tests).
- Whatever the server sends, a call ends and its memory is bounded: each request (all its
  attempts and the waits between them) has a deadline, and an answer is read as a stream
  and refused past `AnswerLimits` (bytes, JSON objects, nesting, items, pages) as a
  `RegistryProtocolError`, before it is parsed further.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import ssl
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ValidationError

from registry_sync.domain.nesting import deeper_than
from registry_sync.registry.bearer_token import BearerTokenFile, may_carry_a_token
from registry_sync.registry.errors import (
    RegistryAuthError,
    RegistryError,
    RegistryNotFound,
    RegistryProtocolError,
    RegistryRejected,
    RegistryTLSError,
    RegistryUnavailable,
)
from registry_sync.registry.models import (
    API_PREFIX,
    MODEL_ARTIFACT_TYPE,
    ArtifactRecord,
    EntityState,
    ErrorBody,
    InferenceServiceRecord,
    MetadataValue,
    ModelVersionRecord,
    Page,
    RegisteredModelRecord,
    ServingEnvironmentRecord,
    custom_properties_json,
)

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=15.0, write=10.0, pool=10.0)
DEFAULT_PAGE_SIZE = 100
DEFAULT_DEADLINE_S = 25.0
"""Seconds one request may take, every attempt and backoff included. A registry that
accepts connections and never answers, or trickles its answer, is given up on by then."""
# An error answer is read only this far: its message is all that is used, and it is cut short.
_ERROR_BODY_BYTES = 64 * 1024

ModelT = TypeVar("ModelT", bound=BaseModel)
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


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a transient failure is retried.

    `attempts` counts the first try. The n-th retry waits `base_delay_s * 2**(n-1)`,
    capped at `max_delay_s`, with equal jitter (between half and all of it); a
    `Retry-After` from the server is honoured up to `max_retry_after_s`.
    """

    attempts: int = 4
    base_delay_s: float = 0.2
    max_delay_s: float = 5.0
    max_retry_after_s: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts must be at least 1, got {self.attempts}")
        if self.base_delay_s < 0 or self.max_delay_s < 0 or self.max_retry_after_s < 0:
            raise ValueError("RetryPolicy delays must not be negative")

    def delay_before_retry(
        self, retry_number: int, retry_after_s: float | None, rng: random.Random
    ) -> float:
        """Seconds to wait before retry number `retry_number` (1 for the first retry)."""
        backoff = min(self.max_delay_s, self.base_delay_s * 2.0 ** (retry_number - 1))
        jittered = backoff / 2 + rng.uniform(0, backoff / 2)
        if retry_after_s is None:
            return jittered
        return max(jittered, min(retry_after_s, self.max_retry_after_s))


@dataclass(frozen=True, slots=True)
class AnswerLimits:
    """How much one answer, and one listing, may hold before it is refused.

    They bound the memory a call can take whatever the server sends; the real registry
    stays far below them (a page of 100 entities is tens of KiB, nested about six levels).
    Each is checked before the work it protects: bytes while the answer streams in, JSON
    objects and arrays before decoding (each costs some 70 bytes decoded, however short in
    the body: `{},` is 3), nesting after, items before a page is validated, pages and
    items of a listing as it goes on.
    """

    max_bytes: int = 8 * 1024 * 1024
    max_containers: int = 200_000
    max_depth: int = 32
    max_page_items: int = 10_000
    max_pages: int = 1_000
    max_listed_items: int = 100_000
    max_page_token_chars: int = 4096

    def __post_init__(self) -> None:
        smallest = min(
            self.max_bytes,
            self.max_containers,
            self.max_depth,
            self.max_page_items,
            self.max_pages,
            self.max_listed_items,
            self.max_page_token_chars,
        )
        if smallest < 1:
            raise ValueError("AnswerLimits must all be at least 1")


@dataclass(frozen=True, slots=True)
class RequestEvent:
    """One HTTP attempt: `status` when the server answered, else `failure` says what broke."""

    method: str
    url: str
    attempt: int
    status: int | None
    failure: str | None
    elapsed_s: float


RequestObserver = Callable[[RequestEvent], None]


def api_url_of(url: str) -> str:
    """The API root for a registry URL given with or without the `/api/...` prefix."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{url!r} is not an http(s) URL of the Model Registry, "
            "e.g. https://registry.example.svc:8443"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"{url!r}: the registry URL must not carry a query or fragment")
    path = parts.path.rstrip("/")
    if not path.endswith(API_PREFIX):
        path += API_PREFIX
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _checked_id(kind: str, value: str) -> str:
    if not (isinstance(value, str) and value.isascii() and value.isdigit()):
        raise ValueError(f"{kind} id must be a decimal string such as '4', got {value!r}")
    return value


def _retry_after_seconds(response: httpx.Response) -> float | None:
    header = response.headers.get("Retry-After")
    if header is None:
        return None
    header = header.strip()
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _is_certificate_failure(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(error)


class _Retry(Exception):
    """A transient failure that may be retried; `final` is raised when attempts run out."""

    def __init__(self, final: RegistryError, retry_after_s: float | None = None) -> None:
        super().__init__(str(final))
        self.final = final
        self.retry_after_s = retry_after_s


class _TokenRefused(Exception):
    """A 401 to a request that carried `token_sent`: worth one retry if the file changed."""

    def __init__(self, final: RegistryAuthError, token_sent: str) -> None:
        super().__init__(str(final))
        self.final = final
        self.token_sent = token_sent


class RegistryClient:
    """The Model Registry REST API, async. Use as `async with RegistryClient(url) as client`."""

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
        if deadline_s is not None and deadline_s <= 0:
            raise ValueError(f"deadline_s must be positive (or None for none), got {deadline_s}")
        self.deadline_s = deadline_s
        self.limits = limits or AnswerLimits()
        self.api_url = api_url_of(url)
        if token_file is not None and not may_carry_a_token(self.api_url):
            # The last line behind the settings check: never a token in clear on the network.
            raise ValueError(
                f"refusing to send the bearer token from {token_file} to "
                f"{_without_credentials(self.api_url)} over plain HTTP; use the registry's "
                "https:// URL"
            )
        self._display_root = _without_credentials(self.api_url)
        self._token = (
            BearerTokenFile(token_file, audience=token_audience) if token_file is not None else None
        )
        self._retry = retry or RetryPolicy()
        self.page_size = page_size
        self._observers: list[RequestObserver] = list(observers)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.request_count = 0
        # Loading the system CA store costs ~0.1 s: only for a registry served over HTTPS.
        uses_tls = self.api_url.startswith("https:")
        self._http = httpx.AsyncClient(
            verify=self._tls_context(ca_file) if verify_tls and uses_tls else False,
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections),
            transport=transport,
            follow_redirects=False,
        )

    @staticmethod
    def _tls_context(ca_file: Path | str | None) -> ssl.SSLContext:
        if ca_file is None:
            return ssl.create_default_context()
        try:
            return ssl.create_default_context(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as error:
            raise ValueError(
                f"cannot load the registry CA bundle {ca_file}: {error}; "
                "give a PEM file with the CA that signed the registry's certificate"
            ) from error

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
        await self._http.aclose()

    @property
    def display_url(self) -> str:
        """The API root as errors name it: no user info, query or fragment."""
        return self._display_root

    def add_observer(self, observer: RequestObserver) -> None:
        """Call `observer` after every HTTP attempt (retries included)."""
        self._observers.append(observer)

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
        body = await self._exchange("GET", path, params=params)
        return self._parse(model, body, "GET", path)

    async def _write(
        self,
        method: str,
        path: str,
        body: dict[str, Any],
        model: type[ModelT],
        *,
        idempotent: bool = True,
    ) -> ModelT:
        answer = await self._exchange(method, path, json_body=body, idempotent=idempotent)
        return self._parse(model, answer, method, path)

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
        url = self._display(path)
        tokens_seen: set[str] = set()
        pages = listed = 0
        while True:
            body = await self._exchange("GET", path, params=params)
            self._check_page_items(body, url, params["pageSize"])
            page = self._parse(page_model, body, "GET", path)
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

    def _display(self, path: str) -> str:
        return self._display_root + path

    def _parse(self, model: type[ModelT], body: Any, method: str, path: str) -> ModelT:
        try:
            return model.model_validate(body)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "(body)"
            raise RegistryProtocolError(
                f"{method} {self._display(path)}: the response does not have the shape the "
                f"Model Registry API promises ({error.error_count()} problem(s); first at "
                f"{where}: {first['msg']})",
                method=method,
                url=self._display(path),
            ) from None

    async def _exchange(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: dict[str, Any] | None = None,
        idempotent: bool = True,
    ) -> Any:
        """The decoded JSON of a 2xx answer, after retrying transient failures.

        Everything, retries and backoff included, ends by the deadline.
        """
        attempts = [0]
        try:
            async with asyncio.timeout(self.deadline_s) as deadline:
                return await self._attempts(
                    method, path, params, json_body, idempotent, deadline, attempts
                )
        except TimeoutError:
            if not deadline.expired():
                raise
            url = self._display(path)
            raise RegistryUnavailable(
                f"{method} {url}: no complete answer within {self.deadline_s:g} s "
                f"({attempts[0]} attempt(s)); the registry hangs, answers too slowly, "
                "or trickles its answer",
                method=method,
                url=url,
            ) from None

    async def _attempts(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        json_body: dict[str, Any] | None,
        idempotent: bool,
        deadline: asyncio.Timeout,
        attempts: list[int],
    ) -> Any:
        token_retried = False
        attempt = 0
        while True:
            attempt += 1
            attempts[0] = attempt
            try:
                return await self._attempt(
                    method, path, params, json_body, attempt, idempotent=idempotent
                )
            except _Retry as transient:
                if attempt >= self._retry.attempts:
                    raise transient.final from None
                delay = self._retry.delay_before_retry(attempt, transient.retry_after_s, self._rng)
                ends = deadline.when()
                if ends is not None and asyncio.get_running_loop().time() + delay >= ends:
                    # Waiting would only end in the deadline: say what the server said.
                    raise transient.final from None
                await self._sleep(delay)
            except _TokenRefused as refused:
                # A rotated token may have been written since it was read: one more try.
                if token_retried or self._token is None:
                    raise refused.final from None
                url = self._display(path)
                if self._token.reload(method=method, url=url) == refused.token_sent:
                    raise refused.final from None
                token_retried = True

    async def _attempt(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        json_body: dict[str, Any] | None,
        attempt: int,
        *,
        idempotent: bool,
    ) -> Any:
        url = self._display(path)
        headers = {"Accept": "application/json"}
        token = self._token.current(method=method, url=url) if self._token else None
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        started = time.monotonic()
        self.request_count += 1
        request = self._http.build_request(
            method, self.api_url + path, params=params, json=json_body, headers=headers
        )
        try:
            response = await self._http.send(request, stream=True)
            try:
                body = await self._read_body(response)
            finally:
                await response.aclose()
        except asyncio.CancelledError:
            self._observe(method, url, attempt, None, "Cancelled", started)
            raise
        except httpx.TransportError as error:
            self._observe(method, url, attempt, None, type(error).__name__, started)
            failure = self._transport_failure(method, url, error, attempt, idempotent, token)
            raise failure from None
        except httpx.DecodingError as error:
            self._observe(method, url, attempt, None, type(error).__name__, started)
            raise RegistryProtocolError(
                f"{method} {url}: the response body cannot be decoded "
                f"({_scrub(_reason(error), token)})",
                method=method,
                url=url,
            ) from None
        self._observe(method, url, attempt, response.status_code, None, started)
        if body is None:
            limit = self.limits.max_bytes
            raise RegistryProtocolError(
                f"{method} {url}: answered {response.status_code} with more than "
                f"{limit} bytes ({limit / 2**20:g} MiB), the most one answer may hold; a page "
                "of the Model Registry is tens of KiB (is the URL the registry's REST API?)",
                method=method,
                url=url,
                status=response.status_code,
            )
        return self._answer(method, url, response, body, attempt, idempotent, token)

    async def _read_body(self, response: httpx.Response) -> bytes | None:
        """The body, read as it streams in; None when a 2xx answer is larger than allowed.

        An error answer is read only as far as its message needs.
        """
        success = response.is_success
        limit = self.limits.max_bytes if success else _ERROR_BODY_BYTES
        declared = response.headers.get("content-length", "")
        if success and declared.isdigit() and int(declared) > limit:
            return None
        received = bytearray()
        # Counted after decompression: a small compressed answer may unpack to anything.
        async for chunk in response.aiter_bytes():
            received += chunk
            if len(received) > limit:
                if success:
                    return None
                del received[limit:]
                break
        return bytes(received)

    def _observe(
        self,
        method: str,
        url: str,
        attempt: int,
        status: int | None,
        failure: str | None,
        started: float,
    ) -> None:
        event = RequestEvent(method, url, attempt, status, failure, time.monotonic() - started)
        for observer in self._observers:
            observer(event)

    def _transport_failure(
        self,
        method: str,
        url: str,
        error: httpx.TransportError,
        attempt: int,
        idempotent: bool,
        token: str | None,
    ) -> Exception:
        reason = _scrub(_reason(error), token)
        if _is_certificate_failure(error):
            return RegistryTLSError(
                f"{method} {url}: the registry's TLS certificate is not trusted "
                f"({reason}); give the CA bundle that signed it (ca_file / --ca-file)",
                method=method,
                url=url,
            )
        kind = {
            httpx.ConnectTimeout: "connecting timed out",
            httpx.ReadTimeout: "no answer within the read timeout",
            httpx.WriteTimeout: "sending the request timed out",
            httpx.PoolTimeout: "no free connection within the pool timeout",
            httpx.ConnectError: "cannot connect",
        }.get(type(error), "the connection failed")
        final = RegistryUnavailable(
            f"{method} {url}: {kind} ({reason}) after {attempt} attempt(s); "
            "the registry is down or unreachable",
            method=method,
            url=url,
        )
        # A create the server never received can be sent again; one it may have received can't.
        never_sent = isinstance(
            error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout
        )
        return _Retry(final) if idempotent or never_sent else final

    def _answer(
        self,
        method: str,
        url: str,
        response: httpx.Response,
        body: bytes,
        attempt: int,
        idempotent: bool,
        token: str | None,
    ) -> Any:
        status = response.status_code
        if 200 <= status < 300:
            try:
                return _decode_json(body, self.limits)
            except _Unreadable as unreadable:
                raise RegistryProtocolError(
                    f"{method} {url}: answered {status} with a body {unreadable}",
                    method=method,
                    url=url,
                    status=status,
                ) from None
            except ValueError:
                content_type = _scrub(response.headers.get("content-type", "none"), token)
                raise RegistryProtocolError(
                    f"{method} {url}: answered {status} with a body that is not JSON "
                    f"(content-type {content_type!r})",
                    method=method,
                    url=url,
                    status=status,
                ) from None
        error = _error_body(body, self.limits)
        said = _scrub(error.message or error.code or response.reason_phrase or "", token)
        # Every part of an answer may echo the token: status line, headers, body.
        reason = _scrub(response.reason_phrase, token)
        detail = f"{status} {reason}".strip() + (f": {said}" if said else "")
        if status in (401, 403):
            refused = RegistryAuthError(
                f"{method} {url}: {detail}; the registry refused the request's credentials "
                "(check the token file and that its service account may use the registry)",
                method=method,
                url=url,
                status=status,
            )
            if status == 401 and token is not None:
                raise _TokenRefused(refused, token)
            raise refused
        if 300 <= status < 400:
            location = _scrub(response.headers.get("location", "nowhere"), token)
            raise RegistryProtocolError(
                f"{method} {url}: redirected ({status}) to "
                f"{location!r}; the URL should point at the "
                "registry's REST API itself (an authenticating proxy redirects to a login "
                "page when it gets no valid token)",
                method=method,
                url=url,
                status=status,
            )
        if status == 404:
            raise RegistryNotFound(
                f"{method} {url}: {detail}", method=method, url=url, status=status
            )
        if status == 429 or status >= 500:
            final = RegistryUnavailable(
                f"{method} {url}: {detail} after {attempt} attempt(s); the registry is "
                "overloaded or failing, try again later",
                method=method,
                url=url,
                status=status,
            )
            # 429 and 503 say the request was not acted on; other 5xx leave a create in doubt.
            if idempotent or status in (429, 503):
                raise _Retry(final, _retry_after_seconds(response))
            raise final
        raise RegistryRejected(
            f"{method} {url}: {detail}",
            method=method,
            url=url,
            status=status,
            code=None if error.code is None else _scrub(error.code, token),
            server_message=said or None,
        )


class _Unreadable(ValueError):
    """JSON, perhaps, but past a limit: the message completes "a body ..."."""


def _decode_json(body: bytes, limits: AnswerLimits) -> Any:
    """The JSON value of `body`, within `limits`; ValueError when there is none."""
    # Counting brackets inside strings too only ever overestimates.
    containers = body.count(b"{") + body.count(b"[")
    if containers > limits.max_containers:
        raise _Unreadable(
            f"of more than {limits.max_containers} JSON objects and arrays, more than any "
            "answer of the Model Registry holds"
        )
    try:
        value = json.loads(body)
    except RecursionError:
        pass  # deeper than Python's own limit: reported as too deep below
    else:
        if not deeper_than(value, limits.max_depth):
            return value
    raise _Unreadable(
        f"nested more than {limits.max_depth} levels deep (an answer of the Model Registry "
        "nests about six)"
    )


def _error_body(body: bytes, limits: AnswerLimits) -> ErrorBody:
    try:
        return ErrorBody.model_validate(_decode_json(body, limits))
    except ValueError:  # not JSON, past a limit, or not of the error's shape
        return ErrorBody()


def _scrub(text: str, token: str | None) -> str:
    """A server message fit for an error: short, and without the token should it echo it."""
    if token:
        text = text.replace(token, "<token>")
    return text if len(text) <= 300 else text[:300] + "…"


def _reason(error: BaseException) -> str:
    return str(error) or type(error).__name__


def _body(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def _properties(properties: Mapping[str, MetadataValue] | None) -> dict[str, Any] | None:
    return None if properties is None else custom_properties_json(properties)
