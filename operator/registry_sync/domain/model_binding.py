"""The ModelBinding object: building its status, and reading back a stored one.

The status is what `decide_binding` (domain/binding.py) decided, written for people and
for the operator's next start: a restarted operator has no answer in memory, and the status
it wrote is the last known answer a registry outage must keep. The object's skeleton (owner,
label, spec) is `metadata.new_model_binding`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from registry_sync.domain.answer import Outcome, Resolution, format_instant, version_document
from registry_sync.domain.escaping import escaped
from registry_sync.domain.inference_service import InferenceServiceFacts
from registry_sync.domain.references import InvalidStorageUri, parse_storage_uri
from registry_sync.domain.safe_names import UnsafeName


@dataclass(frozen=True, slots=True)
class RecordedBinding:
    """What the operator keeps of a ModelBinding found at start-up: only what decisions need."""

    uid: str | None
    owner_uids: frozenset[str]
    status: Mapping[str, Any] | None

    def owned_by(self, inference_service_uid: str) -> bool:
        """Whether it belongs to this InferenceService, not to an earlier one of the name."""
        return inference_service_uid in self.owner_uids

    @property
    def answer(self) -> Resolution | None:
        return recorded_answer(self.status)


def read_model_binding(body: object) -> RecordedBinding:
    """A stored ModelBinding's uid, owners and status. Pure; never raises."""
    binding = body if isinstance(body, Mapping) else {}
    metadata = binding.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    uid = metadata.get("uid")
    owners = metadata.get("ownerReferences")
    owner_uids = frozenset(
        owner["uid"]
        for owner in (owners if isinstance(owners, list) else ())
        if isinstance(owner, Mapping) and isinstance(owner.get("uid"), str)
    )
    status = binding.get("status")
    return RecordedBinding(
        uid if isinstance(uid, str) else None,
        owner_uids,
        status if isinstance(status, Mapping) else None,
    )


def as_stored(status: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A status as the apiserver keeps it: a merge patch drops the fields set to None."""
    if status is None:
        return None
    return {key: value for key, value in status.items() if value is not None}


def binding_status(
    facts: InferenceServiceFacts,
    resolution: Resolution,
    registry_name: str | None,
    expected: Mapping[str, str],
    conflict: bool,
    conditions: list[dict[str, Any]],
    unsafe: tuple[UnsafeName, ...],
    corrections_ms: tuple[int, ...] = (),
) -> dict[str, Any]:
    # Refused names are recorded escaped, so that `oc get mb` shows them harmlessly; a
    # restarted operator reading them back refuses them again.
    shown = _shown if unsafe else _kept
    status: dict[str, Any] = {
        "observedGeneration": facts.generation,
        "outcome": resolution.outcome.value,
        "message": escaped(resolution.message),
        "storageUri": _deployed_uri(facts, resolution),
        "vllmModelName": shown(facts.deployed.served_name.name or facts.name),
        **version_document(resolution, shown),
        "modelArtifactId": resolution.artifact_id,
        "registryName": registry_name,
        "registryDataTime": (
            format_instant(resolution.snapshot_taken_at_ms)
            if resolution.snapshot_taken_at_ms is not None
            else None
        ),
        "candidates": [
            {**version_document(c, _shown), "uri": c.artifact_uri} for c in resolution.candidates
        ],
        "expectedLabels": dict(expected) if conflict else None,
        # The label corrections in the GitOps window: a restart or a take-over keeps the count.
        "labelCorrections": [format_instant(t) for t in corrections_ms] or None,
        # An LLMInferenceService's LoRA adapters: listed, not resolved against the registry.
        "loraAdapters": list(facts.lora_adapters) or None,
        "conditions": conditions,
    }
    # A merge patch deletes fields set to None: stale ids never outlive the answer.
    return status


def _kept(value: str | None) -> str | None:
    return value


def _shown(value: str | None) -> str | None:
    return None if value is None else escaped(value)


def _deployed_uri(facts: InferenceServiceFacts, resolution: Resolution) -> str | None:
    storage = facts.deployed.storage
    uri = getattr(storage, "uri", None)
    return uri if isinstance(uri, str) else resolution.storage_uri


def with_transition_times(
    conditions: list[dict[str, Any]],
    previous_status: Mapping[str, Any] | None,
    generation: int,
    now_ms: int,
) -> list[dict[str, Any]]:
    previous = previous_conditions(previous_status)
    now = format_instant(now_ms)
    result = []
    for condition in conditions:
        before = previous.get(condition["type"])
        unchanged = before is not None and before.get("status") == condition["status"]
        since = before.get("lastTransitionTime") if unchanged and before else None
        result.append(
            {
                **condition,
                "lastTransitionTime": since if isinstance(since, str) else now,
                "observedGeneration": generation,
            }
        )
    return result


def previous_conditions(status: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    conditions = status.get("conditions") if isinstance(status, Mapping) else None
    if not isinstance(conditions, list):
        return {}
    return {
        c["type"]: c
        for c in conditions
        if isinstance(c, Mapping) and isinstance(c.get("type"), str)
    }


def recorded_answer(status: object) -> Resolution | None:
    """The answer a ModelBinding's status records, read back; None when it names no model
    version or cannot be read. Pure; never raises.

    A restarted operator has no answer in memory: this is the last known answer that a
    registry outage must keep (`resolve`'s `previous`), for the storage URI it was given for.
    """
    if not isinstance(status, Mapping):
        return None
    try:
        outcome = Outcome(str(status.get("outcome")))
        storage_uri = parse_storage_uri(status.get("storageUri")).canonical
    except (ValueError, InvalidStorageUri):
        return None
    names = [
        status.get(key)
        for key in (
            "registeredModelId",
            "registeredModelName",
            "modelVersionId",
            "modelVersionName",
        )
    ]
    if not all(isinstance(name, str) and name for name in names):
        return None
    artifact_id = status.get("modelArtifactId")
    answer = Resolution(
        outcome,
        str(status.get("message") or ""),
        storage_uri=storage_uri,
        registered_model_id=names[0],
        registered_model_name=names[1],
        model_version_id=names[2],
        model_version_name=names[3],
        artifact_id=artifact_id if isinstance(artifact_id, str) else None,
        snapshot_taken_at_ms=_milliseconds(status.get("registryDataTime")),
    )
    return answer if answer.has_answer else None


def recorded_corrections(status: object) -> tuple[int, ...]:
    """The label correction times a ModelBinding's status records (`labelCorrections`), in
    milliseconds since the epoch; what cannot be read is left out. Pure; never raises."""
    times = status.get("labelCorrections") if isinstance(status, Mapping) else None
    if not isinstance(times, list):
        return ()
    return tuple(ms for text in times if (ms := _milliseconds(text)) is not None)


def _milliseconds(text: object) -> int | None:
    """An RFC 3339 time as `format_instant` writes it, in milliseconds since the epoch, or None."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(moment.timestamp() * 1000)
