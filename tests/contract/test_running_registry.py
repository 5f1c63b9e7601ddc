"""Running the stand-in as a process: starting, restarting, stopping, TLS, bad state files."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import httpx
import pytest
import trustme

from support.devregistry import DevRegistryStartError, RunningRegistry, start_dev_registry


def _create_model(registry: RunningRegistry, name: str) -> str:
    answer = httpx.post(f"{registry.api}/registered_models", json={"name": name})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_a_fresh_registry_is_empty_and_answers_on_its_api_url(
    dev_registry: RunningRegistry,
) -> None:
    answer = httpx.get(f"{dev_registry.api}/registered_models")

    assert (answer.status_code, answer.json()["items"]) == (200, [])


def test_the_url_is_loopback_http_with_the_chosen_port(dev_registry: RunningRegistry) -> None:
    assert dev_registry.url == f"http://127.0.0.1:{dev_registry.port}"


def test_a_restart_keeps_entities_and_the_id_sequence(dev_registry: RunningRegistry) -> None:
    first = _create_model(dev_registry, "kept")

    dev_registry.restart()

    assert httpx.get(f"{dev_registry.api}/registered_models/{first}").json()["name"] == "kept"
    assert int(_create_model(dev_registry, "next")) == int(first) + 1


def test_leaving_the_context_stops_the_process(tmp_path: Path) -> None:
    with start_dev_registry(data_file=tmp_path / "state.json") as registry:
        pid = registry.pid
        assert pid is not None

    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_an_unreadable_state_file_fails_the_start_with_the_servers_reason(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.json"
    state.write_text("{not json")

    with pytest.raises(DevRegistryStartError) as failure, start_dev_registry(data_file=state):
        pass

    assert f"cannot read stand-in state from {state}" in str(failure.value)


def test_with_a_certificate_it_serves_https(tmp_path: Path) -> None:
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    cert_file, key_file, ca_file = (tmp_path / n for n in ("cert.pem", "key.pem", "ca.pem"))
    certificate.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    certificate.private_key_pem.write_to_path(str(key_file))
    authority.cert_pem.write_to_path(str(ca_file))

    with start_dev_registry(tls_cert_file=cert_file, tls_key_file=key_file) as registry:
        trusted = ssl.create_default_context(cafile=str(ca_file))
        answer = httpx.get(f"{registry.api}/registered_models", verify=trusted)

    assert registry.url.startswith("https://127.0.0.1:")
    assert answer.status_code == 200
