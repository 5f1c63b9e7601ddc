"""What tekton/ promises the rest of the project: the pipeline's order and params are the
ones the operator writes and the commands read, the Role grants exactly what the two
commands ask, and the Tasks run the image the install manifests name."""

from __future__ import annotations

from typing import Any

import yaml

from registry_sync.domain.metadata import MODEL_BINDINGS, PIPELINE_RUNS, TARGET_PARAM
from registry_sync.domain.params import ParamNames
from support.tekton_files import REPO_ROOT, tekton_documents

FILES = tekton_documents()
(PIPELINE,) = FILES["model-testing-pipeline.yaml"]
TASKS = {
    document["metadata"]["name"]: document
    for file in ("registry-sync-verify.yaml", "registry-sync-publish.yaml")
    for document in FILES[file]
}
RBAC = {document["kind"]: document for document in FILES["rbac.yaml"]}


def _pipeline_task(name: str) -> dict[str, Any]:
    task: dict[str, Any] = next(t for t in PIPELINE["spec"]["tasks"] if t["name"] == name)
    return task


def _param_default(task: dict[str, Any], name: str) -> Any:
    return next(p["default"] for p in task["spec"]["params"] if p["name"] == name)


def test_verify_comes_first_benchmark_and_evaluate_in_parallel_then_publish() -> None:
    order = {t["name"]: t.get("runAfter", []) for t in PIPELINE["spec"]["tasks"]}

    assert order == {
        "verify": [],
        "benchmark": ["verify"],
        "evaluate": ["verify"],
        "publish": ["benchmark", "evaluate"],
    }
    assert "finally" not in PIPELINE["spec"]  # nothing publishes after a failed check


def test_the_pipeline_declares_the_params_the_operator_sets_and_the_target_param() -> None:
    names = ParamNames()
    declared = {p["name"]: p for p in PIPELINE["spec"]["params"]}

    for name in (TARGET_PARAM, names.served_name, names.model_name, names.version_name):
        assert name in declared
        assert "default" not in declared[name], f"{name} must be given explicitly"


def test_both_registry_sync_tasks_are_given_their_own_run() -> None:
    for name in ("verify", "publish"):
        given = {p["name"]: p["value"] for p in _pipeline_task(name)["params"]}
        assert given["pipelinerun-name"] == "$(context.pipelineRun.name)"


def test_benchmark_and_evaluate_get_the_served_name_not_the_registry_names() -> None:
    for name in ("benchmark", "evaluate"):
        values = [p["value"] for p in _pipeline_task(name)["params"]]
        assert "$(params.vllm_model_name)" in values
        assert not {"$(params.model_name)", "$(params.version_name)"} & set(values)


def test_publish_is_given_the_files_benchmark_and_evaluate_write() -> None:
    given = {p["name"]: p["value"] for p in _pipeline_task("publish")["params"]}
    benchmark = _pipeline_task("benchmark")["taskSpec"]["steps"][0]["script"]
    evaluate = _pipeline_task("evaluate")["taskSpec"]["steps"][0]["script"]

    assert f"path=$RESULTS_DIR/{given['guidellm-report']}" in benchmark
    assert given["lm-eval-results"] == "lm-eval/results.json"
    assert (
        'out="$RESULTS_DIR/lm-eval"' in evaluate and 'cp "$newest" "$out/results.json"' in evaluate
    )


def test_the_tasks_param_names_default_is_the_operators() -> None:
    for task in TASKS.values():
        assert _param_default(task, "param-names") == ",".join(
            (ParamNames().served_name, ParamNames().model_name, ParamNames().version_name)
        )


def test_the_tasks_run_the_image_the_install_manifests_name() -> None:
    kustomization = yaml.safe_load((REPO_ROOT / "manifests/base/kustomization.yaml").read_text())
    (image,) = [i for i in kustomization["images"] if i["name"] == "registry-sync"]
    expected = f"{image['name']}:{image['newTag']}"

    assert {name: _param_default(t, "image") for name, t in TASKS.items()} == dict.fromkeys(
        TASKS, expected
    )
    pipeline_default = next(
        p["default"] for p in PIPELINE["spec"]["params"] if p["name"] == "registry_sync_image"
    )
    assert pipeline_default == expected


def test_the_role_grants_exactly_get_on_pipelineruns_and_modelbindings() -> None:
    granted = sorted(
        (group, resource, verb)
        for rule in RBAC["Role"]["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    )

    assert granted == sorted(
        [
            (PIPELINE_RUNS.group, PIPELINE_RUNS.plural, "get"),
            (MODEL_BINDINGS.group, MODEL_BINDINGS.plural, "get"),
        ]
    )
    assert all("resourceNames" not in rule for rule in RBAC["Role"]["rules"])


def test_the_role_binding_gives_the_role_to_the_service_account() -> None:
    binding = RBAC["RoleBinding"]

    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": RBAC["Role"]["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": RBAC["ServiceAccount"]["metadata"]["name"]}
    ]
    assert all("namespace" not in d["metadata"] for d in FILES["rbac.yaml"])
