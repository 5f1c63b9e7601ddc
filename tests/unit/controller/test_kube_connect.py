"""`connect`, the commands' way to the apiserver: a kubeconfig that skips TLS verification
is said once, in one line of the project's own, and urllib3's per-request warning is not."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import urllib3
import yaml

from registry_sync.controller.kube_calls import INSECURE_APISERVER_NOTICE, connect


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
