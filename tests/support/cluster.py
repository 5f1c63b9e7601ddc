"""A real Kubernetes control plane as the ground of the cluster test tiers (pytest plugin).

Fixtures:
- `kube` (session): a ready `Cluster` with the project's test CRDs (InferenceService,
  PipelineRun, ModelBinding when `crds/modelbinding.yaml` exists) and the
  ValidatingAdmissionPolicy imitating Tekton's "spec is immutable" rule.
- `upstream_kube` (session): its own local control plane with the real upstream
  KServe and Tekton CRDs from the third-party folder (read in memory, never copied).
- `namespace` / `upstream_namespace` (function): a fresh namespace in that cluster,
  deleted after the test without waiting for it to vanish.

Where the cluster comes from:
- `KUBECONFIG` set and `REGISTRY_SYNC_TEST_CLUSTER=existing`: that cluster (kind,
  OpenShift). The test CRDs are installed only where the cluster lacks them, and the
  Tekton-imitating policy only where this plugin installed the PipelineRun CRD itself.
- Otherwise a local etcd + kube-apiserver + kube-controller-manager built by
  `hack/control-plane/build.sh` (`registry_sync.local_control_plane`, shared with
  `registry-sync demo`; see `support.cluster_local`).
A cluster that cannot be had skips its tests with the reason, or fails them when
`REGISTRY_SYNC_REQUIRE_CLUSTER=1` (CI). When a test using a local cluster fails, the
tails of the component logs are added to its report and the folder is kept.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, NoReturn, TypeVar

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from support.cluster_local import (
    ControlPlaneStartError,
    LocalControlPlane,
    control_plane_binaries,
)
from support.third_party import require_upstream_file

log = logging.getLogger("registry_sync.tests.cluster")

REPO_ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = REPO_ROOT / "tests" / "manifests"
MODEL_BINDING_CRD = REPO_ROOT / "crds" / "modelbinding.yaml"
INFERENCE_SERVICE_CRD = "inferenceservices.serving.kserve.io"
PIPELINE_RUN_CRD = "pipelineruns.tekton.dev"
SPEC_IMMUTABLE_POLICY = "registry-sync-test-pipelinerun-spec-immutable"
FIELD_MANAGER = "registry-sync-tests"

REQUIRE_CLUSTER_VARIABLE = "REGISTRY_SYNC_REQUIRE_CLUSTER"
TEST_CLUSTER_VARIABLE = "REGISTRY_SYNC_TEST_CLUSTER"

T = TypeVar("T")
Manifest = str | Mapping[str, Any] | Iterable[Mapping[str, Any]]


class KubectlError(AssertionError):
    """kubectl exited non-zero; the message carries the command and its output."""


class WaitTimeout(AssertionError):
    """A condition did not come true in time; the message says which and what was seen."""


class Cluster:
    """A ready cluster for tests: admin credentials, an official-client `ApiClient`, and
    what tests need to drive it (kubectl, apply, wait, service-account tokens).

    Attributes:
        name: the fixture that made it (`kube`, `upstream_kube`).
        mode: `local` (a control plane this run started) or `existing` (`KUBECONFIG`).
        kubeconfig: an admin kubeconfig path (pass it to processes under test).
        api_client: a `kubernetes.client.ApiClient` with admin rights.
        server: the apiserver URL.
        control_plane: the local control plane, or None for an existing cluster.
        startup_seconds: spawn-to-/readyz seconds of the local apiserver, else None.
        setup_seconds: spawn to fully usable (CRDs, policy, controller-manager), else None.
    """

    def __init__(
        self,
        *,
        name: str,
        mode: Literal["local", "existing"],
        kubeconfig: Path,
        kubectl_binary: Path,
        control_plane: LocalControlPlane | None = None,
        kubectl_cache_dir: Path | None = None,
    ) -> None:
        self.name = name
        self.mode = mode
        self.kubeconfig = kubeconfig
        self.kubectl_binary = kubectl_binary
        self.control_plane = control_plane
        self._kubectl_cache_dir = kubectl_cache_dir
        self.api_client: client.ApiClient = config.new_client_from_config(
            config_file=str(kubeconfig)
        )
        self.server: str = self.api_client.configuration.host
        self.startup_seconds: float | None = (
            control_plane.startup.apiserver_ready if control_plane else None
        )
        self.setup_seconds: float | None = None
        self.failed_tests: list[str] = []

    # -- typed views on the official client -------------------------------------------

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api_client)

    @property
    def custom_objects(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api_client)

    @property
    def rbac(self) -> client.RbacAuthorizationV1Api:
        return client.RbacAuthorizationV1Api(self.api_client)

    @property
    def admission(self) -> client.AdmissionregistrationV1Api:
        return client.AdmissionregistrationV1Api(self.api_client)

    @property
    def apiextensions(self) -> client.ApiextensionsV1Api:
        return client.ApiextensionsV1Api(self.api_client)

    # -- processes --------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """This process's environment with `KUBECONFIG` pointing at the admin kubeconfig:
        the environment for a process under test (the operator, the CLI)."""
        environment = dict(os.environ)
        environment["KUBECONFIG"] = str(self.kubeconfig)
        return environment

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the control plane's kubectl against this cluster as admin.

        Raises KubectlError (command, exit code, stderr) when `check` and it fails.
        """
        if not os.access(self.kubectl_binary, os.X_OK):
            raise KubectlError(
                f"kubectl not found at {self.kubectl_binary}; build it with `make control-plane`"
            )
        command = [str(self.kubectl_binary), f"--kubeconfig={self.kubeconfig}"]
        if self._kubectl_cache_dir is not None:
            command.append(f"--cache-dir={self._kubectl_cache_dir}")
        command.extend(args)
        result = subprocess.run(
            command,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(),
            check=False,
        )
        if check and result.returncode != 0:
            raise KubectlError(
                f"`kubectl {' '.join(args)}` on {self.name} exited {result.returncode}:\n"
                f"{result.stderr.strip() or result.stdout.strip()}"
            )
        return result

    # -- objects ----------------------------------------------------------------------

    def apply(self, manifest: Manifest, *, namespace: str | None = None) -> list[dict[str, Any]]:
        """Server-side apply one or more objects (YAML text, a dict, or dicts) as the
        field manager `registry-sync-tests`, taking over conflicting fields; returns the
        objects as stored."""
        documents = load_documents(manifest)
        if not documents:
            return []
        stream = "\n---\n".join(json.dumps(document) for document in documents)
        args = [
            "apply",
            "--server-side",
            "--force-conflicts",
            f"--field-manager={FIELD_MANAGER}",
            "-o",
            "json",
            "-f",
            "-",
        ]
        if namespace is not None:
            args[1:1] = ["--namespace", namespace]
        output = json.loads(self.kubectl(*args, stdin=stream).stdout)
        items: list[dict[str, Any]] = output.get("items", [output])
        return items

    def apply_file(self, path: Path, *, namespace: str | None = None) -> list[dict[str, Any]]:
        """`apply` the documents of one YAML file."""
        return self.apply(path.read_text(), namespace=namespace)

    def wait_for(
        self,
        condition: Callable[[], T | None],
        *,
        timeout: float = 30.0,
        interval: float = 0.1,
        description: str = "condition",
    ) -> T:
        """Call `condition` until it returns something truthy and return that.

        Raises WaitTimeout after `timeout` seconds, naming `description` and the last
        value seen; exceptions from `condition` propagate at once.
        """
        deadline = time.monotonic() + timeout
        last: T | None = None
        while True:
            last = condition()
            if last:
                return last
            if time.monotonic() >= deadline:
                problems = self.control_plane.problems() if self.control_plane else []
                raise WaitTimeout(
                    f"{self.name}: {description} not true within {timeout:g} s "
                    f"(last value: {last!r})" + (f"; {', '.join(problems)}" if problems else "")
                )
            time.sleep(interval)

    def wait_for_crd(self, name: str, timeout: float = 60.0) -> None:
        """Wait until the CustomResourceDefinition `name` is Established (served)."""

        def established() -> bool:
            try:
                crd = self.apiextensions.read_custom_resource_definition(name)
            except ApiException as error:
                if error.status == 404:
                    return False
                raise
            conditions = (crd.status.conditions if crd.status else None) or []
            return any(c.type == "Established" and c.status == "True" for c in conditions)

        self.wait_for(established, timeout=timeout, description=f"CRD {name} Established")

    def has_crd(self, name: str) -> bool:
        """Whether the CustomResourceDefinition `name` exists."""
        try:
            self.apiextensions.read_custom_resource_definition(name)
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True

    # -- namespaces -------------------------------------------------------------------

    def create_namespace(self, hint: str = "test") -> str:
        """Create a namespace with a unique name derived from `hint`; return the name."""
        stem = re.sub(r"[^a-z0-9-]+", "-", hint.lower()).strip("-")[:48].strip("-") or "test"
        name = f"{stem}-{uuid.uuid4().hex[:6]}"
        self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        return name

    def delete_namespace(self, name: str) -> None:
        """Ask for the namespace's deletion and return at once (it may stay Terminating)."""
        with contextlib.suppress(ApiException):
            self.core.delete_namespace(name)

    # -- identities -------------------------------------------------------------------

    def create_service_account(self, namespace: str, name: str) -> None:
        """Create a ServiceAccount (no token Secret: tokens come from `create_token`)."""
        self.core.create_namespaced_service_account(
            namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name))
        )

    def create_token(
        self,
        namespace: str,
        service_account: str,
        *,
        audiences: list[str] | None = None,
        expiration_seconds: int = 3600,
    ) -> str:
        """A bound token for the ServiceAccount through the TokenRequest API."""
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(
                audiences=audiences or [], expiration_seconds=expiration_seconds
            )
        )
        answer = self.core.create_namespaced_service_account_token(
            service_account, namespace, request
        )
        if answer.status is None or not answer.status.token:
            raise AssertionError(
                f"TokenRequest for {namespace}/{service_account} on {self.name} returned no token"
            )
        return str(answer.status.token)

    def grant(
        self,
        namespace: str,
        service_account: str,
        rules: list[dict[str, Any]],
        *,
        name: str | None = None,
    ) -> str:
        """Give the ServiceAccount a namespaced Role with `rules` (RBAC PolicyRule dicts)
        through a RoleBinding; return the Role's name. RBAC takes effect within moments,
        not instantly: wait for the permission before relying on it."""
        role = name or f"{service_account}-grant-{uuid.uuid4().hex[:6]}"
        self.apply(
            [
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "Role",
                    "metadata": {"name": role, "namespace": namespace},
                    "rules": rules,
                },
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "RoleBinding",
                    "metadata": {"name": role, "namespace": namespace},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "Role",
                        "name": role,
                    },
                    "subjects": [
                        {"kind": "ServiceAccount", "name": service_account, "namespace": namespace}
                    ],
                },
            ]
        )
        return role

    def client_for_token(self, token: str) -> client.ApiClient:
        """An official-client `ApiClient` that authenticates with a bearer token only."""
        admin = self.api_client.configuration
        configuration = client.Configuration()
        configuration.host = admin.host
        configuration.ssl_ca_cert = admin.ssl_ca_cert
        configuration.verify_ssl = admin.verify_ssl
        configuration.api_key = {"authorization": token}
        configuration.api_key_prefix = {"authorization": "Bearer"}
        return client.ApiClient(configuration)

    def kubeconfig_for_token(self, token: str, path: Path, namespace: str = "default") -> Path:
        """Write a kubeconfig that authenticates with `token` only (a process under test
        running as a ServiceAccount); return `path`."""
        admin = self.api_client.configuration
        cluster: dict[str, Any] = {"server": admin.host}
        if admin.ssl_ca_cert:
            cluster["certificate-authority"] = str(admin.ssl_ca_cert)
        if not admin.verify_ssl:
            cluster["insecure-skip-tls-verify"] = True
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": self.name, "cluster": cluster}],
            "users": [{"name": "token", "user": {"token": token}}],
            "contexts": [
                {
                    "name": self.name,
                    "context": {"cluster": self.name, "user": "token", "namespace": namespace},
                }
            ],
            "current-context": self.name,
        }
        path.write_text(yaml.safe_dump(document))
        path.chmod(0o600)
        return path

    # -- diagnostics ------------------------------------------------------------------

    def log_tails(self, lines: int = 40) -> str:
        """The last lines of each component log (local mode) or a note (existing)."""
        if self.control_plane is None:
            return f"{self.name}: an existing cluster ({self.server}); no component logs here"
        return self.control_plane.log_tails(lines)

    def close(self) -> None:
        self.api_client.close()


