"""The Model Registry: an async REST client, its wire models, and the snapshot source."""

from registry_sync.registry.client import (
    OrderBy,
    RegistryClient,
    RequestEvent,
    RetryPolicy,
    SortOrder,
)
from registry_sync.registry.errors import (
    RegistryAuthError,
    RegistryError,
    RegistryNotFound,
    RegistryProtocolError,
    RegistryRejected,
    RegistryTLSError,
    RegistryUnavailable,
)
from registry_sync.registry.snapshot_source import (
    RefreshKind,
    RefreshReport,
    RegistrySnapshotSource,
)

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
