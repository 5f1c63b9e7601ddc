"""Child processes that never outlive the process that started them.

Each child leads its own session (so its process group can be signalled as a whole) and,
on Linux, is sent SIGKILL by the kernel when its parent dies, even by SIGKILL
(`PR_SET_PDEATHSIG`). The kernel ties that signal to the *thread* that forked the child:
start children from a thread that lives as long as they should (the main thread).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

_PR_SET_PDEATHSIG = 1
STOP_GRACE_SECONDS = 10.0


def _resolve_prctl() -> Callable[..., int] | None:
    # Resolved here, in the parent: loading a library between fork and exec can deadlock
    # on the loader's lock when another thread held it at the fork.
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


_PRCTL = _resolve_prctl()


def _dying_with(parent: int) -> Callable[[], None]:
    """What a child runs before exec: its own session, SIGKILL when `parent` dies."""

    def prepare() -> None:
        os.setsid()
        if _PRCTL is not None:
            _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)
            # The parent may have died between fork and prctl: nobody would signal then.
            if os.getppid() != parent:
                os._exit(1)

    return prepare


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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


@dataclass(eq=False)
class ChildProcess:
    """One started command, its output appended to `log_file`."""

    name: str
    command: list[str]
    process: subprocess.Popen[bytes]
    log_file: Path
    _log: IO[bytes]

    def exit_problem(self) -> str | None:
        """`<name> exited with code N` once it has exited, else None."""
        if self.process.poll() is None:
            return None
        return f"{self.name} exited with code {self.process.returncode}"

    def stop(self, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM to its process group, SIGKILL after `grace_seconds`; waits. Idempotent."""
        _signal_group(self.process, signal.SIGTERM)
        try:
            self.process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            _signal_group(self.process, signal.SIGKILL)
            self.process.wait()
        # The group may hold helpers of the command: none may survive it.
        _signal_group(self.process, signal.SIGKILL)
        self._log.close()


def spawn_child(
    name: str,
    command: list[str],
    log_file: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> ChildProcess:
    """Start `command` as a child that dies with this process; stdout and stderr are
    appended to `log_file` after a line naming the command."""
    log = log_file.open("ab")
    log.write(f"$ {' '.join(command)}\n".encode())
    log.flush()
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=None if env is None else dict(env),
        cwd=cwd,
        preexec_fn=_dying_with(os.getpid()),
    )
    return ChildProcess(name, command, process, log_file, log)


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    # Each child leads its own session, so its process group id is its pid.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
