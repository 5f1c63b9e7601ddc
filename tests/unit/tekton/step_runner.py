"""Run one step script of a Task in tekton/ with /bin/sh, as Tekton would after its
substitutions: each `env:` entry resolved from the given params (else the defaults), the
given workspaces (bound or not) and the pod's namespace, and the programs the script calls
replaced by fakes that record their arguments."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

POD_NAMESPACE = "team-a"
_REFERENCE = re.compile(
    r"^\$\((?:params\.(?P<param>[\w-]+)|workspaces\.(?P<workspace>[\w-]+)\.(?P<what>path|bound))\)$"
)

# A fake program: records its argv as JSON (one file per call), for lm_eval writes a results
# file where lm-eval 0.4 would (`<output_path>/<model>/results_<time>.json`), and exits with
# FAKE_EXIT.
_FAKE = """#!{python}
import json, os, sys
from pathlib import Path
name = Path(sys.argv[0]).name
calls = Path(os.environ["FAKE_CALLS"])
calls.mkdir(exist_ok=True)
(calls / f"{{len(list(calls.iterdir())):03d}}-{{name}}.json").write_text(json.dumps(sys.argv[1:]))
if name == "lm_eval":
    out = Path(sys.argv[sys.argv.index("--output_path") + 1]) / "served__model"
    out.mkdir(parents=True)
    (out / "results_2026-01-01T00-00-00.json").write_text('{{"results": {{}}}}')
sys.exit(int(os.environ.get("FAKE_EXIT", "0")))
"""


@dataclass(frozen=True)
class StepRun:
    returncode: int
    stderr: str
    calls: list[tuple[str, list[str]]]  # (program, argv[1:]) in call order


def run_step(
    task_spec: Mapping[str, Any],
    tmp_path: Path,
    *,
    params: Mapping[str, str],
    workspaces: Mapping[str, Path],
    programs: tuple[str, ...] = ("registry-sync", "guidellm", "lm_eval"),
    exit_code: int = 0,
) -> StepRun:
    """Run the only step of `task_spec` with `params` (the rest at their defaults) and
    `workspaces` bound at the given folders (the Task's others unbound); the fake programs
    exit with `exit_code`."""
    (step,) = task_spec["steps"]
    defaults = {p["name"]: p["default"] for p in task_spec.get("params", []) if "default" in p}
    values = {**defaults, **params}
    environment = {
        "PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin",
        "FAKE_CALLS": str(tmp_path / "calls"),
    }
    environment["FAKE_EXIT"] = str(exit_code)
    for entry in step.get("env") or []:
        environment[entry["name"]] = _resolve(entry, values, workspaces)
    (tmp_path / "bin").mkdir()
    for program in programs:
        fake = tmp_path / "bin" / program
        fake.write_text(_FAKE.format(python=sys.executable))
        fake.chmod(0o755)
    script = tmp_path / "script"
    script.write_text(step["script"])
    finished = subprocess.run(
        ["/bin/sh", str(script)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=tmp_path,
    )
    calls_dir = tmp_path / "calls"
    calls = [
        (path.stem.split("-", 1)[1], json.loads(path.read_text()))
        for path in sorted(calls_dir.iterdir() if calls_dir.is_dir() else [])
    ]
    return StepRun(finished.returncode, finished.stderr, calls)


def _resolve(
    entry: Mapping[str, Any], params: Mapping[str, str], workspaces: Mapping[str, Path]
) -> str:
    if "valueFrom" in entry:
        assert entry["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}, entry
        return POD_NAMESPACE
    value = str(entry.get("value", ""))
    match = _REFERENCE.match(value)
    if match is None:
        return value
    if match["param"] is not None:
        return params[match["param"]]
    # Tekton: an unbound optional workspace has an empty path and `bound` "false".
    path = workspaces.get(match["workspace"])
    if match["what"] == "bound":
        return "true" if path is not None else "false"
    return os.fspath(path) if path is not None else ""