def without_tls_verification(kubeconfig: Path, path: Path) -> Path:
    """Write to `path` a copy of `kubeconfig` whose clusters skip TLS verification
    (`insecure-skip-tls-verify`, no CA); return `path`."""
    document = yaml.safe_load(kubeconfig.read_text())
    for entry in document["clusters"]:
        entry["cluster"].pop("certificate-authority", None)
        entry["cluster"].pop("certificate-authority-data", None)
        entry["cluster"]["insecure-skip-tls-verify"] = True
    path.write_text(yaml.safe_dump(document))
    path.chmod(0o600)
    return path


def load_documents(manifest: Manifest) -> list[dict[str, Any]]:
    """The non-empty documents of YAML text, one dict, or an iterable of dicts."""
    if isinstance(manifest, str):
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        return [dict(doc) for doc in yaml.load_all(manifest, Loader=loader) if doc]
    if isinstance(manifest, Mapping):
        return [dict(manifest)]
    return [dict(document) for document in manifest]


# -- what every test cluster gets ---------------------------------------------------


def install_project_crds(cluster: Cluster, *, only_missing: bool) -> list[str]:
    """Install the project's test CRDs (and ModelBinding's when it exists); return the
    names installed. `only_missing` leaves CRDs an existing cluster already has alone."""
    chosen: list[dict[str, Any]] = []
    sources = [
        MANIFESTS / "inferenceservice-crd.yaml",
        MANIFESTS / "llminferenceservice-crd.yaml",
        MANIFESTS / "pipelinerun-crd.yaml",
    ]
    for source in sources:
        for document in load_documents(source.read_text()):
            if only_missing and cluster.has_crd(document["metadata"]["name"]):
                log.info(
                    "%s: keeping the cluster's own %s", cluster.name, document["metadata"]["name"]
                )
                continue
            chosen.append(document)
    if MODEL_BINDING_CRD.is_file():
        chosen.extend(load_documents(MODEL_BINDING_CRD.read_text()))
    cluster.apply(chosen)
    installed = [document["metadata"]["name"] for document in chosen]
    for name in installed:
        cluster.wait_for_crd(name)
    return installed


