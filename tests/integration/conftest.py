"""What every integration tier shares."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from registry_sync.registry.client import RegistryClient
from support.devregistry import RunningRegistry


@pytest.fixture
async def registry_client(dev_registry: RunningRegistry) -> AsyncIterator[RegistryClient]:
    """A client of this test's registry stand-in, to register what the test needs."""
    async with RegistryClient(dev_registry.url) as client:
        yield client
