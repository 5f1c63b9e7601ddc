"""The install manifests as a cluster gets them, and the operator running as their
ServiceAccount.

`render` builds an overlay for a test namespace the way docs/install.md tells a person to
install into another namespace (a kustomization with `namespace:` and the overlay's own
`replacements` on top of it), with the project's kubectl (`kubectl kustomize`).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from support.cluster import Cluster, load_documents

REPO_ROOT = Path(__file__).resolve().parents[3]
MANIFESTS = REPO_ROOT / "manifests"
BASE = MANIFESTS / "base"
OVERLAYS = MANIFESTS / "overlays"
ANOTHER_NAMESPACE = OVERLAYS / "another-namespace"
TEST_CRDS = Path(__file__).with_name("crds.yaml")
SERVICE_ACCOUNT = "registry-sync"
ROLE = "registry-sync"

Rule = dict[str, Any]


@dataclass(frozen=True)
class Rendered:
    """The objects an overlay renders to, for one namespace."""

    documents: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [document for document in self.documents if document["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        """The only object of `kind` (named `name`, if given); AssertionError otherwise."""
        found = [
            document
            for document in self.of_kind(kind)
            if name is None or document["metadata"]["name"] == name
        ]
        assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
        return found[0]

    def kinds(self) -> set[str]:
        return {document["kind"] for document in self.documents}


def kustomization_of(folder: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((folder / "kustomization.yaml").read_text())
    return loaded


def render(kube: Cluster, folder: Path, namespace: str, workdir: Path) -> Rendered:
    """`folder` (base or an overlay) rendered for `namespace` by `kubectl kustomize`."""
    replacements = (
        kustomization_of(folder).get("replacements")
        or kustomization_of(ANOTHER_NAMESPACE)["replacements"]
    )
    wrapper = workdir / f"install-{folder.name}-{namespace}"
    wrapper.mkdir(parents=True, exist_ok=True)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": namespace,
        # kustomize accepts only relative paths to other kustomizations.
        "resources": [os.path.relpath(folder, wrapper)],
        "replacements": replacements,
    }
    (wrapper / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    output = kube.kubectl("kustomize", str(wrapper)).stdout
    return Rendered(load_documents(output))


def render_as_shipped(kube: Cluster, folder: Path) -> Rendered:
    """An overlay rendered exactly as a person applies it (its own namespace)."""
    return Rendered(load_documents(kube.kubectl("kustomize", str(folder)).stdout))


def install_test_crds(kube: Cluster) -> None:
    """The minimal cert-manager and ServiceMonitor CRDs of crds.yaml, where missing."""
    for document in load_documents(TEST_CRDS.read_text()):
        name = document["metadata"]["name"]
        if not kube.has_crd(name):
            kube.apply(document)
        kube.wait_for_crd(name)


def role_rules(rendered: Rendered) -> list[Rule]:
    rules: list[Rule] = rendered.one("Role", ROLE)["rules"]
    return rules


def without_verb(rules: Iterable[Rule], index: int, verb: str) -> list[Rule]:
    """`rules` with `verb` taken out of rule `index` (and the rule dropped if it is empty)."""
    changed = [copy.deepcopy(dict(rule)) for rule in rules]
    changed[index]["verbs"] = [v for v in changed[index]["verbs"] if v != verb]
    return [rule for rule in changed if rule["verbs"]]


def rule_verbs(rules: Iterable[Rule]) -> list[tuple[int, str, str]]:
    """(rule index, "group/resource", verb) for every verb of every rule."""
    found = []
    for index, rule in enumerate(rules):
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    found.append((index, f"{group or 'core'}/{resource}", verb))
    return found


def identity_objects(rendered: Rendered, rules: list[Rule] | None = None) -> list[dict[str, Any]]:
    """The ServiceAccount, Role and RoleBinding as rendered; `rules` replaces the Role's."""
    role = copy.deepcopy(rendered.one("Role", ROLE))
    if rules is not None:
        role["rules"] = rules
    return [
        rendered.one("ServiceAccount", SERVICE_ACCOUNT),
        role,
        rendered.one("RoleBinding", ROLE),
    ]


def operator_kubeconfig(
    kube: Cluster, namespace: str, rendered: Rendered, rules: list[Rule] | None, path: Path
) -> Path:
    """Install the operator's identity (with `rules`, default the shipped ones) and write a
    kubeconfig holding only its ServiceAccount token (TokenRequest). Returns once the
    apiserver authorises every granted rule."""
    objects = identity_objects(rendered, rules)
    kube.apply(objects)
    token = kube.create_token(namespace, SERVICE_ACCOUNT)
    granted: list[Rule] = objects[1]["rules"]
    for _, resource, verb in rule_verbs(granted):
        wait_until_allowed(kube, namespace, resource, verb)
    return kube.kubeconfig_for_token(token, path, namespace)


def wait_until_allowed(kube: Cluster, namespace: str, resource: str, verb: str) -> None:
    """RBAC takes effect moments after the Role is stored: wait until it does."""
    group, _, plural = resource.partition("/")
    plural, _, subresource = plural.partition("/")
    authorization = client.AuthorizationV1Api(kube.api_client)
    review = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=f"system:serviceaccount:{namespace}:{SERVICE_ACCOUNT}",
            groups=["system:serviceaccounts", f"system:serviceaccounts:{namespace}"],
            resource_attributes=client.V1ResourceAttributes(
                namespace=namespace,
                group="" if group == "core" else group,
                resource=plural,
                subresource=subresource or None,
                verb=verb,
            ),
        )
    )

    def allowed() -> bool:
        answer = authorization.create_subject_access_review(review)
        return bool(answer.status and answer.status.allowed)

    kube.wait_for(allowed, timeout=30, description=f"{verb} {resource} allowed by RBAC")


def names_namespace(document: Mapping[str, Any], namespace: str) -> bool:
    """Whether a rendered object mentions `namespace` anywhere (as a whole word)."""
    text = yaml.safe_dump(dict(document))
    return namespace in text
