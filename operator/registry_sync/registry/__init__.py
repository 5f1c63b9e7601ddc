"""The Model Registry: its transport, an async REST client, its wire models, and the snapshot
source.

The names below are loaded on first use: a module that needs one part of the package (the
settings need only `transport.api_url_of`) does not load the endpoint catalogue with it.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from registry_sync.registry.errors import (
    RegistryAuthError,
    RegistryError,
    RegistryNotFound,
    RegistryProtocolError,
    RegistryRejected,
    RegistryTLSError,
    RegistryUnavailable,
)

if TYPE_CHECKING:
    from registry_sync.registry.client import OrderBy, RegistryClient, SortOrder
    from registry_sync.registry.snapshot_source import (
        RefreshKind,
        RefreshReport,
        RegistrySnapshotSource,
    )
    from registry_sync.registry.transport import RequestEvent, RetryPolicy

_HOME_OF = {
    "OrderBy": "client",
    "RegistryClient": "client",
    "SortOrder": "client",
    "RefreshKind": "snapshot_source",
    "RefreshReport": "snapshot_source",
    "RegistrySnapshotSource": "snapshot_source",
    "RequestEvent": "transport",
    "RetryPolicy": "transport",
}


def __getattr__(name: str) -> Any:
    home = _HOME_OF.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{home}"), name)


__all__ = [
    "OrderBy",
    "RefreshKind",
    "RefreshReport",
    "RegistryAuthError",
    "RegistryClient",
    "RegistryError",
    "RegistryNotFound",
    "RegistryProtocolError",
    "RegistryRejected",
    "RegistrySnapshotSource",
    "RegistryTLSError",
    "RegistryUnavailable",
    "RequestEvent",
    "RetryPolicy",
    "SortOrder",
]
