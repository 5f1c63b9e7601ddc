"""etcd, kube-apiserver and (optionally) kube-controller-manager as child processes, on
random loopback ports, in one folder: the cluster of `registry-sync demo`, the tests and
the benchmarks. Here: starting them, waiting for readiness, outages, stopping.

Children die with this process (see `processes`). etcd and the apiserver can be stopped
and started again on the same ports, data and certificates, to test clients through an
outage. Where the binaries come from is `binaries`'; the flags each component runs with,
and the kubeconfig files, are `configuration`'s.
"""

from __future__ import annotations

import logging
import os
import shutil
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry_sync.local_control_plane.binaries import (
    ControlPlaneBinaries,
    ControlPlaneStartError,
)
from registry_sync.local_control_plane.configuration import (
    apiserver_command,
    controller_manager_command,
    etcd_command,
    write_kubeconfig,
)
from registry_sync.local_control_plane.pki import (
    ADMIN_USER,
    ControlPlanePki,
    issue_client_certificate,
    write_control_plane_pki,
)
from registry_sync.local_control_plane.processes import (
    ChildProcess,
    free_loopback_port,
    log_tail,
    spawn_child,
)

log = logging.getLogger(__name__)

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager")
OWNER_FILE = "owner.pid"
_PORT_RETRIES = 3


def sweep_abandoned_etcd_data(folder: Path) -> None:
    """Remove the etcd data (64 MB each) of control planes whose owner died without
    cleaning up (SIGKILL); their logs stay for a post-mortem."""
    for owner_file in folder.glob(f"registry-sync-*/{OWNER_FILE}"):
        try:
            owner = int(owner_file.read_text())
            os.kill(owner, 0)
        except ProcessLookupError:
            shutil.rmtree(owner_file.parent / "etcd-data", ignore_errors=True)
        except (OSError, ValueError):
            continue


@dataclass
class StartupTimes:
    """How the last start went: seconds from spawning etcd to the apiserver's /readyz
    answering ok, and how many attempts it took (a port taken meanwhile costs one)."""

    apiserver_ready: float = 0.0
    attempts: int = 1