def install_spec_immutable_policy(cluster: Cluster, timeout: float = 30.0) -> None:
    """Install the policy imitating Tekton's webhook and wait until the apiserver
    enforces it (a dry-run params change is refused)."""
    cluster.apply_file(MANIFESTS / "tekton-spec-immutable-policy.yaml")
    probe_name = f"policy-probe-{uuid.uuid4().hex[:6]}"
    api = cluster.custom_objects
    api.create_namespaced_custom_object(
        "tekton.dev",
        "v1",
        "default",
        "pipelineruns",
        {
            "apiVersion": "tekton.dev/v1",
            "kind": "PipelineRun",
            "metadata": {"name": probe_name},
            "spec": {"params": [{"name": "probe", "value": "before"}]},
        },
    )

    def refused() -> bool:
        try:
            api.patch_namespaced_custom_object(
                "tekton.dev",
                "v1",
                "default",
                "pipelineruns",
                probe_name,
                {"spec": {"params": [{"name": "probe", "value": "after"}]}},
                dry_run="All",
            )
        except ApiException as error:
            if SPEC_IMMUTABLE_POLICY in (error.body or ""):
                return True
            raise
        return False

    try:
        cluster.wait_for(refused, timeout=timeout, description="the spec-immutable policy")
    finally:
        api.delete_namespaced_custom_object(
            "tekton.dev", "v1", "default", "pipelineruns", probe_name
        )


