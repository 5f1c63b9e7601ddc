"""The few ways a Model Registry request fails, as exceptions a caller can act on.

Every message names the request (method and URL without its query) and, where there
was one, the HTTP status. No message ever contains the bearer token.
"""

from __future__ import annotations


class RegistryError(Exception):
    """A Model Registry request failed. `url` has no query string; `status` may be None."""

    def __init__(self, message: str, *, method: str, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.method = method
        self.url = url
        self.status = status


class RegistryUnavailable(RegistryError):
    """Could not get an answer: connection refused or reset, timeout, 5xx or 429 after retries.

    Transient by nature: keep the last known answer and try again later.
    """


class RegistryTLSError(RegistryUnavailable):
    """The registry's TLS certificate is not trusted: give the CA bundle that signed it."""


class RegistryAuthError(RegistryError):
    """The registry refused the credentials (401/403), or the token file cannot be read."""


class RegistryNotFound(RegistryError):
    """The registry answered 404: the entity (or the API path) does not exist."""


class RegistryRejected(RegistryError):
    """The registry refused the request as invalid (400, 422, other 4xx; a 409 conflict is
    the subclass `RegistryConflict`).

    `code` and `server_message` are the registry's own `{"code", "message"}` when it sent them.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        url: str,
        status: int,
        code: str | None = None,
        server_message: str | None = None,
    ) -> None:
        super().__init__(message, method=method, url=url, status=status)
        self.code = code
        self.server_message = server_message


class RegistryConflict(RegistryRejected):
    """The registry answered 409: the name is taken (a model, or a record in its environment).

    A caller can tell "exists already" from other refusals, and look the entity up instead.
    """


class RegistryProtocolError(RegistryError):
    """The registry answered, but not with what the API promises (garbage body, wrong shape)."""
