"""What the registry-fault and security tests share: the operator behind a fault proxy,
a recorder of every label value an InferenceService ever had, and PipelineRun attempts."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from support.bindings import MODEL_ID, REGISTRY_NAME, VERSION_ID
from support.bindings import wait_for_ready as binding_ready_within
from support.cluster import Cluster
from support.cluster_objects import INFERENCE_SERVICES, PIPELINE_RUNS, params_of
from support.operator import RunningOperator, start_operator
from support.watch_recorder import WatchRecorder

REGISTRY = "demo-registry"
LABEL_KEYS = (MODEL_ID, VERSION_ID, REGISTRY_NAME)
TARGET_LABEL = "registry-sync.io/inference-service"
# Faults take a few client retries to be noticed; a hang costs a whole read timeout.
WAIT_SECONDS = 90.0

LabelState = tuple[str | None, ...]


@contextmanager
def operator_behind(
    kube: Cluster,
    namespace: str,
    registry_url: str,
    log_path: Path,
    token_file: Path,
    *extra_args: str,
) -> Iterator[RunningOperator]:
    """The operator reading the registry at `registry_url` with the token in `token_file`,
    refreshing every second so that a fault is noticed (and its end) within seconds."""
    with start_operator(
        kube,
        namespace,
        registry_url,
        log_path,
        extra_args=[
            "--registry-name", REGISTRY,
            "--refresh-seconds", "1",
            "--token-file", str(token_file),
            *extra_args,
        ],
    ) as running:  # fmt: skip
        yield running


def label_state(labels: Mapping[str, str] | None) -> LabelState:
    """The registry labels of an InferenceService, in `LABEL_KEYS` order (None: absent)."""
    labels = labels or {}
    return tuple(labels.get(key) for key in LABEL_KEYS)


class LabelHistory:
    """Every registry-label state each InferenceService of a namespace ever had, from a watch
    (`support.watch_recorder`).

    A watch delivers every change in order, so a flip that lasted a millisecond is seen.
    Start it before the objects are created; `states(name)` gives the consecutive distinct
    states, `flush(name)` waits until the watch has caught up with the object as stored now.
    """

    def __init__(self, kube: Cluster, namespace: str) -> None:
        self._kube = kube
        self._namespace = namespace
        self._recorder = WatchRecorder(kube, namespace, INFERENCE_SERVICES)

    def __enter__(self) -> LabelHistory:
        self._recorder.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._recorder.__exit__(*exc)

    def flush(self, name: str) -> None:
        """Wait until the watch has delivered the object's current version."""
        current = INFERENCE_SERVICES.get(self._kube.api_client, self._namespace, name)
        self._recorder.catch_up([current], timeout=30)

    def states(self, name: str) -> list[LabelState]:
        """The label states `name` went through, consecutive repeats folded."""
        self.flush(name)
        states = [
            label_state(seen.object["metadata"].get("labels"))
            for seen in self._recorder.of(name)
            if seen.type != "DELETED"
        ]
        folded: list[LabelState] = []
        for state in states:
            if not folded or folded[-1] != state:
                folded.append(state)
        return folded


# Faults slow the operator down (retries, timeouts): its bindings get longer to get there.
wait_for_ready = partial(binding_ready_within, timeout=WAIT_SECONDS)


def labels_of(kube: Cluster, namespace: str, name: str) -> LabelState:
    stored = INFERENCE_SERVICES.get(kube.api_client, namespace, name)
    return label_state(stored["metadata"].get("labels"))


def model_testing_run(target: str, params: Mapping[str, str]) -> dict[str, Any]:
    """An opted-in model-testing run for `target` with these (possibly wrong) params."""
    return {
        "apiVersion": PIPELINE_RUNS.api_version,
        "kind": PIPELINE_RUNS.kind,
        "metadata": {"generateName": f"{target}-test-", "labels": {TARGET_LABEL: target}},
        "spec": {
            "pipelineRef": {"name": "model-testing"},
            "params": [{"name": key, "value": value} for key, value in params.items()],
        },
    }


def try_run(
    kube: Cluster, namespace: str, target: str, params: Mapping[str, str]
) -> dict[str, Any] | str:
    """Create a model-testing run: the stored run when admitted, the message when denied."""
    try:
        return PIPELINE_RUNS.create(kube.api_client, namespace, model_testing_run(target, params))
    except ApiException as error:
        assert error.status in (400, 403, 500), error
        message: str = json.loads(error.body)["message"]
        return message


def stored_runs(kube: Cluster, namespace: str) -> list[dict[str, Any]]:
    listed = client.CustomObjectsApi(kube.api_client).list_namespaced_custom_object(
        PIPELINE_RUNS.group, PIPELINE_RUNS.version, namespace, PIPELINE_RUNS.plural
    )
    runs: list[dict[str, Any]] = listed.get("items", [])
    return runs


def run_params(run: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """The run's values for the param names in `names`."""
    params = params_of(run)
    return {key: params.get(key) for key in names}
