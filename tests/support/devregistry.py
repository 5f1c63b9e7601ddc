"""The Model Registry stand-in as a separate process, for tests (a pytest plugin module).

`start_dev_registry()` runs `python -m registry_sync.cli dev-registry` on loopback, waits
for its `listening on` line and stops it on exit, also when the test fails. Fixtures:
`dev_registry` (a fresh, empty registry per test) and `dev_registry_session` (one
registry shared by the whole run).
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

API_PATH = "/api/model_registry/v1alpha3"
LISTENING_PREFIX = "listening on "
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0


class DevRegistryStartError(RuntimeError):
    """The stand-in process did not come up; the message carries its stderr."""


def _first_line(stream: IO[str], timeout: float) -> str | None:
    """The stream's first line, or None if none arrives within `timeout` seconds."""
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True)
    reader.start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return None


class RunningRegistry:
    """One stand-in process: where it listens, its data file, and how to stop or restart it."""

    def __init__(
        self,
        *,
        data_file: Path | None,
        tls_cert_file: Path | None,
        tls_key_file: Path | None,
        port: int,
    ) -> None:
        self.data_file = data_file
        self.tls_cert_file = tls_cert_file
        self.tls_key_file = tls_key_file
        self.url = ""
        self._requested_port = port
        self._process: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None

    @property
    def api(self) -> str:
        """The REST API base: `url` + `/api/model_registry/v1alpha3`."""
        return self.url + API_PATH

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stderr_text(self) -> str:
        """Everything the process wrote to stderr so far (its log)."""
        if self._stderr is None:
            return ""
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read()

    def _command(self, port: int) -> list[str]:
        command = [sys.executable, "-m", "registry_sync.cli", "dev-registry"]
        command += ["--host", "127.0.0.1", "--port", str(port)]
        if self.data_file is not None:
            command += ["--data", str(self.data_file)]
        if self.tls_cert_file is not None and self.tls_key_file is not None:
            command += ["--tls-cert-file", str(self.tls_cert_file)]
            command += ["--tls-key-file", str(self.tls_key_file)]
        return command

    def start(self, port: int | None = None) -> None:
        """Launch the process and wait until it listens; DevRegistryStartError otherwise."""
        if self.running:
            raise RuntimeError(f"the stand-in at {self.url} is already running")
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115
        command = self._command(self._requested_port if port is None else port)
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self._process.stdout is not None
        line = _first_line(self._process.stdout, START_TIMEOUT_SECONDS)
        if line is None or not line.startswith(LISTENING_PREFIX):
            self.stop()
            what = (
                f"no line within {START_TIMEOUT_SECONDS:.0f}s"
                if line is None
                else f"first line {line!r}"
            )
            raise DevRegistryStartError(
                f"the Model Registry stand-in did not start ({what}); command: "
                f"{' '.join(command)}\n--- its stderr ---\n{self.stderr_text()}"
            )
        self.url = line[len(LISTENING_PREFIX) :].strip()

    def stop(self) -> None:
        """Terminate the process (SIGTERM, then SIGKILL after a grace period) and wait for it."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def restart(self) -> None:
        """Stop and start again with the same data file, on the same port if it is still free."""
        previous_port = self.port if self.url else self._requested_port
        self.stop()
        try:
            self.start(port=previous_port)
        except DevRegistryStartError:
            # Someone took the port in between: any free port will do.
            self.start(port=0)

    def close(self) -> None:
        self.stop()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


@contextmanager
def start_dev_registry(
    *,
    data_file: Path | None = None,
    tls_cert_file: Path | None = None,
    tls_key_file: Path | None = None,
    port: int = 0,
) -> Iterator[RunningRegistry]:
    """A running stand-in for the `with` block; the process is gone when the block ends."""
    registry = RunningRegistry(
        data_file=data_file, tls_cert_file=tls_cert_file, tls_key_file=tls_key_file, port=port
    )
    try:
        registry.start()
        yield registry
    finally:
        registry.close()


@pytest.fixture
def dev_registry(tmp_path: Path) -> Iterator[RunningRegistry]:
    """A fresh, empty stand-in for one test, keeping its state in the test's tmp_path."""
    with start_dev_registry(data_file=tmp_path / "dev-registry.json") as registry:
        yield registry


@pytest.fixture(scope="session")
def dev_registry_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """One stand-in shared by the whole test run: tests must not rely on it being empty."""
    data_file = tmp_path_factory.mktemp("dev-registry") / "dev-registry.json"
    with start_dev_registry(data_file=data_file) as registry:
        yield registry
