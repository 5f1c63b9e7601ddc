"""A local Kubernetes control plane: etcd, kube-apiserver and kube-controller-manager as
child processes of the test run, on random loopback ports, in one folder.

The binaries come from `hack/control-plane/build.sh` (a cache folder outside the
repository); nothing is ever taken from `PATH`. Children run in their own process groups
and die with the test run: stopped on `stop()`, at interpreter exit, on SIGTERM/SIGHUP,
and (Linux) when the parent dies outright.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

import yaml

from support.cluster_pki import ADMIN_USER, ControlPlanePki, write_control_plane_pki

log = logging.getLogger("registry_sync.tests.cluster")

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "hack" / "control-plane" / "build.sh"
CONTROL_PLANE_DIR_VARIABLE = "REGISTRY_SYNC_CONTROL_PLANE_DIR"

SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
_STOP_GRACE_SECONDS = 10.0
_PORT_RETRIES = 3
OWNER_FILE = "owner.pid"


class ControlPlaneStartError(RuntimeError):
    """The local control plane could not be started; the message says why and what to do."""


@dataclass(frozen=True)
class ControlPlaneBinaries:
    """The folder holding etcd, kube-apiserver, kube-controller-manager and kubectl."""

    folder: Path

    @property
    def etcd(self) -> Path:
        return self.folder / "etcd"

    @property
    def kube_apiserver(self) -> Path:
        return self.folder / "kube-apiserver"

    @property
    def kube_controller_manager(self) -> Path:
        return self.folder / "kube-controller-manager"

    @property
    def kubectl(self) -> Path:
        return self.folder / "kubectl"

    def missing(self) -> list[str]:
        """Names of the binaries that are absent or not executable."""
        wanted = (self.etcd, self.kube_apiserver, self.kube_controller_manager, self.kubectl)
        return [path.name for path in wanted if not os.access(path, os.X_OK)]

    def problem(self) -> str | None:
        """What is missing and how to get it, or None when every binary is there."""
        missing = self.missing()
        if not missing:
            return None
        return (
            f"control plane binaries {', '.join(missing)} not found in {self.folder}; "
            f"build them with `make control-plane` (or point {CONTROL_PLANE_DIR_VARIABLE} "
            "or KUBEBUILDER_ASSETS at them)"
        )


def control_plane_binaries() -> ControlPlaneBinaries:
    """The binaries folder: `REGISTRY_SYNC_CONTROL_PLANE_DIR`, else what
    `hack/control-plane/build.sh --print` names (it honours `KUBEBUILDER_ASSETS`)."""
    configured = os.environ.get(CONTROL_PLANE_DIR_VARIABLE)
    if configured:
        return ControlPlaneBinaries(Path(configured))
    try:
        printed = subprocess.run(
            [str(BUILD_SCRIPT), "--print"],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as error:
        raise ControlPlaneStartError(
            f"could not ask {BUILD_SCRIPT} --print where the control plane lives ({error}); "
            f"set {CONTROL_PLANE_DIR_VARIABLE} to the folder holding the binaries"
        ) from error
    return ControlPlaneBinaries(Path(printed))


def sweep_abandoned_etcd_data(folder: Path) -> None:
    """Remove the etcd data (64 MB each) of control planes whose test run died without
    cleaning up (SIGKILL); their logs stay for a post-mortem."""
    for owner_file in folder.glob(f"registry-sync-*/{OWNER_FILE}"):
        try:
            owner = int(owner_file.read_text())
            os.kill(owner, 0)
        except ProcessLookupError:
            shutil.rmtree(owner_file.parent / "etcd-data", ignore_errors=True)
        except (OSError, ValueError):
            continue


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:
    """Run in the child before exec: its own session, and SIGTERM when the parent dies."""
    os.setsid()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            pr_set_pdeathsig = 1
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def log_tail(path: Path, lines: int) -> str:
    """The last `lines` lines of a log file, or a note that it does not exist."""
    if not path.exists():
        return f"({path} does not exist)"
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        # Enough bytes for the wanted lines of even a chatty Go logger.
        handle.seek(max(0, size - lines * 400))
        text = handle.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class _Child:
    name: str
    process: subprocess.Popen[bytes]
    log_file: Path
    log_handle: IO[bytes]


@dataclass
class StartupTimes:
    """How the last start went: seconds from spawning etcd to the apiserver's /readyz
    answering ok, and how many attempts it took (a port taken meanwhile costs one)."""

    apiserver_ready: float = 0.0
    attempts: int = 1


@dataclass(eq=False)  # identity: each instance is a distinct set of processes
class LocalControlPlane:
    """etcd + kube-apiserver + kube-controller-manager under `workdir`.

    After `start()`: `server` is the apiserver URL, `kubeconfig` an admin kubeconfig
    (client certificate in `system:masters`, everything embedded), `log_files` the
    component logs, `startup` how long it took.
    """

    binaries: ControlPlaneBinaries
    workdir: Path
    name: str = "kube"
    server: str = ""
    kubeconfig: Path = field(init=False)
    pki: ControlPlanePki | None = None
    startup: StartupTimes = field(default_factory=StartupTimes)
    # Set when its setup or a test using it failed: its logs then outlive the run.
    keep_files: bool = False
    _children: list[_Child] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.kubeconfig = self.workdir / "admin.kubeconfig"

    @property
    def log_files(self) -> dict[str, Path]:
        return {
            component: self.workdir / "logs" / f"{component}.log"
            for component in ("etcd", "kube-apiserver", "kube-controller-manager")
        }

    def start(self, timeout: float = 90.0) -> None:
        """Start etcd and kube-apiserver and return once the apiserver's /readyz is ok.

        Raises ControlPlaneStartError (with the log tails) when a component exits or
        readiness does not come within `timeout` seconds.
        """
        problem = self.binaries.problem()
        if problem is not None:
            raise ControlPlaneStartError(problem)
        sweep_abandoned_etcd_data(self.workdir.parent)
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        (self.workdir / OWNER_FILE).write_text(str(os.getpid()))
        self.pki = write_control_plane_pki(self.workdir / "pki")
        for attempt in range(1, _PORT_RETRIES + 1):
            _register_for_cleanup(self)  # again after a failed attempt's stop()
            try:
                self._start_once(timeout)
            except ControlPlaneStartError as error:
                self.stop()
                # Ports are picked free and bound a moment later: another process may win.
                if "address already in use" in str(error) and attempt < _PORT_RETRIES:
                    log.warning("%s: port taken during start, retrying", self.name)
                    continue
                raise
            self.startup.attempts = attempt
            return

    def _start_once(self, timeout: float) -> None:
        assert self.pki is not None
        etcd_client_port = free_loopback_port()
        etcd_peer_port = free_loopback_port()
        apiserver_port = free_loopback_port()
        self.server = f"https://127.0.0.1:{apiserver_port}"
        etcd_client_url = f"http://127.0.0.1:{etcd_client_port}"
        etcd_peer_url = f"http://127.0.0.1:{etcd_peer_port}"
        etcd_data = self.workdir / "etcd-data"
        # A retried start needs a fresh member: the old data names the old peer URL.
        shutil.rmtree(etcd_data, ignore_errors=True)

        began = time.monotonic()
        self._spawn(
            "etcd",
            [
                str(self.binaries.etcd),
                "--name=default",
                f"--data-dir={etcd_data}",
                f"--listen-client-urls={etcd_client_url}",
                f"--advertise-client-urls={etcd_client_url}",
                f"--listen-peer-urls={etcd_peer_url}",
                f"--initial-advertise-peer-urls={etcd_peer_url}",
                f"--initial-cluster=default={etcd_peer_url}",
                # Test data is thrown away: durability only costs time here.
                "--unsafe-no-fsync",
            ],
        )
        self._spawn(
            "kube-apiserver",
            [
                str(self.binaries.kube_apiserver),
                f"--etcd-servers={etcd_client_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={apiserver_port}",
                f"--cert-dir={self.workdir / 'apiserver-certs'}",
                f"--tls-cert-file={self.pki.serving_cert}",
                f"--tls-private-key-file={self.pki.serving_key}",
                f"--client-ca-file={self.pki.ca_cert}",
                "--authorization-mode=RBAC",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={self.pki.service_account_public_key}",
                f"--service-account-signing-key-file={self.pki.service_account_private_key}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--disable-admission-plugins=ServiceAccount",
                # As OpenShift has it: blockOwnerDeletion needs permission on finalizers.
                "--enable-admission-plugins=OwnerReferencesPermissionEnforcement",
                "--allow-privileged=true",
                # Endpoints may not hold a loopback address: no `kubernetes` Service endpoints.
                "--endpoint-reconciler-type=none",
            ],
        )
        self._write_admin_kubeconfig()
        self._wait_until_ready(began, timeout)
        self.startup.apiserver_ready = time.monotonic() - began

    def start_controller_manager(self) -> None:
        """Start kube-controller-manager (garbage collector and namespace controllers).

        Started after the CRDs are installed: its garbage collector discovers resource
        types at start and otherwise only on a periodic resync (30 s).
        """
        self._spawn(
            "kube-controller-manager",
            [
                str(self.binaries.kube_controller_manager),
                f"--kubeconfig={self.kubeconfig}",
                # Owner-reference garbage collection and namespace deletion only.
                "--controllers=garbagecollector,namespace",
                "--leader-elect=false",
                "--secure-port=0",
            ],
        )

    def _spawn(self, component: str, command: list[str]) -> None:
        log_file = self.log_files[component]
        log_handle = log_file.open("ab")
        log_handle.write(f"$ {' '.join(command)}\n".encode())
        log_handle.flush()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_handle,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            preexec_fn=_die_with_parent,
        )
        self._children.append(_Child(component, process, log_file, log_handle))
        log.info("%s: started %s (pid %d), log %s", self.name, component, process.pid, log_file)

    def _write_admin_kubeconfig(self) -> None:
        assert self.pki is not None

        def embedded(path: Path) -> str:
            return base64.b64encode(path.read_bytes()).decode("ascii")

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": self.name,
                    "cluster": {
                        "server": self.server,
                        "certificate-authority-data": embedded(self.pki.ca_cert),
                    },
                }
            ],
            "users": [
                {
                    "name": ADMIN_USER,
                    "user": {
                        "client-certificate-data": embedded(self.pki.admin_cert),
                        "client-key-data": embedded(self.pki.admin_key),
                    },
                }
            ],
            "contexts": [
                {
                    "name": self.name,
                    "context": {"cluster": self.name, "user": ADMIN_USER, "namespace": "default"},
                }
            ],
            "current-context": self.name,
        }
        self.kubeconfig.write_text(yaml.safe_dump(config))
        self.kubeconfig.chmod(0o600)

    def admin_ssl_context(self) -> ssl.SSLContext:
        """A TLS context that trusts this apiserver and presents the admin certificate."""
        assert self.pki is not None
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        context.load_cert_chain(str(self.pki.admin_cert), str(self.pki.admin_key))
        return context

    def _wait_until_ready(self, began: float, timeout: float) -> None:
        context = self.admin_ssl_context()
        deadline = began + timeout
        last_answer = "no answer yet"
        while time.monotonic() < deadline:
            for child in self._children:
                if child.process.poll() is not None:
                    raise ControlPlaneStartError(
                        f"{self.name}: {child.name} exited with code "
                        f"{child.process.returncode} during start\n{self.log_tails(30)}"
                    )
            try:
                with urllib.request.urlopen(
                    f"{self.server}/readyz", context=context, timeout=2
                ) as response:
                    if response.status == 200:
                        return
                    last_answer = f"HTTP {response.status}"
            except urllib.error.HTTPError as error:
                last_answer = f"HTTP {error.code}"
            except (urllib.error.URLError, OSError) as error:
                last_answer = str(error)
            time.sleep(0.1)
        raise ControlPlaneStartError(
            f"{self.name}: kube-apiserver not ready at {self.server}/readyz within "
            f"{timeout:.0f} s (last answer: {last_answer})\n{self.log_tails(30)}"
        )

    def problems(self) -> list[str]:
        """Components that have exited since start (an empty list while all run)."""
        return [
            f"{child.name} exited with code {child.process.returncode}"
            for child in self._children
            if child.process.poll() is not None
        ]

    def log_tails(self, lines: int = 40) -> str:
        """The last lines of every component log, each under its file path."""
        return "\n".join(
            f"--- {component}: {path} (last {lines} lines)\n{log_tail(path, lines)}"
            for component, path in self.log_files.items()
        )

    def stop(self) -> None:
        """Stop every component (controller-manager first, etcd last); idempotent."""
        children, self._children = list(reversed(self._children)), []
        for child in children:
            # One at a time, so the apiserver shuts down while etcd still answers.
            _terminate_group(child.process, signal.SIGTERM)
            try:
                child.process.wait(timeout=_STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                _terminate_group(child.process, signal.SIGKILL)
                child.process.wait()
            # The process group may hold helpers of the component: make sure none survive.
            _terminate_group(child.process, signal.SIGKILL)
            child.log_handle.close()
        _RUNNING.discard(self)
        # etcd preallocates 64 MB of WAL: never leave that behind, logs are what matter.
        shutil.rmtree(self.workdir / "etcd-data", ignore_errors=True)

    def discard_files(self) -> None:
        """Remove the working folder unless `keep_files` asks to keep its logs."""
        if not self.keep_files:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _terminate_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    # Each child leads its own session, so its process group id is its pid.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


_RUNNING: set[LocalControlPlane] = set()
_cleanup_installed = threading.Lock()
_cleanup_done = False


def _stop_all() -> None:
    for control_plane in list(_RUNNING):
        control_plane.stop()
        control_plane.discard_files()


def _register_for_cleanup(control_plane: LocalControlPlane) -> None:
    """Make sure the control plane is stopped however the test run ends."""
    global _cleanup_done
    _RUNNING.add(control_plane)
    with _cleanup_installed:
        if _cleanup_done:
            return
        _cleanup_done = True
        atexit.register(_stop_all)
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGHUP):
            previous = signal.getsignal(signum)
            signal.signal(signum, _stopping_handler(signum, previous))


_Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


def _stopping_handler(signum: int, previous: _Handler) -> Callable[[int, FrameType | None], None]:
    def handle(received: int, frame: FrameType | None) -> None:
        _stop_all()
        if callable(previous):
            previous(received, frame)
            return
        # Re-deliver with the original disposition so the exit status stays truthful.
        signal.signal(signum, signal.SIG_DFL if previous is None else previous)
        os.kill(os.getpid(), signum)

    return handle
