"""What `verify-run` and `publish` read from the cluster: the run and the ModelBinding of the
deployment it tests, with two GETs (a pipeline's service account needs `get` on both, and
nothing else: tekton/rbac.yaml).

Anything that stops the reading is a `CannotCheck` whose message says what could not be read
and what to check; a run that names no deployment, or a deployment without a binding, is
not: those are answers, refused by the decision like the webhook refuses them.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any, Final

from registry_sync.controller.kube_calls import (
    KubeCallError,
    KubeConfigError,
    KubeObjects,
    ObjectRef,
    connect,
)
from registry_sync.domain.admission import BindingView
from registry_sync.domain.metadata import MODEL_BINDINGS, PIPELINE_RUNS
from registry_sync.domain.pipeline_run import label_target
from registry_sync.domain.publication import stored_binding_view

# A PipelineRun's name is a DNS subdomain; anything else is refused before any request.
_OBJECT_NAME: Final = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_DIGEST: Final = re.compile(r"^sha256:[0-9a-f]{64}$")
_NEEDED: Final = (
    f"get on {PIPELINE_RUNS.plural}.{PIPELINE_RUNS.group} and "
    f"{MODEL_BINDINGS.plural}.{MODEL_BINDINGS.group} (tekton/rbac.yaml grants them to the "
    "pipeline's service account)"
)


class CannotCheck(Exception):
    """The run or its binding could not be read; the message says what and what to check."""


@dataclass(frozen=True, slots=True)
class RunAndBinding:
    """The run, its target's binding as the webhook sees one (None: no binding of that
    name), and the digest the binding last saw running (None: not known)."""

    run: dict[str, Any]
    binding: BindingView | None
    running_digest: str | None


async def read_run_and_binding(
    namespace: str, run_name: str, kubeconfig: str | None
) -> RunAndBinding:
    """Read the run `run_name` of `namespace` and its target's binding; `CannotCheck` if not."""
    if not _OBJECT_NAME.match(run_name):
        raise CannotCheck(f"{run_name!r} is not a PipelineRun name")
    try:
        api_client = connect(kubeconfig)
    except KubeConfigError as error:
        raise CannotCheck(str(error)) from None
    try:
        return await asyncio.to_thread(_read, KubeObjects(api_client), namespace, run_name)
    finally:
        api_client.close()  # type: ignore[no-untyped-call]


def _read(kube: KubeObjects, namespace: str, run_name: str) -> RunAndBinding:
    try:
        run = kube.get_object(PIPELINE_RUNS, ObjectRef(namespace, run_name))
        if run is None:
            raise CannotCheck(f"no PipelineRun {run_name} in namespace {namespace}")
        target = label_target(run)
        body = (
            kube.get_object(MODEL_BINDINGS, ObjectRef(namespace, target))
            if target is not None and _OBJECT_NAME.match(target)
            else None
        )
    except KubeCallError as error:
        advice = f"; the caller needs {_NEEDED}" if error.status in (401, 403) else ""
        raise CannotCheck(f"{error}{advice}") from None
    view = stored_binding_view(target, body) if target is not None else None
    return RunAndBinding(run, view, _running_digest(body))


def _running_digest(binding: object) -> str | None:
    status = binding.get("status") if isinstance(binding, dict) else None
    digest = status.get("runningDigest") if isinstance(status, dict) else None
    return digest if isinstance(digest, str) and _DIGEST.match(digest) else None
