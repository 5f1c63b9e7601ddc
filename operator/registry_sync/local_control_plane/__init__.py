"""A throw-away local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager
as child processes): the cluster of `registry-sync demo`, the tests and the benchmarks.

Development tooling: the operator itself never imports it.
"""

from registry_sync.local_control_plane.binaries import (
    CONTROL_PLANE_DIR_VARIABLE,
    ControlPlaneBinaries,
    ControlPlaneStartError,
    control_plane_binaries,
)
from registry_sync.local_control_plane.control_plane import LocalControlPlane, StartupTimes
from registry_sync.local_control_plane.pki import ADMIN_USER, ControlPlanePki
from registry_sync.local_control_plane.processes import (
    ChildProcess,
    free_loopback_port,
    log_tail,
    spawn_child,
)

__all__ = [
    "ADMIN_USER",
    "CONTROL_PLANE_DIR_VARIABLE",
    "ChildProcess",
    "ControlPlaneBinaries",
    "ControlPlanePki",
    "ControlPlaneStartError",
    "LocalControlPlane",
    "StartupTimes",
    "control_plane_binaries",
    "free_loopback_port",
    "log_tail",
    "spawn_child",
]
