"""Registry data and object bodies for the audit's unit tests, shaped like the incident.

Registry (ids as in DESIGN.md): model 4 `Mistral-Small-24B-Instruct` version 5 holds the
deployed URI; model 8 `Mistral-24B-Instruct` has versions 9 and 10 on quay.io; model 6
`Comparison-Test` (version 7) is unrelated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from registry_sync.domain.snapshot import (
    ModelArtifact,
    ModelVersion,
    RegisteredModel,
    RegistrySnapshot,
    State,
)

NAMESPACE = "private-ai-demo"
ISVC = "mistral-24b-quantized"
DEPLOYED_URI = (
    "oci://image-registry.openshift-image-registry.svc:5000/private-ai-demo/"
    "mistral-24b-quantized:w4a16-2501"
)
OPTIMIZED_URI = "oci://quay.io/adrina/private-ai:mistral-quantized-optimized-test"
ONE_GPU_URI = "oci://quay.io/adrina/private-ai:mistral-24b-quantized-w4a16-2501"
COMPARISON_URI = "oci://quay.io/example/comparison-test:baseline"
UNREGISTERED_URI = "oci://quay.io/example/never-registered:v1"
PREFIX = "modelregistry.opendatahub.io"
MODEL_LABEL = f"{PREFIX}/registered-model-id"
VERSION_LABEL = f"{PREFIX}/model-version-id"
NAME_LABEL = f"{PREFIX}/name"
TARGET_LABEL = "registry-sync.io/inference-service"

SEED_MODELS = (
    RegisteredModel(id="4", name="Mistral-Small-24B-Instruct"),
    RegisteredModel(id="6", name="Comparison-Test"),
    RegisteredModel(id="8", name="Mistral-24B-Instruct"),
)
SEED_VERSIONS = (
    ModelVersion(id="5", name="quantized-w4a16-2501", registered_model_id="4"),
    ModelVersion(id="7", name="baseline", registered_model_id="6"),
    ModelVersion(id="9", name="quantized-optimized-test", registered_model_id="8"),
    ModelVersion(id="10", name="24b-w4a16-1gpu", registered_model_id="8"),
)
SEED_ARTIFACTS = (
    ModelArtifact(id="1", name="deployed", uri=DEPLOYED_URI, model_version_id="5"),
    ModelArtifact(id="2", name="comparison", uri=COMPARISON_URI, model_version_id="7"),
    ModelArtifact(id="3", name="optimized", uri=OPTIMIZED_URI, model_version_id="9"),
    ModelArtifact(id="4", name="one-gpu", uri=ONE_GPU_URI, model_version_id="10"),
)
RIGHT_LABELS = {MODEL_LABEL: "4", VERSION_LABEL: "5"}
INCIDENT_LABELS = {MODEL_LABEL: "4", VERSION_LABEL: "9"}
RIGHT_PARAMS = {
    "vllm_model_name": ISVC,
    "model_name": "Mistral-Small-24B-Instruct",
    "version_name": "quantized-w4a16-2501",
}
INCIDENT_PARAMS = {
    "vllm_model_name": ISVC,
    "model_name": "Mistral-24B-Instruct",
    "version_name": "24b-w4a16-1gpu",
}


def snapshot(
    models: Sequence[RegisteredModel] = SEED_MODELS,
    versions: Sequence[ModelVersion] = SEED_VERSIONS,
    artifacts: Sequence[ModelArtifact] = SEED_ARTIFACTS,
) -> RegistrySnapshot:
    return RegistrySnapshot(
        models={model.id: model for model in models},
        versions={version.id: version for version in versions},
        artifacts=tuple(artifacts),
        taken_at_ms=1_767_225_600_000,
    )


def with_tag_reuse(uri: str = DEPLOYED_URI, state: State = State.LIVE) -> RegistrySnapshot:
    """The seed registry plus a version 11 of model 8 whose artifact claims `uri` too."""
    return snapshot(
        versions=(
            *SEED_VERSIONS,
            ModelVersion(id="11", name="re-tagged", registered_model_id="8", state=state),
        ),
        artifacts=(
            *SEED_ARTIFACTS,
            ModelArtifact(id="5", name="re-tagged", uri=uri, model_version_id="11"),
        ),
    )


def inference_service(
    name: str = ISVC,
    *,
    uri: str | None = DEPLOYED_URI,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    args: Sequence[str] | None = None,
    model: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An InferenceService body as the apiserver returns it."""
    predictor_model: dict[str, Any] = dict(model) if model is not None else {}
    predictor_model.setdefault("modelFormat", {"name": "vLLM"})
    if uri is not None and model is None:
        predictor_model["storageUri"] = uri
    if args is not None:
        predictor_model["args"] = list(args)
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": dict(labels or {}),
            "annotations": dict(annotations or {"registry-sync.io/enabled": "true"}),
        },
        "spec": {"predictor": {"model": predictor_model}},
    }


def pipeline_run(
    name: str = "benchmark",
    params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    *,
    labels: Mapping[str, str] | None = None,
    conditions: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """A PipelineRun body; `params` as {name: value} or as Tekton's list of entries."""
    if params is None:
        entries: list[dict[str, Any]] = []
    elif isinstance(params, Mapping):
        entries = [{"name": key, "value": value} for key, value in params.items()]
    else:
        entries = [dict(entry) for entry in params]
    body: dict[str, Any] = {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": dict(labels or {})},
        "spec": {"pipelineRef": {"name": "model-testing"}, "params": entries},
    }
    if conditions is not None:
        body["status"] = {"conditions": [dict(condition) for condition in conditions]}
    return body


def labelled_run(
    params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None, target: str = ISVC
) -> dict[str, Any]:
    """A model-testing run opted in by the label, targeting `target`."""
    return pipeline_run(params=params, labels={TARGET_LABEL: target})


DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


def model_pod(
    name: str = f"{ISVC}-predictor-0",
    *,
    inference_service: str = ISVC,
    image: str = DEPLOYED_URI.removeprefix("oci://"),
    digest: str | None = DIGEST_A,
    phase: str = "Running",
) -> dict[str, Any]:
    """A model pod as the kubelet leaves it: KServe's label, a ModelCar container whose
    `imageID` carries `digest` (containerd's `repository@digest`; None: a bare config id)."""
    repository = image.split("@", 1)[0].rsplit(":", 1)[0]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {"serving.kserve.io/inferenceservice": inference_service},
        },
        "status": {
            "phase": phase,
            "containerStatuses": [
                {
                    "name": "modelcar",
                    "image": image,
                    "imageID": f"{repository}@{digest}" if digest else "sha256:" + "c" * 64,
                }
            ],
        },
    }
