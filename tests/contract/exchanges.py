"""Parametrizing tests by recorded exchange, so each one shows up under its own name."""

from __future__ import annotations

import json
import re

import pytest

from support.third_party import third_party_dir

RECORDINGS = "model-registry/recordings-full.json"


def exchange_ids() -> list[str]:
    """One test id per recorded exchange (`07-add-artifact-to-...`), or none without data."""
    path = third_party_dir() / RECORDINGS
    if not path.is_file():
        return []
    names = [raw["name"] for raw in json.loads(path.read_text(encoding="utf-8"))]
    return [
        f"{i:02d}-{re.sub(r'[^a-z0-9]+', '-', n.lower()).strip('-')}" for i, n in enumerate(names)
    ]


def parametrize_by_exchange(metafunc: pytest.Metafunc) -> None:
    """Give `exchange_index` one value per exchange; None (a skip) when data is missing."""
    if "exchange_index" not in metafunc.fixturenames:
        return
    ids = exchange_ids()
    if ids:
        metafunc.parametrize("exchange_index", range(len(ids)), ids=ids)
    else:
        metafunc.parametrize("exchange_index", [None], ids=["recordings-missing"])
