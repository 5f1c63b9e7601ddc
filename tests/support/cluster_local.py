"""The local control plane for tests and benchmarks: `registry_sync.local_control_plane`
(shared with `registry-sync demo`), plus what a test run needs on top.

Here a started control plane is also stopped at interpreter exit and on SIGTERM/SIGHUP,
so an interrupted run (Ctrl-C, a CI timeout) leaves no processes and no etcd data behind;
a run killed outright is covered by the children dying with their parent.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

from registry_sync.local_control_plane import (
    CONTROL_PLANE_DIR_VARIABLE,
    ControlPlaneBinaries,
    ControlPlaneStartError,
    StartupTimes,
    control_plane_binaries,
    free_loopback_port,
    log_tail,
)
from registry_sync.local_control_plane import LocalControlPlane as _LocalControlPlane

__all__ = [
    "CONTROL_PLANE_DIR_VARIABLE",
    "ControlPlaneBinaries",
    "ControlPlaneStartError",
    "LocalControlPlane",
    "StartupTimes",
    "control_plane_binaries",
    "free_loopback_port",
    "log_tail",
]


class LocalControlPlane(_LocalControlPlane):
    """The shared local control plane, stopped however the test run ends."""

    def start(self, timeout: float = 90.0) -> None:
        _register_for_cleanup(self)
        super().start(timeout)

    def discard_files(self) -> None:
        super().discard_files()
        _RUNNING.discard(self)


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
