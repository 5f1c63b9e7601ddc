"""Generated InferenceService bodies through what the reconciler does with one.

The reconciler's decision is pure: `read_inference_service` → `resolve` → `decide_binding`,
and the admission webhook then answers from the binding (`binding_view` →
`decide_admission`). Bodies are the seed's InferenceService (and its legacy and `storage`
forms) with random mutations anywhere (missing or odd-typed fields, huge strings, unicode,
nested garbage), or garbage outright. Whatever the body: nothing raises, what would be
written serialises to JSON, every condition and Event says something, labels are written
only from a resolved or pinned answer with exactly its ids, and a run is admitted with a
patch only from a Ready binding, with exactly the binding's names.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest

from fuzz.generators import garbage, hostile, mutate, near_valid_uri, storage_uri_input
from fuzz.harness import EXAMPLES, fuzz
from registry_sync.controller.binding_book import BindingEntry
from registry_sync.controller.pipeline_run_admission import binding_view
from registry_sync.domain.admission import Denied, decide_admission
from registry_sync.domain.answer import Outcome, Resolution
from registry_sync.domain.binding import CorrectionHistory, GitOpsPolicy, decide_binding
from registry_sync.domain.inference_service import Mode, read_inference_service
from registry_sync.domain.metadata import VERSION_ANNOTATION, LabelKeys
from registry_sync.domain.params import ParamNames
from registry_sync.domain.reference_index import ReferenceIndex
from registry_sync.domain.references import InvalidStorageUri, parse_storage_uri
from registry_sync.domain.resolution import resolve
from registry_sync.domain.snapshot import ModelArtifact, ModelVersion, State
from unit.domain.seed import DEPLOYED_URI, seed_inference_service, seed_snapshot

# 10^5 examples take minutes of CPU; on a shared machine, several times that in wall time.
pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(1800)]

KEYS = LabelKeys()
NAMES = ParamNames()
POLICY = GitOpsPolicy(max_corrections=3, window_ms=600_000)
NOW_MS = 1_767_225_700_000
AMBIGUOUS_URI = "oci://quay.io/example/shared:v1"


def _registry() -> ReferenceIndex:
    """The seed's registry plus a URI two live versions claim and an archived version."""
    seed = seed_snapshot()
    versions = {
        **seed.versions,
        "20": ModelVersion("20", "shared-a", "6"),
        "21": ModelVersion("21", "shared-b", "8"),
        "22": ModelVersion("22", "old", "4", State.ARCHIVED),
    }
    artifacts = (
        *seed.artifacts,
        ModelArtifact("30", "shared-a", AMBIGUOUS_URI, "20"),
        ModelArtifact("31", "shared-b", AMBIGUOUS_URI, "21"),
        ModelArtifact("32", "old", "s3://bucket/old-model", "22"),
    )
    snapshot = type(seed)(seed.models, versions, artifacts, seed.taken_at_ms)
    return ReferenceIndex.from_snapshot(snapshot)


INDEX = _registry()
_REGISTERED_URIS = [artifact.uri for artifact in INDEX.snapshot.artifacts]


def _starting_points() -> list[dict[str, Any]]:
    seed = seed_inference_service()
    legacy = copy.deepcopy(seed)
    legacy["spec"]["predictor"] = {"pytorch": {"storageUri": DEPLOYED_URI, "args": []}}
    storage = copy.deepcopy(seed)
    del storage["spec"]["predictor"]["model"]["storageUri"]
    storage["spec"]["predictor"]["model"]["storage"] = {"key": "s", "path": "m"}
    named = copy.deepcopy(seed)
    named["spec"]["predictor"]["model"]["args"] = ["--served-model-name", "served", "x"]
    return [seed, legacy, storage, named]


_STARTS = _starting_points()
_ANNOTATION_VALUES = ["true", "TRUE", "false", "audit", "enforce", "Audit ", "5", "10", "22", ""]


def inference_service(rng: random.Random) -> Any:
    """The seed InferenceService (or a variant) with random edits, or garbage outright."""
    if rng.random() < 0.05:
        return hostile(rng)
    body = copy.deepcopy(rng.choice(_STARTS))
    metadata = body["metadata"]
    for key in ("registry-sync.io/mode", "registry-sync.io/model-version-id"):
        if rng.random() < 0.2:
            metadata["annotations"][key] = rng.choice(_ANNOTATION_VALUES)
    if rng.random() < 0.4:
        model = body["spec"]["predictor"].get("model")
        if isinstance(model, dict):
            model["storageUri"] = (
                rng.choice(_REGISTERED_URIS) if rng.random() < 0.5 else storage_uri_input(rng)
            )
    if rng.random() < 0.2:
        labels = metadata["labels"]
        labels[rng.choice(KEYS.all())] = rng.choice(["4", "5", "8", "9", garbage(rng)])
    for _ in range(rng.choice([0, 1, 1, 2, 3, 5])):
        body = mutate(rng, body, hostile if rng.random() < 0.3 else _field_value)
    return body


