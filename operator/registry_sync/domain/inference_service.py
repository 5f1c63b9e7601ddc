"""Reading an InferenceService body: what it deploys (its storage URI and the name vLLM
serves it under) and the facts the operator keeps about it (opt-in, mode, pin, labels).
The one reader the operator and the audit share.

The body comes from the cluster as plain data and may hold anything anywhere: every reader
here checks types as it goes and turns what it cannot use into a value with a message,
never an exception.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from registry_sync.domain.metadata import (
    ENABLED_ANNOTATION,
    MODE_ANNOTATION,
    PIN_ANNOTATION,
    DeploymentKind,
    LabelKeys,
)
from registry_sync.domain.served_names import ModelsEndpoint, NoModelsEndpoint, models_url
from registry_sync.domain.value_kinds import kind_of

SERVED_NAME_FLAGS: Final = ("--served-model-name", "--served_model_name")
"""vLLM's flag, in both spellings its argument parser accepts."""

_MODEL_FIELD: Final = "spec.predictor.model"


@dataclass(frozen=True, slots=True)
class StorageUri:
    """A storage URI as written (not yet parsed), and the field it was read from."""

    uri: str
    field_path: str


@dataclass(frozen=True, slots=True)
class UnsupportedStorage:
    """Storage given in a form the operator cannot map to a registry artifact."""

    message: str
    field_path: str


@dataclass(frozen=True, slots=True)
class MissingStorageUri:
    """No usable storage URI: absent, or not a string. `message` says which and where."""

    message: str


DeployedStorage = StorageUri | UnsupportedStorage | MissingStorageUri


class ServedNameSource(StrEnum):
    """Where the served name came from."""

    ARGS = "args"
    MODEL_NAME = "model-name"  # an LLMInferenceService's spec.model.name
    INFERENCE_SERVICE_NAME = "inference-service-name"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class ServedName:
    """The name vLLM answers to, where it came from, and anything odd met on the way.

    `name` is None only when neither the args nor `metadata.name` give one.
    """

    name: str | None
    source: ServedNameSource
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DeployedModel:
    """Everything the resolver and the PipelineRun params need from one InferenceService."""

    storage: DeployedStorage
    served_name: ServedName


def read_deployed_model(body: object) -> DeployedModel:
    """Read the storage URI and served name of an InferenceService body; never raises."""
    return DeployedModel(storage=read_storage(body), served_name=read_served_name(body))


def read_storage(body: object) -> DeployedStorage:
    """The storage URI of an InferenceService body, or why there is none; never raises.

    Looked for in `spec.predictor.model.storageUri`, then in the legacy per-framework form
    `spec.predictor.<framework>.storageUri` (any key of the predictor whose value is a mapping
    holding `storageUri`). A `storageUri` wins over a `storage` block beside it (which then
    only supplies credentials); `spec.predictor.model.storage` alone (storage key + path) is
    `UnsupportedStorage`: the URI it stands for lives in a secret the operator does not read.
    """
    predictor = _predictor(body)
    if isinstance(predictor, str):
        return MissingStorageUri(predictor)
    model = predictor.get("model")
    if model is not None and not isinstance(model, Mapping):
        return MissingStorageUri(
            f"{_MODEL_FIELD} is {kind_of(model)}, expected a mapping with storageUri"
        )
    if isinstance(model, Mapping) and model.get("storageUri") is not None:
        return _storage_uri(model["storageUri"], f"{_MODEL_FIELD}.storageUri")
    if isinstance(model, Mapping) and model.get("storage") is not None:
        return UnsupportedStorage(
            f"{_MODEL_FIELD}.storage (storage key + path) is not supported: the operator "
            "cannot tell which registry artifact it is; set "
            f"{_MODEL_FIELD}.storageUri instead",
            f"{_MODEL_FIELD}.storage",
        )
    frameworks = _legacy_frameworks(predictor)
    if len(frameworks) == 1:
        framework, spec = frameworks[0]
        return _storage_uri(spec["storageUri"], f"spec.predictor.{framework}.storageUri")
    if len(frameworks) > 1:
        names = ", ".join(sorted(name for name, _ in frameworks))
        return MissingStorageUri(
            f"spec.predictor has several frameworks with a storageUri ({names}); "
            "KServe allows exactly one"
        )
    return MissingStorageUri(
        f"no storage URI: set {_MODEL_FIELD}.storageUri "
        "(or the legacy spec.predictor.<framework>.storageUri)"
    )