def upstream_crd_documents() -> list[dict[str, Any]]:
    """The real KServe (full InferenceService, LLMInferenceService) and Tekton
    (PipelineRun, Task, Pipeline) CRDs, read from the third-party folder, with Tekton's
    conversion webhook replaced by `strategy: None` in memory."""
    files = (
        "crds/kserve-inferenceservices-full.yaml",
        "crds/kserve-llminferenceservices.yaml",
        "crds/tekton-pipelineruns.yaml",
        "crds/tekton-tasks.yaml",
        "crds/tekton-pipelines.yaml",
    )
    documents = [
        document
        for file in files
        for document in load_documents(require_upstream_file(file).read_text())
    ]
    for document in documents:
        if document["spec"]["group"] == "tekton.dev":
            # Tekton's webhook Service does not exist here; without this every read fails.
            document["spec"]["conversion"] = {"strategy": "None"}
    return documents


# -- making clusters ----------------------------------------------------------------

_ACTIVE: dict[str, Cluster] = {}


def _unavailable(reason: str) -> NoReturn:
    """Skip, or fail when the cluster tiers are required."""
    if os.environ.get(REQUIRE_CLUSTER_VARIABLE) == "1":
        pytest.fail(f"{reason} ({REQUIRE_CLUSTER_VARIABLE}=1 forbids skipping)", pytrace=False)
    pytest.skip(reason)


