"""Asking a predictor which names its vLLM serves: `ServedNameProbe`, safe on Kopf's loop.

The URL comes from an InferenceService's status (`domain.served_names.models_url`), which
another controller writes and anyone who can edit the object may forge. So the probe:
- sends a bearer token only from `--predictor-token-file`, never the operator's own
  service-account token, and never over plain HTTP except to loopback;
- follows no redirect (a 3xx is reported, the token stays with the host it was sent to);
- verifies TLS against the system CAs plus `--predictor-ca-file`;
- bounds every request (connect 2 s, read 3 s, 5 s in all) and the body (1 MiB);
- caches each URL's result (60 s; a failure 15 s, so a predictor coming up is seen soon)
  and shares one request among concurrent callers of a URL, with a bound on how many
  predictors are asked at once: the cost follows the number of predictors, not of events.

It never raises for anything the predictor does: every failure is a `ProbeFailed` value
whose reason a person can act on.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final, Self
from urllib.parse import urlsplit

import httpx

from registry_sync.certificates.trust import client_context, is_certificate_failure
from registry_sync.domain.escaping import escaped
from registry_sync.domain.served_names import (
    ProbeFailed,
    ProbeProblem,
    ProbeResult,
    parse_models_answer,
    shown_url,
)
from registry_sync.registry.answers import AnswerLimits, read_body
from registry_sync.registry.bearer_token import BearerTokenFile, may_carry_a_token
from registry_sync.registry.errors import RegistryAuthError

DEFAULT_TIMEOUT: Final = httpx.Timeout(connect=2.0, read=3.0, write=2.0, pool=2.0)
DEFAULT_DEADLINE_S: Final = 5.0
MAX_BODY_BYTES: Final = 1024 * 1024
_MAX_REASON = 300


@dataclass(frozen=True, slots=True)
class _Cached:
    result: ProbeResult
    expires_at: float


class ServedNameProbe:
    """`served_models(url)` asks `GET url` (a `/v1/models` URL) and returns what vLLM
    serves, or why that is not known; results are cached per URL (see the module).

    `clock` (monotonic seconds) is injected for tests of the cache; `transport` is httpx's
    (tests give a mock). Close it with `aclose()` or use it as an async context manager.
    """

    def __init__(
        self,
        *,
        ca_file: Path | str | None = None,
        token_file: Path | str | None = None,
        ttl_s: float = 60.0,
        failure_ttl_s: float = 15.0,
        max_concurrent: int = 8,
        max_cached: int = 4096,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        deadline_s: float = DEFAULT_DEADLINE_S,
        max_body_bytes: int = MAX_BODY_BYTES,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if min(ttl_s, failure_ttl_s) < 0 or min(max_concurrent, max_cached, max_body_bytes) < 1:
            raise ValueError("TTLs must not be negative; limits must be at least 1")
        if deadline_s <= 0:
            raise ValueError(f"deadline_s must be positive, got {deadline_s}")
        self.ca_file = Path(ca_file) if ca_file is not None else None
        self._token = BearerTokenFile(token_file) if token_file is not None else None
        self._ttl_s = ttl_s
        self._failure_ttl_s = failure_ttl_s
        self._max_cached = max_cached
        self._deadline_s = deadline_s
        self._limits = AnswerLimits(max_bytes=max_body_bytes)
        self._clock = clock
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._in_flight: dict[str, asyncio.Task[ProbeResult]] = {}
        self._slots = asyncio.Semaphore(max_concurrent)
        self.request_count = 0
        self._http = httpx.AsyncClient(
            verify=client_context(self.ca_file, "--predictor-ca-file"),
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_concurrent),
            transport=transport,
            follow_redirects=False,
            # Never the operator's own proxy settings or netrc credentials for a URL that
            # an object's status chose.
            trust_env=False,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the requests still running and close the connections."""
        pending = list(self._in_flight.values())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self._http.aclose()

    async def served_models(self, url: str) -> ProbeResult:
        """What vLLM at `url` serves (`ServedModels`), or why it is not known
        (`ProbeFailed`). A result younger than its TTL is answered from the cache; callers
        asking for the same URL at once share one request. Never raises for anything the
        predictor does (cancellation of the caller still propagates)."""
        cached = self._cache.get(url)
        if cached is not None and self._clock() < cached.expires_at:
            return cached.result
        task = self._in_flight.get(url)
        if task is None:
            task = asyncio.create_task(self._probe_and_remember(url))
            self._in_flight[url] = task
            task.add_done_callback(lambda done: self._done(url, done))
        # One caller giving up must not cancel the request the others wait for.
        return await asyncio.shield(task)

    def _done(self, url: str, task: asyncio.Task[ProbeResult]) -> None:
        if self._in_flight.get(url) is task:
            del self._in_flight[url]

    def forget(self, url: str) -> None:
        """Drop the cached result of `url` (its InferenceService changed or went away)."""
        self._cache.pop(url, None)

    async def _probe_and_remember(self, url: str) -> ProbeResult:
        async with self._slots:
            result = await self._probe(url)
        ttl = self._failure_ttl_s if isinstance(result, ProbeFailed) else self._ttl_s
        self._cache[url] = _Cached(result, self._clock() + ttl)
        self._cache.move_to_end(url)
        while len(self._cache) > self._max_cached:
            self._cache.popitem(last=False)
        return result

    async def _probe(self, url: str) -> ProbeResult:
        shown = shown_url(url)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return ProbeFailed(ProbeProblem.NO_URL, f"{shown} is not an http(s) URL")
        token: str | None = None
        if self._token is not None:
            if not may_carry_a_token(url):
                return ProbeFailed(
                    ProbeProblem.TOKEN,
                    f"GET {shown}: the predictor token (--predictor-token-file) is never sent "
                    "over plain HTTP to another host; give the predictor an https:// address",
                )
            try:
                token = self._token.current(method="GET", url=shown)
            except RegistryAuthError as error:
                return ProbeFailed(ProbeProblem.TOKEN, f"{error} (--predictor-token-file)")
        try:
            async with asyncio.timeout(self._deadline_s):
                result = await self._exchange(url, shown, token)
                refused = isinstance(result, ProbeFailed) and result.problem in (
                    ProbeProblem.UNAUTHORIZED,
                    ProbeProblem.FORBIDDEN,
                )
                if refused and token is not None:
                    # A rotated token may have been written since it was read: one more try.
                    fresh = self._reloaded_token(shown)
                    if fresh is not None and fresh != token:
                        result = await self._exchange(url, shown, fresh)
                return result
        except TimeoutError:
            return ProbeFailed(
                ProbeProblem.TIMEOUT,
                f"GET {shown}: no complete answer within {self._deadline_s:g} s",
            )

    def _reloaded_token(self, shown: str) -> str | None:
        assert self._token is not None
        try:
            return self._token.reload(method="GET", url=shown)
        except RegistryAuthError:
            return None

    async def _exchange(self, url: str, shown: str, token: str | None) -> ProbeResult:
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        self.request_count += 1
        try:
            response = await self._http.send(
                self._http.build_request("GET", url, headers=headers), stream=True
            )
            try:
                if response.status_code != 200:
                    return _refusal(response, shown, token is not None)
                body = await read_body(response, self._limits)
            finally:
                await response.aclose()
        except httpx.TransportError as error:
            return _transport_failure(error, shown, token)
        except httpx.DecodingError:
            return ProbeFailed(
                ProbeProblem.GARBAGE, f"GET {shown}: the answer cannot be decompressed"
            )
        if body is None:
            return ProbeFailed(
                ProbeProblem.TOO_LARGE,
                f"GET {shown}: the answer is larger than {self._limits.max_bytes} bytes; "
                "vLLM's model list is a few hundred",
            )
        result = parse_models_answer(body)
        if isinstance(result, ProbeFailed):
            return ProbeFailed(result.problem, f"GET {shown}: {result.reason}")
        return result


