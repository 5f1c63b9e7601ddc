"""A bearer token kept in a file that may be rotated under the reader.

Kubernetes projected service-account tokens are replaced in place (an atomic symlink
swap) well before they expire, so the file is checked on every request and re-read when
its modification time or size changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from registry_sync.registry.errors import RegistryAuthError


@dataclass(frozen=True, slots=True)
class _FileVersion:
    mtime_ns: int
    size: int
    inode: int


class BearerTokenFile:
    """The current token in `path`; `current()` re-reads the file only when it changed."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._version: _FileVersion | None = None
        self._token: str | None = None

    def current(self, *, method: str = "GET", url: str = "") -> str:
        """The token as the file holds it now.

        Raises `RegistryAuthError` (naming the file, never its content) when the file is
        missing, unreadable or empty. `method`/`url` name the request that needed it.
        """
        try:
            stat = os.stat(self.path)
        except OSError as error:
            raise self._unreadable(error.strerror or str(error), method, url) from None
        version = _FileVersion(stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if version != self._version or self._token is None:
            self._token = self._read(method, url)
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

    def _unreadable(self, reason: str, method: str, url: str) -> RegistryAuthError:
        return RegistryAuthError(
            f"{method} {url}: cannot read the bearer token from {self.path}: {reason}; "
            "check the token file setting and that the file is mounted",
            method=method,
            url=url,
        )
