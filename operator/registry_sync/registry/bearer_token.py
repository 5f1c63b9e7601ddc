"""A bearer token kept in a file that may be rotated under the reader, and where it may go.

Kubernetes projected service-account tokens are replaced in place (an atomic symlink
swap) well before they expire, so the file is checked on every request and re-read when
its modification time or size changed. With an expected audience, every token read is
checked to be a JWT meant for it before it is ever sent.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from registry_sync.registry.errors import RegistryAuthError


def may_carry_a_token(url: str) -> bool:
    """Whether a bearer token may be sent to `url`: over HTTPS, or over plain HTTP only to
    this host's own loopback interface (a sidecar or a local test server), where nothing
    on the network can read it."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return True
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def audiences_of(token: str) -> list[str] | None:
    """The `aud` claim of a JWT, read without verifying its signature; None if `token` is
    not a JWT with a JSON payload.

    Not authentication (the registry verifies the token): a check that the file holds the
    token meant for the registry, not one the Kubernetes API would also accept.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1]
    try:
        decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        claims = json.loads(decoded)
    except (binascii.Error, ValueError):  # also UnicodeDecodeError, JSONDecodeError
        return None
    if not isinstance(claims, dict):
        return None
    audience = claims.get("aud")
    if isinstance(audience, str):
        return [audience]
    if isinstance(audience, list) and all(isinstance(item, str) for item in audience):
        return list(audience)
    return []


@dataclass(frozen=True, slots=True)
class _FileVersion:
    mtime_ns: int
    size: int
    inode: int


class BearerTokenFile:
    """The current token in `path`; `current()` re-reads the file only when it changed.

    With `audience`, a token is only handed out if it is a JWT whose `aud` claim names it.
    """

    def __init__(self, path: Path | str, *, audience: str | None = None) -> None:
        self.path = Path(path)
        self.audience = audience
        self._version: _FileVersion | None = None
        self._token: str | None = None

    def current(self, *, method: str = "GET", url: str = "") -> str:
        """The token as the file holds it now.

        Raises `RegistryAuthError` (naming the file, never its content) when the file is
        missing, unreadable or empty, or its token is not for the expected audience.
        `method`/`url` name the request that needed it.
        """
        try:
            stat = os.stat(self.path)
        except OSError as error:
            raise self._unreadable(error.strerror or str(error), method, url) from None
        version = _FileVersion(stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if version != self._version or self._token is None:
            self._token = None  # a token that fails the checks below is never kept
            token = self._read(method, url)
            self._check_audience(token, method, url)
            self._token = token
            self._version = version
        return self._token

    def reload(self, *, method: str = "GET", url: str = "") -> str:
        """Re-read the file whatever its metadata says (after the server refused the token)."""
        self._version = None
        return self.current(method=method, url=url)

    def _read(self, method: str, url: str) -> str:
        try:
            token = self.path.read_text(encoding="utf-8").strip()
        except UnicodeDecodeError:
            # The decoder's message quotes the offending bytes: part of the secret.
            raise self._unreadable("the file is not UTF-8 text", method, url) from None
        except OSError as error:
            raise self._unreadable(error.strerror or type(error).__name__, method, url) from None
        if not token:
            raise self._unreadable("the file is empty", method, url)
        if any(character.isspace() for character in token):
            raise self._unreadable("the token contains whitespace", method, url)
        return token

    def _check_audience(self, token: str, method: str, url: str) -> None:
        if self.audience is None:
            return
        audiences = audiences_of(token)
        if audiences is None:
            found = "it is not a JWT, so its audience cannot be checked"
        elif self.audience in audiences:
            return
        elif audiences:
            found = "its audience is " + ", ".join(repr(a) for a in audiences[:5])[:300]
        else:
            found = "it names no audience"
        raise RegistryAuthError(
            f"{method} {url}: the bearer token in {self.path} is not for the audience "
            f"{self.audience!r} that --token-audience (REGISTRY_SYNC_TOKEN_AUDIENCE) expects: "
            f"{found}; not sent. Mount a projected service-account token with "
            f"`audience: {self.audience}` at that path (docs/install.md)",
            method=method,
            url=url,
        )

    def _unreadable(self, reason: str, method: str, url: str) -> RegistryAuthError:
        return RegistryAuthError(
            f"{method} {url}: cannot read the bearer token from {self.path}: {reason}; "
            "check the token file setting and that the file is mounted",
            method=method,
            url=url,
        )
