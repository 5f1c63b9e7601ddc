"""How many examples, from which seed, and how a failure is reported.

CI (`HYPOTHESIS_PROFILE=ci`) runs 100,000 examples per target; elsewhere a few thousand,
or `FUZZ_EXAMPLES`. `FUZZ_SEED` picks another run seed (the default keeps CI repeatable).
A failing example is reported with its index: `FUZZ_SEED=<seed> FUZZ_ONLY=<index>` replays
that example alone.
"""

from __future__ import annotations

import os
import random
import traceback
from collections.abc import Callable
from typing import Any

from fuzz.generators import example_rng

EXAMPLES = int(
    os.environ.get(
        "FUZZ_EXAMPLES", "100000" if os.environ.get("HYPOTHESIS_PROFILE") == "ci" else "3000"
    )
)
SEED = int(os.environ.get("FUZZ_SEED", "20261126"))
_REPORTED = 3  # failures shown in full; the rest are counted
_SHOWN = 600  # characters of an input shown in a report


def fuzz(
    generate: Callable[[random.Random], Any],
    check: Callable[[Any, random.Random], None],
    *,
    examples: int = EXAMPLES,
    seed: int = SEED,
) -> int:
    """Feed `examples` generated inputs to `check`; fail listing the first failures.

    `check(input, rng)` raises AssertionError (or anything else) on a violation; `rng`
    is the example's generator, for any further choices the check makes. Returns the
    number of examples run.
    """
    only = os.environ.get("FUZZ_ONLY")
    indices = [int(only)] if only is not None else range(examples)
    failures: list[str] = []
    count = 0
    for index in indices:
        rng = example_rng(seed, index)
        value = generate(rng)
        count += 1
        try:
            check(value, rng)
        except Exception as error:  # every failure is collected, not just the first
            if len(failures) < _REPORTED:
                failures.append(_report(index, value, error))
            else:
                failures.append(f"example {index}: {type(error).__name__}")
    if failures:
        raise AssertionError(
            f"{len(failures)} of {count} examples failed (FUZZ_SEED={seed}; replay one with "
            "FUZZ_ONLY=<index>):\n\n" + "\n\n".join(failures[: _REPORTED + 10])
        )
    return count


def _report(index: int, value: Any, error: Exception) -> str:
    try:
        shown = repr(value)
    except Exception:  # a hostile repr is an input too
        shown = f"<{type(value).__name__} with a failing repr>"
    if len(shown) > _SHOWN:
        shown = f"{shown[:_SHOWN]}... ({len(shown)} characters)"
    trace = "".join(traceback.format_exception(error, limit=-4))
    return f"example {index}: input {shown}\n{trace}"
