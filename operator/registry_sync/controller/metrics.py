"""Prometheus metrics, served on `--metrics-port` (README "Metrics").

One `OperatorMetrics` per process, on its own registry so that nothing else's metrics mix in
and tests can make as many as they like.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from registry_sync.registry.transport import RequestEvent

# An answer from memory takes tens to hundreds of microseconds: fine steps below 0.5 ms
# tell those apart; the upper range (to the webhook's 5 s timeout) stays for slow cases.
# 1, 2 and 5 ms stay bucket bounds: the admission benchmark reads exact shares at them.
ADMISSION_DURATION_BUCKETS: Final = (
    0.00005, 0.0001, 0.0002, 0.0003, 0.0004, 0.0005, 0.00075,
    0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 3, 5,
)  # fmt: skip


class _BindingsByReason(Collector):
    """A gauge of ModelBindings by a reason, computed at scrape time from the binding map."""

    def __init__(self, name: str, documentation: str, reasons: Callable[[], Iterable[str]]) -> None:
        self._name = name
        self._documentation = documentation
        self._reasons = reasons

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self._name, self._documentation, labels=["reason"])
        for reason, count in sorted(Tally(self._reasons()).items()):
            family.add_metric([reason], count)
        yield family


class OperatorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.resolutions = Counter(
            "registry_sync_resolutions",
            "Resolutions of InferenceServices, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.label_corrections = Counter(
            "registry_sync_label_corrections",
            "Label patches made on InferenceServices",
            registry=self.registry,
        )
        self.registry_request_duration = Histogram(
            "registry_sync_registry_request_duration_seconds",
            "Model Registry HTTP attempts, by method and status (or failure)",
            ["method", "result"],
            registry=self.registry,
        )
        self.registry_errors = Counter(
            "registry_sync_registry_errors",
            "Model Registry HTTP attempts that failed (transport failure or status >= 400)",
            ["result"],
            registry=self.registry,
        )
        self.snapshot_age = Gauge(
            "registry_sync_snapshot_age_seconds",
            "Age of the registry data the operator answers from (-1: never reached)",
            registry=self.registry,
        )
        self.admission_corrections = Counter(
            "registry_sync_admission_corrections",
            "PipelineRuns whose params the admission webhook changed",
            registry=self.registry,
        )
        self.admission_duration = Histogram(
            "registry_sync_admission_duration_seconds",
            "Time the operator takes to answer a PipelineRun admission review",
            buckets=ADMISSION_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.admission_denials = Counter(
            "registry_sync_admission_denials",
            "PipelineRuns the admission webhook denied, by reason",
            ["reason"],
            registry=self.registry,
        )

        self.leader = Gauge(
            "registry_sync_leader",
            "1 on the replica that holds the Lease and writes, 0 on the others",
            registry=self.registry,
        )

    def observe_registry_request(self, event: RequestEvent) -> None:
        result = event.failure or str(event.status)
        self.registry_request_duration.labels(event.method, result).observe(event.elapsed_s)
        if event.failure is not None or (event.status is not None and event.status >= 400):
            self.registry_errors.labels(result).inc()

    def watch_bindings(self, ready_reasons: Callable[[], Iterable[str]]) -> None:
        """`registry_sync_bindings{reason}`: bindings by the reason of their Ready."""
        self.registry.register(
            _BindingsByReason(
                "registry_sync_bindings",
                "ModelBindings by the reason of their Ready condition",
                ready_reasons,
            )
        )

    def watch_checks(self, check_reasons: Callable[[], Iterable[str]]) -> None:
        """`registry_sync_checks{reason}`: the findings of the checks of what runs
        (DigestVerified, ServedNameVerified), counted also where they do not block."""
        self.registry.register(
            _BindingsByReason(
                "registry_sync_checks",
                "ModelBindings by the reasons of their DigestVerified and ServedNameVerified",
                check_reasons,
            )
        )

    def watch_snapshot_age(self, age_s: Callable[[], float | None]) -> None:
        self.snapshot_age.set_function(lambda: _or_minus_one(age_s()))

    def watch_leader(self, may_write: Callable[[], bool]) -> None:
        self.leader.set_function(lambda: 1.0 if may_write() else 0.0)

    def serve(self, port: int, host: str) -> None:
        """Serve /metrics on `host`:`port` (the settings' --metrics-host, --metrics-port)."""
        start_http_server(port, addr=host, registry=self.registry)


def _or_minus_one(value: float | None) -> float:
    return -1.0 if value is None else value
