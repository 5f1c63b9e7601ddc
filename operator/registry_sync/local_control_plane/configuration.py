"""How each component is configured: the command lines of etcd, kube-apiserver and
kube-controller-manager, and the kubeconfig files that point clients at the apiserver.

The apiserver authorizes with RBAC, enforces OwnerReferencesPermission as OpenShift does,
signs service-account tokens, can call admission webhooks on loopback, and optionally
writes an audit log. Starting, waiting and stopping is `control_plane`'s.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from registry_sync.local_control_plane.binaries import ControlPlaneBinaries
from registry_sync.local_control_plane.pki import ControlPlanePki

SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"


def etcd_command(
    binaries: ControlPlaneBinaries, data_dir: Path, client_url: str, peer_url: str
) -> list[str]:
    """A single-member etcd serving `client_url`, its data in `data_dir`."""
    return [
        str(binaries.etcd),
        "--name=default",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=default={peer_url}",
        # The data is thrown away: durability only costs time here.
        "--unsafe-no-fsync",
    ]


def apiserver_command(
    binaries: ControlPlaneBinaries,
    pki: ControlPlanePki,
    workdir: Path,
    etcd_url: str,
    port: int,
    audit_policy: Mapping[str, Any] | None,
    audit_log: Path,
) -> list[str]:
    """kube-apiserver on 127.0.0.1:`port` over `etcd_url`. With `audit_policy`, the policy
    is written into `workdir` and JSON audit events go to `audit_log`."""
    command = [
        str(binaries.kube_apiserver),
        f"--etcd-servers={etcd_url}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={port}",
        f"--cert-dir={workdir / 'apiserver-certs'}",
        f"--tls-cert-file={pki.serving_cert}",
        f"--tls-private-key-file={pki.serving_key}",
        f"--client-ca-file={pki.ca_cert}",
        "--authorization-mode=RBAC",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-key-file={pki.service_account_public_key}",
        f"--service-account-signing-key-file={pki.service_account_private_key}",
        "--service-cluster-ip-range=10.0.0.0/24",
        "--disable-admission-plugins=ServiceAccount",
        # As OpenShift has it: blockOwnerDeletion needs permission on finalizers.
        "--enable-admission-plugins=OwnerReferencesPermissionEnforcement",
        "--allow-privileged=true",
        # Endpoints may not hold a loopback address: no `kubernetes` Service endpoints.
        "--endpoint-reconciler-type=none",
    ]
    if audit_policy is not None:
        policy_file = workdir / "audit-policy.yaml"
        policy_file.write_text(yaml.safe_dump(dict(audit_policy)))
        command += [
            f"--audit-policy-file={policy_file}",
            f"--audit-log-path={audit_log}",
            "--audit-log-format=json",
            # Written before the response returns: nothing is missing once a call ended.
            "--audit-log-mode=blocking",
        ]
    return command


def controller_manager_command(binaries: ControlPlaneBinaries, kubeconfig: Path) -> list[str]:
    """kube-controller-manager running the garbage collector and namespace controllers."""
    return [
        str(binaries.kube_controller_manager),
        f"--kubeconfig={kubeconfig}",
        # Owner-reference garbage collection and namespace deletion only.
        "--controllers=garbagecollector,namespace",
        "--leader-elect=false",
        "--secure-port=0",
    ]


def write_kubeconfig(
    path: Path,
    cluster: str,
    server: str,
    ca_cert: Path,
    user: str,
    cert_file: Path,
    key_file: Path,
) -> Path:
    """Write a kubeconfig for `server` authenticating with a client certificate
    (everything embedded, mode 0600); return `path`."""

    def embedded(file: Path) -> str:
        return base64.b64encode(file.read_bytes()).decode("ascii")

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": embedded(ca_cert),
                },
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": embedded(cert_file),
                    "client-key-data": embedded(key_file),
                },
            }
        ],
        "contexts": [
            {
                "name": cluster,
                "context": {"cluster": cluster, "user": user, "namespace": "default"},
            }
        ],
        "current-context": cluster,
    }
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(config))
    return path
