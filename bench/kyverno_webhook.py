"""Kyverno beside registry-sync in the admission benchmark: the generic tool a platform team
would try first for "write the binding's names into the run".

Kyverno's admission controller (the version `bench/kyverno/go.mod` pins, built from Go
modules by `bench/kyverno/build.sh`) runs out of cluster as its developers run it
(`--serverIP`: its webhooks are registered by URL, its certificates name that address),
against the benchmark's local control plane. Its webhooks are given the same selectors as
registry-sync's (the group's namespace, runs with the opt-in label) through its ConfigMap,
so the other groups' creates never reach it. One namespaced mutate policy reads the run's
ModelBinding with an `apiCall` context (a GET to the apiserver per review) and writes the
three params from its status: what registry-sync does, without the registry, the checks or
the version stamp.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from common import BENCH, BenchError, start_logged, stop_process_group, wait_until_mutating

from registry_sync.domain.metadata import MODEL_BINDINGS, TARGET_LABEL
from support.cluster import Cluster
from support.operator import free_port

BUILD: Final = BENCH / "kyverno" / "build.sh"
KYVERNO_NAMESPACE: Final = "kyverno"
CONFIG_MAP: Final = "kyverno"
CRD_FOLDERS: Final = ("kyverno", "policies.kyverno.io", "reports", "policyreport")
MANAGED_BY: Final = "webhook.kyverno.io/managed-by=kyverno"
# What `--serverIP` mode still asks of the environment (names a Deployment would set).
ENVIRONMENT: Final = {
    "KYVERNO_NAMESPACE": KYVERNO_NAMESPACE,
    "KYVERNO_POD_NAME": "kyverno-bench",
    "KYVERNO_SERVICEACCOUNT_NAME": "kyverno",
    "KYVERNO_DEPLOYMENT": "kyverno",
    "INIT_CONFIG": CONFIG_MAP,
    "METRICS_CONFIG": "kyverno-metrics",
}


def policy(namespace: str, param_names: tuple[str, str, str]) -> dict[str, Any]:
    """The mutate policy: the run's params without the three, then the three from the
    binding named by the run's opt-in label (a missing binding fails the review: closed)."""
    served, model, version = param_names
    kept = " && ".join(f"name != '{name}'" for name in param_names)
    binding_path = (
        f"/apis/{MODEL_BINDINGS.group}/{MODEL_BINDINGS.version}/namespaces/"
        f'{{{{request.namespace}}}}/modelbindings/{{{{request.object.metadata.labels."{TARGET_LABEL}"}}}}'
    )
    # Kyverno's own form: a JSON patch as YAML text; a variable that is the whole value is
    # replaced by what it names (here a list), so the first value is left unquoted.
    patches = "\n".join(
        [
            "- op: replace",
            "  path: /spec/params",
            f"  value: {{{{ request.object.spec.params[?{kept}] || `[]` }}}}",
            *(
                line
                for name, field in (
                    (served, "vllmModelName"),
                    (model, "registeredModelName"),
                    (version, "modelVersionName"),
                )
                for line in (
                    "- op: add",
                    "  path: /spec/params/-",
                    f'  value: {{name: {name}, value: "{{{{binding.{field}}}}}"}}',
                )
            ),
        ]
    )
    return {
        "apiVersion": "kyverno.io/v1",
        "kind": "Policy",
        "metadata": {"name": "model-testing-names", "namespace": namespace},
        "spec": {
            "background": False,
            "rules": [
                {
                    "name": "names-from-the-binding",
                    "match": {
                        "any": [
                            {
                                "resources": {
                                    "kinds": ["tekton.dev/v1/PipelineRun"],
                                    "operations": ["CREATE"],
                                    "selector": {
                                        "matchExpressions": [
                                            {"key": TARGET_LABEL, "operator": "Exists"}
                                        ]
                                    },
                                }
                            }
                        ]
                    },
                    "context": [
                        {
                            "name": "binding",
                            "apiCall": {"urlPath": binding_path, "jmesPath": "status"},
                        }
                    ],
                    "mutate": {"patchesJson6902": patches},
                }
            ],
        },
    }


