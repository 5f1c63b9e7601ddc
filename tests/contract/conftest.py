"""Contract tests: the Model Registry stand-in against the real server's recordings and spec."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from contract.exchanges import RECORDINGS
from contract.replay import Exchange, Outcome, load_exchanges, replay
from support.devregistry import start_dev_registry
from support.third_party import require_upstream_file


@pytest.fixture(scope="session")
def recorded_exchanges() -> list[Exchange]:
    return load_exchanges(require_upstream_file(RECORDINGS))


@pytest.fixture(scope="session")
def replayed(recorded_exchanges: list[Exchange]) -> Iterator[list[Outcome]]:
    """Every recorded exchange, in order, answered by a fresh stand-in of its own."""
    with start_dev_registry() as registry:
        yield replay(recorded_exchanges, registry.url)
