"""The metrics and health endpoints listen where the settings say (every interface unless
told otherwise, as before)."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from registry_sync.controller.health import health_address
from registry_sync.controller.metrics import OperatorMetrics
from registry_sync.controller.settings import OperatorSettings, load_settings


def settings_with(**given: Any) -> OperatorSettings:
    """`run`'s settings: the given ones, the registry URL it needs, the environment's."""
    return load_settings(registry_url="https://registry.example:8443", **given)


def test_both_endpoints_listen_on_every_interface_unless_told() -> None:
    settings = settings_with()

    assert (settings.metrics_host, settings.health_host) == ("0.0.0.0", "0.0.0.0")
    assert health_address(settings.health_host, settings.health_port) == ("0.0.0.0", 8081)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_the_health_endpoints_are_served_on_the_health_host(host: str) -> None:
    settings = settings_with(health_host=host, health_port=9090)
    assert health_address(settings.health_host, settings.health_port) == (host, 9090)


def test_no_health_endpoints_on_health_port_zero() -> None:
    settings = settings_with(health_host="127.0.0.1", health_port=0)
    assert health_address(settings.health_host, settings.health_port) is None


def test_the_hosts_are_read_from_the_environment_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_SYNC_METRICS_HOST", "10.0.0.5")
    monkeypatch.setenv("REGISTRY_SYNC_HEALTH_HOST", "127.0.0.1")

    settings = settings_with()

    assert (settings.metrics_host, settings.health_host) == ("10.0.0.5", "127.0.0.1")


@pytest.fixture
def port() -> Iterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free: int = probe.getsockname()[1]
    yield free


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=5):
            return True
    except OSError:
        return False


def test_metrics_listen_only_on_the_metrics_host(port: int) -> None:
    OperatorMetrics().serve(port, "127.0.0.1")

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        assert b"registry_sync_admission_duration_seconds" in answer.read()
    # Another loopback address reaches a server on every interface, not this one.
    assert not reachable("127.0.0.2", port)
