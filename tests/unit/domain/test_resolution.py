"""Resolution rules: deployed reference + registry snapshot (+ pin, + previous answer) -> answer."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_sync.domain.answer import Candidate, Outcome, Resolution, format_age, format_instant
from registry_sync.domain.inference_service import MissingStorageUri, StorageUri, UnsupportedStorage
from registry_sync.domain.reference_index import ReferenceIndex, RegistryOwners
from registry_sync.domain.references import parse_storage_uri
from registry_sync.domain.resolution import resolve
from registry_sync.domain.snapshot import RegistrySnapshot, State
from unit.domain.registry_data import Version, registry_of

SHA_A = "sha256:" + "a" * 64
SHA_B = "sha256:" + "b" * 64
TAKEN_AT = 1_000_000
NOW = TAKEN_AT + 192_000  # 3m12s later

URI = "oci://quay.io/team/llm:v1"
ALPHA = Version("1", "Alpha", "2", "a-v1", (URI,))
BETA = Version("3", "Beta", "4", "b-v1", ("oci://quay.io/team/llm:v1",))
OTHER = Version("5", "Other", "6", "o-v1", ("s3://bucket/other",))


def current(*versions: Version, uri: object = URI, **options: object) -> Resolution:
    """Resolve against a current snapshot of these versions."""
    return resolve(
        uri,  # type: ignore[arg-type]
        registry_of(*versions, taken_at_ms=TAKEN_AT),
        snapshot_current=True,
        now_ms=NOW,
        **options,  # type: ignore[arg-type]
    )


def resolved(version: Version, artifact_id: str = "1") -> Resolution:
    """A Resolved answer for a version, as an earlier run would have stored it."""
    return Resolution(
        Outcome.RESOLVED,
        "earlier answer",
        storage_uri=parse_storage_uri(URI).canonical,
        registered_model_id=version.model_id,
        registered_model_name=version.model_name,
        model_version_id=version.version_id,
        model_version_name=version.version_name,
        artifact_id=artifact_id,
        snapshot_taken_at_ms=TAKEN_AT,
    )


# --- the storage is judged before the registry --------------------------------------------


@pytest.mark.parametrize(
    ("deployed", "outcome", "in_message"),
    [
        pytest.param(
            MissingStorageUri("no storage URI: set spec.predictor.model.storageUri"),
            Outcome.INVALID_STORAGE_URI,
            "no storage URI",
            id="missing",
        ),
        pytest.param(
            UnsupportedStorage("spec.predictor.model.storage is not supported", "f"),
            Outcome.UNSUPPORTED_STORAGE,
            "is not supported",
            id="storage-key-and-path",
        ),
        pytest.param(
            StorageUri("oci://quay.io/Team/llm", "spec.predictor.model.storageUri"),
            Outcome.INVALID_STORAGE_URI,
            "must be lower-case",
            id="unparsable",
        ),
        pytest.param(
            "ftp://host/model", Outcome.INVALID_STORAGE_URI, "unsupported scheme", id="bad-string"
        ),
    ],
)
@pytest.mark.parametrize(
    ("registry", "snapshot_current"),
    [
        pytest.param(registry_of(ALPHA), True, id="registry-current"),
        pytest.param(registry_of(ALPHA), False, id="registry-stale"),
        pytest.param(None, False, id="registry-never-reached"),
    ],
)
def test_storage_problems_are_decided_before_the_registry(
    deployed: object,
    outcome: Outcome,
    in_message: str,
    registry: object,
    snapshot_current: bool,
) -> None:
    answer = resolve(
        deployed,  # type: ignore[arg-type]
        registry,  # type: ignore[arg-type]
        snapshot_current=snapshot_current,
        now_ms=NOW,
        previous=resolved(ALPHA),
    )
    assert answer.outcome is outcome
    assert in_message in answer.message
    assert answer.model_version_id is None


@pytest.mark.parametrize(
    "deployed",
    [URI, StorageUri(URI, "spec.predictor.model.storageUri"), parse_storage_uri(URI)],
    ids=["string", "storage-uri", "reference"],
)
def test_the_deployed_uri_may_be_given_as_string_storage_uri_or_reference(deployed: object) -> None:
    assert current(ALPHA, uri=deployed).model_version_id == "2"


# --- unpinned ----------------------------------------------------------------------------


def test_one_live_version_with_a_matching_artifact_is_resolved() -> None:
    answer = current(ALPHA, OTHER)
    assert answer.outcome is Outcome.RESOLVED
    assert (
        answer.registered_model_id,
        answer.registered_model_name,
        answer.model_version_id,
        answer.model_version_name,
        answer.artifact_id,
        answer.snapshot_taken_at_ms,
    ) == ("1", "Alpha", "2", "a-v1", "1", TAKEN_AT)
    assert answer.message == "oci://quay.io/team/llm:v1 is model Alpha version a-v1 (id 2)"


def test_an_equivalent_spelling_in_the_registry_resolves() -> None:
    registered = Version("1", "Alpha", "2", "a-v1", ("OCI+native://Quay.io/team/llm:v1",))
    assert current(registered).outcome is Outcome.RESOLVED


def test_the_storage_uri_of_the_answer_is_canonical() -> None:
    assert current(ALPHA, uri="oci+fetch://QUAY.io/team/llm:v1").storage_uri == URI


def test_two_live_versions_claiming_the_reference_are_ambiguous_tag_reuse() -> None:
    answer = current(BETA, ALPHA)
    assert answer.outcome is Outcome.AMBIGUOUS
    assert answer.message == (
        "2 live versions claim oci://quay.io/team/llm:v1 (tag reuse): "
        "model Alpha version a-v1 (id 2), model Beta version b-v1 (id 4); "
        "pin one with the annotation registry-sync.io/model-version-id"
    )
    assert answer.candidates == (
        Candidate("1", "Alpha", "2", "a-v1", "2", URI),
        Candidate("3", "Beta", "4", "b-v1", "1", URI),
    )
    assert answer.model_version_id is None


def test_a_non_oci_uri_registered_twice_is_ambiguous_without_tag_reuse() -> None:
    first = Version("1", "Alpha", "2", "a-v1", ("s3://bucket/m",))
    second = Version("3", "Beta", "4", "b-v1", ("s3://bucket/m/",))
    answer = current(first, second, uri="s3://bucket/m")
    assert answer.outcome is Outcome.AMBIGUOUS
    assert "the same reference registered more than once" in answer.message


def test_several_artifacts_of_one_version_are_one_candidate() -> None:
    twice = Version("1", "Alpha", "2", "a-v1", ("oci://quay.io/team/llm:v1", f"{URI}@{SHA_A}"))
    answer = current(twice)
    assert answer.outcome is Outcome.RESOLVED
    assert answer.artifact_id == "1"


def test_candidates_are_ordered_by_numeric_id() -> None:
    tenth = Version("10", "Tenth", "11", "t", (URI,))
    ninth = Version("9", "Ninth", "12", "n", (URI,))
    answer = current(tenth, ninth)
    assert [candidate.registered_model_id for candidate in answer.candidates] == ["9", "10"]


@pytest.mark.parametrize(
    "archived",
    [
        pytest.param(
            Version("3", "Beta", "4", "b-v1", (URI,), version_state=State.ARCHIVED), id="version"
        ),
        pytest.param(
            Version("3", "Beta", "4", "b-v1", (URI,), model_state=State.ARCHIVED), id="model"
        ),
    ],
)
def test_archived_versions_and_versions_of_archived_models_do_not_count(archived: Version) -> None:
    answer = current(ALPHA, archived)
    assert answer.outcome is Outcome.RESOLVED
    assert answer.model_version_id == "2"


@pytest.mark.parametrize("artifact_state", [None, State.LIVE, State.UNKNOWN, State.ARCHIVED])
def test_the_artifact_state_does_not_matter(artifact_state: State | None) -> None:
    version = Version("1", "Alpha", "2", "a-v1", (URI,), artifact_state=artifact_state)
    assert current(version).outcome is Outcome.RESOLVED


def test_a_running_digest_decides_between_candidates_with_different_digests() -> None:
    old = Version("1", "Alpha", "2", "old", (f"{URI}@{SHA_A}",))
    new = Version("1", "Alpha", "3", "new", (f"{URI}@{SHA_B}",))
    answer = current(old, new, running_digest=SHA_B)
    assert answer.outcome is Outcome.RESOLVED
    assert answer.model_version_name == "new"


def test_a_pod_image_id_is_accepted_as_running_digest() -> None:
    old = Version("1", "Alpha", "2", "old", (f"{URI}@{SHA_A}",))
    new = Version("1", "Alpha", "3", "new", (f"{URI}@{SHA_B}",))
    answer = current(old, new, running_digest=f"quay.io/team/llm@{SHA_A}")
    assert answer.model_version_name == "old"


def test_a_digest_in_the_deployed_uri_decides_between_candidates() -> None:
    old = Version("1", "Alpha", "2", "old", (f"{URI}@{SHA_A}",))
    new = Version("1", "Alpha", "3", "new", (f"{URI}@{SHA_B}",))
    answer = current(old, new, uri=f"{URI}@{SHA_A}")
    assert answer.model_version_name == "old"


def test_a_running_digest_does_not_rule_out_candidates_without_a_digest() -> None:
    undigested = Version("1", "Alpha", "2", "old", (URI,))
    digested = Version("1", "Alpha", "3", "new", (f"{URI}@{SHA_B}",))
    assert current(undigested, digested, running_digest=SHA_B).outcome is Outcome.AMBIGUOUS


def test_an_unreadable_running_digest_is_treated_as_unknown() -> None:
    old = Version("1", "Alpha", "2", "old", (f"{URI}@{SHA_A}",))
    new = Version("1", "Alpha", "3", "new", (f"{URI}@{SHA_B}",))
    assert current(old, new, running_digest="sha256:short").outcome is Outcome.AMBIGUOUS


def test_no_matching_artifact_is_not_registered() -> None:
    answer = current(OTHER)
    assert answer.outcome is Outcome.NOT_REGISTERED
    assert answer.message == (
        "no live model version in the registry has an artifact with URI "
        "oci://quay.io/team/llm:v1; register it, or deploy a registered artifact"
    )
    assert answer.snapshot_taken_at_ms == TAKEN_AT


def test_not_registered_says_when_matching_artifacts_are_archived() -> None:
    archived = Version("1", "Alpha", "2", "a-v1", (URI,), version_state=State.ARCHIVED)
    answer = current(archived)
    assert answer.outcome is Outcome.NOT_REGISTERED
    assert "1 matching artifact(s) belong to archived versions or models" in answer.message


def test_not_registered_says_when_the_running_digest_rules_artifacts_out() -> None:
    other_image = Version("1", "Alpha", "2", "a-v1", (f"{URI}@{SHA_A}",))
    answer = current(other_image, running_digest=SHA_B)
    assert answer.outcome is Outcome.NOT_REGISTERED
    assert f"carry a digest other than the running {SHA_B}" in answer.message


def test_a_snapshot_and_its_index_give_the_same_answer() -> None:
    snapshot = registry_of(ALPHA, BETA, OTHER, taken_at_ms=TAKEN_AT)
    from_snapshot = resolve(URI, snapshot, snapshot_current=True, now_ms=NOW)
    from_index = resolve(
        URI, ReferenceIndex.from_snapshot(snapshot), snapshot_current=True, now_ms=NOW
    )
    assert from_snapshot == from_index


# --- pinned ------------------------------------------------------------------------------


def test_a_pin_on_a_matching_live_version_is_honoured_and_settles_tag_reuse() -> None:
    answer = current(ALPHA, BETA, pin="4")
    assert answer.outcome is Outcome.PINNED
    assert (answer.registered_model_name, answer.model_version_id) == ("Beta", "4")
    assert [candidate.model_version_id for candidate in answer.candidates] == ["2", "4"]
    assert "as pinned by the annotation registry-sync.io/model-version-id" in answer.message


def test_a_pin_is_honoured_when_the_version_is_the_only_candidate() -> None:
    answer = current(ALPHA, pin=" 2 ")
    assert answer.outcome is Outcome.PINNED
    assert answer.candidates == ()


@pytest.mark.parametrize(
    ("versions", "pin", "options", "why"),
    [
        pytest.param(
            (ALPHA,),
            "99",
            {},
            "the registry has no model version with that id",
            id="unknown-version",
        ),
        pytest.param(
            (ALPHA,), "", {}, "the registry has no model version with that id", id="empty-pin"
        ),
        pytest.param(
            (ALPHA, Version("3", "Beta", "4", "b-v1", (URI,), version_state=State.ARCHIVED)),
            "4",
            {},
            "version b-v1 of model Beta is archived",
            id="archived-version",
        ),
        pytest.param(
            (ALPHA, Version("3", "Beta", "4", "b-v1", (URI,), model_state=State.ARCHIVED)),
            "4",
            {},
            "its model Beta is archived",
            id="archived-model",
        ),
        pytest.param(
            (ALPHA, OTHER),
            "6",
            {},
            "none of the artifacts of model Other version o-v1 (s3://bucket/other) matches the "
            "deployed oci://quay.io/team/llm:v1",
            id="artifact-does-not-match",
        ),
        pytest.param(
            (Version("1", "Alpha", "2", "a-v1", (f"{URI}@{SHA_A}",)),),
            "2",
            {"running_digest": SHA_B},
            f"(running digest {SHA_B})",
            id="running-digest-differs",
        ),
        pytest.param(
            (Version("1", "Alpha", "2", "a-v1", ()),),
            "2",
            {},
            "(none) matches",
            id="version-without-artifacts",
        ),
    ],
)
def test_a_pin_that_cannot_be_honoured_is_a_mismatch_saying_why(
    versions: tuple[Version, ...], pin: str, options: dict[str, object], why: str
) -> None:
    answer = current(*versions, pin=pin, **options)
    assert answer.outcome is Outcome.PIN_MISMATCH
    assert why in answer.message
    assert answer.message.startswith(
        f"the annotation registry-sync.io/model-version-id pins model version {pin.strip()!r}"
    )
    assert answer.model_version_id is None


# --- registry owners (--registry-owners) ---------------------------------------------------

TEAM = "team-a"


def owned(snapshot: RegistrySnapshot, **owners: str | None) -> RegistrySnapshot:
    """The snapshot with each model (by id, given as `m<id>`) owned as given."""
    models = {
        key: replace(model, owner=owners.get(f"m{key}", model.owner))
        for key, model in snapshot.models.items()
    }
    return replace(snapshot, models=models)


def with_owners(
    *versions: Version, owners: str | None, uri: str = URI, pin: str | None = None, **owned_by: str
) -> Resolution:
    """Resolve against versions whose models are owned as `owned_by` says, admitting `owners`."""
    snapshot = owned(registry_of(*versions, taken_at_ms=TAKEN_AT), **owned_by)
    index = ReferenceIndex.from_snapshot(snapshot, RegistryOwners.parse(owners))
    return resolve(uri, index, snapshot_current=True, now_ms=NOW, pin=pin)


@pytest.mark.parametrize(
    ("text", "allowed"),
    [
        pytest.param(None, None, id="unset"),
        pytest.param("", None, id="empty"),
        pytest.param("  ", None, id="blank"),
        pytest.param("team-a", frozenset({"team-a"}), id="one"),
        pytest.param(" team-a , Team B ", frozenset({"team-a", "Team B"}), id="spaced"),
    ],
)
def test_registry_owners_are_comma_separated_and_default_to_any(
    text: str | None, allowed: frozenset[str] | None
) -> None:
    assert RegistryOwners.parse(text).allowed == allowed


@pytest.mark.parametrize("text", ["a,,b", ",a", "a,", " , "])
def test_an_empty_registry_owner_is_refused_saying_so(text: str) -> None:
    with pytest.raises(ValueError, match="has an empty owner"):
        RegistryOwners.parse(text)


def test_a_claimant_of_another_owner_is_not_a_candidate() -> None:
    answer = with_owners(ALPHA, BETA, owners=TEAM, m1=TEAM, m3="mallory")
    assert answer.outcome is Outcome.RESOLVED
    assert answer.model_version_id == "2"
    assert answer.candidates == ()


def test_a_model_without_an_owner_is_not_a_candidate_when_owners_are_given() -> None:
    answer = with_owners(ALPHA, BETA, owners=TEAM, m1=TEAM)
    assert (answer.outcome, answer.model_version_id) == (Outcome.RESOLVED, "2")


def test_without_registry_owners_every_owner_counts() -> None:
    answer = with_owners(ALPHA, BETA, owners=None, m1=TEAM, m3="mallory")
    assert answer.outcome is Outcome.AMBIGUOUS


def test_any_of_several_registry_owners_counts() -> None:
    answer = with_owners(ALPHA, BETA, owners=f"{TEAM},team-b", m1=TEAM, m3="team-b")
    assert answer.outcome is Outcome.AMBIGUOUS


def test_not_registered_says_when_matching_models_have_other_owners() -> None:
    answer = with_owners(BETA, owners=f"{TEAM},team-b", m3="mallory")
    assert answer.outcome is Outcome.NOT_REGISTERED
    assert answer.message == (
        "no live model version in the registry has an artifact with URI "
        "oci://quay.io/team/llm:v1 (1 live one(s) belong to registered models whose owner is "
        "not one allowed here (team-a, team-b; setting --registry-owners): model Beta "
        "(owner 'mallory')); register it, or deploy a registered artifact"
    )


def test_not_registered_names_a_few_foreign_models_and_counts_the_rest() -> None:
    others = [Version(str(10 + 2 * i), f"M{i}", str(11 + 2 * i), "v", (URI,)) for i in range(5)]
    answer = with_owners(*others, owners=TEAM)
    assert answer.outcome is Outcome.NOT_REGISTERED
    assert "model M0 (owner none), model M1 (owner none), model M2 (owner none) and 2 more" in (
        answer.message
    )


def test_a_pin_to_a_model_of_another_owner_is_a_mismatch_saying_why() -> None:
    answer = with_owners(ALPHA, BETA, owners=TEAM, pin="4", m1=TEAM, m3="mallory")
    assert answer.outcome is Outcome.PIN_MISMATCH
    assert "its model Beta has owner 'mallory', not one allowed here (team-a" in answer.message


def test_a_pin_to_a_model_of_an_allowed_owner_is_honoured() -> None:
    answer = with_owners(ALPHA, BETA, owners=TEAM, pin="2", m1=TEAM, m3="mallory")
    assert (answer.outcome, answer.model_version_id) == (Outcome.PINNED, "2")
    assert answer.candidates == ()  # the other owner's claim is no candidate


def test_a_snapshot_given_without_an_index_admits_every_owner() -> None:
    snapshot = owned(registry_of(ALPHA, BETA, taken_at_ms=TAKEN_AT), m1=TEAM, m3="mallory")
    answer = resolve(URI, snapshot, snapshot_current=True, now_ms=NOW)
    assert answer.outcome is Outcome.AMBIGUOUS


# --- registry unavailable ----------------------------------------------------------------


def unavailable(previous: Resolution | None, registry: object = None, uri: str = URI) -> Resolution:
    return resolve(
        uri,
        registry,  # type: ignore[arg-type]
        snapshot_current=False,
        now_ms=NOW,
        previous=previous,
    )


def test_a_registry_never_reached_without_earlier_answer_names_nothing() -> None:
    answer = unavailable(None)
    assert answer.outcome is Outcome.REGISTRY_UNAVAILABLE
    assert answer.model_version_id is None
    assert not answer.has_answer
    assert answer.message.startswith("the registry was never reached;")


def test_a_stale_snapshot_without_earlier_answer_names_nothing_and_says_its_age() -> None:
    answer = unavailable(None, registry=registry_of(ALPHA, taken_at_ms=TAKEN_AT))
    assert answer.outcome is Outcome.REGISTRY_UNAVAILABLE
    assert answer.model_version_id is None
    assert "its last good data is 3m12s old" in answer.message


@pytest.mark.parametrize(
    "previous",
    [
        pytest.param(resolved(ALPHA), id="resolved"),
        pytest.param(
            Resolution(
                Outcome.PINNED,
                "earlier",
                storage_uri=URI,
                registered_model_id="1",
                registered_model_name="Alpha",
                model_version_id="2",
                model_version_name="a-v1",
                artifact_id="1",
                snapshot_taken_at_ms=TAKEN_AT,
            ),
            id="pinned",
        ),
        pytest.param(unavailable(resolved(ALPHA)), id="unavailable-keeping-an-answer"),
    ],
)
def test_an_outage_keeps_the_earlier_answer_and_says_how_old_it_is(previous: Resolution) -> None:
    answer = unavailable(previous, registry=registry_of(OTHER, taken_at_ms=TAKEN_AT))
    assert answer.outcome is Outcome.REGISTRY_UNAVAILABLE
    assert answer.has_answer
    assert (
        answer.registered_model_id,
        answer.registered_model_name,
        answer.model_version_id,
        answer.model_version_name,
        answer.artifact_id,
        answer.snapshot_taken_at_ms,
    ) == ("1", "Alpha", "2", "a-v1", "1", TAKEN_AT)
    assert answer.message == (
        # TAKEN_AT is 1,000 s after the epoch; the outage is seen 192 s later.
        "the registry cannot be reached; keeping the answer read at 1970-01-01T00:16:40Z "
        "(3m12s before this message): "
        "model Alpha (id 1) version a-v1 (id 2)"
    )


@pytest.mark.parametrize(
    "previous",
    [
        pytest.param(current(ALPHA, BETA), id="ambiguous"),
        pytest.param(current(OTHER), id="not-registered"),
        pytest.param(current(ALPHA, pin="99"), id="pin-mismatch"),
        pytest.param(unavailable(None), id="unavailable-without-answer"),
    ],
)
def test_an_outage_keeps_nothing_from_an_earlier_answer_without_a_version(
    previous: Resolution,
) -> None:
    answer = unavailable(previous)
    assert answer.outcome is Outcome.REGISTRY_UNAVAILABLE
    assert answer.model_version_id is None


def test_an_outage_keeps_no_answer_given_for_another_storage_uri() -> None:
    answer = unavailable(resolved(ALPHA), uri="oci://quay.io/team/llm:v2")
    assert answer.outcome is Outcome.REGISTRY_UNAVAILABLE
    assert answer.model_version_id is None
    assert f"the earlier answer was for {URI}, not this URI" in answer.message


@pytest.mark.parametrize(
    "previous",
    [pytest.param(resolved(ALPHA), id="keeping"), pytest.param(None, id="never-reached")],
)
def test_an_outage_names_why_the_registry_could_not_be_asked(previous: Resolution | None) -> None:
    problem = "GET https://registry/api: the registry's TLS certificate is not trusted"
    answer = resolve(
        URI,
        None,
        snapshot_current=False,
        now_ms=NOW,
        previous=previous,
        registry_problem=problem,
    )
    assert answer.outcome is Outcome.REGISTRY_UNAVAILABLE
    assert answer.message.endswith(f"; last error: {problem}")
    assert answer.message.startswith(unavailable(previous).message)


@pytest.mark.parametrize(
    ("answer", "has_answer"),
    [
        pytest.param(current(ALPHA), True, id="resolved"),
        pytest.param(current(ALPHA, BETA, pin="2"), True, id="pinned"),
        pytest.param(unavailable(resolved(ALPHA)), True, id="unavailable-keeping"),
        pytest.param(unavailable(None), False, id="unavailable-never-reached"),
        pytest.param(current(ALPHA, BETA), False, id="ambiguous"),
        pytest.param(current(OTHER), False, id="not-registered"),
        pytest.param(current(ALPHA, pin="99"), False, id="pin-mismatch"),
        pytest.param(current(ALPHA, uri="nope"), False, id="invalid-storage-uri"),
    ],
)
def test_only_resolved_pinned_and_kept_answers_name_a_version(
    answer: Resolution, has_answer: bool
) -> None:
    assert answer.has_answer is has_answer


@pytest.mark.parametrize(
    ("milliseconds", "text"),
    [
        (-5_000, "0s"),
        (999, "0s"),
        (45_000, "45s"),
        (192_000, "3m12s"),
        (3_600_000, "1h0m"),
        (7_500_000, "2h5m"),
        (273_600_000, "3d4h"),
    ],
)
def test_format_age(milliseconds: int, text: str) -> None:
    assert format_age(milliseconds) == text


# --- invariants --------------------------------------------------------------------------

POOL_URIS = [
    URI,
    f"{URI}@{SHA_A}",
    f"{URI}@{SHA_B}",
    "oci://quay.io/team/llm:v2",
    "s3://b/k",
    "bad uri",
]
POOL_VERSIONS = st.builds(
    lambda n, uris, version_state, model_state: Version(
        str(n % 3), f"model-{n % 3}", str(10 + n), f"v{n}", tuple(uris), version_state, model_state
    ),
    st.integers(min_value=0, max_value=5),
    st.lists(st.sampled_from(POOL_URIS), max_size=3),
    st.sampled_from([State.LIVE, State.ARCHIVED, State.UNKNOWN]),
    st.sampled_from([State.LIVE, State.ARCHIVED]),
)


@given(
    versions=st.lists(POOL_VERSIONS, max_size=5, unique_by=lambda version: version.version_id),
    deployed=st.sampled_from(POOL_URIS) | st.text(max_size=20),
    pin=st.none() | st.sampled_from(["10", "11", "12", "99", ""]),
    running_digest=st.none() | st.sampled_from([SHA_A, SHA_B, "junk"]),
    snapshot_current=st.booleans(),
)
def test_resolution_always_answers_consistently(
    versions: list[Version],
    deployed: str,
    pin: str | None,
    running_digest: str | None,
    snapshot_current: bool,
) -> None:
    snapshot = registry_of(*versions, taken_at_ms=TAKEN_AT)
    answer = resolve(
        deployed,
        snapshot,
        snapshot_current=snapshot_current,
        now_ms=NOW,
        pin=pin,
        running_digest=running_digest,
    )
    assert answer.message
    assert answer.has_answer == (answer.outcome in (Outcome.RESOLVED, Outcome.PINNED))
    if answer.outcome is Outcome.AMBIGUOUS:
        assert len(answer.candidates) >= 2
    if answer.has_answer:
        assert answer.model_version_id is not None
        version = snapshot.versions[answer.model_version_id]
        assert version.state != State.ARCHIVED
        assert snapshot.models[version.registered_model_id].state != State.ARCHIVED
        assert any(
            parse_storage_uri(artifact.uri).matches(parse_storage_uri(deployed))
            for artifact in snapshot.artifacts
            if artifact.model_version_id == version.id and artifact.uri != "bad uri"
        )
    if pin is not None and answer.has_answer:
        assert answer.outcome is Outcome.PINNED
        assert answer.model_version_id == pin


def test_an_instant_no_calendar_holds_is_said_raw() -> None:
    assert format_instant(10**20) == f"{10**20} ms after the epoch"
