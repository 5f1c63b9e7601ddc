"""What a process loads is what it runs: each check imports in a fresh interpreter and
reads `sys.modules`.

- The operator (`registry-sync run`) loads neither the other sub-commands (the demo, the
  local control plane, the registry stand-in, the audit) nor `cryptography`, which only
  making a webhook certificate needs.
- The benchmarks' bare operator loads Kopf (with the Kubernetes client its login uses), the
  standard library, `registry_sync.controller.kopf_settings` and `registry_sync.domain.metadata`,
  nothing else of registry-sync: the baseline must not carry the operator's weight.
- The settings and the metrics, which need only the registry's URL rule and its request
  events, load the registry transport but not the endpoint catalogue.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import click
from click.testing import CliRunner
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from registry_sync.cli import SUBCOMMANDS, main

BENCH = Path(__file__).resolve().parents[2] / "bench"
NOT_RUN_BY_THE_OPERATOR = (
    "registry_sync.audit",
    "registry_sync.demo",
    "registry_sync.devregistry",
    "registry_sync.pipeline_tasks",
    "ijson",
    "registry_sync.local_control_plane",
    "cryptography",  # startswith: also matches any module named cryptography*
)


def modules_after(code: str) -> set[str]:
    """The names in `sys.modules` after running `code` in a new interpreter."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def distributions_required_by(*requirements: str) -> set[str]:
    """The installed distributions these requirements (extras included) pull in, recursively."""
    found: set[str] = set()
    todo = [Requirement(text) for text in requirements]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        try:
            distribution = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            continue  # an optional requirement that is not installed cannot be imported
        found.add(name)
        extras = requirement.extras or {""}
        for text in distribution.requires or []:
            needed = Requirement(text)
            if needed.marker is None or any(needed.marker.evaluate({"extra": e}) for e in extras):
                todo.append(needed)
    return found


def top_level_modules_of(distributions: set[str]) -> set[str]:
    return {
        module
        for module, names in metadata.packages_distributions().items()
        if any(canonicalize_name(name) in distributions for name in names)
    }


def is_interpreter_internal(module: str) -> bool:
    # Cython-compiled extensions register `_cython_<version>`/`cython_runtime`, sysconfig
    # reads `_sysconfigdata_<platform>`, multiprocessing aliases `__main__` as `__mp_main__`.
    return module.startswith(("_cython_", "_sysconfigdata_")) or module in (
        "cython_runtime",
        "__mp_main__",
    )


def test_resolving_the_run_command_loads_no_other_sub_command_and_no_cryptography() -> None:
    loaded = modules_after(
        "import click\n"
        "from registry_sync.cli import main\n"
        "assert main.get_command(click.Context(main), 'run') is not None"
    )

    assert "registry_sync.handlers.command" in loaded and "registry_sync.handlers" in loaded
    assert {m for m in loaded if m.startswith(NOT_RUN_BY_THE_OPERATOR)} == set()


def test_help_lists_every_sub_command() -> None:
    result = CliRunner().invoke(main, ["--help"])

    assert result.exit_code == 0, result.output
    listed = result.output.split("Commands:", 1)[1].split()
    assert set(SUBCOMMANDS) <= set(listed)
    assert set(SUBCOMMANDS) == {"run", "audit", "demo", "dev-registry", "verify-run", "publish"}


def test_each_sub_command_is_found_by_its_name() -> None:
    context = click.Context(main)
    for name in SUBCOMMANDS:
        command = main.get_command(context, name)
        assert command is not None and command.name == name


def test_the_bare_operator_loads_only_kopf_the_standard_library_and_the_shared_names() -> None:
    at_start = modules_after("")
    loaded = modules_after(f"import sys\nsys.path.insert(0, {str(BENCH)!r})\nimport bare_operator")
    allowed = (
        at_start
        | set(sys.stdlib_module_names)
        | top_level_modules_of(distributions_required_by("kopf[full-auth]"))
        | {"bare_operator", "registry_sync"}
    )

    ours = {m for m in loaded if m.split(".")[0] == "registry_sync"}
    # The package markers come with them; each is a docstring only.
    assert ours == {
        "registry_sync",
        "registry_sync.controller",
        "registry_sync.controller.kopf_settings",
        "registry_sync.domain",
        "registry_sync.domain.metadata",
    }
    foreign = {
        m.split(".")[0]
        for m in loaded
        if m.split(".")[0] not in allowed and not is_interpreter_internal(m)
    }
    assert foreign == set()


def test_the_settings_and_the_metrics_load_the_registry_transport_but_not_its_endpoints() -> None:
    loaded = modules_after(
        "import registry_sync.controller.settings\nimport registry_sync.controller.metrics"
    )

    assert "registry_sync.registry.transport" in loaded
    assert "registry_sync.registry.client" not in loaded
    assert "registry_sync.registry.snapshot_source" not in loaded