def _field_value(rng: random.Random) -> Any:
    """A replacement value that is almost right: a URI, a word, a list of args."""
    choice = rng.randrange(4)
    if choice == 0:
        return near_valid_uri(rng)
    if choice == 1:
        return rng.choice(["--served-model-name", "--served-model-name=", "x", "-v", ""])
    if choice == 2:
        return [rng.choice(["--served-model-name", "a", "--x", 3, None]) for _ in range(3)]
    return garbage(rng, depth=2)


EARLIER = resolve(DEPLOYED_URI, INDEX, snapshot_current=True, now_ms=NOW_MS - 60_000)
_EARLIER_STATUS = {
    "conditions": [{"type": "Ready", "status": "True", "reason": "Resolved", "message": "m"}]
}


def _previous(rng: random.Random) -> tuple[Resolution | None, Any]:
    """An earlier answer and binding status, as a running operator has them (or odd ones:
    the status comes from the apiserver, where anyone with access may have written it)."""
    if rng.random() < 0.5:
        return None, None
    status = rng.choice([None, _EARLIER_STATUS, {"conditions": garbage(rng)}, garbage(rng)])
    return EARLIER, status


def _deployed(storage_uri: str) -> Any:
    try:
        return parse_storage_uri(storage_uri)
    except InvalidStorageUri:
        return None


def check_reconcile(body: Any, rng: random.Random) -> None:
    facts = read_inference_service(body, KEYS)
    if not facts.name:
        return  # the reconciler drops a body without a name before deciding anything
    previous, previous_status = _previous(rng)
    current = rng.random() < 0.85
    corrections = rng.randint(0, 4)
    resolution = resolve(
        facts.deployed.storage,
        INDEX,
        snapshot_current=current,
        now_ms=NOW_MS,
        pin=facts.pin,
        previous=previous,
    )
    decision = decide_binding(
        facts,
        resolution,
        keys=KEYS,
        registry_name=rng.choice([None, "demo-registry"]),
        history=CorrectionHistory(times_ms=tuple(NOW_MS - 1000 * i for i in range(corrections))),
        policy=POLICY,
        previous_status=previous_status,
        now_ms=NOW_MS,
    )

    # What the shell sends to the apiserver must be JSON.
    json.dumps(decision.status, allow_nan=False)
    json.dumps(decision.label_patch)
    assert decision.ready_reason and decision.ready_message.strip()
    for condition in decision.status["conditions"]:
        assert condition["reason"] and condition["message"].strip(), condition
    assert all(note.reason and note.message.strip() for note in decision.events)

    # Labels: only from a resolved or pinned answer, exactly its ids, never removed.
    if decision.label_patch:
        assert resolution.outcome in (Outcome.RESOLVED, Outcome.PINNED)
        assert facts.mode is Mode.ENFORCE and facts.mode_problem is None
        assert set(decision.label_patch.items()) <= set(decision.expected_labels.items())
        assert decision.expected_labels[KEYS.model_version_id] == resolution.model_version_id
        assert decision.expected_labels[KEYS.registered_model_id] == resolution.registered_model_id
        assert all(isinstance(value, str) and value for value in decision.label_patch.values())
    if not resolution.has_answer:
        assert not decision.ready and decision.label_patch is None
    if resolution.outcome in (Outcome.RESOLVED, Outcome.PINNED):
        _assert_real_answer(resolution, facts.deployed.storage, facts.pin)

    # The webhook answers from the binding: a patch only when Ready, with its names.
    entry = BindingEntry(
        facts=facts,
        resolution=resolution,
        decision=decision,
    )
    view = binding_view(entry)
    run = {
        "metadata": {"name": "run-1", "labels": {"registry-sync.io/inference-service": facts.name}},
        "spec": {"params": [{"name": "model_name", "value": "Mistral-24B-Instruct"}]},
    }
    answer = decide_admission(run, view, NAMES)
    if isinstance(answer, Denied):
        assert answer.reason and answer.message.startswith("PipelineRun run-1: "), answer
        return
    assert decision.ready
    assert answer.params is not None  # the run's model_name was wrong: it must be corrected
    values = {p["name"]: p["value"] for p in answer.params}
    assert values == {
        NAMES.served_name: facts.deployed.served_name.name or facts.name,
        NAMES.model_name: resolution.registered_model_name,
        NAMES.version_name: resolution.model_version_name,
    }
    assert answer.annotations[VERSION_ANNOTATION] == resolution.model_version_id


def _assert_real_answer(resolution: Resolution, storage: Any, pin: str | None) -> None:
    """The answer names a live version of the registry whose artifact matches the URI."""
    snapshot = INDEX.snapshot
    version = snapshot.versions[resolution.model_version_id or ""]
    model = snapshot.models[version.registered_model_id]
    assert State.ARCHIVED not in (version.state, model.state)
    assert (resolution.registered_model_id, resolution.registered_model_name) == (
        model.id,
        model.name,
    )
    assert resolution.model_version_name == version.name
    deployed = _deployed(storage.uri)
    assert deployed is not None
    assert any(e.reference.matches(deployed) for e in INDEX.artifacts_of_version(version.id))
    if pin is not None:
        assert version.id == pin.strip()


def test_any_inference_service_body_gets_a_safe_decision_and_a_safe_admission() -> None:
    assert fuzz(inference_service, check_reconcile) == EXAMPLES
