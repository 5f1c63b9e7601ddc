"""Reading an LLMInferenceService body (KServe's `serving.kserve.io` LLMInferenceService,
v1alpha2 or v1alpha1): what it deploys and the facts the operator keeps about it.

The model is `spec.model`: `uri` (the storage URI), `name` (the name vLLM serves it
under; KServe defaults it to `metadata.name`) and `lora.adapters` (each one a model of its
own, with a `uri`). A deployment may take its model from `spec.baseRefs` (named
LLMInferenceServiceConfigs) instead: the operator does not read those, and says so.

As for InferenceServices, the body may hold anything anywhere: what cannot be used becomes
a value with a message, never an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from registry_sync.domain.inference_service import (
    DeployedModel,
    DeployedStorage,
    InferenceServiceFacts,
    MissingStorageUri,
    ServedName,
    ServedNameSource,
    StorageUri,
    UnsupportedStorage,
    read_deployment_facts,
)
from registry_sync.domain.metadata import DeploymentKind, LabelKeys
from registry_sync.domain.value_kinds import kind_of

_MODEL_FIELD: Final = "spec.model"


def read_llm_inference_service(body: object, keys: LabelKeys) -> InferenceServiceFacts:
    """The facts of an LLMInferenceService body; never raises on odd content."""
    model = _model(body)
    return read_deployment_facts(
        body,
        keys,
        kind=DeploymentKind.LLM_INFERENCE_SERVICE,
        deployed=DeployedModel(read_llm_storage(body), read_llm_served_name(body)),
        lora_adapters=read_lora_adapters(model) if isinstance(model, Mapping) else (),
    )


def read_llm_storage(body: object) -> DeployedStorage:
    """`spec.model.uri`, or why there is none; never raises."""
    model = _model(body)
    if isinstance(model, str):
        return MissingStorageUri(model)
    if model is None or model.get("uri") is None:
        if _has_base_refs(body):
            return UnsupportedStorage(
                f"the model comes from spec.baseRefs (LLMInferenceServiceConfigs), which "
                f"registry-sync does not read; set {_MODEL_FIELD}.uri on the "
                "LLMInferenceService itself",
                "spec.baseRefs",
            )
        return MissingStorageUri(f"no storage URI: set {_MODEL_FIELD}.uri")
    uri = model["uri"]
    if isinstance(uri, str):
        return StorageUri(uri, f"{_MODEL_FIELD}.uri")
    return MissingStorageUri(f"{_MODEL_FIELD}.uri is {kind_of(uri)}, expected a string")


def read_llm_served_name(body: object) -> ServedName:
    """`spec.model.name`, else `metadata.name` (KServe's default); never raises."""
    problems: list[str] = []
    model = _model(body)
    name = model.get("name") if isinstance(model, Mapping) else None
    if isinstance(name, str) and name:
        return ServedName(name, ServedNameSource.MODEL_NAME)
    if name is not None and name != "":
        problems.append(f"{_MODEL_FIELD}.name is {kind_of(name)}, expected a string; ignored")
    metadata = body.get("metadata") if isinstance(body, Mapping) else None
    own_name = metadata.get("name") if isinstance(metadata, Mapping) else None
    if isinstance(own_name, str) and own_name:
        return ServedName(own_name, ServedNameSource.INFERENCE_SERVICE_NAME, tuple(problems))
    problems.append(f"metadata.name is {kind_of(own_name)}, expected the LLMInferenceService name")
    return ServedName(None, ServedNameSource.NONE, tuple(problems))


def read_lora_adapters(model: Mapping[str, object]) -> tuple[str, ...]:
    """The URIs of `lora.adapters` (a list of models, each with a `uri`), in order; entries
    without a string `uri` are skipped (the CRD leaves the list's shape open)."""
    lora = model.get("lora")
    adapters = lora.get("adapters") if isinstance(lora, Mapping) else None
    if not isinstance(adapters, list):
        return ()
    return tuple(
        adapter["uri"]
        for adapter in adapters
        if isinstance(adapter, Mapping) and isinstance(adapter.get("uri"), str)
    )


def _model(body: object) -> Mapping[str, object] | str | None:
    """`spec.model` as a mapping, None when absent, or a message saying what is wrong."""
    if not isinstance(body, Mapping):
        return f"the LLMInferenceService is {kind_of(body)}, expected a mapping"
    spec = body.get("spec")
    if not isinstance(spec, Mapping):
        return f"spec is {kind_of(spec)}, expected a mapping with model"
    model = spec.get("model")
    if model is None or isinstance(model, Mapping):
        return model
    return f"{_MODEL_FIELD} is {kind_of(model)}, expected a mapping with uri"


def _has_base_refs(body: object) -> bool:
    spec = body.get("spec") if isinstance(body, Mapping) else None
    refs = spec.get("baseRefs") if isinstance(spec, Mapping) else None
    return isinstance(refs, list) and len(refs) > 0
