"""`registry-sync run` as a separate process, as in production, for integration tests.

`start_operator` launches it against a test cluster and a registry, waits until its start-up
handlers have run, and stops it (SIGTERM, then SIGKILL) at the end. Its log is kept in a file
and shown in the failure report of a test that used it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from kubernetes.client.exceptions import ApiException

from support.cluster import Cluster
from support.cluster_objects import PIPELINE_RUNS

READY_LINE = "Activity 'start-services' succeeded"
_RUNNING: dict[str, RunningOperator] = {}


class OperatorStartError(AssertionError):
    pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RunningOperator:
    """One operator process; `.log()` reads what it printed so far."""

    def __init__(
        self,
        cluster: Cluster,
        namespace: str,
        registry_url: str,
        log_path: Path,
        extra_args: Sequence[str],
        env: dict[str, str],
        kubeconfig: Path | None = None,
        webhook_port: int | None = None,
        verbose: bool = True,
    ) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.registry_url = registry_url
        self.log_path = log_path
        self.metrics_port = free_port()
        self.webhook_port = webhook_port or free_port()
        self.extra_args = list(extra_args)
        self._env = env
        # Another identity than the cluster's admin (a ServiceAccount token, for RBAC tests).
        self.kubeconfig = kubeconfig
        # Debug logging helps a failing test; benchmarks turn it off, as deployed (INFO).
        self.verbose = verbose
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "registry_sync.cli", "run",
            "--namespace", self.namespace,
            "--registry-url", self.registry_url,
            "--metrics-port", str(self.metrics_port),
            "--health-port", "0",
            "--webhook-port", str(self.webhook_port),
            *(["--verbose"] if self.verbose else []),
            *self.extra_args,
        ]  # fmt: skip

    def start(self, timeout: float = 60.0, *, wait: bool = True) -> None:
        """Launch the process; with `wait`, return once it is ready (and its webhook
        answers), else at once (a test that expects it never to get ready)."""
        environment = self.cluster.env()
        if self.kubeconfig is not None:
            environment["KUBECONFIG"] = str(self.kubeconfig)
        environment.update(self._env)
        # The log file is appended to across restarts: look for readiness only after this start.
        log_start = len(self.log())
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
                start_new_session=True,
            )
        if not wait:
            return
        deadline = time.monotonic() + timeout
        while READY_LINE not in self.log()[log_start:]:
            if self.process.poll() is not None:
                raise OperatorStartError(
                    f"operator exited with {self.process.returncode} before it was ready:\n"
                    + self.log()[-4000:]
                )
            if time.monotonic() > deadline:
                raise OperatorStartError(
                    f"operator not ready within {timeout:g} s:\n" + self.log()[-4000:]
                )
            time.sleep(0.1)
        if "off" not in self.extra_args:
            self._wait_for_webhook(deadline)

    def _wait_for_webhook(self, deadline: float) -> None:
        """Until the apiserver gets the operator's own answer for an opted-in run.

        The webhook server and Kopf's resource discovery come up just after start-up:
        before that the apiserver sees a refused connection or a 404, and fails closed.
        """
        probe = {
            "apiVersion": "tekton.dev/v1",
            "kind": "PipelineRun",
            "metadata": {
                "generateName": "webhook-probe-",
                "labels": {"registry-sync.io/inference-service": "webhook-probe"},
            },
            "spec": {"pipelineRef": {"name": "probe"}},
        }
        last = ""
        while time.monotonic() < deadline:
            try:
                PIPELINE_RUNS.create(self.cluster.api_client, self.namespace, probe, dry_run=True)
            except ApiException as error:
                last = str(error.body)
                if "webhook-probe" in last and "registry-sync.io/enabled" in last:
                    return
            time.sleep(0.2)
        raise OperatorStartError(f"the operator's webhook never answered; last reply: {last}")

    def stop(self, timeout: float = 15.0) -> int | None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return process.returncode if process else None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            return process.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: the operator dies at once, as in a node failure."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


@contextlib.contextmanager
def start_operator(
    cluster: Cluster,
    namespace: str,
    registry_url: str,
    log_path: Path,
    *,
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    kubeconfig: Path | None = None,
    webhook_port: int | None = None,
    wait: bool = True,
    verbose: bool = True,
) -> Iterator[RunningOperator]:
    """The operator for the `with` block. `kubeconfig` runs it as another identity than the
    cluster's admin; `wait=False` returns before it is ready (see `RunningOperator.start`);
    `verbose=False` logs at INFO, as deployed (benchmarks)."""
    operator = RunningOperator(
        cluster, namespace, registry_url, log_path, extra_args, env or {},
        kubeconfig=kubeconfig, webhook_port=webhook_port, verbose=verbose,
    )  # fmt: skip
    _RUNNING[str(log_path)] = operator
    try:
        operator.start(wait=wait)
        yield operator
    finally:
        operator.stop()
        _RUNNING.pop(str(log_path), None)
        # A local operator registers its own webhook configuration; remove what it left.
        with contextlib.suppress(ApiException):
            cluster.admission.delete_mutating_webhook_configuration(f"registry-sync-{namespace}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed and report.when == "call":
        for operator in list(_RUNNING.values()):
            report.sections.append((f"operator log ({operator.namespace})", operator.log()[-6000:]))
