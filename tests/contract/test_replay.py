"""The stand-in answers every recorded exchange as the real Model Registry did."""

from __future__ import annotations

import pytest

from contract.exchanges import parametrize_by_exchange
from contract.replay import Outcome

pytestmark = pytest.mark.upstream


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    parametrize_by_exchange(metafunc)


def test_stand_in_answers_the_exchange_like_the_real_server(
    exchange_index: int, replayed: list[Outcome]
) -> None:
    outcome = replayed[exchange_index]

    if outcome.differences:
        pytest.fail(outcome.report(), pytrace=False)
