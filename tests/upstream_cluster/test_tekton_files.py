"""Every file in tekton/ against Tekton's real Task and Pipeline CRDs (read from the
third-party folder at run time): a server-side dry-run create with strict field validation
(`kubectl create --dry-run=server --validate=strict`, i.e. `dryRun=All` and
`fieldValidation=Strict`), so a field the CRD's schema does not know is refused, not
silently pruned. The Pipeline CRD leaves an inline `taskSpec` unchecked (it preserves unknown
fields there), so each of the pipeline's inline tasks is also applied as a Task.

No Tekton controller or webhook runs here: this is the CRDs' schema, not Tekton's own
validation (tests/unit/tekton checks what Tekton would check about params and workspaces).
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from support.cluster import Cluster
from support.tekton_files import Document, tekton_documents

pytestmark = [pytest.mark.cluster, pytest.mark.upstream]

DOCUMENTS = {
    f"{file}:{document['kind']}/{document['metadata']['name']}": document
    for file, documents in tekton_documents().items()
    for document in documents
}
(PIPELINE,) = [d for d in DOCUMENTS.values() if d["kind"] == "Pipeline"]
VERIFY = DOCUMENTS["registry-sync-verify.yaml:Task/registry-sync-verify"]


def _as_task(pipeline_task: dict[str, Any]) -> Document:
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "Task",
        "metadata": {"name": f"inline-{pipeline_task['name']}"},
        "spec": pipeline_task["taskSpec"],
    }


INLINE_TASKS = {t["name"]: _as_task(t) for t in PIPELINE["spec"]["tasks"] if "taskSpec" in t}


def dry_run_create(
    cluster: Cluster, namespace: str, document: Document, *, validate: str = "strict"
) -> subprocess.CompletedProcess[str]:
    """Create `document` as a server-side dry run (`dryRun=All`) with `validate` (`strict`:
    `fieldValidation=Strict`; `false`: `Ignore`); the completed kubectl run."""
    return cluster.kubectl(
        "create",
        "--dry-run=server",
        f"--validate={validate}",
        "--namespace",
        namespace,
        "-f",
        "-",
        stdin=json.dumps(document),
        check=False,
    )


def test_the_tekton_crds_are_served(upstream_kube: Cluster) -> None:
    for name in ("tasks.tekton.dev", "pipelines.tekton.dev"):
        assert upstream_kube.has_crd(name)


@pytest.mark.parametrize("key", sorted(DOCUMENTS))
def test_each_file_is_accepted(upstream_kube: Cluster, upstream_namespace: str, key: str) -> None:
    applied = dry_run_create(upstream_kube, upstream_namespace, DOCUMENTS[key])

    assert applied.returncode == 0, applied.stderr
    assert "(server dry run)" in applied.stdout


@pytest.mark.parametrize("name", sorted(INLINE_TASKS))
def test_each_inline_task_of_the_pipeline_is_a_valid_task(
    upstream_kube: Cluster, upstream_namespace: str, name: str
) -> None:
    applied = dry_run_create(upstream_kube, upstream_namespace, INLINE_TASKS[name])

    assert applied.returncode == 0, applied.stderr


def _script_misspelt(task: Document) -> None:
    step = task["spec"]["steps"][0]
    step["scirpt"] = step.pop("script")


def _optional_misspelt(task: Document) -> None:
    task["spec"]["workspaces"][0]["optinal"] = True


def _security_context_misspelt(task: Document) -> None:
    context = task["spec"]["steps"][0]["securityContext"]
    context["readOnlyRootFileSystem"] = context.pop("readOnlyRootFilesystem")


def _run_after_misspelt(pipeline: Document) -> None:
    task = pipeline["spec"]["tasks"][1]
    task["runafter"] = task.pop("runAfter")


MISTYPED: list[tuple[Document, Callable[[Document], None], str]] = [
    (VERIFY, _script_misspelt, "spec.steps[0].scirpt"),
    (VERIFY, _optional_misspelt, "spec.workspaces[0].optinal"),
    (VERIFY, _security_context_misspelt, "spec.steps[0].securityContext.readOnlyRootFileSystem"),
    (PIPELINE, _run_after_misspelt, "spec.tasks[1].runafter"),
]


@pytest.mark.parametrize(
    ("original", "mistype", "field"), MISTYPED, ids=[f for _, _, f in MISTYPED]
)
def test_a_copy_with_a_mistyped_field_is_refused(
    upstream_kube: Cluster,
    upstream_namespace: str,
    original: Document,
    mistype: Callable[[Document], None],
    field: str,
) -> None:
    broken = copy.deepcopy(original)
    mistype(broken)

    applied = dry_run_create(upstream_kube, upstream_namespace, broken)
    ignored = dry_run_create(upstream_kube, upstream_namespace, broken, validate="false")

    assert applied.returncode != 0
    assert f'unknown field "{field}"' in applied.stderr
    # What makes the difference: without strict validation the field is silently dropped.
    assert ignored.returncode == 0, ignored.stderr
