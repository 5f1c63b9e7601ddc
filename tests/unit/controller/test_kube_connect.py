"""`connect`, the commands' way to the apiserver: a kubeconfig that skips TLS verification
is said once, in one line of the project's own, and urllib3's per-request warning is not.
Every request gives up when the apiserver stays silent."""

from __future__ import annotations

import socket
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
import yaml

from registry_sync.controller import kube_calls
from registry_sync.controller.kube_calls import (
    INSECURE_APISERVER_NOTICE,
    KubeCallError,
    KubeObjects,
    connect,
)


def kubeconfig(path: Path, server: str, *, skip_verification: bool) -> str:
    cluster: dict[str, object] = {"server": server}
    if skip_verification:
        cluster["insecure-skip-tls-verify"] = True
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path.write_text(yaml.safe_dump(document))
    return str(path)


def test_skipped_verification_is_said_once_and_urllib3_warns_no_more(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = "https://insecure.example:6443"
    config_file = kubeconfig(tmp_path / "kubeconfig", server, skip_verification=True)

    for _ in range(2):
        connect(config_file).close()  # type: ignore[no-untyped-call]
    with warnings.catch_warnings(record=True) as caught:
        warnings.warn("unverified", urllib3.exceptions.InsecureRequestWarning, stacklevel=1)

    assert capsys.readouterr().err.splitlines() == [INSECURE_APISERVER_NOTICE.format(server=server)]
    assert caught == []


def test_a_verified_apiserver_is_not_remarked_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file = kubeconfig(
        tmp_path / "kubeconfig", "https://verified.example:6443", skip_verification=False
    )

    connect(config_file).close()  # type: ignore[no-untyped-call]

    assert capsys.readouterr().err == ""


@pytest.fixture
def silent_apiserver() -> Iterator[str]:
    """A server that accepts connections and never answers (a peer gone without a word)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def test_a_silent_apiserver_fails_the_call_instead_of_holding_it(
    tmp_path: Path, silent_apiserver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Shortened for the test; the shipped bound is above the apiserver's own 60 s.
    monkeypatch.setattr(kube_calls, "REQUEST_TIMEOUT_S", (1.0, 0.3))
    config_file = kubeconfig(tmp_path / "kubeconfig", silent_apiserver, skip_verification=False)
    api_client = connect(config_file)
    api_client.configuration.retries = 0  # type: ignore[attr-defined]

    with pytest.raises(KubeCallError, match=r"could not be reached.*(?i:timed out)"):
        KubeObjects(api_client).list_bindings("team")
    api_client.close()  # type: ignore[no-untyped-call]
