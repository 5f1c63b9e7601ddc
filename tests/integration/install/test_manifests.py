"""The install manifests: what they render to, and that the apiserver accepts all of it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from integration.install.installation import (
    ANOTHER_NAMESPACE,
    BASE,
    OVERLAYS,
    Rendered,
    render,
    render_as_shipped,
)
from registry_sync.controller.settings import ENV_PREFIX, OperatorSettings
from registry_sync.handlers.command import run
from registry_sync.registry.bearer_token import may_carry_a_token
from registry_sync.webhook.configuration import (
    SERVICE_NAME,
    build_configuration,
    service_client_config,
)
from support.cluster import Cluster

pytestmark = pytest.mark.cluster

INSTALLS = ["openshift", "kind", "another-namespace"]
NO_WEBHOOK = "no-webhook"  # `registry-sync run --webhook off`: no webhook at all
WEBHOOK_SECRET = "registry-sync-webhook-tls"
CLUSTER_SCOPED = {"MutatingWebhookConfiguration"}


def container(rendered: Rendered) -> dict[str, Any]:
    (only,) = rendered.one("Deployment", "registry-sync")["spec"]["template"]["spec"]["containers"]
    result: dict[str, Any] = only
    return result


def pod_spec(rendered: Rendered) -> dict[str, Any]:
    spec: dict[str, Any] = rendered.one("Deployment", "registry-sync")["spec"]["template"]["spec"]
    return spec


def without_annotations(document: dict[str, Any]) -> dict[str, Any]:
    """A copy without metadata.annotations (where an overlay asks for CA injection)."""
    copied: dict[str, Any] = json.loads(json.dumps(document))
    copied["metadata"].pop("annotations", None)
    return copied


@pytest.fixture(params=INSTALLS)
def install(request: pytest.FixtureRequest, kube: Cluster, namespace: str, tmp_path: Path) -> Any:
    return request.param, render(kube, OVERLAYS / request.param, namespace, tmp_path)


# The apiserver's verdict -------------------------------------------------------------


def test_every_install_applies_with_a_server_side_dry_run(
    kube: Cluster, namespace: str, install: tuple[str, Rendered], install_crds: None
) -> None:
    _, rendered = install
    stream = "\n---\n".join(json.dumps(document) for document in rendered.documents)

    result = kube.kubectl(
        "apply", "--server-side", "--dry-run=server", "--field-manager=registry-sync-install",
        "-o", "name", "-f", "-", stdin=stream,
    )  # fmt: skip

    assert len(result.stdout.split()) == len(rendered.documents)


# The webhook configuration ------------------------------------------------------------


def test_the_base_webhook_configuration_is_the_one_the_operator_would_build(
    kube: Cluster, namespace: str, tmp_path: Path
) -> None:
    rendered = render(kube, BASE, namespace, tmp_path)

    assert rendered.one("MutatingWebhookConfiguration") == build_configuration(
        namespace, service_client_config(namespace)
    )


def test_every_install_ships_that_configuration_with_only_ca_injection_added(
    namespace: str, install: tuple[str, Rendered]
) -> None:
    _, rendered = install
    shipped = rendered.one("MutatingWebhookConfiguration")

    assert without_annotations(shipped) == build_configuration(
        namespace, service_client_config(namespace)
    )


def test_the_webhook_service_is_where_the_configuration_sends_requests(
    namespace: str, install: tuple[str, Rendered]
) -> None:
    _, rendered = install
    target = service_client_config(namespace)["service"]
    service = rendered.one("Service", SERVICE_NAME)
    (port,) = service["spec"]["ports"]

    assert (service["metadata"]["namespace"], service["metadata"]["name"]) == (
        target["namespace"],
        target["name"],
    )
    assert port["port"] == target["port"]
    assert port["targetPort"] == "webhook"
    template_labels = rendered.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= template_labels.items()


# The Deployment -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("securityContext", "allowPrivilegeEscalation"), False),
        (("securityContext", "readOnlyRootFilesystem"), True),
        (("securityContext", "capabilities", "drop"), ["ALL"]),
        (("livenessProbe", "httpGet", "path"), "/healthz"),
        (("livenessProbe", "httpGet", "port"), "health"),
        (("readinessProbe", "httpGet", "path"), "/readyz"),
        (("readinessProbe", "httpGet", "port"), "health"),
    ],
)
def test_the_operator_container_is_locked_down_and_probed(
    openshift_install: Rendered, path: tuple[str, ...], expected: Any
) -> None:
    value: Any = container(openshift_install)
    for key in path:
        value = value[key]

    assert value == expected


def test_two_replicas_spread_over_nodes_one_always_up_each_named_in_the_lease(
    openshift_install: Rendered,
) -> None:
    deployment = openshift_install.one("Deployment")
    budget = openshift_install.one("PodDisruptionBudget")
    (preferred,) = pod_spec(openshift_install)["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    identity = {e["name"]: e for e in container(openshift_install)["env"]}[
        "REGISTRY_SYNC_LEADER_IDENTITY"
    ]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]

    assert deployment["spec"]["replicas"] == 2
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert preferred["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    spread = preferred["podAffinityTerm"]["labelSelector"]["matchLabels"]
    assert spread.items() <= pod_labels.items()
    assert identity["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_the_pod_runs_as_non_root_with_the_default_seccomp_profile(
    openshift_install: Rendered,
) -> None:
    security = pod_spec(openshift_install)["securityContext"]

    assert security["runAsNonRoot"] is True
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}


def test_the_operator_container_has_resource_requests_and_limits(
    openshift_install: Rendered,
) -> None:
    resources = container(openshift_install)["resources"]

    assert set(resources["requests"]) == {"cpu", "memory"}
    assert set(resources["limits"]) == {"cpu", "memory"}


def test_the_container_ports_are_the_ones_the_arguments_open(
    openshift_install: Rendered,
) -> None:
    ports = {port["name"]: port["containerPort"] for port in container(openshift_install)["ports"]}
    context = run.make_context("run", list(container(openshift_install)["args"][1:]))

    assert ports == {
        "webhook": context.params["webhook_port"],
        "metrics": context.params["metrics_port"],
        "health": context.params["health_port"],
    }
    assert (context.params["webhook"], context.params["webhook_host"]) == ("service", "0.0.0.0")


def test_the_serving_certificate_is_mounted_where_the_arguments_read_it(
    openshift_install: Rendered,
) -> None:
    context = run.make_context("run", list(container(openshift_install)["args"][1:]))
    (mount,) = [
        m
        for m in container(openshift_install)["volumeMounts"]
        if m["name"] == "webhook-certificate"
    ]
    (volume,) = [
        v for v in pod_spec(openshift_install)["volumes"] if v["name"] == "webhook-certificate"
    ]

    assert Path(context.params["webhook_cert_file"]).parent == Path(mount["mountPath"])
    assert Path(context.params["webhook_key_file"]).parent == Path(mount["mountPath"])
    assert volume["secret"]["secretName"] == WEBHOOK_SECRET


def test_the_container_runs_the_operator_as_the_install_service_account(
    openshift_install: Rendered,
) -> None:
    assert container(openshift_install)["args"][0] == "run"
    assert pod_spec(openshift_install)["serviceAccountName"] == "registry-sync"


@pytest.mark.parametrize("install_name", [*INSTALLS, NO_WEBHOOK])
def test_every_setting_an_install_configures_is_a_setting_of_the_operator(
    kube: Cluster, namespace: str, tmp_path: Path, install_name: str
) -> None:
    rendered = render(kube, OVERLAYS / install_name, namespace, tmp_path)
    (settings,) = rendered.of_kind("ConfigMap")

    fields = {key.removeprefix(ENV_PREFIX).lower() for key in settings["data"]}

    assert all(key.startswith(ENV_PREFIX) for key in settings["data"])
    assert fields <= set(OperatorSettings.model_fields)
    assert "registry_url" in fields


# Certificates and monitoring per platform ----------------------------------------------


def test_on_openshift_service_ca_signs_the_certificate_and_injects_its_ca(
    openshift_install: Rendered,
) -> None:
    service = openshift_install.one("Service", SERVICE_NAME)
    configuration = openshift_install.one("MutatingWebhookConfiguration")

    assert (
        service["metadata"]["annotations"]["service.beta.openshift.io/serving-cert-secret-name"]
        == WEBHOOK_SECRET
    )
    assert (
        configuration["metadata"]["annotations"]["service.beta.openshift.io/inject-cabundle"]
        == "true"
    )


def test_on_openshift_a_service_monitor_scrapes_the_metrics_port(
    openshift_install: Rendered,
) -> None:
    monitor = openshift_install.one("ServiceMonitor")
    selected = [
        service
        for service in openshift_install.of_kind("Service")
        if monitor["spec"]["selector"]["matchLabels"].items()
        <= service["metadata"].get("labels", {}).items()
    ]

    assert [service["metadata"]["name"] for service in selected] == ["registry-sync-metrics"]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {port["name"] for port in selected[0]["spec"]["ports"]}


def test_on_kind_cert_manager_issues_the_certificate_for_the_service_and_injects_its_ca(
    kube: Cluster, namespace: str, tmp_path: Path
) -> None:
    rendered = render(kube, OVERLAYS / "kind", namespace, tmp_path)
    certificate = rendered.one("Certificate")
    configuration = rendered.one("MutatingWebhookConfiguration")

    assert certificate["spec"]["secretName"] == WEBHOOK_SECRET
    assert f"{SERVICE_NAME}.{namespace}.svc" in certificate["spec"]["dnsNames"]
    assert certificate["spec"]["issuerRef"]["name"] == rendered.one("Issuer")["metadata"]["name"]
    assert configuration["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == (
        f"{namespace}/{certificate['metadata']['name']}"
    )


# One install per namespace --------------------------------------------------------------


@pytest.mark.parametrize("install_name", INSTALLS)
def test_an_install_writes_nothing_cluster_scoped_but_its_own_webhook_configuration(
    kube: Cluster, namespace: str, tmp_path: Path, install_name: str
) -> None:
    rendered = render(kube, OVERLAYS / install_name, namespace, tmp_path)
    cluster_scoped = [d for d in rendered.documents if "namespace" not in d["metadata"]]

    assert [(d["kind"], d["metadata"]["name"]) for d in cluster_scoped] == [
        ("MutatingWebhookConfiguration", f"registry-sync-{namespace}")
    ]
    assert not rendered.kinds() & {"ClusterRole", "ClusterRoleBinding", "Namespace"}
    assert {d["metadata"]["namespace"] for d in rendered.documents if d not in cluster_scoped} == {
        namespace
    }


def test_the_shipped_second_namespace_install_shares_nothing_with_the_first(
    kube: Cluster,
) -> None:
    first = render_as_shipped(kube, OVERLAYS / "openshift")
    second = render_as_shipped(kube, ANOTHER_NAMESPACE)

    def keys(rendered: Rendered) -> set[tuple[str, str | None, str]]:
        return {
            (d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"])
            for d in rendered.documents
        }

    def namespaces(rendered: Rendered) -> set[str]:
        return {
            d["metadata"]["namespace"] for d in rendered.documents if "namespace" in d["metadata"]
        }

    assert keys(first).isdisjoint(keys(second))
    assert len(namespaces(first)) == len(namespaces(second)) == 1
    assert namespaces(first).isdisjoint(namespaces(second))


@pytest.mark.parametrize("other_namespace", ["team-b", "registry-sync-prod", "a"])
def test_an_install_layered_on_a_shipped_one_is_named_after_its_own_namespace(
    kube: Cluster, tmp_path: Path, other_namespace: str
) -> None:
    rendered = render(kube, ANOTHER_NAMESPACE, other_namespace, tmp_path)
    (webhook,) = rendered.one("MutatingWebhookConfiguration")["webhooks"]

    assert rendered.one("MutatingWebhookConfiguration")["metadata"]["name"] == (
        f"registry-sync-{other_namespace}"
    )
    assert webhook["clientConfig"]["service"]["namespace"] == other_namespace
    assert webhook["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": other_namespace}
    }


# Network policy -------------------------------------------------------------------------


@pytest.mark.parametrize("install_name", [*INSTALLS, NO_WEBHOOK])
def test_every_install_admits_only_webhook_and_metrics_traffic_to_the_operator_pod(
    kube: Cluster, namespace: str, tmp_path: Path, install_name: str
) -> None:
    rendered = render(kube, OVERLAYS / install_name, namespace, tmp_path)
    policy = rendered.one("NetworkPolicy")["spec"]
    template_labels = rendered.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    named = {port["name"]: port["containerPort"] for port in container(rendered)["ports"]}
    context = run.make_context("run", list(container(rendered)["args"][1:]))
    admitted = {port["port"] for rule in policy["ingress"] for port in rule["ports"]}
    opened = {named[name] for name in admitted if name in named}
    webhook_on = context.params["webhook"] != "off"

    assert policy["podSelector"]["matchLabels"].items() <= template_labels.items()
    assert policy["policyTypes"] == ["Ingress"]
    assert admitted == {"webhook", "metrics"}
    # The ports the policy opens in this pod: the webhook (where one runs) and metrics,
    # never the liveness endpoint (its probe comes from the node, which is never blocked).
    assert opened == {
        context.params["metrics_port"],
        *([context.params["webhook_port"]] if webhook_on else []),
    }
    assert context.params["health_port"] not in opened


@pytest.mark.parametrize("install_name", [*INSTALLS, NO_WEBHOOK])
def test_the_network_policy_admits_every_service_of_the_install_from_any_source(
    kube: Cluster, namespace: str, tmp_path: Path, install_name: str
) -> None:
    rendered = render(kube, OVERLAYS / install_name, namespace, tmp_path)
    ingress = rendered.one("NetworkPolicy")["spec"]["ingress"]
    admitted = {port["port"] for rule in ingress for port in rule["ports"]}
    services = rendered.of_kind("Service")
    targets = {port["targetPort"] for service in services for port in service["spec"]["ports"]}

    assert targets <= admitted
    # No `from`: the apiserver calling the webhook is not a pod, and on OpenShift or
    # kubeadm it runs on the host network, which pod or namespace selectors do not match.
    assert all(set(rule) == {"ports"} for rule in ingress)


# Without a webhook ----------------------------------------------------------------------


@pytest.fixture
def no_webhook_install(kube: Cluster, namespace: str, tmp_path: Path) -> Rendered:
    return render(kube, OVERLAYS / NO_WEBHOOK, namespace, tmp_path)


def test_the_no_webhook_install_applies_with_a_server_side_dry_run(
    kube: Cluster, no_webhook_install: Rendered
) -> None:
    stream = "\n---\n".join(json.dumps(document) for document in no_webhook_install.documents)

    result = kube.kubectl(
        "apply", "--server-side", "--dry-run=server", "--field-manager=registry-sync-install",
        "-o", "name", "-f", "-", stdin=stream,
    )  # fmt: skip

    assert len(result.stdout.split()) == len(no_webhook_install.documents)


def test_the_no_webhook_install_runs_the_operator_with_the_webhook_off(
    no_webhook_install: Rendered,
) -> None:
    context = run.make_context("run", list(container(no_webhook_install)["args"][1:]))

    assert container(no_webhook_install)["args"][0] == "run"
    assert context.params["webhook"] == "off"
    assert pod_spec(no_webhook_install)["serviceAccountName"] == "registry-sync"


def test_the_no_webhook_install_has_no_webhook_configuration_service_or_certificate(
    namespace: str, no_webhook_install: Rendered
) -> None:
    service_names = {s["metadata"]["name"] for s in no_webhook_install.of_kind("Service")}
    mounts = {m["name"] for m in container(no_webhook_install)["volumeMounts"]}
    volumes = {v["name"] for v in pod_spec(no_webhook_install)["volumes"]}

    assert not no_webhook_install.kinds() & {"MutatingWebhookConfiguration", "Certificate"}
    assert SERVICE_NAME not in service_names
    assert "webhook-certificate" not in mounts | volumes
    # Nothing cluster-scoped at all: a namespace admin can install it.
    assert all(d["metadata"].get("namespace") == namespace for d in no_webhook_install.documents)


def test_the_no_webhook_container_opens_only_the_ports_its_arguments_open(
    no_webhook_install: Rendered,
) -> None:
    ports = {port["name"]: port["containerPort"] for port in container(no_webhook_install)["ports"]}
    context = run.make_context("run", list(container(no_webhook_install)["args"][1:]))
    probes = [container(no_webhook_install)[p] for p in ("livenessProbe", "readinessProbe")]

    assert ports == {
        "metrics": context.params["metrics_port"],
        "health": context.params["health_port"],
    }
    assert all(probe["httpGet"]["port"] in ports for probe in probes)


def test_the_no_webhook_role_adds_only_pipeline_run_verbs_to_the_base_role(
    kube: Cluster, namespace: str, tmp_path: Path, no_webhook_install: Rendered
) -> None:
    base_rules = render(kube, BASE, namespace, tmp_path).one("Role")["rules"]
    rules = no_webhook_install.one("Role")["rules"]
    added = rules[len(base_rules) :]

    assert rules[: len(base_rules)] == base_rules
    # Which verbs, exactly, test_rbac_no_webhook.py proves.
    assert added
    assert all(
        (rule["apiGroups"], rule["resources"]) == (["tekton.dev"], ["pipelineruns"])
        for rule in added
    )


# The registry token ---------------------------------------------------------------------

COMPONENTS = OVERLAYS.parent / "components"
TOKEN_AUDIENCE = COMPONENTS / "registry-token-audience"


def settings_of(rendered: Rendered) -> dict[str, str]:
    (settings,) = rendered.of_kind("ConfigMap")
    data: dict[str, str] = settings["data"]
    return data


def token_projection(rendered: Rendered, token_file: str) -> dict[str, Any]:
    """The serviceAccountToken projection that puts a token at `token_file` in the container."""
    (mount,) = [
        m
        for m in container(rendered)["volumeMounts"]
        if Path(token_file).parent == Path(m["mountPath"])
    ]
    (volume,) = [v for v in pod_spec(rendered)["volumes"] if v["name"] == mount["name"]]
    (source,) = [
        s["serviceAccountToken"]
        for s in volume["projected"]["sources"]
        if s.get("serviceAccountToken", {}).get("path") == Path(token_file).name
    ]
    projection: dict[str, Any] = source
    return projection


def with_component(
    kube: Cluster, install: Path, component: Path, namespace: str, workdir: Path
) -> Rendered:
    """`install` with a component added, as a person adds it to their overlay."""
    overlay = workdir / f"with-{component.name}"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        json.dumps(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(install, overlay)],
                "components": [os.path.relpath(component, overlay)],
            }
        )
    )
    return render(kube, overlay, namespace, workdir)


@pytest.mark.parametrize("install_name", [*INSTALLS, NO_WEBHOOK])
def test_no_install_sends_its_registry_token_over_plain_http(
    kube: Cluster, namespace: str, tmp_path: Path, install_name: str
) -> None:
    settings = settings_of(render(kube, OVERLAYS / install_name, namespace, tmp_path))

    if f"{ENV_PREFIX}TOKEN_FILE" in settings:
        assert may_carry_a_token(settings[f"{ENV_PREFIX}REGISTRY_URL"])


@pytest.mark.parametrize("install_name", ["openshift", "another-namespace"])
def test_the_registry_token_is_a_short_lived_projected_token_not_the_pods_own(
    kube: Cluster, namespace: str, tmp_path: Path, install_name: str
) -> None:
    rendered = render(kube, OVERLAYS / install_name, namespace, tmp_path)
    token_file = settings_of(rendered)[f"{ENV_PREFIX}TOKEN_FILE"]

    projection = token_projection(rendered, token_file)

    assert not token_file.startswith("/var/run/secrets/kubernetes.io/serviceaccount/")
    # Not 3607 s, which the API server may extend to a year for the pod's own token.
    assert 600 <= projection["expirationSeconds"] <= 3600


def test_with_the_audience_component_the_token_is_for_the_audience_the_operator_checks(
    kube: Cluster, namespace: str, tmp_path: Path, install_crds: None
) -> None:
    rendered = with_component(kube, OVERLAYS / "openshift", TOKEN_AUDIENCE, namespace, tmp_path)
    settings = settings_of(rendered)
    stream = "\n---\n".join(json.dumps(document) for document in rendered.documents)

    projection = token_projection(rendered, settings[f"{ENV_PREFIX}TOKEN_FILE"])

    assert projection["audience"] == settings[f"{ENV_PREFIX}TOKEN_AUDIENCE"]
    kube.kubectl(
        "apply", "--server-side", "--dry-run=server", "--field-manager=registry-sync-install",
        "-f", "-", stdin=stream,
    )  # fmt: skip


def test_a_release_names_the_image_by_digest(kube: Cluster, namespace: str, tmp_path: Path) -> None:
    # What `kustomize edit set image registry-sync=REGISTRY/registry-sync@sha256:...` writes.
    digest = "sha256:" + "ab" * 32
    release = tmp_path / "release"
    release.mkdir()
    (release / "kustomization.yaml").write_text(
        json.dumps(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(OVERLAYS / "openshift", release)],
                "images": [
                    {"name": "registry-sync", "newName": "quay.example/rs", "digest": digest}
                ],
            }
        )
    )

    rendered = render(kube, release, namespace, tmp_path)

    assert container(rendered)["image"] == f"quay.example/rs@{digest}"


# The OCI pull secret -------------------------------------------------------------------

PULL_SECRET = COMPONENTS / "oci-pull-secret"


def test_with_the_pull_secret_component_the_role_reads_that_one_secret_and_no_other(
    kube: Cluster, namespace: str, tmp_path: Path, install_crds: None
) -> None:
    rendered = with_component(kube, OVERLAYS / "openshift", PULL_SECRET, namespace, tmp_path)
    secret = settings_of(rendered)[f"{ENV_PREFIX}PULL_SECRET"]
    (role,) = rendered.of_kind("Role")
    stream = "\n---\n".join(json.dumps(document) for document in rendered.documents)

    secret_rules = [rule for rule in role["rules"] if "secrets" in rule["resources"]]

    assert secret_rules == [
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [secret], "verbs": ["get"]}
    ]
    kube.kubectl(
        "apply", "--server-side", "--dry-run=server", "--field-manager=registry-sync-install",
        "-f", "-", stdin=stream,
    )  # fmt: skip


@pytest.mark.parametrize("install_name", [*INSTALLS, NO_WEBHOOK])
def test_no_shipped_install_reads_any_secret(
    kube: Cluster, namespace: str, tmp_path: Path, install_name: str
) -> None:
    (role,) = render(kube, OVERLAYS / install_name, namespace, tmp_path).of_kind("Role")

    assert [rule for rule in role["rules"] if "secrets" in rule["resources"]] == []
