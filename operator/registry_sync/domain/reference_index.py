"""A lookup from storage references to registry artifacts, built once per snapshot.

The resolver runs once per InferenceService against one shared snapshot; scanning every
artifact each time would make the cost grow with objects times artifacts. The index parses every
artifact URI once and files it under keys a lookup can compute from the deployed reference,
so one lookup costs what its candidates cost.

An index may also carry which registered models may claim this namespace's deployments at all
(`RegistryOwners`, from `--registry-owners`): artifacts of other models are still found, so
that a message can say why they do not count, but they are never candidates.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

from registry_sync.domain.references import (
    InvalidStorageUri,
    OciReference,
    StorageReference,
    parse_storage_uri,
)
from registry_sync.domain.snapshot import (
    ModelArtifact,
    ModelVersion,
    RegisteredModel,
    RegistrySnapshot,
    State,
)


@dataclass(frozen=True, slots=True)
class RegistryOwners:
    """Which registered models may claim this namespace's deployments, by their `owner` field.

    `allowed` None admits every model, with an owner or without; a set admits only models
    whose owner is in it (a model without an owner is then not admitted). The registry does
    not check who sets `owner`: this keeps out models registered by other teams under their
    own owner value, not someone who writes this namespace's owner on purpose (the pin
    annotation `registry-sync.io/model-version-id` is the answer to that).
    """

    allowed: frozenset[str] | None = None

    @classmethod
    def parse(cls, text: str | None) -> RegistryOwners:
        """Comma-separated owner values; None or blank for any owner. Raises ValueError,
        naming the problem, on an empty entry (`a,,b`)."""
        if text is None or not text.strip():
            return cls()
        owners = [owner.strip() for owner in text.split(",")]
        if not all(owners):
            raise ValueError(
                f"{text!r} has an empty owner: give comma-separated owner values, such as "
                "team-a,team-b, or nothing for any owner"
            )
        return cls(frozenset(owners))

    def admits(self, model: RegisteredModel) -> bool:
        return self.allowed is None or (model.owner is not None and model.owner in self.allowed)

    def describe(self) -> str:
        """`team-a, team-b`: the allowed owners as messages name them."""
        return "any owner" if self.allowed is None else ", ".join(sorted(self.allowed))


@dataclass(frozen=True, slots=True)
class IndexedArtifact:
    """A registry artifact with its parsed URI and the version and model it belongs to.

    `position` is the artifact's place in the snapshot, so that lookups keep its order.
    `owner_allowed` says whether its model's owner is one the index admits.
    """

    position: int
    artifact: ModelArtifact
    reference: StorageReference
    version: ModelVersion
    model: RegisteredModel
    owner_allowed: bool = True

    @property
    def live(self) -> bool:
        """Whether it counts: neither its version nor its model is archived.

        The artifact's own state does not matter (the registry reads UNKNOWN after any
        change to an artifact), and a model's archiving leaves its versions LIVE.
        """
        return self.version.state != State.ARCHIVED and self.model.state != State.ARCHIVED


@dataclass(frozen=True, slots=True)
class SkippedArtifact:
    """A registry artifact the index could not use, and why."""

    artifact_id: str
    uri: str
    problem: str


@dataclass(frozen=True, slots=True)
class ReferenceIndex:
    """Registry artifacts of one snapshot, by storage reference. Build with `from_snapshot`."""

    snapshot: RegistrySnapshot
    by_key: Mapping[Hashable, tuple[IndexedArtifact, ...]]
    by_version: Mapping[str, tuple[IndexedArtifact, ...]]
    skipped: tuple[SkippedArtifact, ...]
    owners: RegistryOwners = field(default_factory=RegistryOwners)

    @classmethod
    def from_snapshot(
        cls, snapshot: RegistrySnapshot, owners: RegistryOwners | None = None
    ) -> ReferenceIndex:
        """Index every artifact of the snapshot; never raises on registry data.

        Artifacts whose URI does not parse, or whose version or model is not in the snapshot,
        are left out and listed in `skipped` so that a caller can report them. With `owners`,
        artifacts of models it does not admit are indexed with `owner_allowed` False.
        """
        owners = owners if owners is not None else RegistryOwners()
        by_key: dict[Hashable, list[IndexedArtifact]] = {}
        by_version: dict[str, list[IndexedArtifact]] = {}
        skipped: list[SkippedArtifact] = []
        for position, artifact in enumerate(snapshot.artifacts):
            entry = _index_entry(position, artifact, snapshot, owners, skipped)
            if entry is None:
                continue
            for key in _keys(entry.reference):
                by_key.setdefault(key, []).append(entry)
            by_version.setdefault(entry.version.id, []).append(entry)
        return cls(
            snapshot=snapshot,
            by_key={key: tuple(entries) for key, entries in by_key.items()},
            by_version={key: tuple(entries) for key, entries in by_version.items()},
            skipped=tuple(skipped),
            owners=owners,
        )

    def matching(self, reference: StorageReference) -> tuple[IndexedArtifact, ...]:
        """Every indexed artifact whose reference matches, live or not, in snapshot order."""
        found: dict[int, IndexedArtifact] = {}
        for key in _keys(reference):
            for entry in self.by_key.get(key, ()):
                if entry.reference.matches(reference):
                    found[entry.position] = entry
        return tuple(found[position] for position in sorted(found))

    def knows(self, reference: StorageReference) -> bool:
        """Whether any artifact of the snapshot matches the reference, archived ones included.

        A deployed reference the snapshot does not know may be newer than the snapshot: a
        caller can use this to ask for a refresh before reporting it as not registered.
        """
        return bool(self.matching(reference))

    def artifacts_of_version(self, version_id: str) -> tuple[IndexedArtifact, ...]:
        """The indexed artifacts of one model version (none if it has no usable artifact)."""
        return self.by_version.get(version_id, ())


def _index_entry(
    position: int,
    artifact: ModelArtifact,
    snapshot: RegistrySnapshot,
    owners: RegistryOwners,
    skipped: list[SkippedArtifact],
) -> IndexedArtifact | None:
    try:
        reference = parse_storage_uri(artifact.uri)
    except InvalidStorageUri as error:
        skipped.append(SkippedArtifact(artifact.id, artifact.uri, str(error)))
        return None
    version = snapshot.versions.get(artifact.model_version_id)
    if version is None:
        skipped.append(
            SkippedArtifact(
                artifact.id,
                artifact.uri,
                f"its model version {artifact.model_version_id!r} is not in the snapshot",
            )
        )
        return None
    model = snapshot.models.get(version.registered_model_id)
    if model is None:
        skipped.append(
            SkippedArtifact(
                artifact.id,
                artifact.uri,
                f"the registered model {version.registered_model_id!r} of its version "
                f"{version.id!r} is not in the snapshot",
            )
        )
        return None
    return IndexedArtifact(position, artifact, reference, version, model, owners.admits(model))


def _keys(reference: StorageReference) -> tuple[Hashable, ...]:
    """The keys a reference is filed under, and looked up by.

    An OCI reference is filed by repository and tag, and by repository and digest: any two
    references that match share at least one of these keys (see `OciReference.matches`).
    """
    if isinstance(reference, OciReference):
        keys: list[Hashable] = []
        if reference.tag is not None:
            keys.append(("tag", reference.registry, reference.repository, reference.tag))
        if reference.digest is not None:
            keys.append(("digest", reference.registry, reference.repository, reference.digest))
        return tuple(keys)
    return (reference,)
