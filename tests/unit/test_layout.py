"""The package's layout, as README "Layout" describes it: which folders exist, and which of
the project's folders each may import. An import outside its line fails here, so that the
layering a reader relies on (pure core below, shell above, tools beside) stays true."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "registry_sync"

# Folder → the folders of registry_sync it may import (itself always). README "Layout".
MAY_IMPORT: dict[str, set[str]] = {
    "domain": set(),
    "registry": {"domain", "certificates"},
    "oci": {"domain", "certificates"},
    "certificates": set(),
    "controller": {"domain", "registry", "oci", "certificates"},
    "webhook": {"domain", "controller", "certificates"},
    "handlers": {"domain", "controller", "webhook"},
    "audit": {"domain", "registry", "oci", "controller"},
    "pipeline_tasks": {"domain", "registry", "controller"},
    "devregistry": set(),
    "local_control_plane": {"certificates"},
    "demo": {"registry", "local_control_plane"},
}
ROOT_FILES = {"__init__.py", "py.typed", "cli.py"}


def project_imports(path: Path) -> set[str]:
    """The registry_sync modules `path` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "registry_sync":  # `from registry_sync import x`
                found.update(f"registry_sync.{alias.name}" for alias in node.names)
            else:
                found.add(node.module)
    return {name for name in found if name.split(".")[0] == "registry_sync"}


def folder_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_package_root_holds_only_the_cli_and_the_package_markers() -> None:
    files = {path.name for path in PACKAGE.iterdir() if path.is_file()}
    folders = {path.name for path in PACKAGE.iterdir() if path.is_dir()} - {"__pycache__"}

    assert files == ROOT_FILES
    assert folders == set(MAY_IMPORT)


@pytest.mark.parametrize("folder", sorted(MAY_IMPORT))
def test_a_folder_imports_only_the_folders_its_layout_line_names(folder: str) -> None:
    allowed = MAY_IMPORT[folder] | {folder}
    outside = {
        f"{path.relative_to(PACKAGE)} imports {module}"
        for path in sorted((PACKAGE / folder).rglob("*.py"))
        for module in project_imports(path)
        if module != "registry_sync" and folder_of(module) not in allowed
    }
    assert outside == set()


def test_the_check_sees_imports_of_every_form() -> None:
    handlers = project_imports(PACKAGE / "handlers" / "triggers.py")
    pki = project_imports(PACKAGE / "local_control_plane" / "pki.py")
    certificates = project_imports(PACKAGE / "webhook" / "certificates.py")  # inside a function

    assert "registry_sync.controller.settings" in handlers
    assert "registry_sync.certificates" in pki
    assert "registry_sync.certificates" in certificates
    assert folder_of("registry_sync.webhook.review") == "webhook"
