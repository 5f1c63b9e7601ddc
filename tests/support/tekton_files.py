"""The files of tekton/ (the shipped Tasks, their RBAC and the example Pipeline), parsed:
what the unit rules, the step-script runs and the CRD dry-runs all read."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from support.cluster import Cluster

REPO_ROOT = Path(__file__).resolve().parents[2]
TEKTON = REPO_ROOT / "tekton"

Document = dict[str, Any]


def load(path: Path) -> list[Document]:
    """The non-empty YAML documents of one file."""
    return [dict(document) for document in yaml.safe_load_all(path.read_text()) if document]


def tekton_documents() -> dict[str, list[Document]]:
    """Every YAML file of tekton/ by file name, parsed."""
    return {path.name: load(path) for path in sorted(TEKTON.glob("*.yaml"))}


def model_testing_identity(
    kube: Cluster,
    namespace: str,
    kubeconfig: Path,
    rules: list[dict[str, Any]] | None = None,
) -> str:
    """Apply tekton/rbac.yaml in `namespace` (the Role's rules replaced by `rules` unless
    None), write a kubeconfig holding only a token of its ServiceAccount; return the token."""
    documents = copy.deepcopy(load(TEKTON / "rbac.yaml"))
    if rules is not None:
        next(d for d in documents if d["kind"] == "Role")["rules"] = rules
    kube.apply(documents, namespace=namespace)
    token = kube.create_token(namespace, model_testing_account())
    kube.kubeconfig_for_token(token, kubeconfig, namespace=namespace)
    return token


def model_testing_account() -> str:
    """The ServiceAccount tekton/rbac.yaml creates for model-testing pipelines."""
    (name,) = [
        d["metadata"]["name"] for d in load(TEKTON / "rbac.yaml") if d["kind"] == "ServiceAccount"
    ]
    return name


def model_testing_rules() -> list[dict[str, Any]]:
    """The rules of the Role tekton/rbac.yaml grants."""
    role = next(d for d in load(TEKTON / "rbac.yaml") if d["kind"] == "Role")
    return list(role["rules"])