def _existing_cluster_requested() -> bool:
    return os.environ.get(TEST_CLUSTER_VARIABLE) == "existing"


@contextlib.contextmanager
def _existing_cluster(name: str) -> Iterator[Cluster]:
    kubeconfig = os.environ.get("KUBECONFIG")
    if not kubeconfig:
        pytest.fail(
            f"{TEST_CLUSTER_VARIABLE}=existing needs KUBECONFIG pointing at the cluster",
            pytrace=False,
        )
    try:
        kubectl_binary = control_plane_binaries().kubectl
    except ControlPlaneStartError:
        kubectl_binary = Path("kubectl-not-built")
    cluster = Cluster(
        name=name, mode="existing", kubeconfig=Path(kubeconfig), kubectl_binary=kubectl_binary
    )
    try:
        installed = install_project_crds(cluster, only_missing=True)
        # No Tekton there (this run installed its CRD): imitate its webhook's rule.
        if PIPELINE_RUN_CRD in installed:
            install_spec_immutable_policy(cluster)
        yield cluster
    finally:
        cluster.close()


@contextlib.contextmanager
def _local_cluster(
    name: str, install: Callable[[Cluster], None], timings: list[str]
) -> Iterator[Cluster]:
    problem: str | None = None
    try:
        binaries = control_plane_binaries()
        problem = binaries.problem()
    except ControlPlaneStartError as error:
        problem = str(error)
    if problem is not None:
        _unavailable(problem)  # outside `except`: the report shows one clear reason
    workdir = Path(tempfile.mkdtemp(prefix=f"registry-sync-{name}-"))
    control_plane = LocalControlPlane(binaries=binaries, workdir=workdir, name=name)
    began = time.monotonic()
    try:
        control_plane.start()
    except ControlPlaneStartError as error:
        control_plane.stop()
        problem = f"the local control plane could not start (files kept in {workdir}): {error}"
    if problem is not None:
        _unavailable(problem)
    cluster: Cluster | None = None
    try:
        cluster = Cluster(
            name=name,
            mode="local",
            kubeconfig=control_plane.kubeconfig,
            kubectl_binary=binaries.kubectl,
            control_plane=control_plane,
            kubectl_cache_dir=workdir / "kubectl-cache",
        )
        install(cluster)
        install_spec_immutable_policy(cluster)
        control_plane.start_controller_manager()
        cluster.setup_seconds = time.monotonic() - began
        timings.append(
            f"control plane {name}: apiserver ready {control_plane.startup.apiserver_ready:.1f} s "
            f"after spawn, usable (CRDs, policy, controller-manager) after "
            f"{cluster.setup_seconds:.1f} s"
        )
        log.info(timings[-1])
        _ACTIVE[name] = cluster
    except Exception:
        control_plane.keep_files = True  # a failed setup (CRDs, policy) is worth the logs
        _stop_and_discard(name, cluster, control_plane, timings)
        raise
    try:
        yield cluster
    finally:
        _stop_and_discard(name, cluster, control_plane, timings)


