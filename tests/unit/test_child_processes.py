"""Children of the local control plane (and of the demo) never outlive their parent."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from registry_sync.local_control_plane import spawn_child

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="parent-death signals are Linux only"
)


def is_gone(pid: int) -> bool:
    """No such process, or only its zombie (dead, waiting to be reaped by init)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def wait_until_gone(pid: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_gone(pid):
            return True
        time.sleep(0.05)
    return False


def test_a_child_dies_when_its_parent_is_killed_outright(tmp_path: Path) -> None:
    # The parent is a Python process of its own, so it can be SIGKILLed like a test run.
    parent_code = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from registry_sync.local_control_plane import spawn_child
        child = spawn_child("sleeper", ["sleep", "600"], Path({str(tmp_path / "sleeper.log")!r}))
        print(child.process.pid, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        assert not is_gone(child_pid)

        parent.send_signal(signal.SIGKILL)
        parent.wait(10)

        assert wait_until_gone(child_pid), f"child {child_pid} outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)


def test_stop_ends_the_child_and_its_process_group(tmp_path: Path) -> None:
    log_file = tmp_path / "shell.log"
    # A shell whose own child is in the same process group: both must end.
    child = spawn_child("shell", ["sh", "-c", "sleep 600 & echo $!; wait"], log_file)
    deadline = time.monotonic() + 10
    while len(log_file.read_text().splitlines()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    grandchild = int(log_file.read_text().splitlines()[1])

    child.stop(grace_seconds=5)

    assert child.process.returncode is not None
    assert wait_until_gone(grandchild)
    assert log_file.read_text().splitlines()[0] == "$ sh -c sleep 600 & echo $!; wait"
