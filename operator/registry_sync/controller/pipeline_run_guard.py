"""No-webhook mode: corrects opted-in PipelineRuns after creation, the only way Tekton allows.

Pending runs are replaced by a corrected copy and cancelled; started runs with wrong params
are cancelled before they publish, unless they started with the binding's last Ready answer
(then they are reported). The steps are idempotent: the copy's name is derived from the
original's and the copy is owned by it, and the original is cancelled only once the copy
exists, so a restart between the two finishes the job without a second copy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from registry_sync.controller.binding_book import BindingBook
from registry_sync.controller.event_queue import post_event_best_effort
from registry_sync.controller.kube_calls import (
    ALWAYS_OPEN,
    KubeCallError,
    KubeObjects,
    NotLeading,
    ObjectRef,
    WriteGate,
)
from registry_sync.controller.pipeline_run_admission import PipelineRunAdmission, binding_view
from registry_sync.domain.metadata import PIPELINE_RUNS
from registry_sync.domain.pipeline_run import label_target
from registry_sync.domain.replacement import (
    Cancel,
    LastReady,
    Leave,
    Replace,
    Report,
    Stamp,
    decide_without_webhook,
    left_alone_whatever_the_binding,
    when_copy_name_taken,
)

log = logging.getLogger(__name__)

# At a cold start the runs' events arrive together with their InferenceServices': a run must
# not be cancelled because its target has not been reconciled yet (with thousands of
# InferenceServices that takes longer than the admission's short wait). Bounded, so that a
# stuck InferenceService cannot hold every decision forever.
STARTUP_WAIT_SECONDS = 600.0


class PipelineRunGuard:
    def __init__(
        self,
        admission: PipelineRunAdmission,
        kube: KubeObjects,
        book: BindingBook,
        startup_wait_s: float = STARTUP_WAIT_SECONDS,
        gate: WriteGate = ALWAYS_OPEN,
    ) -> None:
        self._gate = gate
        self._admission = admission
        self._kube = kube
        self._book = book
        self._startup_wait_s = startup_wait_s
        # Runs not settled yet, seen while another replica wrote (their latest body): decided
        # when this one becomes the writer, as their next event may never come.
        self._left_to_the_writer: dict[str, Mapping[str, Any]] = {}

    async def on_pipeline_run(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        name = _name(body)
        if event_type == "DELETED":
            self._left_to_the_writer.pop(name, None)
            return
        settled = left_alone_whatever_the_binding(body)
        if settled is not None:
            # Most opted-in runs are finished: answered at once, without holding the event
            # (and its body) while InferenceServices are reconciled at start-up.
            self._left_to_the_writer.pop(name, None)
            log.debug("PipelineRun %s left alone: %s", name, settled.why)
            return
        if not self._gate.may_write():
            # Another replica holds the Lease and decides (controller/leadership.py).
            self._left_to_the_writer[name] = body
            log.debug("PipelineRun %s left to the replica that writes", name)
            return
        self._left_to_the_writer.pop(name, None)
        if not await self._admission.wait_until_primed(self._startup_wait_s):
            log.warning(
                "InferenceServices listed at start-up are still not reconciled after %.0f s; "
                "deciding about PipelineRuns with what is known",
                self._startup_wait_s,
            )
        binding, unmanaged = await self._admission.target_binding(body)
        action = decide_without_webhook(
            body,
            binding,
            self._admission.param_names,
            inference_service_exists=unmanaged,
            last_ready=self._last_ready(body),
        )
        metadata = body.get("metadata", {})
        ref = ObjectRef(metadata.get("namespace", ""), metadata.get("name", ""))
        try:
            match action:
                case Leave(why=why):
                    log.debug("PipelineRun %s left alone: %s", ref, why)
                case Replace():
                    await self._replace(body, ref, action)
                case Cancel(patch=patch, reason=reason, message=message):
                    await asyncio.to_thread(self._kube.patch_pipeline_run, ref, patch)
                    await self._event(body, "Warning", reason, message)
                case Report(patch=patch, reason=reason, message=message):
                    await asyncio.to_thread(self._kube.patch_pipeline_run, ref, patch)
                    await self._event(body, "Warning", reason, message)
                case Stamp(patch=patch):
                    await asyncio.to_thread(self._kube.patch_pipeline_run, ref, patch)
                    log.info("PipelineRun %s: params right, model version recorded", ref)
        except NotLeading:
            self._left_to_the_writer[name] = body  # the term ended meanwhile: see catch_up
        except KubeCallError as error:
            # The next event of this run (or a restart's listing) tries again.
            log.warning("%s", error)

    async def catch_up(self) -> None:
        """This replica became the writer: decide the runs it saw, not settled, while it
        could not write (another replica held the Lease, or its own term had ended during
        an outage of the apiserver)."""
        for body in list(self._left_to_the_writer.values()):
            await self.on_pipeline_run("MODIFIED", body)

    async def _replace(self, body: Mapping[str, Any], ref: ObjectRef, action: Replace) -> None:
        created = await asyncio.to_thread(self._kube.create_pipeline_run, action.copy)
        if not created:
            copy_ref = ObjectRef(ref.namespace, action.copy["metadata"]["name"])
            existing = await asyncio.to_thread(self._kube.find_pipeline_run, copy_ref)
            match when_copy_name_taken(body, action, existing):
                case Cancel(patch=patch, reason=reason, message=message):
                    await asyncio.to_thread(self._kube.patch_pipeline_run, ref, patch)
                    await self._event(body, "Warning", reason, message)
                    return
                case Replace():
                    log.info("PipelineRun %s: its copy %s exists already", ref, copy_ref.name)
        await asyncio.to_thread(self._kube.patch_pipeline_run, ref, action.cancel_patch)
        await self._event(body, "Normal", "Replaced", action.message)

    def _last_ready(self, body: Mapping[str, Any]) -> LastReady | None:
        name = label_target(body)
        target = self._book.target(name) if name is not None else None
        if target is None or target.entry is None:
            return None  # no target, or a name clash: no answer was ever right for it
        period = self._book.last_ready(target.entry.facts.kind, target.entry.facts.name)
        if period is None:
            return None
        return LastReady(binding_view(period.entry), period.ended_at_ms)

    async def _event(self, body: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        metadata = body.get("metadata", {})
        await post_event_best_effort(self._kube, PIPELINE_RUNS, metadata, (type_, reason, message))


def _name(body: Mapping[str, Any]) -> str:
    metadata = body.get("metadata", {})
    return f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"
