"""A fault-injecting HTTP proxy, for testing how clients survive a misbehaving server.

`FaultProxy(upstream)` listens on 127.0.0.1 (a free port) and forwards every request to
`upstream`, unless a fault is queued: `inject(...)` queues faults that the next requests
(optionally only those whose path contains some text) consume, one fault per request.
Every request is recorded, so a test can count what the client really sent.

    async with FaultProxy(dev_registry.url) as proxy:
        proxy.inject(ServerError(500))
        client = RegistryClient(proxy.url)

`start_outage(fault)` makes every later request fail with `fault` (queued faults first)
until `end_outage()`: a registry that stays broken for a while. `fault_proxy_in_thread`
serves a proxy from its own event loop in a background thread, for synchronous tests whose
client is another process (the operator).

The faults are real HTTP behaviour on a real socket, not a mocked client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
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


Fault = (
    ServerError
    | TooManyRequests
    | Unauthorized
    | GarbageBody
    | WrongTypes
    | ConnectionReset
    | Hang
    | EchoAuthorization
)


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    query: dict[str, str]
    authorization: str | None
    fault: Fault | None


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

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.url = ""
        self.seen: list[SeenRequest] = []
        self._faults: deque[tuple[Fault, str | None]] = deque()
        self._outage: Fault | None = None
        # Faults may be queued from another thread than the proxy's (`fault_proxy_in_thread`).
        self._faults_lock = threading.Lock()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._stopping = asyncio.Event()

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
        self._session = aiohttp.ClientSession(auto_decompress=False)
        application = web.Application()
        application.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(application, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
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
        return await self._forward(request, rewrite=isinstance(fault, WrongTypes))

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
def fault_proxy_in_thread(upstream: str) -> Iterator[FaultProxy]:
    """A `FaultProxy` to `upstream` served by its own event loop in a background thread.

    For synchronous tests whose client is another process: the proxy keeps answering while
    the test blocks waiting for something. `inject`/`start_outage` may be called from the
    test's thread.
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fault-proxy", daemon=True)
    thread.start()
    proxy = FaultProxy(upstream)
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
