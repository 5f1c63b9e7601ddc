"""The files of tekton/ (the shipped Tasks, their RBAC and the example Pipeline), parsed:
what the unit rules, the step-script runs and the CRD dry-runs all read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TEKTON = REPO_ROOT / "tekton"

Document = dict[str, Any]


def load(path: Path) -> list[Document]:
    """The non-empty YAML documents of one file."""
    return [dict(document) for document in yaml.safe_load_all(path.read_text()) if document]


def tekton_documents() -> dict[str, list[Document]]:
    """Every YAML file of tekton/ by file name, parsed."""
    return {path.name: load(path) for path in sorted(TEKTON.glob("*.yaml"))}
