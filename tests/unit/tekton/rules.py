"""The rules every Task and Pipeline in tekton/ keeps, as functions from parsed YAML to a
list of problems (empty: kept), so that a test can show each rule failing on a broken copy.

- Nothing Tekton pastes reaches shell code: no `$(params.…)`, `$(context.…)`,
  `$(tasks.…)`, `$(workspaces.….path)` or any other `$(root.…)` in a `script:`, nor in the
  args of a step whose command is a shell with `-c`. Tekton substitutes text, and registry
  names are input from outside.
- Values reach a script through `env:`, each entry either a literal, exactly one whole
  reference to a declared param, a declared workspace's path or bound flag, a TaskRun
  context value, or a `fieldRef`; every `$VAR` a script reads is such an entry (or a
  variable the script sets itself).
- Every `$(params.x)` and `$(workspaces.x.…)` a Task uses is declared by that Task.
- Every step runs as non-root, without privilege escalation or capabilities, on a
  read-only root filesystem, and mounts only the Task's own volumes.
- A Pipeline gives each task exactly params it declares (all it requires), binds its
  workspaces (all it requires, none of those to an optional one), names only its own
  params and workspaces, and orders tasks only after tasks that exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from support.tekton_files import Document

# `$(` then a dotted or bracketed name: every Tekton variable (params, context, tasks,
# workspaces, results, steps, …) and nothing a shell's `$(command)` usually looks like.
PASTED = re.compile(r"\$\(\s*[A-Za-z_][\w-]*\s*[.\[]")
_WHOLE_REFERENCE = re.compile(
    r"^\$\((?:params\.(?P<param>[\w-]+)"
    r"|workspaces\.(?P<workspace>[\w-]+)\.(?:path|bound)"
    r"|context\.taskRun\.(?:name|namespace|uid))\)$"
)
_PARAM_USE = re.compile(r"\$\(params(?:\.([\w-]+)|\[['\"]([^'\"]+)['\"]\])")
_WORKSPACE_USE = re.compile(r"\$\(workspaces\.([\w-]+)\.")
_SHELL_READ = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_SHELL_SET = re.compile(r"(?:^|[\s;(])(?:for\s+)?([A-Za-z_][A-Za-z0-9_]*)(?:=|\s+in\s)", re.M)
_SHELLS = {"sh", "bash", "dash", "ash", "zsh", "ksh"}


def task_specs(document: Document) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(where, spec) of a Task, or of each inline taskSpec of a Pipeline."""
    name = document["metadata"]["name"]
    if document["kind"] == "Task":
        yield f"Task {name}", document["spec"]
    elif document["kind"] == "Pipeline":
        for task in [*document["spec"].get("tasks", []), *document["spec"].get("finally", [])]:
            if "taskSpec" in task:
                yield f"Pipeline {name} task {task['name']}", task["taskSpec"]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _names(entries: list[Mapping[str, Any]] | None) -> set[str]:
    return {entry["name"] for entry in entries or []}


# -- per Task ----------------------------------------------------------------------------


def pasted_into_code(where: str, spec: Mapping[str, Any]) -> list[str]:
    problems = []
    for step in spec.get("steps", []):
        label = f"{where} step {step.get('name')}"
        if PASTED.search(step.get("script", "")):
            found = PASTED.findall(step["script"])
            problems.append(f"{label}: script contains Tekton substitutions {found}")
        command = step.get("command") or []
        args = step.get("args") or []
        if command and Path(command[0]).name in _SHELLS and "-c" in [*command, *args]:
            found = [text for text in [*command, *args] if PASTED.search(text)]
            if found:
                problems.append(f"{label}: shell command line contains substitutions {found}")
    return problems


def env_from_outside(where: str, spec: Mapping[str, Any]) -> list[str]:
    problems = []
    params = _names(spec.get("params"))
    workspaces = _names(spec.get("workspaces"))
    for step in spec.get("steps", []):
        label = f"{where} step {step.get('name')}"
        declared: set[str] = set()
        for entry in step.get("env") or []:
            declared.add(entry["name"])
            if "valueFrom" in entry:
                if set(entry["valueFrom"]) != {"fieldRef"}:
                    problems.append(
                        f"{label}: env {entry['name']} comes from neither a param nor a fieldRef"
                    )
                continue
            value = str(entry.get("value", ""))
            if "$(" not in value:
                continue  # a literal the Task's author wrote
            match = _WHOLE_REFERENCE.match(value)
            if match is None:
                problems.append(
                    f"{label}: env {entry['name']} = {value!r} is not one whole reference"
                )
            elif match["param"] is not None and match["param"] not in params:
                problems.append(
                    f"{label}: env {entry['name']} names undeclared param {match['param']}"
                )
            elif match["workspace"] is not None and match["workspace"] not in workspaces:
                problems.append(
                    f"{label}: env {entry['name']} names undeclared workspace {match['workspace']}"
                )
        script = step.get("script", "")
        read = set(_SHELL_READ.findall(script)) - set(_SHELL_SET.findall(script))
        missing = sorted(read - declared)
        if missing:
            problems.append(f"{label}: script reads {missing}, which no env entry sets")
    return problems


