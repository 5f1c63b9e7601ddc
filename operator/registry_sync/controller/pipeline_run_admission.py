"""Answers PipelineRun admission reviews from memory: no registry request on this path."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from registry_sync.controller.binding_book import BindingBook, BindingEntry, RunTarget
from registry_sync.controller.metrics import OperatorMetrics
from registry_sync.domain.admission import (
    AdmissionDecision,
    Admitted,
    BindingView,
    clash_view,
    decide_admission,
)
from registry_sync.domain.params import ParamNames
from registry_sync.domain.pipeline_run import label_target

# An InferenceService applied together with its run may not be resolved yet: wait for it,
# well within the webhook's 5 s timeout.
BINDING_WAIT_SECONDS = 3.0


class PipelineRunAdmission:
    def __init__(
        self,
        book: BindingBook,
        param_names: ParamNames,
        metrics: OperatorMetrics,
        binding_wait_s: float = BINDING_WAIT_SECONDS,
    ) -> None:
        self._book = book
        self._param_names = param_names
        self._metrics = metrics
        self._binding_wait_s = binding_wait_s

    @property
    def param_names(self) -> ParamNames:
        return self._param_names

    async def wait_until_primed(self, timeout_s: float) -> bool:
        """Until the InferenceServices that existed at start-up have been reconciled."""
        return await self._book.wait_primed(timeout_s)

    async def target_binding(self, run: Mapping[str, Any]) -> tuple[BindingView | None, bool]:
        """The binding of the run's target, of whichever kind, and whether the target exists
        unmanaged. A name two kinds use is a binding that is not Ready (`NameClash`).

        A target not resolved yet (applied together with the run) is waited for briefly.
        """
        name = label_target(run)
        if name is None:
            return None, False
        target = self._book.target(name)
        if _unresolved(target):
            target = await self._book.wait_for(name, self._binding_wait_s)
        if target.clash is not None:
            return clash_view(target.clash), target.unmanaged
        view = binding_view(target.entry) if target.entry is not None else None
        return view, target.unmanaged

    async def review(self, run: Mapping[str, Any]) -> AdmissionDecision:
        started = time.perf_counter()
        binding, unmanaged = await self.target_binding(run)
        decision = decide_admission(
            run, binding, self._param_names, inference_service_exists=unmanaged
        )
        if isinstance(decision, Admitted):
            if decision.changed:
                self._metrics.admission_corrections.inc()
        else:
            self._metrics.admission_denials.labels(decision.reason).inc()
        self._metrics.admission_duration.observe(time.perf_counter() - started)
        return decision


def _unresolved(target: RunTarget) -> bool:
    if target.clash is not None or target.unmanaged:
        return False
    return target.entry is None or target.entry.resolution is None


def binding_view(entry: BindingEntry) -> BindingView:
    resolution = entry.resolution
    return BindingView(
        inference_service=entry.facts.name,
        kind=entry.facts.kind.value,
        ready=entry.ready,
        reason=entry.ready_reason,
        message=entry.ready_message,
        served_name=entry.facts.deployed.served_name.name or entry.facts.name,
        model_name=resolution.registered_model_name if resolution else None,
        version_name=resolution.model_version_name if resolution else None,
        version_id=resolution.model_version_id if resolution else None,
    )