def _refusal(response: httpx.Response, shown: str, token_sent: bool) -> ProbeFailed:
    status = response.status_code
    if status == 401:
        advice = (
            "it refused the token from --predictor-token-file"
            if token_sent
            else "it wants a token: give one with --predictor-token-file"
        )
        return ProbeFailed(ProbeProblem.UNAUTHORIZED, f"GET {shown}: 401 Unauthorized; {advice}")
    if status == 403:
        return ProbeFailed(
            ProbeProblem.FORBIDDEN,
            f"GET {shown}: 403 Forbidden; the token from --predictor-token-file may not "
            "read this predictor",
        )
    if 300 <= status < 400:
        location = escaped(response.headers.get("location", "")[:_MAX_REASON])
        return ProbeFailed(
            ProbeProblem.REDIRECTED,
            f"GET {shown}: redirected ({status}) to {location or 'nowhere'}; redirects are "
            "not followed (a token must stay with the host it is meant for): use the "
            "predictor's own address",
        )
    if status == 404:
        return ProbeFailed(
            ProbeProblem.HTTP_STATUS,
            f"GET {shown}: 404 Not Found; the predictor does not serve vLLM's OpenAI API "
            "at this address",
        )
    return ProbeFailed(ProbeProblem.HTTP_STATUS, f"GET {shown}: answered HTTP {status}")


def _transport_failure(error: httpx.TransportError, shown: str, token: str | None) -> ProbeFailed:
    reason = str(error) or type(error).__name__
    if token is not None:
        reason = reason.replace(token, "***")
    reason = escaped(reason[:_MAX_REASON])
    if is_certificate_failure(error):
        return ProbeFailed(
            ProbeProblem.TLS,
            f"GET {shown}: the predictor's TLS certificate is not trusted ({reason}); give "
            "the CA that signed it with --predictor-ca-file",
        )
    if isinstance(error, httpx.TimeoutException):
        return ProbeFailed(ProbeProblem.TIMEOUT, f"GET {shown}: timed out ({reason})")
    if isinstance(error, httpx.ProtocolError):
        return ProbeFailed(
            ProbeProblem.UNREACHABLE,
            f"GET {shown}: the connection broke or the answer is not valid HTTP ({reason})",
        )
    return ProbeFailed(
        ProbeProblem.UNREACHABLE,
        f"GET {shown}: cannot reach the predictor ({reason}); is it running?",
    )
