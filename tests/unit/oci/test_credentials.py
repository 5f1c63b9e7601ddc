"""Pull-secret data → credentials by host: both Secret types, every entry form, host keys
normalised, and one error type whose message never shows a secret value."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_sync.oci.credentials import (
    DOCKERCFG_TYPE,
    DOCKERCONFIGJSON_TYPE,
    BasicCredential,
    IdentityToken,
    PullSecretError,
    read_pull_secret,
)

SECRET = "models/pull-secret"
PASSWORD = "pa55-w0rd-SECRET"


def b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


def configjson(auths: Any) -> dict[str, str]:
    return {".dockerconfigjson": b64(json.dumps({"auths": auths}))}


def dockercfg(auths: Any) -> dict[str, str]:
    return {".dockercfg": b64(json.dumps(auths))}


def test_dockerconfigjson_auth_gives_user_and_password() -> None:
    data = configjson({"quay.io": {"auth": b64(f"robot+pull:{PASSWORD}")}})

    found = read_pull_secret(SECRET, DOCKERCONFIGJSON_TYPE, data)

    assert found == {"quay.io": BasicCredential("robot+pull", PASSWORD)}


def test_dockercfg_is_the_auths_map_itself() -> None:
    data = dockercfg({"quay.io": {"auth": b64(f"robot:{PASSWORD}")}})

    found = read_pull_secret(SECRET, DOCKERCFG_TYPE, data)

    assert found == {"quay.io": BasicCredential("robot", PASSWORD)}


def test_username_and_password_fields_give_a_credential() -> None:
    data = configjson({"ghcr.io": {"username": "me", "password": PASSWORD}})

    assert read_pull_secret(SECRET, DOCKERCONFIGJSON_TYPE, data) == {
        "ghcr.io": BasicCredential("me", PASSWORD)
    }


def test_an_identity_token_wins_over_a_password() -> None:
    entry = {"auth": b64(f"me:{PASSWORD}"), "identitytoken": "refresh-token-value"}

    found = read_pull_secret(SECRET, DOCKERCONFIGJSON_TYPE, configjson({"acr.io": entry}))

    assert found == {"acr.io": IdentityToken("refresh-token-value")}


def test_auth_wins_over_username_and_password_as_in_docker() -> None:
    entry = {"auth": b64("a:b"), "username": "c", "password": "d"}

    found = read_pull_secret(SECRET, DOCKERCONFIGJSON_TYPE, configjson({"quay.io": entry}))

    assert found == {"quay.io": BasicCredential("a", "b")}


def test_an_auth_without_padding_is_read() -> None:
    auth = b64("ab:cd1").rstrip("=")

    found = read_pull_secret(SECRET, DOCKERCONFIGJSON_TYPE, configjson({"q.io": {"auth": auth}}))

    assert found == {"q.io": BasicCredential("ab", "cd1")}


def test_a_password_may_contain_colons() -> None:
    data = configjson({"quay.io": {"auth": b64("robot:pa:ss")}})

    assert read_pull_secret(SECRET, DOCKERCONFIGJSON_TYPE, data)["quay.io"].password == "pa:ss"  # type: ignore[union-attr]


def test_an_entry_without_credentials_gives_none() -> None:
    data = configjson({"quay.io": {"email": "me@example.com"}})

    assert read_pull_secret(SECRET, DOCKERCONFIGJSON_TYPE, data) == {}


@pytest.mark.parametrize(
    ("key", "host"),
    [
        ("https://quay.io/v1/", "quay.io"),
        ("QUAY.IO", "quay.io"),
        ("registry.local:5000", "registry.local:5000"),
        ("http://Registry.Local:5000/", "registry.local:5000"),
        ("https://index.docker.io/v1/", "docker.io"),
        ("registry-1.docker.io", "docker.io"),
        ("[fd00::1]:5000", "[fd00::1]:5000"),
    ],
)
def test_host_keys_are_normalised_to_host_and_port_lower_case(key: str, host: str) -> None:
    data = configjson({key: {"auth": b64("u:p")}})

    assert list(read_pull_secret(SECRET, DOCKERCONFIGJSON_TYPE, data)) == [host]


def test_two_keys_for_one_host_with_the_same_credential_are_one() -> None:
    data = configjson(
        {"quay.io": {"auth": b64("u:p")}, "https://quay.io/v1/": {"auth": b64("u:p")}}
    )

    assert read_pull_secret(SECRET, DOCKERCONFIGJSON_TYPE, data) == {
        "quay.io": BasicCredential("u", "p")
    }


def test_two_keys_for_one_host_with_different_credentials_are_refused() -> None:
    data = configjson(
        {"quay.io": {"auth": b64("u:p")}, "https://quay.io/v1/": {"auth": b64("v:q")}}
    )

    with pytest.raises(PullSecretError, match=r"both name quay\.io"):
        read_pull_secret(SECRET, DOCKERCONFIGJSON_TYPE, data)


def test_credentials_hide_their_secret_in_repr() -> None:
    assert PASSWORD not in repr(BasicCredential("u", PASSWORD))
    assert PASSWORD not in repr(IdentityToken(PASSWORD))


BROKEN: list[tuple[str, object, object, str]] = [
    ("opaque type", "Opaque", configjson({}), "is not kubernetes.io/dockerconfigjson"),
    ("no data", DOCKERCONFIGJSON_TYPE, None, "has no data"),
    ("wrong key", DOCKERCONFIGJSON_TYPE, {".dockercfg": b64("{}")}, "no .dockerconfigjson key"),
    ("not base64", DOCKERCONFIGJSON_TYPE, {".dockerconfigjson": "%%%"}, "not base64"),
    ("not utf-8", DOCKERCONFIGJSON_TYPE, {".dockerconfigjson": b64(b"\xff\xfe")}, "not UTF-8"),
    ("not json", DOCKERCONFIGJSON_TYPE, {".dockerconfigjson": b64("{" + PASSWORD)}, "not JSON"),
    ("no auths", DOCKERCONFIGJSON_TYPE, {".dockerconfigjson": b64("{}")}, 'no "auths"'),
    ("auths a list", DOCKERCONFIGJSON_TYPE, configjson([]), "not a JSON object of hosts"),
    ("bad host", DOCKERCONFIGJSON_TYPE, configjson({"not a host": {}}), "not a registry host"),
    ("entry a string", DOCKERCONFIGJSON_TYPE, configjson({"q.io": PASSWORD}), "not a JSON object"),
    ("auth a number", DOCKERCONFIGJSON_TYPE, configjson({"q.io": {"auth": 7}}), "not a string"),
    (
        "auth without colon",
        DOCKERCONFIGJSON_TYPE,
        configjson({"q.io": {"auth": b64(PASSWORD)}}),
        "not base64 of user:password",
    ),
    (
        "auth not base64",
        DOCKERCONFIGJSON_TYPE,
        configjson({"q.io": {"auth": PASSWORD + "!"}}),
        "auth is not base64",
    ),
    (
        "password alone",
        DOCKERCONFIGJSON_TYPE,
        configjson({"q.io": {"password": PASSWORD}}),
        "come together",
    ),
    (
        "token with whitespace",
        DOCKERCONFIGJSON_TYPE,
        configjson({"q.io": {"identitytoken": PASSWORD + " x"}}),
        "identitytoken contains whitespace",
    ),
    ("dockercfg a list", DOCKERCFG_TYPE, {".dockercfg": b64("[]")}, "not a JSON object"),
]


@pytest.mark.parametrize(
    ("secret_type", "data", "problem"),
    [case[1:] for case in BROKEN],
    ids=[case[0] for case in BROKEN],
)
def test_malformed_pull_secrets_raise_one_error_naming_the_secret_not_the_value(
    secret_type: object, data: object, problem: str
) -> None:
    with pytest.raises(PullSecretError) as raised:
        read_pull_secret(SECRET, secret_type, data)

    message = str(raised.value)
    assert SECRET in message
    assert problem in message
    assert PASSWORD not in message
    # Nothing chained either: a decoder's own message would quote the bytes.
    error = raised.value
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=4)
    ),
    max_leaves=20,
)
entries = st.dictionaries(
    st.sampled_from(["auth", "username", "password", "identitytoken", "email"]),
    st.text(max_size=30) | st.builds(lambda a, b: b64(f"{a}:{b}"), st.text(), st.text()),
)
auths = st.dictionaries(
    st.text(max_size=30) | st.sampled_from(["quay.io", "https://index.docker.io/v1/"]),
    entries | json_values,
    max_size=4,
)


@given(
    secret_type=st.sampled_from([DOCKERCONFIGJSON_TYPE, DOCKERCFG_TYPE, "Opaque"]) | json_values,
    document=json_values | auths | st.builds(lambda a: {"auths": a}, auths),
)
def test_any_json_document_gives_credentials_or_the_one_error(
    secret_type: object, document: object
) -> None:
    encoded = b64(json.dumps(document))
    data = {".dockerconfigjson": encoded, ".dockercfg": encoded}
    try:
        found = read_pull_secret(SECRET, secret_type, data)
    except PullSecretError as error:
        assert SECRET in str(error)
    else:
        assert all(isinstance(c, BasicCredential | IdentityToken) for c in found.values())


@given(data=st.dictionaries(st.text(max_size=20), st.text() | json_values, max_size=3))
def test_any_data_map_gives_credentials_or_the_one_error(data: dict[str, object]) -> None:
    with contextlib.suppress(PullSecretError):
        read_pull_secret(SECRET, DOCKERCONFIGJSON_TYPE, data)


@given(raw=st.binary(max_size=200))
def test_any_bytes_give_credentials_or_the_one_error(raw: bytes) -> None:
    with contextlib.suppress(PullSecretError):
        read_pull_secret(SECRET, DOCKERCFG_TYPE, {".dockercfg": b64(raw)})
