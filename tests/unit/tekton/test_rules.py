"""Every Task and Pipeline in tekton/ keeps the rules of `rules.py`, and each rule finds
what it is there for in a broken copy (so a rule that silently checks nothing fails)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from support.tekton_files import Document, tekton_documents
from unit.tekton.rules import PASTED, pipeline_problems, task_problems

TEKTON = tekton_documents()
ALL = [document for documents in TEKTON.values() for document in documents]
TASKS = {d["metadata"]["name"]: d for d in ALL if d["kind"] == "Task"}
PIPELINES = [d for d in ALL if d["kind"] == "Pipeline"]


def test_tekton_holds_the_two_tasks_the_pipeline_and_the_rbac() -> None:
    assert sorted(TEKTON) == [
        "model-testing-pipeline.yaml",
        "rbac.yaml",
        "registry-sync-publish.yaml",
        "registry-sync-verify.yaml",
    ]
    assert sorted(TASKS) == ["registry-sync-publish", "registry-sync-verify"]
    assert [p["metadata"]["name"] for p in PIPELINES] == ["model-testing"]
    assert {d["apiVersion"] for d in ALL if d["kind"] in ("Task", "Pipeline")} == {"tekton.dev/v1"}


@pytest.mark.parametrize("file", sorted(TEKTON))
def test_every_task_keeps_the_rules(file: str) -> None:
    assert task_problems(TEKTON[file]) == []


def test_the_pipeline_wires_its_tasks_consistently() -> None:
    assert [problem for p in PIPELINES for problem in pipeline_problems(p, TASKS)] == []


@pytest.mark.parametrize(
    "text",
    [
        "$(params.model_name)",
        "$(params['model_name'])",
        '$(params["version_name"])',
        "$(context.pipelineRun.name)",
        "$(tasks.verify.results.version)",
        "$(workspaces.results.path)",
        "$(results.report.path)",
        "$(steps.step-a.exitCode.path)",
    ],
)
def test_every_kind_of_tekton_substitution_counts_as_pasted(text: str) -> None:
    assert PASTED.search(f'echo "{text}"')


def test_a_shell_command_substitution_is_not_taken_for_a_tekton_one() -> None:
    assert not PASTED.search('today="$(date +%F)"')


# -- each rule, broken on purpose -----------------------------------------------------


def _verify() -> Document:
    return copy.deepcopy(TASKS["registry-sync-verify"])


def _step(task: Document) -> dict[str, Any]:
    step: dict[str, Any] = task["spec"]["steps"][0]
    return step


def _param_in_script(task: Document) -> None:
    _step(task)["script"] += 'echo "$(params.registry-url)"\n'


def _workspace_path_in_script(task: Document) -> None:
    _step(task)["script"] += 'ls "$(workspaces.registry-ca.path)"\n'


def _context_in_script(task: Document) -> None:
    _step(task)["script"] += 'echo "$(context.taskRun.name)"\n'


def _shell_c_with_a_param(task: Document) -> None:
    step = _step(task)
    del step["script"]
    step["command"] = ["/bin/sh", "-c"]
    step["args"] = ['registry-sync verify-run --run "$(params.pipelinerun-name)"']


def _env_reads_an_undeclared_param(task: Document) -> None:
    _step(task)["env"].append({"name": "X", "value": "$(params.nope)"})


def _env_pastes_into_a_longer_value(task: Document) -> None:
    _step(task)["env"].append({"name": "X", "value": "--run=$(params.pipelinerun-name)"})


def _env_from_a_secret(task: Document) -> None:
    reference = {"secretKeyRef": {"name": "s", "key": "k"}}
    _step(task)["env"].append({"name": "X", "valueFrom": reference})


def _script_reads_an_unset_variable(task: Document) -> None:
    _step(task)["script"] += 'echo "$MODEL_NAME"\n'


def _image_from_an_undeclared_param(task: Document) -> None:
    _step(task)["image"] = "$(params.operator-image)"


def _undeclared_workspace(task: Document) -> None:
    _step(task)["env"].append({"name": "X", "value": "$(workspaces.nope.path)"})


def _root_filesystem_writable(task: Document) -> None:
    _step(task)["securityContext"]["readOnlyRootFilesystem"] = False


def _may_run_as_root(task: Document) -> None:
    del _step(task)["securityContext"]["runAsNonRoot"]


def _may_escalate(task: Document) -> None:
    _step(task)["securityContext"]["allowPrivilegeEscalation"] = True


def _keeps_capabilities(task: Document) -> None:
    _step(task)["securityContext"]["capabilities"] = {"drop": ["NET_RAW"]}


def _mounts_a_foreign_volume(task: Document) -> None:
    _step(task)["volumeMounts"].append({"name": "host", "mountPath": "/host"})


BROKEN_TASKS: list[tuple[Callable[[Document], None], str]] = [
    (_param_in_script, "script contains Tekton substitutions"),
    (_workspace_path_in_script, "script contains Tekton substitutions"),
    (_context_in_script, "script contains Tekton substitutions"),
    (_shell_c_with_a_param, "shell command line contains substitutions"),
    (_env_reads_an_undeclared_param, "names undeclared param nope"),
    (_env_pastes_into_a_longer_value, "is not one whole reference"),
    (_env_from_a_secret, "comes from neither a param nor a fieldRef"),
    (_script_reads_an_unset_variable, "script reads ['MODEL_NAME']"),
    (_image_from_an_undeclared_param, "uses undeclared param operator-image"),
    (_undeclared_workspace, "names undeclared workspace nope"),
    (_root_filesystem_writable, "readOnlyRootFilesystem is not True"),
    (_may_run_as_root, "runAsNonRoot is not True"),
    (_may_escalate, "allowPrivilegeEscalation is not False"),
    (_keeps_capabilities, "capabilities.drop is not [ALL]"),
    (_mounts_a_foreign_volume, "mounts host, not a volume of the Task"),
]


@pytest.mark.parametrize(
    ("breakage", "expected"), BROKEN_TASKS, ids=[b.__name__.strip("_") for b, _ in BROKEN_TASKS]
)
def test_each_task_rule_finds_a_broken_copy(
    breakage: Callable[[Document], None], expected: str
) -> None:
    task = _verify()
    breakage(task)

    problems = task_problems([task])

    assert any(expected in problem for problem in problems), problems


def test_a_substitution_in_an_inline_task_of_the_pipeline_is_found() -> None:
    pipeline = copy.deepcopy(PIPELINES[0])
    benchmark = next(t for t in pipeline["spec"]["tasks"] if t["name"] == "benchmark")
    benchmark["taskSpec"]["steps"][0]["script"] += 'echo "$(params.vllm-model-name)"\n'

    problems = task_problems([pipeline])

    assert any("task benchmark step guidellm: script contains" in p for p in problems), problems


def _pipeline_task(pipeline: Document, name: str) -> dict[str, Any]:
    task: dict[str, Any] = next(t for t in pipeline["spec"]["tasks"] if t["name"] == name)
    return task


def _misspelt_task_param(pipeline: Document) -> None:
    _pipeline_task(pipeline, "publish")["params"][0]["name"] = "pipeline-run-name"


def _unknown_pipeline_param(pipeline: Document) -> None:
    _pipeline_task(pipeline, "verify")["params"][2]["value"] = "$(params.registryURL)"


def _required_workspace_unbound(pipeline: Document) -> None:
    publish = _pipeline_task(pipeline, "publish")
    publish["workspaces"] = [w for w in publish["workspaces"] if w["name"] != "results"]


def _required_workspace_from_an_optional_one(pipeline: Document) -> None:
    publish = _pipeline_task(pipeline, "publish")
    next(w for w in publish["workspaces"] if w["name"] == "results")["workspace"] = "registry-ca"


def _runs_after_nothing(pipeline: Document) -> None:
    _pipeline_task(pipeline, "publish")["runAfter"] = ["benchmark", "evaluation"]


def _task_ref_outside_tekton(pipeline: Document) -> None:
    _pipeline_task(pipeline, "verify")["taskRef"]["name"] = "registry-sync-check"


BROKEN_PIPELINES: list[tuple[Callable[[Document], None], str]] = [
    (_misspelt_task_param, "gives param pipeline-run-name, which the task does not declare"),
    (_misspelt_task_param, "does not give required param pipelinerun-name"),
    (_unknown_pipeline_param, "uses undeclared pipeline param registryURL"),
    (_required_workspace_unbound, "does not bind required workspace results"),
    (_required_workspace_from_an_optional_one, "binds required workspace results to optional"),
    (_runs_after_nothing, "runs after evaluation, which is not a task"),
    (_task_ref_outside_tekton, "refers to a Task not in tekton/"),
]


@pytest.mark.parametrize(
    ("breakage", "expected"),
    BROKEN_PIPELINES,
    ids=[f"{b.__name__.strip('_')}-{i}" for i, (b, _) in enumerate(BROKEN_PIPELINES)],
)
def test_each_pipeline_rule_finds_a_broken_copy(
    breakage: Callable[[Document], None], expected: str
) -> None:
    pipeline = copy.deepcopy(PIPELINES[0])
    breakage(pipeline)

    problems = pipeline_problems(pipeline, TASKS)

    assert any(expected in problem for problem in problems), problems
