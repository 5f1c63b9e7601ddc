"""How one request reaches the Model Registry: `RegistryTransport`, safe on Kopf's event loop.

What it promises:
- TLS is verified (against `ca_file` when given); a bearer token is read from a file and
  re-read when the file changes; every request has explicit timeouts.
- Transient failures (connection refused or reset, timeouts, 5xx, 429) are retried with
  capped exponential backoff and jitter, honouring `Retry-After`; other 4xx never are.
  A create (POST) is only retried when the server certainly did not act on it.
- Failures surface as a few exception types (`registry_sync.registry.errors`) whose
  messages name the request and the status, never the token.
- Every HTTP attempt is counted and reported to observers (metrics, tests).
- Each request (all its attempts and the waits between them) has a deadline; each answer
  is read and judged within `AnswerLimits` (`registry_sync.registry.answers`).

Which requests there are is `registry_sync.registry.client`'s business.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from registry_sync.certificates.trust import is_certificate_failure
from registry_sync.registry.answers import (
    AnswerLimits,
    TokenRefused,
    Transient,
    answer_value,
    read_body,
    scrub,
)
from registry_sync.registry.bearer_token import BearerTokenFile, may_carry_a_token
from registry_sync.registry.errors import (
    RegistryProtocolError,
    RegistryTLSError,
    RegistryUnavailable,
)
from registry_sync.registry.models import API_PREFIX

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=15.0, write=10.0, pool=10.0)
DEFAULT_DEADLINE_S = 25.0
"""Seconds one request may take, every attempt and backoff included. A registry that
accepts connections and never answers, or trickles its answer, is given up on by then."""


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


class RegistryTransport:
    """JSON exchanges with one registry's API root: `exchange` sends one request, retried
    and bounded as the module says, and returns the decoded JSON of its 2xx answer.

    `transport` is httpx's (tests give an `httpx.MockTransport`).
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
        max_connections: int = 10,
        observers: tuple[RequestObserver, ...] = (),
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        deadline_s: float | None = DEFAULT_DEADLINE_S,
        limits: AnswerLimits | None = None,
    ) -> None:
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

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def display_url(self) -> str:
        """The API root as errors name it: no user info, query or fragment."""
        return self._display_root

    def display(self, path: str) -> str:
        """The URL of `path` as errors name it."""
        return self._display_root + path

    def add_observer(self, observer: RequestObserver) -> None:
        """Call `observer` after every HTTP attempt (retries included)."""
        self._observers.append(observer)

    async def exchange(
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
            url = self.display(path)
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
            except Transient as transient:
                if attempt >= self._retry.attempts:
                    raise transient.final from None
                delay = self._retry.delay_before_retry(attempt, transient.retry_after_s, self._rng)
                ends = deadline.when()
                if ends is not None and asyncio.get_running_loop().time() + delay >= ends:
                    # Waiting would only end in the deadline: say what the server said.
                    raise transient.final from None
                await self._sleep(delay)
            except TokenRefused as refused:
                # A rotated token may have been written since it was read: one more try.
                if token_retried or self._token is None:
                    raise refused.final from None
                url = self.display(path)
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
        url = self.display(path)
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
                body = await read_body(response, self.limits)
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
                f"({scrub(_reason(error), token)})",
                method=method,
                url=url,
            ) from None
        self._observe(method, url, attempt, response.status_code, None, started)
        return answer_value(method, url, response, body, attempt, idempotent, token, self.limits)

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
        reason = scrub(_reason(error), token)
        if is_certificate_failure(error):
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
        return Transient(final) if idempotent or never_sent else final


def _reason(error: BaseException) -> str:
    return str(error) or type(error).__name__
