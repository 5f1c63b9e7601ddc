"""Every name registry-sync reads or writes on Kubernetes objects: API groups, versions,
kinds, labels, annotations and params. One place, so that a name is changed once.

Plain constants, two small value types and the skeleton of the one object the operator
creates; no imports beyond the standard library, so that the benchmarks' bare operator can
share them without loading the operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

# -- resources -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resource:
    """One API resource: where it lives and what its objects are called."""

    group: str
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def full_name(self) -> str:
        """As errors name it: `inferenceservices.serving.kserve.io/v1beta1`."""
        return f"{self.plural}.{self.group}/{self.version}"

    def collection_path(self, namespace: str) -> str:
        """The REST path of the resource's objects in `namespace` (a named group's)."""
        return f"/apis/{self.group}/{self.version}/namespaces/{namespace}/{self.plural}"


INFERENCE_SERVICES: Final = Resource(
    "serving.kserve.io", "v1beta1", "inferenceservices", "InferenceService"
)
LLM_INFERENCE_SERVICE_VERSIONS: Final = ("v1alpha2", "v1alpha1")
"""The LLMInferenceService versions the operator reads, preferred first: KServe stores
v1alpha2 and still serves v1alpha1, whose schema leaves `spec` open."""


def llm_inference_services(version: str) -> Resource:
    """KServe's LLMInferenceService (short name `llmisvc`) at `version`: which one a cluster
    serves is found at start (`handlers/command.py`)."""
    return Resource("serving.kserve.io", version, "llminferenceservices", "LLMInferenceService")


class DeploymentKind(StrEnum):
    """The kinds of model deployment the operator binds; a PipelineRun's opt-in label names
    one of them by name."""

    INFERENCE_SERVICE = "InferenceService"
    LLM_INFERENCE_SERVICE = "LLMInferenceService"


MODEL_BINDINGS: Final = Resource("registry-sync.io", "v1alpha1", "modelbindings", "ModelBinding")
PIPELINE_RUNS: Final = Resource("tekton.dev", "v1", "pipelineruns", "PipelineRun")

# -- the operator's own names (prefix registry-sync.io) -------------------------------------

# On InferenceServices (set by people):
ENABLED_ANNOTATION: Final = "registry-sync.io/enabled"
"""`"true"` opts an InferenceService in; nothing else does."""
MODE_ANNOTATION: Final = "registry-sync.io/mode"
"""`enforce` (default) or `audit`."""
PIN_ANNOTATION: Final = "registry-sync.io/model-version-id"
"""A pinned model version id (honoured only if its artifact matches what is deployed)."""

# On PipelineRuns (set by people):
TARGET_LABEL: Final = "registry-sync.io/inference-service"
"""Opts a model-testing run in and names the deployment it tests, an InferenceService or an
LLMInferenceService (also on bindings)."""

# On PipelineRuns (written by registry-sync):
ORIGINAL_PARAMS_ANNOTATION: Final = "registry-sync.io/original-params"
VERSION_ANNOTATION: Final = "registry-sync.io/model-version-id"
"""The model version id a run was admitted for (same key as the pin, on another kind)."""
REPLACED_BY_ANNOTATION: Final = "registry-sync.io/replaced-by"
REPLACEMENT_OF_LABEL: Final = "registry-sync.io/replacement-of"
REPLACEMENT_OF_ANNOTATION: Final = "registry-sync.io/replacement-of"
CANCELLED_BECAUSE_ANNOTATION: Final = "registry-sync.io/cancelled-because"
KEPT_RUNNING_ANNOTATION: Final = "registry-sync.io/kept-running-because"

# A model-testing run's param naming the deployment its requests go to (the public demo's
# pipeline has it). The label decides the binding; when the param is there it must name
# the same deployment, else a run is refused (the audit also falls back on it).
TARGET_PARAM: Final = "inference_service_name"

# -- the Model Registry's labels on InferenceServices ---------------------------------------

DEFAULT_LABEL_PREFIX: Final = "modelregistry.opendatahub.io"


@dataclass(frozen=True, slots=True)
class LabelKeys:
    """The modelregistry labels under one configurable prefix (`--label-prefix`;
    `modelregistry.kubeflow.org` upstream)."""

    prefix: str = DEFAULT_LABEL_PREFIX

    @property
    def registered_model_id(self) -> str:
        return f"{self.prefix}/registered-model-id"

    @property
    def model_version_id(self) -> str:
        return f"{self.prefix}/model-version-id"

    @property
    def registry_name(self) -> str:
        return f"{self.prefix}/name"

    @property
    def inference_service_id(self) -> str:
        """The id of the registry's InferenceService record of the deployment: written by
        the Model Registry's own controller, and by registry-sync with
        `--registry-records on` (domain/registry_record.py)."""
        return f"{self.prefix}/inference-service-id"

    def all(self) -> tuple[str, str, str]:
        return (self.registered_model_id, self.model_version_id, self.registry_name)


# -- the object registry-sync creates ------------------------------------------------------


def new_model_binding(
    name: str, uid: str, namespace: str, owner: Resource = INFERENCE_SERVICES
) -> dict[str, Any]:
    """A new ModelBinding for the deployment `name` (uid `uid`) of the resource `owner`,
    owned by it (garbage-collected with it); `spec.kind` says which kind it binds. Its
    status is the binding decision's (domain/binding.py)."""
    return {
        "apiVersion": MODEL_BINDINGS.api_version,
        "kind": MODEL_BINDINGS.kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {TARGET_LABEL: name},
            "ownerReferences": [
                {
                    "apiVersion": owner.api_version,
                    "kind": owner.kind,
                    "name": name,
                    "uid": uid,
                    "controller": True,
                }
            ],
        },
        # `inferenceServiceName` names the deployment whatever its kind: the opt-in label
        # of runs names it the same way.
        "spec": {"inferenceServiceName": name, "kind": owner.kind},
    }