def _stop_and_discard(
    name: str, cluster: Cluster | None, control_plane: LocalControlPlane, timings: list[str]
) -> None:
    _ACTIVE.pop(name, None)
    if cluster is not None:
        cluster.close()
    control_plane.stop()
    control_plane.discard_files()
    if control_plane.keep_files:
        timings.append(f"control plane {name}: logs kept in {control_plane.workdir / 'logs'}")


def _install_project_set(cluster: Cluster) -> None:
    install_project_crds(cluster, only_missing=False)


def _upstream_installer(documents: list[dict[str, Any]]) -> Callable[[Cluster], None]:
    def install(cluster: Cluster) -> None:
        # The full KServe CRD is 2 MB: only a server-side apply (what `apply` does) fits.
        cluster.apply(documents)
        for document in documents:
            cluster.wait_for_crd(document["metadata"]["name"])
        if MODEL_BINDING_CRD.is_file():
            for document in load_documents(MODEL_BINDING_CRD.read_text()):
                cluster.apply(document)
                cluster.wait_for_crd(document["metadata"]["name"])

    return install


_TIMINGS_KEY = pytest.StashKey[list[str]]()


def _timings(config_: pytest.Config) -> list[str]:
    return config_.stash.setdefault(_TIMINGS_KEY, [])


# -- fixtures -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def kube(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """The test cluster with the project's own test CRDs and the Tekton-imitating policy."""
    if _existing_cluster_requested():
        with _existing_cluster("kube") as cluster:
            yield cluster
        return
    with _local_cluster("kube", _install_project_set, _timings(request.config)) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def upstream_kube(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """A second local control plane with the real upstream KServe and Tekton CRDs.

    Always local: the upstream CRDs share names with the project's test CRDs.
    Skips (fails under REGISTRY_SYNC_REQUIRE_UPSTREAM=1) without the third-party folder.
    """
    # Read first: missing data skips before a control plane is paid for.
    installer = _upstream_installer(upstream_crd_documents())
    with _local_cluster("upstream_kube", installer, _timings(request.config)) as cluster:
        yield cluster


def _namespace_for(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    name = cluster.create_namespace(request.node.name)
    yield name
    cluster.delete_namespace(name)


@pytest.fixture
def namespace(kube: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace in `kube`, named after the test; deleted afterwards."""
    yield from _namespace_for(kube, request)


@pytest.fixture
def upstream_namespace(upstream_kube: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace in `upstream_kube`, named after the test; deleted afterwards."""
    yield from _namespace_for(upstream_kube, request)


# -- reporting ----------------------------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if not report.failed:
        return
    fixtures = set(getattr(item, "fixturenames", ()))
    for name, cluster in list(_ACTIVE.items()):
        if name in fixtures:
            cluster.failed_tests.append(item.nodeid)
            if cluster.control_plane is not None:
                cluster.control_plane.keep_files = True
            report.sections.append((f"{name} component logs", cluster.log_tails()))


def pytest_report_header(config: pytest.Config) -> str:
    if _existing_cluster_requested():
        return f"cluster: existing ({os.environ.get('KUBECONFIG', 'KUBECONFIG unset')})"
    try:
        folder = control_plane_binaries().folder
    except ControlPlaneStartError as error:
        return f"cluster: local control plane unavailable ({error})"
    return f"cluster: local control plane from {folder}"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    lines = config.stash.get(_TIMINGS_KEY, [])
    if lines:
        terminalreporter.section("control plane")
        for line in lines:
            terminalreporter.write_line(line)
