"""A fault-injecting HTTP proxy, for testing how clients survive a misbehaving server.

`FaultProxy(upstream)` listens on 127.0.0.1 (a free port) and forwards every request to
`upstream`, unless a fault is queued: `inject(...)` queues faults that the next requests
(optionally only those whose path contains some text) consume, one fault per request.
Every request is recorded, so a test can count what the client really sent.

    async with FaultProxy(dev_registry.url) as proxy:
        proxy.inject(ServerError(500))
        client = RegistryClient(proxy.url)

`start_outage(fault)` makes every later request fail with `fault` (queued faults first)
until `end_outage()`: a registry that stays broken for a while. Some faults are hostile
answers rather than failures (`Trickle`, `Nested`, `Huge`, `EndlessPages`): what a
compromised or broken registry, or something else at its address, could send.
`fault_proxy_in_thread` serves a proxy from its own event loop in a background thread, for
synchronous tests whose client is another process (the operator).

The faults are real HTTP behaviour on a real socket, not a mocked client.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import ssl
import struct
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiohttp import web

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding"}
)


@dataclass(frozen=True)
class ServerError:
    """Answer with this 5xx status and a registry-style error body."""

    status: int = 500


@dataclass(frozen=True)
class TooManyRequests:
    """Answer 429 with `Retry-After: seconds`."""

    retry_after_s: int = 1


@dataclass(frozen=True)
class Unauthorized:
    """Answer 401, as an authenticating proxy in front of the registry would."""


@dataclass(frozen=True)
class GarbageBody:
    """Answer 200 with a body that is not JSON."""

    body: bytes = b"<html><body>502 Bad Gateway</body></html>"


@dataclass(frozen=True)
class WrongTypes:
    """Forward the request, then turn every id in the JSON answer into a number."""


@dataclass(frozen=True)
class ConnectionReset:
    """Reset the TCP connection (RST) instead of answering."""


@dataclass(frozen=True)
class Hang:
    """Accept the request and answer nothing for `seconds` (longer than a client's timeout)."""

    seconds: float = 30.0


@dataclass(frozen=True)
class EchoAuthorization:
    """Answer `status` with an error body that quotes the request's Authorization header,
    as a careless server or gateway does: whatever the client reports must not repeat it."""

    status: int = 401


@dataclass(frozen=True)
class Trickle:
    """Forward the request, then send the answer one byte every `interval_s`, with its real
    Content-Length: bytes keep coming, so no per-read timeout ever fires."""

    interval_s: float = 0.5


@dataclass(frozen=True)
class Nested:
    """Answer `status` with a JSON body nested `depth` levels deep (`[[[...]]]`)."""

    depth: int = 100_000
    status: int = 200


@dataclass(frozen=True)
class Huge:
    """Answer 200 with a well-formed page `mib` MiB long (a padding field no client reads),
    generated while it is sent; `declare_length` announces the size in Content-Length,
    else the body is chunked."""

    mib: int = 400
    declare_length: bool = False


@dataclass(frozen=True)
class EndlessPages:
    """Answer every listing with `items_per_page` entities never seen before and a fresh
    `nextPageToken`: a listing that never ends (each entity is a valid model, version and
    artifact, updated ever earlier, so an ordered listing stays in order)."""

    items_per_page: int = 1


Fault = (
    ServerError
    | TooManyRequests
    | Unauthorized
    | GarbageBody
    | WrongTypes
    | ConnectionReset
    | Hang
    | EchoAuthorization
    | Trickle
    | Nested
    | Huge
    | EndlessPages
)

_MIB = 1024 * 1024
# Far in the future (2096), so that endless entities are newer than any watermark.
_ENDLESS_EPOCH_MS = 4_000_000_000_000


def _endless_entity(number: int) -> dict[str, str]:
    stamp = str(_ENDLESS_EPOCH_MS - number)
    return {
        "id": str(number),
        "name": f"endless-{number}",
        "registeredModelId": "1",
        "artifactType": "model-artifact",
        "uri": f"oci://quay.io/endless/model:{number}",
        "state": "LIVE",
        "createTimeSinceEpoch": stamp,
        "lastUpdateTimeSinceEpoch": stamp,
    }


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    query: dict[str, str]
    authorization: str | None
    fault: Fault | None
    received_at: float = field(default_factory=time.monotonic)  # when it arrived (monotonic)


def _ids_as_numbers(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: int(item)
            if key == "id" and isinstance(item, str) and item.isdigit()
            else _ids_as_numbers(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_ids_as_numbers(item) for item in value]
    return value


class FaultProxy:
    """An HTTP proxy to `upstream` that misbehaves on request; use as an async context manager."""

    def __init__(
        self,
        upstream: str,
        *,
        server_context: ssl.SSLContext | None = None,
        upstream_context: ssl.SSLContext | None = None,
    ) -> None:
        """`server_context` serves HTTPS instead of HTTP; `upstream_context` is the TLS
        trust for an `https://` upstream (e.g. a registry with its own CA)."""
        self.upstream = upstream.rstrip("/")
        self._server_context = server_context
        self._upstream_context = upstream_context
        self.url = ""
        self.seen: list[SeenRequest] = []
        self._faults: deque[tuple[Fault, str | None]] = deque()
        self._outage: Fault | None = None
        # Faults may be queued from another thread than the proxy's (`fault_proxy_in_thread`).
        self._faults_lock = threading.Lock()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._stopping = asyncio.Event()
        self._endless_numbers = itertools.count(1_000_000)

    def inject(self, *faults: Fault, path_contains: str | None = None) -> None:
        """Queue `faults`: each is used up by one of the next requests whose path contains
        `path_contains` (by any request when None)."""
        with self._faults_lock:
            self._faults.extend((fault, path_contains) for fault in faults)

    def start_outage(self, fault: Fault) -> None:
        """Answer every request with `fault` (after the queued faults) until `end_outage`."""
        with self._faults_lock:
            self._outage = fault

    def end_outage(self) -> None:
        with self._faults_lock:
            self._outage = None

    @property
    def pending_faults(self) -> int:
        return len(self._faults)

    async def __aenter__(self) -> Self:
        connector = (
            aiohttp.TCPConnector(ssl=self._upstream_context)
            if self._upstream_context is not None
            else None
        )
        self._session = aiohttp.ClientSession(auto_decompress=False, connector=connector)
        application = web.Application()
        application.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(application, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._server_context)
        await site.start()
        port = self._runner.addresses[0][1]
        scheme = "https" if self._server_context is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def _next_fault(self, path: str) -> Fault | None:
        with self._faults_lock:
            for index, (fault, path_contains) in enumerate(self._faults):
                if path_contains is None or path_contains in path:
                    del self._faults[index]
                    return fault
            return self._outage

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        fault = self._next_fault(request.path)
        self.seen.append(
            SeenRequest(
                request.method,
                request.path,
                dict(request.query),
                request.headers.get("Authorization"),
                fault,
            )
        )
        if isinstance(fault, ServerError):
            body = {"code": "Internal Server Error", "message": "injected fault"}
            return web.json_response(body, status=fault.status)
        if isinstance(fault, TooManyRequests):
            body = {"code": "Too Many Requests", "message": "injected fault"}
            headers = {"Retry-After": str(fault.retry_after_s)}
            return web.json_response(body, status=429, headers=headers)
        if isinstance(fault, Unauthorized):
            return web.json_response({"code": "Unauthorized", "message": "injected"}, status=401)
        if isinstance(fault, EchoAuthorization):
            said = f"credentials {request.headers.get('Authorization')!r} rejected"
            body = {"code": "Unauthorized" if fault.status == 401 else "Error", "message": said}
            return web.json_response(body, status=fault.status)
        if isinstance(fault, GarbageBody):
            return web.Response(body=fault.body, status=200, content_type="application/json")
        if isinstance(fault, ConnectionReset):
            return self._reset(request)
        if isinstance(fault, Hang):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), fault.seconds)
            return self._reset(request)
        if isinstance(fault, Nested):
            body = b"[" * fault.depth + b"]" * fault.depth
            return web.Response(body=body, status=fault.status, content_type="application/json")
        if isinstance(fault, Huge):
            return await self._huge(request, fault)
        if isinstance(fault, EndlessPages):
            items = [
                _endless_entity(next(self._endless_numbers)) for _ in range(fault.items_per_page)
            ]
            token = f"endless-{items[-1]['id']}"
            page = {"items": items, "nextPageToken": token, "size": len(items)}
            return web.json_response(page)
        if isinstance(fault, Trickle):
            return await self._trickle(request, fault)
        return await self._forward(request, rewrite=isinstance(fault, WrongTypes))

    async def _huge(self, request: web.Request, fault: Huge) -> web.StreamResponse:
        head = b'{"items": [], "nextPageToken": "", "padding": "'
        tail = b'"}'
        padding = fault.mib * _MIB - len(head) - len(tail)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        if fault.declare_length:
            response.content_length = len(head) + padding + len(tail)
        else:
            response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = b"x" * _MIB
        try:
            await response.write(head)
            for start in range(0, padding, _MIB):
                if self._stopping.is_set():
                    return response
                await response.write(chunk[: min(_MIB, padding - start)])
            await response.write(tail)
            await response.write_eof()
        except (ConnectionResetError, RuntimeError):
            pass  # the client stopped reading: what a client with a size limit does
        return response

    async def _trickle(self, request: web.Request, fault: Trickle) -> web.StreamResponse:
        upstream = await self._forward(request, rewrite=False)
        payload = upstream.body if isinstance(upstream, web.Response) else None
        payload = payload if isinstance(payload, bytes) else b""
        response = web.StreamResponse(status=upstream.status)
        response.content_type = upstream.content_type
        response.content_length = len(payload)
        await response.prepare(request)
        try:
            for index in range(len(payload)):
                await response.write(payload[index : index + 1])
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), fault.interval_s)
                if self._stopping.is_set():
                    return response
            await response.write_eof()
        except (ConnectionResetError, RuntimeError):
            pass  # the client gave up waiting
        return response

    @staticmethod
    def _reset(request: web.Request) -> web.StreamResponse:
        transport = request.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                # Linger 0: close() sends RST, not FIN.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.close()
        raise ConnectionResetError("injected connection reset")

    async def _forward(self, request: web.Request, *, rewrite: bool) -> web.StreamResponse:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        body = await request.read()
        async with self._session.request(
            request.method,
            self.upstream + request.path_qs,
            headers=headers,
            data=body or None,
            allow_redirects=False,
        ) as answer:
            payload = await answer.read()
            answer_headers = {
                k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP
            }
        if rewrite:
            payload = json.dumps(_ids_as_numbers(json.loads(payload))).encode()
        return web.Response(body=payload, status=answer.status, headers=answer_headers)


@contextlib.contextmanager
def fault_proxy_in_thread(
    upstream: str,
    *,
    server_context: ssl.SSLContext | None = None,
    upstream_context: ssl.SSLContext | None = None,
) -> Iterator[FaultProxy]:
    """A `FaultProxy` to `upstream` served by its own event loop in a background thread.

    For synchronous tests whose client is another process: the proxy keeps answering while
    the test blocks waiting for something. `inject`/`start_outage` may be called from the
    test's thread.
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fault-proxy", daemon=True)
    thread.start()
    proxy = FaultProxy(upstream, server_context=server_context, upstream_context=upstream_context)
    try:
        asyncio.run_coroutine_threadsafe(proxy.__aenter__(), loop).result(30)
        yield proxy
    finally:
        with contextlib.suppress(Exception):
            closing = proxy.__aexit__(None, None, None)
            asyncio.run_coroutine_threadsafe(closing, loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()
