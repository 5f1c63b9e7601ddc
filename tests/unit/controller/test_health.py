"""/readyz: ready only when every check holds, and never again once draining."""

from __future__ import annotations

import httpx

from registry_sync.controller.health import HealthServer, Readiness
from support.operator import free_port


def test_not_ready_before_the_checks_exist() -> None:
    assert Readiness().missing() == ["starting"]


def test_ready_when_every_check_holds_else_names_what_is_missing() -> None:
    loaded = False
    readiness = Readiness({"webhook listening": lambda: True, "snapshot loaded": lambda: loaded})
    assert readiness.missing() == ["snapshot loaded"]
    loaded = True
    assert readiness.missing() == []


def test_draining_is_never_ready() -> None:
    readiness = Readiness({"webhook listening": lambda: True}, draining=True)
    assert readiness.missing() == ["stopping (SIGTERM received)"]


async def test_the_server_answers_200_only_when_ready() -> None:
    readiness = Readiness({"webhook listening": lambda: True})
    server = HealthServer(readiness)
    port = free_port()
    await server.start("127.0.0.1", port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/readyz")).status_code == 200
            assert (await http.get("/healthz")).status_code == 200
            readiness.draining = True
            answer = await http.get("/readyz")
            assert (answer.status_code, "SIGTERM" in answer.text) == (503, True)
            assert (await http.get("/healthz")).status_code == 200
    finally:
        await server.stop()
