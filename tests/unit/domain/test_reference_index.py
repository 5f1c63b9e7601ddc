"""The reference index: artifacts by storage reference, built once per snapshot."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from registry_sync.domain.reference_index import ReferenceIndex
from registry_sync.domain.references import parse_storage_uri
from registry_sync.domain.snapshot import (
    ModelArtifact,
    ModelVersion,
    RegisteredModel,
    RegistrySnapshot,
    State,
)
from unit.domain.seed import DEPLOYED_URI, seed_snapshot

SHA_A = "sha256:" + "a" * 64
SHA_B = "sha256:" + "b" * 64


def snapshot_with_artifacts(*uris: str, version_id: str = "2") -> RegistrySnapshot:
    """One model (1) and version (2) holding artifacts with the given URIs (ids 1, 2, ...)."""
    return RegistrySnapshot(
        models={"1": RegisteredModel(id="1", name="m")},
        versions={"2": ModelVersion(id="2", name="v", registered_model_id="1")},
        artifacts=tuple(
            ModelArtifact(id=str(n), name=f"a{n}", uri=uri, model_version_id=version_id)
            for n, uri in enumerate(uris, start=1)
        ),
    )


def test_an_equivalent_spelling_of_an_artifact_uri_finds_it() -> None:
    index = ReferenceIndex.from_snapshot(snapshot_with_artifacts("oci://Quay.io/o/r"))
    found = index.matching(parse_storage_uri("oci+native://quay.io/o/r:latest"))
    assert [entry.artifact.id for entry in found] == ["1"]


def test_a_tag_finds_artifacts_of_that_tag_whatever_their_digest() -> None:
    index = ReferenceIndex.from_snapshot(
        snapshot_with_artifacts(
            f"oci://quay.io/o/r:t@{SHA_A}", "oci://quay.io/o/r:t", "oci://quay.io/o/r:u"
        )
    )
    found = index.matching(parse_storage_uri("oci://quay.io/o/r:t"))
    assert [entry.artifact.id for entry in found] == ["1", "2"]


def test_a_digest_only_reference_finds_artifacts_with_that_digest_under_any_tag() -> None:
    index = ReferenceIndex.from_snapshot(
        snapshot_with_artifacts(f"oci://quay.io/o/r:t@{SHA_A}", f"oci://quay.io/o/r:u@{SHA_B}")
    )
    found = index.matching(parse_storage_uri(f"oci://quay.io/o/r@{SHA_A}"))
    assert [entry.artifact.id for entry in found] == ["1"]


def test_archived_artifacts_are_indexed_but_not_live() -> None:
    snapshot = snapshot_with_artifacts("s3://b/k")
    archived = RegistrySnapshot(
        models=snapshot.models,
        versions={
            "2": ModelVersion(id="2", name="v", registered_model_id="1", state=State.ARCHIVED)
        },
        artifacts=snapshot.artifacts,
    )
    (entry,) = ReferenceIndex.from_snapshot(archived).matching(parse_storage_uri("s3://b/k"))
    assert not entry.live


def test_unparsable_artifact_uris_are_skipped_and_reported() -> None:
    index = ReferenceIndex.from_snapshot(
        snapshot_with_artifacts("s3://b/k", "not a uri", "oci://quay.io/Upper/case")
    )
    assert [(skipped.artifact_id, skipped.uri) for skipped in index.skipped] == [
        ("2", "not a uri"),
        ("3", "oci://quay.io/Upper/case"),
    ]
    assert "missing scheme" in index.skipped[0].problem
    assert index.knows(parse_storage_uri("s3://b/k"))


def test_artifacts_of_unknown_versions_are_skipped_and_reported() -> None:
    index = ReferenceIndex.from_snapshot(snapshot_with_artifacts("s3://b/k", version_id="99"))
    assert [skipped.artifact_id for skipped in index.skipped] == ["1"]
    assert "model version '99' is not in the snapshot" in index.skipped[0].problem
    assert not index.knows(parse_storage_uri("s3://b/k"))


def test_artifacts_of_unknown_models_are_skipped_and_reported() -> None:
    snapshot = RegistrySnapshot(
        versions={"2": ModelVersion(id="2", name="v", registered_model_id="77")},
        artifacts=(ModelArtifact(id="1", name="a", uri="s3://b/k", model_version_id="2"),),
    )
    index = ReferenceIndex.from_snapshot(snapshot)
    assert "registered model '77'" in index.skipped[0].problem


def test_knows_the_seed_uri_and_not_an_unregistered_one() -> None:
    index = ReferenceIndex.from_snapshot(seed_snapshot())
    assert index.knows(parse_storage_uri(DEPLOYED_URI))
    assert not index.knows(parse_storage_uri("oci://quay.io/adrina/private-ai:never-registered"))


def test_artifacts_of_a_version_are_listed_by_version_id() -> None:
    index = ReferenceIndex.from_snapshot(snapshot_with_artifacts("s3://b/1", "s3://b/2"))
    assert [entry.artifact.id for entry in index.artifacts_of_version("2")] == ["1", "2"]
    assert index.artifacts_of_version("404") == ()


# A small pool, so that generated snapshots and queries collide often.
POOL = [
    "oci://quay.io/o/r",
    "oci://quay.io/o/r:t",
    "oci://quay.io/o/r:u",
    f"oci://quay.io/o/r:t@{SHA_A}",
    f"oci://quay.io/o/r:t@{SHA_B}",
    f"oci://quay.io/o/r@{SHA_A}",
    f"oci://quay.io/o/r@{SHA_B}",
    f"oci://quay.io/o/s:t@{SHA_A}",
    "oci://r",
    "oci://docker.io/library/r:latest",
    "s3://b/k",
    "s3://b/k/",
    "hf://o/m",
    "https://Host/x",
    "https://host/x",
    "garbage",
]


@given(st.lists(st.sampled_from(POOL), max_size=12), st.sampled_from(POOL[:-1]))
def test_a_lookup_finds_exactly_what_a_scan_of_all_artifacts_finds(
    artifact_uris: list[str], query: str
) -> None:
    index = ReferenceIndex.from_snapshot(snapshot_with_artifacts(*artifact_uris))
    reference = parse_storage_uri(query)
    scanned = [
        str(n)
        for n, uri in enumerate(artifact_uris, start=1)
        if uri != "garbage" and parse_storage_uri(uri).matches(reference)
    ]
    assert [entry.artifact.id for entry in index.matching(reference)] == scanned