def read_served_name(body: object) -> ServedName:
    """The name vLLM serves the model under; never raises.

    `--served-model-name` in the predictor's args (`spec.predictor.model.args`, else the
    legacy framework's args) wins, as `--served-model-name=X` or `--served-model-name X ...`.
    With several names the first is the model's name; with the flag given several times the
    last one counts (the runtime's own `--served-model-name={{.Name}}` comes before the
    user's args). Without the flag, the InferenceService name, as the runtime passes it.
    """
    problems: list[str] = []
    from_args = _served_name_from_args(_predictor_args(body, problems), problems)
    if from_args is not None:
        return ServedName(from_args, ServedNameSource.ARGS, tuple(problems))
    metadata = body.get("metadata") if isinstance(body, Mapping) else None
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    if isinstance(name, str) and name:
        return ServedName(name, ServedNameSource.INFERENCE_SERVICE_NAME, tuple(problems))
    problems.append(f"metadata.name is {kind_of(name)}, expected the InferenceService name")
    return ServedName(None, ServedNameSource.NONE, tuple(problems))


def _predictor(body: object) -> Mapping[str, object] | str:
    """`spec.predictor` as a mapping, or a message saying what is wrong with the body."""
    if not isinstance(body, Mapping):
        return f"the InferenceService is {kind_of(body)}, expected a mapping"
    spec = body.get("spec")
    if not isinstance(spec, Mapping):
        return f"spec is {kind_of(spec)}, expected a mapping with predictor"
    predictor = spec.get("predictor")
    if not isinstance(predictor, Mapping):
        return f"spec.predictor is {kind_of(predictor)}, expected a mapping"
    return predictor


def _legacy_frameworks(
    predictor: Mapping[str, object],
) -> list[tuple[str, Mapping[str, object]]]:
    return [
        (str(name), value)
        for name, value in predictor.items()
        if name != "model" and isinstance(value, Mapping) and value.get("storageUri") is not None
    ]


def _storage_uri(value: object, field_path: str) -> DeployedStorage:
    if isinstance(value, str):
        return StorageUri(value, field_path)
    return MissingStorageUri(f"{field_path} is {kind_of(value)}, expected a string")


def _predictor_args(body: object, problems: list[str]) -> Sequence[object]:
    """The args of the predictor that serves the model: `model`, else the legacy framework."""
    predictor = _predictor(body)
    if isinstance(predictor, str):
        return ()
    model = predictor.get("model")
    if isinstance(model, Mapping) and "args" in model:
        return _args(model["args"], f"{_MODEL_FIELD}.args", problems)
    frameworks = _legacy_frameworks(predictor)
    if len(frameworks) == 1:
        framework, spec = frameworks[0]
        if "args" in spec:
            return _args(spec["args"], f"spec.predictor.{framework}.args", problems)
    return ()


def _args(value: object, field_path: str, problems: list[str]) -> Sequence[object]:
    if isinstance(value, list | tuple):
        return value
    if value is not None:
        problems.append(f"{field_path} is {kind_of(value)}, expected a list of strings; ignored")
    return ()


def _served_name_from_args(args: Sequence[object], problems: list[str]) -> str | None:
    words = [arg for arg in args if isinstance(arg, str)]
    if len(words) != len(args):
        problems.append("the predictor args hold values that are not strings; they are ignored")
    served: str | None = None
    for position, word in enumerate(words):
        flag, equals, value = word.partition("=")
        if flag not in SERVED_NAME_FLAGS:
            continue
        if equals:
            names = [value] if value else []
        else:
            names = []
            for following in words[position + 1 :]:
                if following.startswith("-"):
                    break
                names.append(following)
        if names:
            served = names[0]
        else:
            problems.append(f"{flag} is given without a name; that occurrence is ignored")
    return served


# -- the InferenceService as the operator keeps it ----------------------------------------


