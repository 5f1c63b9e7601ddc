"""The operator's one registry refresher: it survives whatever a refresh raises."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import cast

from registry_sync.controller.services import Services, refresh_forever, snapshot_max_age_s
from registry_sync.controller.settings import OperatorSettings
from registry_sync.registry.errors import RegistryUnavailable


class FailingSource:
    """A snapshot source whose refreshes raise these, in turn, then succeed."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.refreshes = 0

    async def refresh(self) -> None:
        self.refreshes += 1
        if self.failures:
            raise self.failures.pop(0)

    def age_s(self) -> float | None:
        return 12.0


class CountingReconciler:
    def __init__(self) -> None:
        self.rounds = 0

    async def on_registry_refresh(self) -> None:
        self.rounds += 1


async def test_the_refresher_survives_any_exception_and_re_resolves_after_each() -> None:
    source = FailingSource(
        RegistryUnavailable("down", method="GET", url="https://r"),
        RecursionError("maximum recursion depth exceeded"),
        RuntimeError("a bug"),
    )
    reconciler = CountingReconciler()
    services = SimpleNamespace(
        settings=SimpleNamespace(refresh_seconds=0.001),
        source=source,
        reconciler=reconciler,
        digests=None,
        records=None,
    )

    refresher = asyncio.create_task(refresh_forever(cast(Services, services)))
    try:
        async with asyncio.timeout(10):
            while reconciler.rounds < 5:
                assert not refresher.done(), refresher
                await asyncio.sleep(0.005)
    finally:
        refresher.cancel()

    assert source.refreshes >= 5 and not source.failures


def test_data_is_current_for_three_refresh_periods_and_one_refresh_timeout() -> None:
    settings = OperatorSettings(
        registry_url="https://registry.example:8443", refresh_seconds=10, refresh_timeout_seconds=60
    )

    assert snapshot_max_age_s(settings) == 90


async def test_a_slow_round_of_digest_lookups_never_delays_the_registry_refresh() -> None:
    source = FailingSource()
    reconciler = CountingReconciler()
    rounds_started = []
    never = asyncio.Event()

    async def hanging_lookups() -> None:  # an OCI registry that never answers
        rounds_started.append(1)
        await never.wait()

    services = SimpleNamespace(
        settings=SimpleNamespace(refresh_seconds=0.001),
        source=source,
        reconciler=reconciler,
        digests=object(),
        refresh_digests=hanging_lookups,
        lookups=None,
        records=None,
    )

    refresher = asyncio.create_task(refresh_forever(cast(Services, services)))
    try:
        async with asyncio.timeout(10):
            while source.refreshes < 20:
                assert not refresher.done(), refresher
                await asyncio.sleep(0.001)
    finally:
        refresher.cancel()
        if services.lookups is not None:
            services.lookups.cancel()
    assert reconciler.rounds >= 19
    assert len(rounds_started) == 1  # one round at a time
