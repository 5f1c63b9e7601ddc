"""The Model Registry's official Python client (`model-registry` from the package index), as
a user's notebook runs it: in its own virtual environment (hack/official-client/build.sh;
it cannot share the project's, see requirements.txt there), driven as a child process.

Tests that ask for it are skipped with how to build it, or fail when
REGISTRY_SYNC_REQUIRE_UPSTREAM=1 (CI) forbids skipping.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, NoReturn

import pytest

PYTHON_VARIABLE = "REGISTRY_SYNC_OFFICIAL_CLIENT_PYTHON"
REQUIRE_VARIABLE = "REGISTRY_SYNC_REQUIRE_UPSTREAM"
READ_BACK_SCRIPT = Path(__file__).with_name("official_client_read_back.py")


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get(REQUIRE_VARIABLE) == "1":
        pytest.fail(f"{reason} ({REQUIRE_VARIABLE}=1 forbids skipping)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def official_client_python() -> Path:
    """The python of the official client's environment."""
    configured = os.environ.get(PYTHON_VARIABLE)
    if not configured:
        _unavailable(f"{PYTHON_VARIABLE} is not set: run `make official-client` (or `make test`)")
    python = Path(configured)
    if not python.is_file():
        _unavailable(f"{python} ({PYTHON_VARIABLE}) does not exist: run `make official-client`")
    return python


def read_version_artifacts(
    python: Path, registry_url: str, model: str, version: str
) -> list[dict[str, Any]]:
    """The artifacts of `model` / `version` as the official client returns them (each as
    its own `to_dict()`-like document, with the client's class name under `class`)."""
    finished = subprocess.run(
        # Isolated (-I): the script's folder holds modules named like the standard library's.
        [str(python), "-I", str(READ_BACK_SCRIPT), registry_url, model, version],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "")},
    )
    if finished.returncode != 0:
        raise AssertionError(
            f"the official client failed ({finished.returncode}): {finished.stderr[-2000:]}"
        )
    artifacts: list[dict[str, Any]] = json.loads(finished.stdout)
    return artifacts
