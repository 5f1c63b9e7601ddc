"""Stand-ins for the registry snapshot source the reconciler reads
(`registry_sync.registry.snapshot_source.RegistrySnapshotSource`), for unit tests."""

from __future__ import annotations

from registry_sync.domain.snapshot import RegistrySnapshot


class SnapshotAtHand:
    """A registry snapshot source that always has `snapshot` and is current."""

    def __init__(self, snapshot: RegistrySnapshot) -> None:
        self.snapshot = snapshot
        self.is_current = True
        self.last_error = None

    async def request_refresh_for(self, uri: str) -> bool:
        return False
