"""The domain core stays pure: standard library, pydantic and itself, nothing else."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[3] / "operator" / "registry_sync" / "domain"
ALLOWED = set(sys.stdlib_module_names) | {"pydantic", "pydantic_core"}


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
    return modules


@pytest.mark.parametrize("module", sorted(DOMAIN.glob("*.py")), ids=lambda p: p.name)
def test_a_domain_module_imports_only_the_standard_library_pydantic_and_the_domain(
    module: Path,
) -> None:
    foreign = {
        name
        for name in imported_modules(module)
        if name.split(".")[0] not in ALLOWED and not name.startswith("registry_sync.domain")
    }
    assert foreign == set()


def test_the_check_sees_the_domain_modules() -> None:
    assert len(list(DOMAIN.glob("*.py"))) >= 8
    assert "registry_sync.domain.params" in imported_modules(DOMAIN / "admission.py")
