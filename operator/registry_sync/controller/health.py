"""The health port: `/healthz` (the process runs) and `/readyz` (send it admission reviews).

`/readyz` answers 200 only when the webhook listens, the first registry snapshot is loaded
and the InferenceServices present at start are in the book, and never again once the
replica has been told to stop (SIGTERM): a Service (or the readiness probe behind it) then
stops sending it reviews while it still answers those already on their way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp.web

log = logging.getLogger(__name__)


@dataclass
class Readiness:
    """What `/readyz` asks: each named check must hold, and the replica must not be
    draining. Checks are added as the parts they ask about come to exist."""

    checks: dict[str, Callable[[], bool]] = field(default_factory=dict)
    draining: bool = False

    def missing(self) -> list[str]:
        """What is not ready yet (nothing: ready)."""
        if self.draining:
            return ["stopping (SIGTERM received)"]
        if not self.checks:
            return ["starting"]
        return [name for name, check in self.checks.items() if not check()]


def health_address(host: str, port: int) -> tuple[str, int] | None:
    """Where the health endpoints listen; None when the port is 0 (none)."""
    return (host, port) if port else None


class HealthServer:
    """`/healthz` and `/readyz` on one port (aiohttp, on the operator's event loop)."""

    def __init__(self, readiness: Readiness) -> None:
        self.readiness = readiness
        self._runner: aiohttp.web.AppRunner | None = None

    async def start(self, host: str, port: int) -> None:
        app = aiohttp.web.Application()
        app.add_routes(
            [aiohttp.web.get("/healthz", self._healthz), aiohttp.web.get("/readyz", self._readyz)]
        )
        self._runner = aiohttp.web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await aiohttp.web.TCPSite(self._runner, host, port).start()
        log.info("health endpoints /healthz and /readyz on %s:%d", host, port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, _: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(text="ok\n")

    async def _readyz(self, _: aiohttp.web.Request) -> aiohttp.web.Response:
        missing = self.readiness.missing()
        if missing:
            return aiohttp.web.Response(status=503, text="not ready: " + "; ".join(missing) + "\n")
        return aiohttp.web.Response(text="ready\n")
