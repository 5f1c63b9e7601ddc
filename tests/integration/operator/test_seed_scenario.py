"""The incident: labels pointing at a version of another model are corrected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from registry_sync.demo.seed import ISVC_NAME, SeedIds, seed_inference_service
from support.bindings import MODEL_ID, REGISTRY_NAME, VERSION_ID, binding_or_none, condition
from support.cluster import Cluster
from support.cluster_objects import INFERENCE_SERVICES
from support.devregistry import RunningRegistry
from support.operator import RunningOperator, free_port, start_operator

pytestmark = pytest.mark.cluster


def test_seed_labels_are_corrected_and_the_binding_is_ready(
    kube: Cluster, namespace: str, seed: SeedIds, operator: RunningOperator
) -> None:
    api = kube.api_client
    INFERENCE_SERVICES.create(api, namespace, seed_inference_service(namespace, seed))

    def corrected() -> dict[str, str] | None:
        labels = INFERENCE_SERVICES.get(api, namespace, ISVC_NAME)["metadata"].get("labels", {})
        return labels if labels.get(VERSION_ID) == seed.small_version else None

    labels = kube.wait_for(corrected, timeout=30, description="seed labels corrected")
    assert labels[MODEL_ID] == seed.small_model
    assert labels[REGISTRY_NAME] == "demo-registry"

    def ready() -> dict[str, Any] | None:
        found = condition(binding_or_none(api, namespace, ISVC_NAME), "Ready")
        return found if found and found["status"] == "True" else None

    kube.wait_for(ready, timeout=30, description="binding Ready")
    table = kube.kubectl("get", "mb", ISVC_NAME, "-n", namespace).stdout
    header, row = table.splitlines()[:2]
    assert header.split()[:8] == [
        "NAME", "INFERENCESERVICE", "MODEL", "VERSION", "VLLM", "NAME", "READY", "REASON",
    ]  # fmt: skip
    assert row.split()[:7] == [
        ISVC_NAME, ISVC_NAME, "Mistral-Small-24B-Instruct", "quantized-w4a16-2501",
        "mistral-24b-quantized", "True", "Resolved",
    ]  # fmt: skip

    def correction_event() -> str | None:
        events = kube.core.list_namespaced_event(
            namespace, field_selector=f"involvedObject.name={ISVC_NAME}"
        ).items
        found = [e.message for e in events if e.reason == "LabelsCorrected"]
        return found[0] if found else None

    message = kube.wait_for(correction_event, timeout=15, description="LabelsCorrected Event")
    assert f"model-version-id={seed.small_version} (was {seed.optimized_version})" in message


def test_metrics_and_liveness_are_served(
    kube: Cluster, namespace: str, seed: SeedIds, dev_registry: RunningRegistry, tmp_path: Path
) -> None:
    health_port = free_port()
    log = tmp_path / "operator.log"
    extra = ["--health-port", str(health_port)]
    with start_operator(kube, namespace, dev_registry.url, log, extra_args=extra) as operator:
        INFERENCE_SERVICES.create(
            kube.api_client, namespace, seed_inference_service(namespace, seed)
        )
        metrics_url = f"http://127.0.0.1:{operator.metrics_port}/metrics"

        def scraped() -> str | None:
            text = httpx.get(metrics_url).text
            return text if 'registry_sync_bindings{reason="Resolved"} 1.0' in text else None

        text = kube.wait_for(scraped, timeout=30, description="a Resolved binding in the metrics")
        assert "registry_sync_label_corrections_total 1.0" in text
        assert 'registry_sync_resolutions_total{outcome="Resolved"}' in text
        assert "registry_sync_registry_request_duration_seconds_count" in text
        assert "registry_sync_snapshot_age_seconds" in text
        assert httpx.get(f"http://127.0.0.1:{health_port}/healthz").status_code == 200
