"""A local control plane of one's own, for what must not share the session's `kube`: a test
that restarts the apiserver or etcd, a benchmark that needs a quiet cluster.

    with private_cluster("bench", controller_manager=True) as cluster:
        ...

It has the project's test CRDs (and, on request, the spec-immutable policy and a
kube-controller-manager, as `kube` has them). It is stopped and its files removed on exit;
they are kept (and their place printed) when the block raises, or when the caller sets
`cluster.control_plane.keep_files`. `why_no_control_plane()` says beforehand why none can
be had here (the binaries are not built): the caller skips, fails or reports it.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from support.cluster import Cluster, install_project_crds, install_spec_immutable_policy
from support.cluster_local import ControlPlaneStartError, LocalControlPlane, control_plane_binaries


def why_no_control_plane() -> str | None:
    """Why no local control plane can be started on this machine, or None."""
    try:
        return control_plane_binaries().problem()
    except ControlPlaneStartError as error:
        return str(error)


@contextlib.contextmanager
def private_cluster(
    name: str,
    *,
    audit_policy: Mapping[str, Any] | None = None,
    spec_immutable_policy: bool = False,
    controller_manager: bool = False,
) -> Iterator[Cluster]:
    binaries = control_plane_binaries()
    problem = binaries.problem()
    if problem is not None:
        raise ControlPlaneStartError(problem)
    workdir = Path(tempfile.mkdtemp(prefix=f"registry-sync-{name}-"))
    control_plane = LocalControlPlane(
        binaries=binaries, workdir=workdir, name=name, audit_policy=audit_policy
    )
    cluster: Cluster | None = None
    try:
        control_plane.start()
        cluster = Cluster(
            name=name,
            mode="local",
            kubeconfig=control_plane.kubeconfig,
            kubectl_binary=binaries.kubectl,
            control_plane=control_plane,
            kubectl_cache_dir=workdir / "kubectl-cache",
        )
        install_project_crds(cluster, only_missing=False)
        if spec_immutable_policy:
            install_spec_immutable_policy(cluster)
        if controller_manager:
            control_plane.start_controller_manager()
        yield cluster
    except BaseException:
        control_plane.keep_files = True
        raise
    finally:
        if control_plane.keep_files:
            print(f"control plane {name}: files kept in {workdir}", file=sys.stderr)
        if cluster is not None:
            cluster.close()
        control_plane.stop()
        control_plane.discard_files()
