"""Where the control plane's binaries are, and whether they are all there.

They come from `hack/control-plane/build.sh` (a cache folder outside the repository) or
from the folder `REGISTRY_SYNC_CONTROL_PLANE_DIR` names; nothing is ever taken from `PATH`.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

CONTROL_PLANE_DIR_VARIABLE = "REGISTRY_SYNC_CONTROL_PLANE_DIR"
BUILD_SCRIPT = Path("hack") / "control-plane" / "build.sh"
# The checkout this package was installed from in development mode (`pip install -e`).
_SOURCE_CHECKOUT = Path(__file__).resolve().parents[3]


class ControlPlaneStartError(RuntimeError):
    """The local control plane could not be found or started; the message says why and
    what to do."""


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


def control_plane_binaries(repository: Path | None = None) -> ControlPlaneBinaries:
    """The binaries folder: `REGISTRY_SYNC_CONTROL_PLANE_DIR`, else what
    `hack/control-plane/build.sh --print` names (it honours `KUBEBUILDER_ASSETS`), the
    script taken from `repository`, else this package's checkout, else the current folder.
    """
    configured = os.environ.get(CONTROL_PLANE_DIR_VARIABLE)
    if configured:
        return ControlPlaneBinaries(Path(configured))
    candidates = [repository] if repository is not None else [_SOURCE_CHECKOUT, Path.cwd()]
    script = next(
        (root / BUILD_SCRIPT for root in candidates if (root / BUILD_SCRIPT).is_file()),
        candidates[0] / BUILD_SCRIPT,
    )
    try:
        printed = subprocess.run(
            [str(script), "--print"], check=True, capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as error:
        raise ControlPlaneStartError(
            f"could not ask {script} --print where the control plane lives ({error}); run "
            f"from the repository, or set {CONTROL_PLANE_DIR_VARIABLE} to the folder holding "
            "the binaries"
        ) from None
    return ControlPlaneBinaries(Path(printed))
