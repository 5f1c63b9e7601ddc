"""The image installs exactly what was tested, checked by hash (hack/image-requirements.sh).

image-requirements.txt must pin the whole runtime dependency closure of pyproject.toml at
the versions constraints.txt pins (what CI installs and tests), every requirement with its
hashes and none without; image-build-requirements.txt likewise for what builds the wheel.
Regenerate both with `make image-requirements` when this fails.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "image-requirements.txt"
BUILD = ROOT / "image-build-requirements.txt"
HASH = re.compile(r"^--hash=sha256:[0-9a-f]{64}$")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)$")


@dataclass(frozen=True)
class Pinned:
    name: str
    version: str
    hashes: tuple[str, ...]


def pinned(path: Path) -> dict[str, Pinned]:
    """The requirements of a pip-compile'd file; AssertionError on any line that is not a
    `name==version` with hashes (an index URL, an option, an unpinned or unhashed line)."""
    text = re.sub(r"#.*", "", path.read_text())
    entries = [" ".join(e.split()) for e in text.replace("\\\n", " ").splitlines() if e.strip()]
    found: dict[str, Pinned] = {}
    for entry in entries:
        requirement, *options = entry.split(" ")
        match = PIN.match(requirement)
        assert match, f"{path.name}: {entry[:80]!r} is not a name==version requirement"
        assert options, f"{path.name}: {requirement} has no hash"
        bad = [option for option in options if not HASH.match(option)]
        assert not bad, f"{path.name}: {requirement} carries {bad[:2]}, not only hashes"
        name = canonicalize_name(match[1])
        found[name] = Pinned(name, match[2], tuple(options))
    return found


def constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        name, _, version = line.partition("==")
        pins[canonicalize_name(name)] = version.strip()
    return pins


def runtime_closure() -> set[str]:
    """pyproject.toml's [project] dependencies and theirs, as installed here from
    constraints.txt (markers evaluated for this Python, no extras)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    todo = [Requirement(text) for text in project["dependencies"]]
    seen: set[str] = set()
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue
        seen.add(name)
        for text in metadata.requires(name) or []:
            todo.append(Requirement(text))
    return seen


def test_the_image_pins_exactly_the_runtime_closure() -> None:
    assert set(pinned(RUNTIME)) == runtime_closure()


def test_the_image_pins_each_dependency_at_the_version_constraints_pins() -> None:
    pins = constraints()
    differ = {
        name: (entry.version, pins.get(name))
        for name, entry in pinned(RUNTIME).items()
        if pins.get(name) != entry.version
    }
    assert not differ, f"image-requirements.txt vs constraints.txt: {differ}"


@pytest.mark.parametrize("path", [RUNTIME, BUILD], ids=lambda path: path.name)
def test_every_requirement_carries_hashes_and_nothing_names_an_index(path: Path) -> None:
    text = path.read_text()
    entries = pinned(path)  # raises on any unhashed or non-pinned line

    assert entries
    assert all(entry.hashes for entry in entries.values())
    assert not re.search(r"--(extra-)?index-url|--find-links|--trusted-host|://", text)


def test_the_build_requirements_satisfy_the_build_system() -> None:
    build_system = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    entries = pinned(BUILD)

    for text in build_system["requires"]:
        requirement = Requirement(text)
        entry = entries.get(canonicalize_name(requirement.name))
        assert entry, f"image-build-requirements.txt lacks {requirement.name}"
        assert requirement.specifier.contains(Version(entry.version))


def test_every_pip_step_of_the_dockerfile_checks_hashes_or_installs_only_the_project() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    steps = re.findall(r"pip (?:install|download|wheel) [^&\n]*", dockerfile)

    assert len(steps) >= 4
    for step in steps:
        if "--require-hashes" in step:
            assert "--no-deps" in step, step
        else:  # the project's own wheel: built from the source, installed without resolving
            assert "--no-deps" in step and ("--no-build-isolation" in step or "--no-index" in step)
            assert "registry_sync-" in step or step.endswith(" ."), step
