"""Running `registry-sync audit` as its own process, and what tests do to the cluster for it."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from typing import Any

from support.cluster import Cluster
from support.cluster_objects import PIPELINE_RUNS

AUDIT_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class AuditRun:
    exit_code: int
    stdout: str
    stderr: str


async def run_audit(*args: str, module: str = "registry_sync.cli") -> AuditRun:
    """Run the audit command as its own process (`python -m MODULE audit ARGS`)."""
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("REGISTRY_SYNC_")
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        "audit",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), AUDIT_TIMEOUT_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(
            f"the audit did not finish within {AUDIT_TIMEOUT_SECONDS:.0f} s"
        ) from None
    assert process.returncode is not None
    return AuditRun(process.returncode, stdout.decode(), stderr.decode())


def set_run_status(kube: Cluster, namespace: str, name: str, reason: str, status: str) -> None:
    """Write Tekton's Succeeded condition, as Tekton's controller would."""
    body: dict[str, Any] = {
        "status": {"conditions": [{"type": "Succeeded", "status": status, "reason": reason}]}
    }
    kube.custom_objects.patch_namespaced_custom_object_status(
        PIPELINE_RUNS.group,
        PIPELINE_RUNS.version,
        namespace,
        PIPELINE_RUNS.plural,
        name,
        body,
        _content_type="application/merge-patch+json",
    )
