"""The token file: where a token may be sent, and the audience check of `--token-audience`.

The check decodes the JWT payload without verifying it: it is a guard against sending the
wrong token (one the Kubernetes API would accept), not authentication.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

from registry_sync.registry.bearer_token import BearerTokenFile, audiences_of, may_carry_a_token
from registry_sync.registry.errors import RegistryAuthError

AUDIENCE = "model-registry"
SIGNATURE = "c2lnbmF0dXJlLW5vdC1jaGVja2Vk"


def segment(data: dict[str, Any] | str) -> str:
    raw = data if isinstance(data, str) else json.dumps(data)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def jwt(claims: dict[str, Any] | str) -> str:
    """A token shaped like a projected service-account token (the signature is not checked)."""
    return ".".join([segment({"alg": "RS256", "kid": "k1"}), segment(claims), SIGNATURE])


def sa_claims(audience: Any) -> dict[str, Any]:
    return {
        "aud": audience,
        "exp": 1893456000,
        "iss": "https://kubernetes.default.svc",
        "sub": "system:serviceaccount:registry-sync:registry-sync",
    }


def write(path: Path, token: str) -> Path:
    """Write `token`, moving the modification time on as a kubelet remount would."""
    path.write_text(token + "\n")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    return path


# Where a token may go ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://mr.example:8443", True),
        ("https://10.0.0.7", True),
        ("http://127.0.0.1:8080", True),
        ("http://127.200.0.1", True),
        ("http://[::1]:8080", True),
        ("http://localhost:8080/api", True),
        ("http://mr.example:8080", False),
        ("http://10.0.0.7:8080", False),
        ("http://[::ffff:10.0.0.7]:8080", False),
        ("http://localhost.example.com", False),
        ("http://127.0.0.1.nip.io", False),
        ("http://0.0.0.0:8080", False),
        ("ftp://mr.example", False),
        ("mr.example:8443", False),
    ],
)
def test_a_token_goes_over_https_or_to_loopback_only(url: str, allowed: bool) -> None:
    assert may_carry_a_token(url) is allowed


# Reading the audience ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "audiences"),
    [
        (jwt(sa_claims(AUDIENCE)), [AUDIENCE]),
        (jwt(sa_claims(["a", AUDIENCE])), ["a", AUDIENCE]),
        (jwt({"sub": "x"}), []),
        (jwt(sa_claims(7)), []),
        (jwt(sa_claims(["a", 7])), []),
        (jwt('["not", "an", "object"]'), None),
        (jwt("not json"), None),
        ("sha256~opaque-openshift-token", None),
        ("a.b", None),
        ("a.!!!.c", None),
        ("a." + segment(b"\xff\xfe".decode("latin-1")) + ".c", None),
    ],
)
def test_the_audience_is_read_from_the_jwt_payload(token: str, audiences: list[str] | None) -> None:
    assert audiences_of(token) == audiences


# The audience check on every read ------------------------------------------------------


def test_a_token_for_the_expected_audience_is_handed_out(tmp_path: Path) -> None:
    token = jwt(sa_claims(["https://kubernetes.default.svc", AUDIENCE]))
    tokens = BearerTokenFile(write(tmp_path / "token", token), audience=AUDIENCE)

    assert tokens.current() == token


@pytest.mark.parametrize(
    ("token", "said"),
    [
        # The pod's own token, which the Kubernetes API accepts: the one not to send.
        (jwt(sa_claims(["https://kubernetes.default.svc"])), "'https://kubernetes.default.svc'"),
        (jwt(sa_claims("model-registry-other")), "'model-registry-other'"),
        (jwt({"sub": "no audience"}), "names no audience"),
        ("sha256~opaque-openshift-token", "not a JWT"),
    ],
    ids=["apiserver-audience", "another-audience", "no-aud-claim", "opaque"],
)
def test_a_token_for_another_audience_is_refused_saying_what_it_is_for(
    tmp_path: Path, token: str, said: str
) -> None:
    path = write(tmp_path / "token", token)
    tokens = BearerTokenFile(path, audience=AUDIENCE)

    with pytest.raises(RegistryAuthError) as raised:
        tokens.current(method="GET", url="https://mr.example/api")

    message = str(raised.value)
    assert said in message
    assert f"{AUDIENCE!r}" in message
    assert "--token-audience (REGISTRY_SYNC_TOKEN_AUDIENCE)" in message
    assert str(path) in message
    assert "GET https://mr.example/api" in message
    # The message names the file and the audiences, never the token or its signature.
    assert token not in message
    assert SIGNATURE not in message


def test_a_rotated_token_is_checked_again(tmp_path: Path) -> None:
    path = write(tmp_path / "token", jwt(sa_claims(AUDIENCE)))
    tokens = BearerTokenFile(path, audience=AUDIENCE)
    tokens.current()

    write(path, jwt(sa_claims("https://kubernetes.default.svc")))

    with pytest.raises(RegistryAuthError, match="not for the audience"):
        tokens.current()


def test_a_refused_token_is_not_handed_out_later_either(tmp_path: Path) -> None:
    path = write(tmp_path / "token", jwt(sa_claims("https://kubernetes.default.svc")))
    tokens = BearerTokenFile(path, audience=AUDIENCE)
    for _ in range(2):
        with pytest.raises(RegistryAuthError):
            tokens.current()

    fixed = write(path, jwt(sa_claims(AUDIENCE)))

    assert tokens.current() == fixed.read_text().strip()


def test_without_an_expected_audience_any_token_is_handed_out(tmp_path: Path) -> None:
    tokens = BearerTokenFile(write(tmp_path / "token", "sha256~opaque"))

    assert tokens.current() == "sha256~opaque"
