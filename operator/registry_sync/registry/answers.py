"""One answer of the Model Registry, read and judged.

- Read as it streams in, never past `AnswerLimits.max_bytes` (an error answer only as far
  as its message needs).
- A 2xx body is decoded as JSON only within the limits on JSON objects and nesting, and
  validated against the model the endpoint promises.
- Any other status becomes the `RegistryError` it means; the transient ones (429, 5xx)
  and a refused token are signalled as `Transient` and `TokenRefused` for the transport
  to retry. No message carries the token, however the server echoes it.
"""

from __future__ import annotations

import email.utils
import json
import time
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from registry_sync.domain.nesting import deeper_than
from registry_sync.registry.errors import (
    RegistryAuthError,
    RegistryConflict,
    RegistryError,
    RegistryNotFound,
    RegistryProtocolError,
    RegistryRejected,
    RegistryUnavailable,
)
from registry_sync.registry.models import ErrorBody

# An error answer is read only this far: its message is all that is used, and it is cut short.
_ERROR_BODY_BYTES = 64 * 1024

ModelT = TypeVar("ModelT", bound=BaseModel)


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


class Transient(Exception):
    """A transient failure that may be retried; `final` is raised when attempts run out."""

    def __init__(self, final: RegistryError, retry_after_s: float | None = None) -> None:
        super().__init__(str(final))
        self.final = final
        self.retry_after_s = retry_after_s


class TokenRefused(Exception):
    """A 401 to a request that carried `token_sent`: worth one retry if the file changed."""

    def __init__(self, final: RegistryAuthError, token_sent: str) -> None:
        super().__init__(str(final))
        self.final = final
        self.token_sent = token_sent


async def read_body(response: httpx.Response, limits: AnswerLimits) -> bytes | None:
    """The body, read as it streams in; None when a 2xx answer is larger than allowed.

    An error answer is read only as far as its message needs.
    """
    success = response.is_success
    limit = limits.max_bytes if success else _ERROR_BODY_BYTES
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


def answer_value(
    method: str,
    url: str,
    response: httpx.Response,
    body: bytes | None,
    attempt: int,
    idempotent: bool,
    token: str | None,
    limits: AnswerLimits,
) -> Any:
    """The decoded JSON of a 2xx answer; otherwise raises what its status means.

    `body` is what `read_body` returned (None: past the byte limit).
    """
    status = response.status_code
    if body is None:
        limit = limits.max_bytes
        raise RegistryProtocolError(
            f"{method} {url}: answered {status} with more than "
            f"{limit} bytes ({limit / 2**20:g} MiB), the most one answer may hold; a page "
            "of the Model Registry is tens of KiB (is the URL the registry's REST API?)",
            method=method,
            url=url,
            status=status,
        )
    if 200 <= status < 300:
        try:
            return _decode_json(body, limits)
        except _Unreadable as unreadable:
            raise RegistryProtocolError(
                f"{method} {url}: answered {status} with a body {unreadable}",
                method=method,
                url=url,
                status=status,
            ) from None
        except ValueError:
            content_type = scrub(response.headers.get("content-type", "none"), token)
            raise RegistryProtocolError(
                f"{method} {url}: answered {status} with a body that is not JSON "
                f"(content-type {content_type!r})",
                method=method,
                url=url,
                status=status,
            ) from None
    error = _error_body(body, limits)
    said = scrub(error.message or error.code or response.reason_phrase or "", token)
    # Every part of an answer may echo the token: status line, headers, body.
    reason = scrub(response.reason_phrase, token)
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
            raise TokenRefused(refused, token)
        raise refused
    if 300 <= status < 400:
        location = scrub(response.headers.get("location", "nowhere"), token)
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
        raise RegistryNotFound(f"{method} {url}: {detail}", method=method, url=url, status=status)
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
            raise Transient(final, _retry_after_seconds(response))
        raise final
    rejected = RegistryConflict if status == 409 else RegistryRejected
    raise rejected(
        f"{method} {url}: {detail}",
        method=method,
        url=url,
        status=status,
        code=None if error.code is None else scrub(error.code, token),
        server_message=said or None,
    )


def parsed(model: type[ModelT], body: Any, method: str, url: str) -> ModelT:
    """`body` as `model`, or a `RegistryProtocolError` naming where it does not fit."""
    try:
        return model.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(body)"
        raise RegistryProtocolError(
            f"{method} {url}: the response does not have the shape the "
            f"Model Registry API promises ({error.error_count()} problem(s); first at "
            f"{where}: {first['msg']})",
            method=method,
            url=url,
        ) from None


def scrub(text: str, token: str | None) -> str:
    """A server message fit for an error: short, and without the token should it echo it."""
    if token:
        text = text.replace(token, "<token>")
    return text if len(text) <= 300 else text[:300] + "…"


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
