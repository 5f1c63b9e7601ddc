"""Pull-secret data → one credential per registry host.

Two Secret types hold them, as Kubernetes returns them (`data` values base64-encoded):
- `kubernetes.io/dockerconfigjson`: key `.dockerconfigjson`, `{"auths": {host: entry}}`;
- `kubernetes.io/dockercfg`: key `.dockercfg`, the `{host: entry}` map itself.

An entry is `{"auth": base64("user:password")}`, `{"username": ..., "password": ...}` or
`{"identitytoken": ...}` (an OAuth2 refresh token for the registry's token server). As in
Docker's own client, an identity token wins over a password, and `auth` over
`username`/`password`; an entry with none of them (only an `email`, say) gives no
credential. Host keys are written `https://host/v1/`, `host` or `host:port`: they become
`host[:port]`, lower-case (`hosts.canonical_host`). Two keys naming one host with different
credentials are refused rather than one picked.

Every problem is a `PullSecretError` whose message names the Secret and the problem, never
a value: not a password, not a token, not the decoded `auth`, not a fragment of the JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from registry_sync.domain.nesting import deeper_than
from registry_sync.oci.hosts import canonical_host

DOCKERCONFIGJSON_TYPE: Final = "kubernetes.io/dockerconfigjson"
DOCKERCFG_TYPE: Final = "kubernetes.io/dockercfg"
DATA_KEYS: Final = {DOCKERCONFIGJSON_TYPE: ".dockerconfigjson", DOCKERCFG_TYPE: ".dockercfg"}

MAX_SECRET_BYTES: Final = 1024 * 1024
"""Kubernetes stores no larger Secret; anything past it is not one."""
_MAX_DEPTH: Final = 8
_QUOTE_LIMIT: Final = 80


class PullSecretError(ValueError):
    """A pull secret that cannot be read; the message names the Secret and the problem."""

    def __init__(self, secret: str, problem: str) -> None:
        self.secret = secret
        self.problem = problem
        super().__init__(f"pull secret {secret}: {problem}")


@dataclass(frozen=True, slots=True)
class BasicCredential:
    """A user name and password (or token used as one). `repr` hides the password."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class IdentityToken:
    """An OAuth2 refresh token, exchanged at the registry's token server. `repr` hides it."""

    token: str = field(repr=False)


Credential = BasicCredential | IdentityToken


def read_pull_secret(secret: str, secret_type: object, data: object) -> dict[str, Credential]:
    """The credentials of a pull secret, by `host[:port]`.

    `secret` names it in messages (e.g. `namespace/name`); `secret_type` and `data` are the
    Secret's `type` and `data` as the API returns them. Raises `PullSecretError`, and
    nothing else, for any input that is not a readable pull secret.
    """
    if not isinstance(secret, str):
        secret = "<unnamed>"
    secret = _quote(secret)
    if not isinstance(secret_type, str) or secret_type not in DATA_KEYS:
        raise PullSecretError(
            secret,
            f"type {_quote(secret_type)} is not {DOCKERCONFIGJSON_TYPE} or {DOCKERCFG_TYPE}",
        )
    key = DATA_KEYS[secret_type]
    if not isinstance(data, Mapping):
        raise PullSecretError(secret, "it has no data")
    encoded = data.get(key)
    if not isinstance(encoded, str):
        raise PullSecretError(secret, f"its type is {secret_type} but it has no {key} key")
    document = _decode_document(secret, key, encoded)
    if secret_type == DOCKERCONFIGJSON_TYPE:
        if not isinstance(document, dict):
            raise PullSecretError(secret, f"{key} is not a JSON object")
        auths = document.get("auths")
        if auths is None:
            raise PullSecretError(secret, f'{key} has no "auths" object')
        where = f'{key} "auths"'
    else:
        auths, where = document, key
    if not isinstance(auths, dict):
        raise PullSecretError(secret, f"{where} is not a JSON object of hosts")
    found: dict[str, Credential] = {}
    written_as: dict[str, str] = {}
    for host_key, entry in auths.items():
        host = canonical_host(host_key)
        if host is None:
            raise PullSecretError(secret, f"{where}: {_quote(host_key)} is not a registry host")
        credential = _credential(secret, host_key, entry)
        if credential is None:
            continue
        if host in found and found[host] != credential:
            raise PullSecretError(
                secret,
                f"{where}: {_quote(written_as[host])} and {_quote(host_key)} both name "
                f"{host} with different credentials; keep one",
            )
        found[host] = credential
        written_as.setdefault(host, host_key)
    return found


def _decode_document(secret: str, key: str, encoded: str) -> object:
    if len(encoded) > MAX_SECRET_BYTES * 4 // 3 + 4:
        raise PullSecretError(secret, f"{key} is larger than a Secret can be")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise PullSecretError(secret, f"{key} is not base64") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        # The decoder's message quotes the bytes: part of the secret.
        raise PullSecretError(secret, f"{key} is not UTF-8 text") from None
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        # A JSONDecodeError says only where; a ValueError from int() may quote digits.
        raise PullSecretError(secret, f"{key} is not JSON") from None
    if deeper_than(document, _MAX_DEPTH):
        raise PullSecretError(secret, f"{key} nests deeper than a docker config does")
    return document


def _credential(secret: str, host_key: str, entry: object) -> Credential | None:
    where = f"the entry for {_quote(host_key)}"
    if not isinstance(entry, dict):
        raise PullSecretError(secret, f"{where} is not a JSON object")
    for name in ("auth", "username", "password", "identitytoken"):
        if name in entry and not isinstance(entry[name], str | None):
            raise PullSecretError(secret, f"{where}: {name} is not a string")
    identity_token = entry.get("identitytoken")
    if identity_token:
        _check_text(secret, where, "identitytoken", identity_token)
        return IdentityToken(identity_token)
    auth = entry.get("auth")
    if auth:
        return _decode_auth(secret, where, auth)
    username, password = entry.get("username"), entry.get("password")
    if username or password:
        if not username or not password:
            raise PullSecretError(secret, f"{where}: username and password come together")
        _check_text(secret, where, "username", username)
        return BasicCredential(username, password)
    return None


def _decode_auth(secret: str, where: str, auth: str) -> BasicCredential:
    try:
        # Docker writes it padded; some tools do not.
        raw = base64.b64decode(auth + "=" * (-len(auth) % 4), validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError too; neither message is kept
        raise PullSecretError(secret, f"{where}: auth is not base64 of UTF-8 text") from None
    username, colon, password = text.partition(":")
    if not colon or not username or not password:
        raise PullSecretError(secret, f"{where}: auth is not base64 of user:password")
    return BasicCredential(username, password)


def _check_text(secret: str, where: str, name: str, value: str) -> None:
    """Refuse what cannot be sent as written: a user name with a colon (Basic auth splits
    at the first one), a token with whitespace or control characters (it travels as is)."""
    if name == "username" and ":" in value:
        raise PullSecretError(secret, f"{where}: username contains a colon")
    if name == "identitytoken" and any(
        character.isspace() or not character.isprintable() for character in value
    ):
        raise PullSecretError(secret, f"{where}: identitytoken contains whitespace or controls")


def _quote(value: object) -> str:
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__ must not escape
        text = f"<{type(value).__name__}>"
    return text if len(text) <= _QUOTE_LIMIT else f"{text[: _QUOTE_LIMIT - 3]}..."
