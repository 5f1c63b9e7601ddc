"""Generated storage URIs through the parser, the registry index and the resolver.

Whatever a `storageUri` or a registry artifact's `uri` holds: `parse_storage_uri` answers
a reference or raises `InvalidStorageUri` (nothing else) with a short message that says
what is wrong; a reference's canonical form parses back to it; and the resolver, given a
registry whose artifacts carry generated URIs too, never raises and resolves only to an
artifact that really matches.
"""

from __future__ import annotations

import random

import pytest

from fuzz.generators import near_valid_uri, storage_uri_input, valid_uri
from fuzz.harness import EXAMPLES, fuzz
from registry_sync.domain.answer import Outcome
from registry_sync.domain.reference_index import ReferenceIndex
from registry_sync.domain.references import (
    InvalidStorageUri,
    parse_digest,
    parse_storage_uri,
)
from registry_sync.domain.resolution import resolve
from registry_sync.domain.snapshot import (
    ModelArtifact,
    ModelVersion,
    RegisteredModel,
    RegistrySnapshot,
    State,
)

# 10^5 examples take minutes of CPU; on a shared machine, several times that in wall time.
pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(1800)]

# A message quotes at most 80 characters of the input; the rest is the explanation.
_READABLE = 1000
NOW_MS = 1_767_225_600_000


def check_parse(uri: object, _: random.Random) -> None:
    try:
        reference = parse_storage_uri(uri)
    except InvalidStorageUri as error:
        message = str(error)
        assert error.problem.strip(), "a rejection must say what is wrong"
        assert message.startswith("invalid storage URI "), message
        assert len(message) <= _READABLE, f"message of {len(message)} characters"
        return
    assert isinstance(uri, str)
    again = parse_storage_uri(reference.canonical)
    assert again == reference, (reference.canonical, again)
    assert again.canonical == reference.canonical
    assert reference.matches(reference)
    assert parse_digest(uri) is None or isinstance(parse_digest(uri), str)


def test_any_storage_uri_parses_or_is_rejected_with_a_clear_message() -> None:
    assert fuzz(storage_uri_input, check_parse) == EXAMPLES


def _registry(rng: random.Random) -> RegistrySnapshot:
    """A registry whose artifacts carry generated URIs, some shared, some archived."""
    models = {str(i): RegisteredModel(str(i), f"model-{i}") for i in (1, 2, 3)}
    models["3"] = RegisteredModel("3", "archived-model", State.ARCHIVED)
    versions = {
        str(i): ModelVersion(str(i), f"v{i}", str(1 + i % 3), rng.choice(list(State)))
        for i in range(10, 16)
    }
    uris = [valid_uri(rng) for _ in range(6)] + [near_valid_uri(rng) for _ in range(3)]
    artifacts = tuple(
        ModelArtifact(str(100 + i), f"artifact-{i}", rng.choice(uris), rng.choice(list(versions)))
        for i in range(12)
    )
    return RegistrySnapshot(models, versions, artifacts, taken_at_ms=NOW_MS - 5000)


_REGISTRIES = [_registry(random.Random(seed)) for seed in range(20)]
_INDEXES = [ReferenceIndex.from_snapshot(snapshot) for snapshot in _REGISTRIES]


def deployed_uri(rng: random.Random) -> object:
    """Mostly a URI some registry holds, written differently; else anything."""
    if rng.random() < 0.5:
        artifact = rng.choice(rng.choice(_REGISTRIES).artifacts)
        uri = artifact.uri
        return uri.upper() if rng.random() < 0.1 else uri.replace("oci://", "oci+fetch://", 1)
    return storage_uri_input(rng)


def check_resolve(uri: object, rng: random.Random) -> None:
    index = rng.choice(_INDEXES)
    pin = rng.choice([None, None, "10", "11", "15", "99", " 12 "])
    resolution = resolve(uri, index, snapshot_current=True, now_ms=NOW_MS, pin=pin)  # type: ignore[arg-type]

    assert resolution.message.strip()
    if resolution.outcome in (Outcome.RESOLVED, Outcome.PINNED):
        deployed = parse_storage_uri(uri)
        version = index.snapshot.versions[resolution.model_version_id or ""]
        model = index.snapshot.models[version.registered_model_id]
        assert State.ARCHIVED not in (version.state, model.state)
        assert resolution.registered_model_id == model.id
        assert (resolution.registered_model_name, resolution.model_version_name) == (
            model.name,
            version.name,
        )
        assert any(
            entry.reference.matches(deployed) for entry in index.artifacts_of_version(version.id)
        )
        if pin is not None:
            assert version.id == pin.strip()
    else:
        assert resolution.model_version_id is None
        assert not resolution.has_answer


def test_any_deployed_uri_resolves_only_to_a_live_version_whose_artifact_matches() -> None:
    assert fuzz(deployed_uri, check_resolve) == EXAMPLES


def test_an_index_of_generated_artifact_uris_is_built_without_raising() -> None:
    def snapshot(rng: random.Random) -> RegistrySnapshot:
        versions = {"1": ModelVersion("1", "v", "1")}
        artifacts = tuple(
            ModelArtifact(str(i), "a", storage_uri_input(rng), "1")  # type: ignore[arg-type]
            for i in range(rng.randint(0, 8))
        )
        return RegistrySnapshot({"1": RegisteredModel("1", "m")}, versions, artifacts)

    def check(registry: RegistrySnapshot, _: random.Random) -> None:
        index = ReferenceIndex.from_snapshot(registry)
        indexed = sum(len(entries) for entries in index.by_version.values())
        assert indexed + len(index.skipped) == len(registry.artifacts)
        assert all(skipped.problem.strip() for skipped in index.skipped)

    # Each example holds up to eight URIs: a tenth as many examples covers as many URIs.
    assert fuzz(snapshot, check, examples=max(EXAMPLES // 10, 1)) == max(EXAMPLES // 10, 1)