def build_kyverno() -> tuple[Path, Path]:
    """The Kyverno binary (built once into the cache) and Kyverno's module folder (its
    CRDs); BenchError when either cannot be had."""
    try:
        built = subprocess.run(["bash", str(BUILD)], check=True, capture_output=True, text=True)
        source = subprocess.run(
            ["bash", str(BUILD), "--source"], check=True, capture_output=True, text=True
        )
    except (OSError, subprocess.CalledProcessError) as error:
        output = getattr(error, "stderr", "") or str(error)
        raise BenchError(f"{BUILD}: {output.strip()} (or run with --no-kyverno)") from None
    binary = Path(built.stdout.strip().splitlines()[-1]) / "kyverno"
    return binary, Path(source.stdout.strip())


def copy_binding(cluster: Cluster, source: str, target: str, name: str) -> None:
    """The ModelBinding `name` of namespace `source` (registry-sync's, Ready), with its
    status, in namespace `target`, where Kyverno's policy reads it."""
    found = json.loads(
        cluster.kubectl("get", "modelbinding", name, "-n", source, "-o", "json").stdout
    )
    body = {
        "apiVersion": found["apiVersion"],
        "kind": found["kind"],
        "metadata": {"name": name, "namespace": target},
        "spec": found["spec"],
    }
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(body))
    status = json.dumps({"status": found["status"]})
    cluster.kubectl(
        "patch", "modelbinding", name, "-n", target, "--subresource=status", "--type=merge",
        "-p", status,
    )  # fmt: skip


@contextlib.contextmanager
def kyverno_webhook(
    cluster: Cluster,
    namespace: str,
    run_body: Callable[[], Mapping[str, Any]],
    check: Callable[[Mapping[str, Any]], str | None],
    param_names: tuple[str, str, str],
    log_path: Path,
    timeout: float = 180.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Kyverno answering for `namespace` (its policy applied, a dry-run create of
    `run_body()` mutated so that `check` passes); stopped and its webhooks removed on exit."""
    binary, source = build_kyverno()
    for folder in CRD_FOLDERS:
        cluster.kubectl("apply", "--server-side", "-f", str(source / "config" / "crds" / folder))
    cluster.kubectl("create", "namespace", KYVERNO_NAMESPACE)
    selectors = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        "objectSelector": {"matchExpressions": [{"key": TARGET_LABEL, "operator": "Exists"}]},
    }
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CONFIG_MAP, "namespace": KYVERNO_NAMESPACE},
        "data": {"webhooks": json.dumps(selectors)},
    }
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(config_map))
    port = free_port()
    secret = f"kyverno-svc.{KYVERNO_NAMESPACE}.svc.kyverno-tls"
    command = [
        str(binary),
        f"--kubeconfig={cluster.kubeconfig}",
        f"--serverIP=127.0.0.1:{port}",
        "--webhookServerHost=127.0.0.1",
        f"--webhookServerPort={port}",
        f"--caSecretName={secret}-ca",
        f"--tlsSecretName={secret}-pair",
        # What registry-sync does not do either: reports, metrics servers.
        "--admissionReports=false",
        "--controllerRuntimeMetricsAddress=0",
    ]
    process = start_logged(command, cluster.env() | ENVIRONMENT, log_path)
    try:
        cluster.kubectl("apply", "-f", "-", stdin=json.dumps(policy(namespace, param_names)))
        wait_until_mutating(
            cluster,
            namespace,
            run_body,
            check,
            process,
            log_path,
            who="Kyverno",
            timeout=timeout,
            poll_s=1.0,
        )
        yield process
    finally:
        stop_process_group(process)
        for kind in ("mutatingwebhookconfigurations", "validatingwebhookconfigurations"):
            cluster.kubectl("delete", kind, "-l", MANAGED_BY, check=False)
