"""A throw-away Kubernetes control plane for the demo: etcd and kube-apiserver on loopback.

The binaries are the ones `hack/control-plane/build.sh` builds (`make control-plane`); the
folder comes from `REGISTRY_SYNC_CONTROL_PLANE_DIR`, else from asking that script. The
admin authenticates with a static token in `system:masters`; the apiserver's serving
certificate comes from `registry_sync.webhook.certificates`. Every child runs in its own
process group, is stopped by `stop()`, and gets SIGTERM if the demo dies outright.
(The test suite has a fuller one, with a controller-manager, in tests/support.)
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import yaml
from cryptography.hazmat.primitives import serialization

from registry_sync.webhook.certificates import make_serving_certificate

CONTROL_PLANE_DIR_VARIABLE = "REGISTRY_SYNC_CONTROL_PLANE_DIR"
BUILD_SCRIPT = Path("hack") / "control-plane" / "build.sh"
ADMIN_USER = "registry-sync-demo-admin"
_STOP_GRACE_SECONDS = 10.0


class ControlPlaneError(RuntimeError):
    """The control plane could not be found or started; the message says what to do."""


def find_binaries(repository: Path) -> Path:
    """The folder holding etcd, kube-apiserver and kubectl; ControlPlaneError if any is missing."""
    configured = os.environ.get(CONTROL_PLANE_DIR_VARIABLE)
    if configured:
        folder = Path(configured)
    else:
        script = repository / BUILD_SCRIPT
        try:
            printed = subprocess.run(
                [str(script), "--print"], check=True, capture_output=True, text=True, timeout=30
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError) as error:
            raise ControlPlaneError(
                f"cannot ask {script} where the control plane is ({error}); run the demo from "
                f"the repository with `make demo`, or set {CONTROL_PLANE_DIR_VARIABLE}"
            ) from None
        folder = Path(printed)
    missing = [
        name
        for name in ("etcd", "kube-apiserver", "kubectl")
        if not os.access(folder / name, os.X_OK)
    ]
    if missing:
        raise ControlPlaneError(
            f"{', '.join(missing)} not found in {folder}: build them with `make control-plane`"
        )
    return folder


def _public_key_pem(private_key_file: Path) -> bytes:
    key = serialization.load_pem_private_key(private_key_file.read_bytes(), password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _own_group_dying_with_parent() -> None:
    """Run in a child before exec: its own process group, SIGTERM when the demo dies."""
    os.setsid()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            pr_set_pdeathsig = 1
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class ChildProcess:
    name: str
    process: subprocess.Popen[bytes]
    log_file: Path
    _log: IO[bytes]

    def stop(self) -> None:
        """SIGTERM to its process group, SIGKILL after a grace period; waits for it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=_STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._log.close()


@dataclass
class Children:
    """Processes the demo started, stopped in reverse order."""

    folder: Path
    running: list[ChildProcess] = field(default_factory=list)

    def spawn(
        self, name: str, command: list[str], env: dict[str, str] | None = None
    ) -> ChildProcess:
        log_file = self.folder / f"{name}.log"
        log = log_file.open("ab")
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=_own_group_dying_with_parent,
        )
        child = ChildProcess(name, process, log_file, log)
        self.running.append(child)
        return child

    def stop_all(self) -> None:
        while self.running:
            self.running.pop().stop()


@dataclass
class ControlPlane:
    """etcd + kube-apiserver under `folder`; `kubeconfig` is an admin kubeconfig once started."""

    binaries: Path
    folder: Path
    children: Children
    server: str = ""

    @property
    def kubeconfig(self) -> Path:
        return self.folder / "admin.kubeconfig"

    @property
    def kubectl(self) -> Path:
        return self.binaries / "kubectl"

    def start(self, timeout: float = 90.0) -> float:
        """Start both and return the seconds until the apiserver's /readyz said ok."""
        began = time.monotonic()
        certs = make_serving_certificate(self.folder / "pki", ["127.0.0.1", "localhost"])
        ca_file = self.folder / "pki" / "ca.crt"
        ca_file.write_bytes(certs.ca_pem)
        token = secrets.token_urlsafe(32)
        tokens = self.folder / "pki" / "tokens.csv"
        tokens.write_text(f'{token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')
        tokens.chmod(0o600)
        # Service-account tokens are signed with the serving key; the apiserver wants the
        # public half as a file of its own.
        public_key = self.folder / "pki" / "service-account.pub"
        public_key.write_bytes(_public_key_pem(certs.key_file))
        etcd_url = f"http://127.0.0.1:{free_loopback_port()}"
        peer_url = f"http://127.0.0.1:{free_loopback_port()}"
        port = free_loopback_port()
        self.server = f"https://127.0.0.1:{port}"
        self.children.spawn(
            "etcd",
            [
                str(self.binaries / "etcd"),
                f"--data-dir={self.folder / 'etcd-data'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=default={peer_url}",
                "--unsafe-no-fsync",  # thrown away at the end: durability only costs time
            ],
        )
        self.children.spawn(
            "kube-apiserver",
            [
                str(self.binaries / "kube-apiserver"),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.folder / 'apiserver-certs'}",
                f"--tls-cert-file={certs.cert_file}",
                f"--tls-private-key-file={certs.key_file}",
                f"--token-auth-file={tokens}",
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={public_key}",
                f"--service-account-signing-key-file={certs.key_file}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--disable-admission-plugins=ServiceAccount",
                "--endpoint-reconciler-type=none",
            ],
        )
        self._write_kubeconfig(ca_file, token)
        self._wait_until_ready(ca_file, token, began + timeout)
        return time.monotonic() - began

    def _write_kubeconfig(self, ca_file: Path, token: str) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "demo",
                    "cluster": {"server": self.server, "certificate-authority": str(ca_file)},
                }
            ],
            "users": [{"name": ADMIN_USER, "user": {"token": token}}],
            "contexts": [{"name": "demo", "context": {"cluster": "demo", "user": ADMIN_USER}}],
            "current-context": "demo",
        }
        self.kubeconfig.write_text(yaml.safe_dump(config))
        self.kubeconfig.chmod(0o600)

    def _wait_until_ready(self, ca_file: Path, token: str, deadline: float) -> None:
        context = ssl.create_default_context(cafile=str(ca_file))
        request = urllib.request.Request(
            f"{self.server}/readyz", headers={"Authorization": f"Bearer {token}"}
        )
        last = "no answer yet"
        while time.monotonic() < deadline:
            for child in self.children.running:
                if child.process.poll() is not None:
                    raise ControlPlaneError(
                        f"{child.name} exited with code {child.process.returncode}; "
                        f"its log: {child.log_file}"
                    )
            try:
                with urllib.request.urlopen(request, context=context, timeout=2) as response:
                    if response.status == 200:
                        return
                    last = f"HTTP {response.status}"
            except urllib.error.HTTPError as error:
                last = f"HTTP {error.code}"
            except (urllib.error.URLError, OSError) as error:
                last = str(error)
            time.sleep(0.2)
        raise ControlPlaneError(
            f"kube-apiserver not ready at {self.server} (last answer: {last}); "
            f"logs in {self.folder}"
        )

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