def references_declared(where: str, spec: Mapping[str, Any]) -> list[str]:
    params = _names(spec.get("params"))
    workspaces = _names(spec.get("workspaces"))
    used_params: set[str] = set()
    used_workspaces: set[str] = set()
    for text in _strings({key: value for key, value in spec.items() if key != "description"}):
        used_params.update(dotted or bracketed for dotted, bracketed in _PARAM_USE.findall(text))
        used_workspaces.update(_WORKSPACE_USE.findall(text))
    problems = [f"{where}: uses undeclared param {name}" for name in sorted(used_params - params)]
    problems += [
        f"{where}: uses undeclared workspace {name}"
        for name in sorted(used_workspaces - workspaces)
    ]
    return problems


def steps_confined(where: str, spec: Mapping[str, Any]) -> list[str]:
    problems = []
    volumes = _names(spec.get("volumes"))
    for step in spec.get("steps", []):
        label = f"{where} step {step.get('name')}"
        context = step.get("securityContext") or {}
        expected = {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
        }
        for key, value in expected.items():
            if context.get(key) is not value:
                problems.append(f"{label}: securityContext.{key} is not {value}")
        if (context.get("capabilities") or {}).get("drop") != ["ALL"]:
            problems.append(f"{label}: securityContext.capabilities.drop is not [ALL]")
        if context.get("privileged"):
            problems.append(f"{label}: privileged")
        for mount in step.get("volumeMounts") or []:
            if mount["name"] not in volumes:
                problems.append(f"{label}: mounts {mount['name']}, not a volume of the Task")
    return problems


TASK_RULES = (pasted_into_code, env_from_outside, references_declared, steps_confined)


def task_problems(documents: list[Document]) -> list[str]:
    """What any Task (or inline taskSpec) among `documents` breaks."""
    return [
        problem
        for document in documents
        for where, spec in task_specs(document)
        for rule in TASK_RULES
        for problem in rule(where, spec)
    ]


# -- per Pipeline ------------------------------------------------------------------------


def pipeline_problems(pipeline: Document, tasks_by_name: Mapping[str, Document]) -> list[str]:
    """What a Pipeline breaks, its taskRefs resolved among `tasks_by_name` (the Tasks of
    tekton/)."""
    spec = pipeline["spec"]
    where = f"Pipeline {pipeline['metadata']['name']}"
    params = _names(spec.get("params"))
    workspaces = {entry["name"]: entry for entry in spec.get("workspaces") or []}
    all_tasks = [*spec.get("tasks", []), *spec.get("finally", [])]
    names = {task["name"] for task in all_tasks}
    problems = []
    for task in all_tasks:
        label = f"{where} task {task['name']}"
        if "taskSpec" in task:
            task_spec = task["taskSpec"]
        elif task.get("taskRef", {}).get("name") in tasks_by_name:
            task_spec = tasks_by_name[task["taskRef"]["name"]]["spec"]
        else:
            problems.append(f"{label}: refers to a Task not in tekton/")
            continue
        declared = {entry["name"]: entry for entry in task_spec.get("params") or []}
        given = {entry["name"]: entry.get("value") for entry in task.get("params") or []}
        for name in sorted(set(given) - set(declared)):
            problems.append(f"{label}: gives param {name}, which the task does not declare")
        for name, entry in sorted(declared.items()):
            if "default" not in entry and name not in given:
                problems.append(f"{label}: does not give required param {name}")
        for text in _strings(given):
            for dotted, bracketed in _PARAM_USE.findall(text):
                if (dotted or bracketed) not in params:
                    problems.append(
                        f"{label}: uses undeclared pipeline param {dotted or bracketed}"
                    )
        task_workspaces = {entry["name"]: entry for entry in task_spec.get("workspaces") or []}
        bound = {entry["name"]: entry["workspace"] for entry in task.get("workspaces") or []}
        for name, source in sorted(bound.items()):
            if name not in task_workspaces:
                problems.append(f"{label}: binds workspace {name}, which the task does not declare")
            elif source not in workspaces:
                problems.append(f"{label}: binds {name} to undeclared pipeline workspace {source}")
            elif workspaces[source].get("optional") and not task_workspaces[name].get("optional"):
                problems.append(f"{label}: binds required workspace {name} to optional {source}")
        for name, entry in sorted(task_workspaces.items()):
            if not entry.get("optional") and name not in bound:
                problems.append(f"{label}: does not bind required workspace {name}")
        for before in task.get("runAfter") or []:
            if before not in names:
                problems.append(f"{label}: runs after {before}, which is not a task")
    return problems
