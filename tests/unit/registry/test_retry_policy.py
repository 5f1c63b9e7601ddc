"""How long the client waits before retrying a transient failure."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_sync.registry.transport import RetryPolicy

POLICY = RetryPolicy(attempts=10, base_delay_s=0.2, max_delay_s=5.0, max_retry_after_s=30.0)


@pytest.mark.parametrize(
    ("retry_number", "backoff"),
    [(1, 0.2), (2, 0.4), (3, 0.8), (4, 1.6), (5, 3.2), (6, 5.0), (9, 5.0)],
)
def test_backoff_doubles_per_retry_up_to_the_cap(retry_number: int, backoff: float) -> None:
    delays = [
        POLICY.delay_before_retry(retry_number, None, random.Random(seed)) for seed in range(200)
    ]

    assert min(delays) >= backoff / 2
    assert max(delays) <= backoff
    assert max(delays) - min(delays) > backoff / 4  # jittered, not a fixed value


@given(
    retry_number=st.integers(min_value=1, max_value=60),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_a_delay_without_retry_after_never_exceeds_the_cap(retry_number: int, seed: int) -> None:
    delay = POLICY.delay_before_retry(retry_number, None, random.Random(seed))

    assert 0 <= delay <= POLICY.max_delay_s


@given(
    retry_number=st.integers(min_value=1, max_value=60),
    retry_after=st.floats(min_value=0, max_value=1e6),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_retry_after_is_honoured_up_to_its_cap(
    retry_number: int, retry_after: float, seed: int
) -> None:
    delay = POLICY.delay_before_retry(retry_number, retry_after, random.Random(seed))

    assert delay >= min(retry_after, POLICY.max_retry_after_s)
    assert delay <= max(POLICY.max_delay_s, POLICY.max_retry_after_s)


@pytest.mark.parametrize(
    "arguments",
    [{"attempts": 0}, {"base_delay_s": -1.0}, {"max_delay_s": -1.0}, {"max_retry_after_s": -1.0}],
)
def test_a_policy_that_makes_no_sense_is_refused(arguments: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="RetryPolicy"):
        RetryPolicy(**arguments)  # type: ignore[arg-type]