class Mode(StrEnum):
    ENFORCE = "enforce"
    AUDIT = "audit"


_NO_STATUS_READ: Final = NoModelsEndpoint("its status was not read")


@dataclass(frozen=True, slots=True)
class InferenceServiceFacts:
    """The little the operator keeps about one deployment, an InferenceService or an
    LLMInferenceService (`kind`); per-object state stays small."""

    namespace: str
    name: str
    uid: str
    generation: int
    resource_version: str
    opted_in: bool
    mode: Mode
    mode_annotation: str | None
    mode_problem: str | None
    pin: str | None
    deployed: DeployedModel
    labels: Mapping[str, str]
    # Where its vLLM answers `/v1/models` (the served-name check), from its status.
    models_endpoint: ModelsEndpoint | NoModelsEndpoint = _NO_STATUS_READ
    kind: DeploymentKind = DeploymentKind.INFERENCE_SERVICE
    # An LLMInferenceService's LoRA adapters' URIs: listed on the binding, not resolved.
    lora_adapters: tuple[str, ...] = ()


def is_opted_in(body: object) -> bool:
    """`registry-sync.io/enabled: "true"` (case-insensitive) and nothing else opts in."""
    annotations = _metadata_map(body, "annotations")
    value = annotations.get(ENABLED_ANNOTATION)
    return value.lower() == "true" if value is not None else False


def read_inference_service(body: object, keys: LabelKeys) -> InferenceServiceFacts:
    """The facts of an InferenceService body; never raises on odd content."""
    return read_deployment_facts(
        body, keys, kind=DeploymentKind.INFERENCE_SERVICE, deployed=read_deployed_model(body)
    )


def read_deployment_facts(
    body: object,
    keys: LabelKeys,
    *,
    kind: DeploymentKind,
    deployed: DeployedModel,
    lora_adapters: tuple[str, ...] = (),
) -> InferenceServiceFacts:
    """The facts every kind shares (metadata, opt-in, mode, pin, labels, status address),
    around what the kind's own reader found it deploys; never raises on odd content."""
    metadata = body.get("metadata") if isinstance(body, Mapping) else None
    metadata = metadata if isinstance(metadata, Mapping) else {}
    annotations = _metadata_map(body, "annotations")
    labels = _metadata_map(body, "labels")
    mode_annotation = annotations.get(MODE_ANNOTATION)
    mode, mode_problem = _mode(mode_annotation)
    pin = annotations.get(PIN_ANNOTATION)
    generation = metadata.get("generation")
    return InferenceServiceFacts(
        namespace=_text(metadata.get("namespace")),
        name=_text(metadata.get("name")),
        uid=_text(metadata.get("uid")),
        generation=generation if isinstance(generation, int) else 0,
        resource_version=_text(metadata.get("resourceVersion")),
        opted_in=is_opted_in(body),
        mode=mode,
        mode_annotation=mode_annotation,
        mode_problem=mode_problem,
        pin=pin.strip() if pin is not None and pin.strip() else None,
        deployed=deployed,
        labels={
            key: labels[key] for key in (*keys.all(), keys.inference_service_id) if key in labels
        },
        models_endpoint=models_url(body.get("status") if isinstance(body, Mapping) else None),
        kind=kind,
        lora_adapters=lora_adapters,
    )


def _mode(annotation: str | None) -> tuple[Mode, str | None]:
    if annotation is None or annotation.strip() == "":
        return Mode.ENFORCE, None
    try:
        return Mode(annotation.strip().lower()), None
    except ValueError:
        # An unreadable mode must not lead to writes the user may not want: audit only.
        problem = (
            f"annotation {MODE_ANNOTATION}={annotation[:40]!r} is neither 'enforce' nor "
            "'audit'; treated as 'audit' (labels are not changed) until it is fixed"
        )
        return Mode.AUDIT, problem


def _metadata_map(body: object, key: str) -> dict[str, str]:
    metadata = body.get("metadata") if isinstance(body, Mapping) else None
    values = metadata.get(key) if isinstance(metadata, Mapping) else None
    if not isinstance(values, Mapping):
        return {}
    return {k: v for k, v in values.items() if isinstance(k, str) and isinstance(v, str)}


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
