"""Where the upstream reference data lives, and what happens when it is missing.

Tests read `../shared/third-party` (from the repository root) or `REGISTRY_SYNC_THIRD_PARTY`.
Missing data skips the upstream tiers with a reason, unless
`REGISTRY_SYNC_REQUIRE_UPSTREAM=1` (set by `.ci/run`) turns the skip into a failure.
The folder is read-only in CI: rewrite its files in memory, never in place.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def third_party_dir() -> Path:
    configured = os.environ.get("REGISTRY_SYNC_THIRD_PARTY")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "third-party"


def require_upstream_file(relative: str) -> Path:
    """The path of one reference file, or a skip (a failure where upstream is required)."""
    path = third_party_dir() / relative
    if path.is_file():
        return path
    reason = (
        f"upstream reference file {path} not found; set REGISTRY_SYNC_THIRD_PARTY "
        "to the third-party folder"
    )
    if os.environ.get("REGISTRY_SYNC_REQUIRE_UPSTREAM") == "1":
        pytest.fail(f"{reason} (REGISTRY_SYNC_REQUIRE_UPSTREAM=1 forbids skipping)")
    pytest.skip(reason)