@dataclass(eq=False)  # identity: each instance is a distinct set of processes
class LocalControlPlane:
    """etcd + kube-apiserver (+ kube-controller-manager on request) under `workdir`.

    After `start()`: `server` is the apiserver URL, `kubeconfig` an admin kubeconfig
    (client certificate in `system:masters`, everything embedded), `log_files` the
    component logs, `startup` how long it took. With `audit_policy` (an audit.k8s.io
    Policy as a dict) the apiserver writes JSON audit events to `audit_log`.
    """

    binaries: ControlPlaneBinaries
    workdir: Path
    name: str = "kube"
    audit_policy: Mapping[str, Any] | None = None
    server: str = ""
    kubeconfig: Path = field(init=False)
    pki: ControlPlanePki | None = None
    startup: StartupTimes = field(default_factory=StartupTimes)
    # Set when a start or its user failed: the logs then outlive `discard_files()`.
    keep_files: bool = False
    _children: list[ChildProcess] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.kubeconfig = self.workdir / "admin.kubeconfig"

    @property
    def log_files(self) -> dict[str, Path]:
        return {component: self.workdir / "logs" / f"{component}.log" for component in COMPONENTS}

    @property
    def audit_log(self) -> Path:
        return self.workdir / "logs" / "audit.log"

    @property
    def children(self) -> list[ChildProcess]:
        """The running components, in start order."""
        return list(self._children)

    # -- starting ------------------------------------------------------------------------

    def start(self, timeout: float = 90.0) -> None:
        """Start etcd and kube-apiserver and return once the apiserver's /readyz is ok.

        Raises ControlPlaneStartError (with the log tails) when a component exits or
        readiness does not come within `timeout` seconds.
        """
        problem = self.binaries.problem()
        if problem is not None:
            raise ControlPlaneStartError(problem)
        sweep_abandoned_etcd_data(self.workdir.parent)
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        (self.workdir / OWNER_FILE).write_text(str(os.getpid()))
        self.pki = write_control_plane_pki(self.workdir / "pki")
        for attempt in range(1, _PORT_RETRIES + 1):
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
        etcd_client_url = f"http://127.0.0.1:{free_loopback_port()}"
        etcd_peer_url = f"http://127.0.0.1:{free_loopback_port()}"
        apiserver_port = free_loopback_port()
        self.server = f"https://127.0.0.1:{apiserver_port}"
        etcd_data = self.workdir / "etcd-data"
        # A retried start needs a fresh member: the old data names the old peer URL.
        shutil.rmtree(etcd_data, ignore_errors=True)

        began = time.monotonic()
        self._spawn("etcd", etcd_command(self.binaries, etcd_data, etcd_client_url, etcd_peer_url))
        apiserver = apiserver_command(
            self.binaries,
            self.pki,
            self.workdir,
            etcd_client_url,
            apiserver_port,
            self.audit_policy,
            self.audit_log,
        )
        self._spawn("kube-apiserver", apiserver)
        self._write_admin_kubeconfig()
        self._wait_until_ready(began + timeout)
        self.startup.apiserver_ready = time.monotonic() - began

    def start_controller_manager(self) -> None:
        """Start kube-controller-manager (garbage collector and namespace controllers).

        Start it after installing CRDs: its garbage collector discovers resource types
        at start and otherwise only on a periodic resync (30 s).
        """
        self._spawn(
            "kube-controller-manager",
            controller_manager_command(self.binaries, self.kubeconfig),
        )

    def _spawn(self, component: str, command: list[str]) -> ChildProcess:
        child = spawn_child(component, command, self.log_files[component], cwd=self.workdir)
        self._children.append(child)
        log.info("%s: started %s (pid %d)", self.name, component, child.process.pid)
        return child

    # -- outages -------------------------------------------------------------------------

    def stop_apiserver(self) -> None:
        """Stop kube-apiserver (SIGTERM, as in a rolling restart); etcd keeps running."""
        self._child("kube-apiserver").stop()

    def start_apiserver(self, timeout: float = 90.0) -> None:
        """Start kube-apiserver again on the same port, with the same etcd and certificates
        (after `stop_apiserver()`); return once /readyz is ok."""
        self._respawn("kube-apiserver")
        self._wait_until_ready(time.monotonic() + timeout)

    def restart_apiserver(self, timeout: float = 90.0) -> None:
        """`stop_apiserver()` then `start_apiserver()`."""
        self.stop_apiserver()
        self.start_apiserver(timeout)

    def stop_etcd(self) -> None:
        """Stop etcd, keeping its data; the apiserver keeps running and answers errors."""
        self._child("etcd").stop()

    def start_etcd(self, timeout: float = 90.0) -> None:
        """Start etcd again on the same ports and data (after `stop_etcd()`); return once
        the apiserver's /readyz, which checks etcd, is ok again."""
        self._respawn("etcd")
        self._wait_until_ready(time.monotonic() + timeout)

    def _child(self, component: str) -> ChildProcess:
        for child in self._children:
            if child.name == component:
                return child
        raise ControlPlaneStartError(f"{self.name}: {component} was never started")

    def _respawn(self, component: str) -> None:
        old = self._child(component)
        if old.process.poll() is None:
            raise ControlPlaneStartError(f"{self.name}: {component} is still running")
        new = spawn_child(component, old.command, old.log_file, cwd=self.workdir)
        # Same place in the list: `stop()` still stops the apiserver before etcd.
        self._children[self._children.index(old)] = new
        log.info("%s: restarted %s (pid %d)", self.name, component, new.process.pid)

    # -- clients -------------------------------------------------------------------------

    def _write_admin_kubeconfig(self) -> None:
        assert self.pki is not None
        self.write_kubeconfig(self.kubeconfig, ADMIN_USER, self.pki.admin_cert, self.pki.admin_key)

    def write_kubeconfig(self, path: Path, user: str, cert_file: Path, key_file: Path) -> Path:
        """Write a kubeconfig for this apiserver authenticating with a client certificate
        (everything embedded, mode 0600); return `path`."""
        assert self.pki is not None
        return write_kubeconfig(
            path, self.name, self.server, self.pki.ca_cert, user, cert_file, key_file
        )

    def kubeconfig_for_user(self, user: str, groups: tuple[str, ...] = ()) -> Path:
        """A kubeconfig for another identity than the admin, with a client certificate
        naming `user` and `groups` (e.g. `system:masters`): its requests carry that user
        name (in RBAC decisions and the audit log)."""
        assert self.pki is not None, "start() first"
        folder = self.workdir / "pki" / "users"
        cert_file, key_file = issue_client_certificate(self.pki, folder, user, groups)
        return self.write_kubeconfig(folder / f"{user}.kubeconfig", user, cert_file, key_file)

    def admin_ssl_context(self) -> ssl.SSLContext:
        """A TLS context that trusts this apiserver and presents the admin certificate."""
        assert self.pki is not None
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        context.load_cert_chain(str(self.pki.admin_cert), str(self.pki.admin_key))
        return context

    def _wait_until_ready(self, deadline: float) -> None:
        context = self.admin_ssl_context()
        last_answer = "no answer yet"
        while time.monotonic() < deadline:
            exited = self.problems()
            if exited:
                raise ControlPlaneStartError(
                    f"{self.name}: {', '.join(exited)} during start\n{self.log_tails(30)}"
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
            f"{self.name}: kube-apiserver not ready at {self.server}/readyz (last answer: "
            f"{last_answer})\n{self.log_tails(30)}"
        )

    # -- diagnostics and the end ---------------------------------------------------------

    def problems(self) -> list[str]:
        """Components that have exited since start (an empty list while all run)."""
        return [problem for child in self._children if (problem := child.exit_problem())]

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
            child.stop()
        # etcd preallocates 64 MB of WAL: never leave that behind, logs are what matter.
        shutil.rmtree(self.workdir / "etcd-data", ignore_errors=True)

    def discard_files(self) -> None:
        """Remove the working folder unless `keep_files` asks to keep its logs."""
        if not self.keep_files:
            shutil.rmtree(self.workdir, ignore_errors=True)
