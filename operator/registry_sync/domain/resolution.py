"""Resolution: which registered model version an InferenceService deploys.

`resolve` is the whole decision, as a pure function: what is deployed, an optional pin, the
registry snapshot (or its absence) and the previous answer in; one `Resolution` out. It never
guesses: several claimants are `Ambiguous`, none is `NotRegistered`, and a registry outage keeps
the last good answer and says how old it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from registry_sync.domain.answer import Candidate, Outcome, Resolution, format_age, format_instant
from registry_sync.domain.inference_service import (
    DeployedStorage,
    MissingStorageUri,
    StorageUri,
    UnsupportedStorage,
)
from registry_sync.domain.metadata import PIN_ANNOTATION
from registry_sync.domain.reference_index import IndexedArtifact, ReferenceIndex
from registry_sync.domain.references import (
    InvalidStorageUri,
    OciReference,
    StorageReference,
    UriReference,
    parse_digest,
    parse_storage_uri,
)
from registry_sync.domain.snapshot import RegistrySnapshot, State


def resolve(
    deployed: str | StorageReference | DeployedStorage,
    registry: ReferenceIndex | RegistrySnapshot | None,
    *,
    snapshot_current: bool,
    now_ms: int,
    pin: str | None = None,
    running_digest: str | None = None,
    previous: Resolution | None = None,
    registry_problem: str | None = None,
) -> Resolution:
    """Decide which model version is deployed. Never raises on what it is given.

    - The storage is judged first: missing or unparsable is `InvalidStorageUri`, the
      `storage` (key + path) form `UnsupportedStorage`, whatever the registry says.
    - No snapshot, or a snapshot that is not current: `RegistryUnavailable`. It keeps the ids
      and names of `previous` when that named a version for the same storage URI, and says
      how old they are; otherwise it names nothing. `registry_problem` (why the last
      request failed: a refused token, an untrusted certificate) ends its message.
    - Only live versions of live models count, and only models whose owner the index admits
      (`ReferenceIndex.owners`, `--registry-owners`); several artifacts of one version are one
      candidate. A known digest (`running_digest`, the digest a running pod reports, or one
      in the deployed URI) rules out candidates whose artifact carries a different digest.
    - With `pin` (a model version id): `Pinned` if that version exists, is live and has an
      artifact matching the deployed reference; else `PinMismatch`, saying why.
    - Without: one candidate is `Resolved`, several `Ambiguous`, none `NotRegistered`.

    Pass a `ReferenceIndex` when resolving many objects against one snapshot: given a
    `RegistrySnapshot`, the index is built for this call alone.
    """
    reference = _deployed_reference(deployed)
    if isinstance(reference, Resolution):
        return reference
    if registry is None or not snapshot_current:
        return _registry_unavailable(reference, registry, previous, now_ms, registry_problem)
    index = (
        registry if isinstance(registry, ReferenceIndex) else ReferenceIndex.from_snapshot(registry)
    )
    known_digest = parse_digest(running_digest) if running_digest is not None else None
    if pin is not None:
        return _resolve_pin(reference, pin, known_digest, index)
    return _resolve_unpinned(reference, known_digest, index)


def _deployed_reference(
    deployed: str | StorageReference | DeployedStorage,
) -> StorageReference | Resolution:
    """The parsed deployed reference, or the `Resolution` that says why there is none."""
    if isinstance(deployed, OciReference | UriReference):
        return deployed
    if isinstance(deployed, MissingStorageUri):
        return Resolution(Outcome.INVALID_STORAGE_URI, deployed.message)
    if isinstance(deployed, UnsupportedStorage):
        return Resolution(Outcome.UNSUPPORTED_STORAGE, deployed.message)
    uri = deployed.uri if isinstance(deployed, StorageUri) else deployed
    try:
        return parse_storage_uri(uri)
    except InvalidStorageUri as error:
        return Resolution(
            Outcome.INVALID_STORAGE_URI,
            f"{error}; fix the InferenceService's storageUri",
        )


def _registry_unavailable(
    reference: StorageReference,
    registry: ReferenceIndex | RegistrySnapshot | None,
    previous: Resolution | None,
    now_ms: int,
    registry_problem: str | None,
) -> Resolution:
    uri = reference.canonical
    # The cause decides what a person does next: give a CA bundle, renew the token, wait.
    last_error = f"; last error: {registry_problem}" if registry_problem else ""
    if previous is not None and previous.has_answer and previous.storage_uri in (None, uri):
        taken_at = previous.snapshot_taken_at_ms
        # The message is written when the outage begins and not rewritten while it lasts
        # (that would cost a write per object per refresh): the absolute time stays true.
        age = (
            f"read at {format_instant(taken_at)} ({format_age(now_ms - taken_at)} before this"
            " message)"
            if taken_at is not None
            else "of unknown age"
        )
        return Resolution(
            Outcome.REGISTRY_UNAVAILABLE,
            f"the registry cannot be reached; keeping the answer {age}: "
            f"model {previous.registered_model_name} (id {previous.registered_model_id}) "
            f"version {previous.model_version_name} (id {previous.model_version_id})"
            f"{last_error}",
            storage_uri=uri,
            registered_model_id=previous.registered_model_id,
            registered_model_name=previous.registered_model_name,
            model_version_id=previous.model_version_id,
            model_version_name=previous.model_version_name,
            artifact_id=previous.artifact_id,
            candidates=previous.candidates,
            snapshot_taken_at_ms=taken_at,
        )
    if registry is None:
        problem = "the registry was never reached"
    else:
        snapshot = registry.snapshot if isinstance(registry, ReferenceIndex) else registry
        problem = (
            "the registry cannot be reached (its last good data is "
            f"{format_age(now_ms - snapshot.taken_at_ms)} old)"
        )
    if previous is not None and previous.has_answer:
        earlier = f"the earlier answer was for {previous.storage_uri}, not this URI"
    else:
        earlier = "there is no earlier answer for this InferenceService to keep"
    return Resolution(
        Outcome.REGISTRY_UNAVAILABLE,
        f"{problem}; {earlier}; {uri} will be resolved when the registry answers "
        f"(check the registry URL, token and the registry's health){last_error}",
        storage_uri=uri,
    )


def _resolve_unpinned(
    reference: StorageReference, known_digest: str | None, index: ReferenceIndex
) -> Resolution:
    uri = reference.canonical
    taken_at = index.snapshot.taken_at_ms
    matching = index.matching(reference)
    candidates = candidates_of(_agreeing(matching, known_digest))
    if len(candidates) == 1:
        chosen = candidates[0]
        return _answer(Outcome.RESOLVED, f"{uri} is {chosen.describe()}", uri, chosen, (), taken_at)
    if candidates:
        claimants = ", ".join(candidate.describe() for candidate in candidates)
        return Resolution(
            Outcome.AMBIGUOUS,
            f"{len(candidates)} live versions claim {uri} ({_reuse_kind(reference)}): "
            f"{claimants}; pin one with the annotation {PIN_ANNOTATION}",
            storage_uri=uri,
            candidates=candidates,
            snapshot_taken_at_ms=taken_at,
        )
    return Resolution(
        Outcome.NOT_REGISTERED,
        f"no live model version in the registry has an artifact with URI {uri}"
        f"{_why_none(matching, known_digest, index)}; register it, or deploy a registered "
        "artifact",
        storage_uri=uri,
        snapshot_taken_at_ms=taken_at,
    )


def _resolve_pin(
    reference: StorageReference, pin: str, known_digest: str | None, index: ReferenceIndex
) -> Resolution:
    uri = reference.canonical
    taken_at = index.snapshot.taken_at_ms
    pinned = pin.strip()

    def mismatch(why: str) -> Resolution:
        return Resolution(
            Outcome.PIN_MISMATCH,
            f"the annotation {PIN_ANNOTATION} pins model version {pinned!r}, but {why}; "
            "fix or remove the annotation",
            storage_uri=uri,
            snapshot_taken_at_ms=taken_at,
        )

    version = index.snapshot.versions.get(pinned)
    if version is None:
        return mismatch("the registry has no model version with that id")
    model = index.snapshot.models.get(version.registered_model_id)
    if model is None:
        return mismatch(f"its registered model {version.registered_model_id!r} does not exist")
    if version.state == State.ARCHIVED:
        return mismatch(f"version {version.name} of model {model.name} is archived")
    if model.state == State.ARCHIVED:
        return mismatch(f"its model {model.name} is archived")
    if not index.owners.admits(model):
        return mismatch(
            f"its model {model.name} has owner {_shown_owner(model.owner)}, not one allowed here "
            f"({index.owners.describe()}; setting --registry-owners)"
        )
    artifacts = index.artifacts_of_version(version.id)
    agreeing = _agreeing(
        (entry for entry in artifacts if entry.reference.matches(reference)), known_digest
    )
    if not agreeing:
        registered = ", ".join(entry.reference.canonical for entry in artifacts) or "none"
        return mismatch(
            f"none of the artifacts of model {model.name} version {version.name} "
            f"({registered}) matches the deployed {uri}"
            + (f" (running digest {known_digest})" if known_digest is not None else "")
        )
    chosen = candidates_of(agreeing)[0]
    others = candidates_of(_agreeing(index.matching(reference), known_digest))
    return _answer(
        Outcome.PINNED,
        f"{uri} is {chosen.describe()}, as pinned by the annotation {PIN_ANNOTATION}",
        uri,
        chosen,
        others if len(others) > 1 else (),
        taken_at,
    )


def _answer(
    outcome: Outcome,
    message: str,
    uri: str,
    chosen: Candidate,
    candidates: tuple[Candidate, ...],
    taken_at: int,
) -> Resolution:
    return Resolution(
        outcome,
        message,
        storage_uri=uri,
        registered_model_id=chosen.registered_model_id,
        registered_model_name=chosen.registered_model_name,
        model_version_id=chosen.model_version_id,
        model_version_name=chosen.model_version_name,
        artifact_id=chosen.artifact_id,
        candidates=candidates,
        snapshot_taken_at_ms=taken_at,
    )


def _agreeing(
    entries: Iterable[IndexedArtifact], known_digest: str | None
) -> tuple[IndexedArtifact, ...]:
    """The live entries of admitted owners whose digest, where they have one, is the known
    digest."""
    return tuple(
        entry
        for entry in entries
        if entry.live and entry.owner_allowed and not _digest_differs(entry.reference, known_digest)
    )


def _digest_differs(reference: StorageReference, known_digest: str | None) -> bool:
    return (
        known_digest is not None
        and isinstance(reference, OciReference)
        and reference.digest is not None
        and reference.digest != known_digest
    )


def candidates_of(entries: Iterable[IndexedArtifact]) -> tuple[Candidate, ...]:
    """One candidate per version (its lowest artifact id), ordered by model and version id."""
    by_version: dict[str, IndexedArtifact] = {}
    for entry in entries:
        kept = by_version.get(entry.version.id)
        if kept is None or id_order(entry.artifact.id) < id_order(kept.artifact.id):
            by_version[entry.version.id] = entry
    ordered = sorted(
        by_version.values(), key=lambda e: (id_order(e.model.id), id_order(e.version.id))
    )
    return tuple(candidate_of(entry) for entry in ordered)


def candidate_of(entry: IndexedArtifact) -> Candidate:
    """An indexed artifact as a candidate answer: its version, its model, itself."""
    return Candidate(
        registered_model_id=entry.model.id,
        registered_model_name=entry.model.name,
        model_version_id=entry.version.id,
        model_version_name=entry.version.name,
        artifact_id=entry.artifact.id,
        artifact_uri=entry.artifact.uri,
    )


def id_order(identifier: str) -> tuple[int, int, str]:
    """Registry ids are decimal strings: order them as numbers, anything else after them."""
    if identifier.isascii() and identifier.isdigit():
        return (0, len(identifier.lstrip("0")), identifier.lstrip("0"))
    return (1, 0, identifier)


def _reuse_kind(reference: StorageReference) -> str:
    if isinstance(reference, OciReference) and reference.tag is not None:
        return "tag reuse"
    return "the same reference registered more than once"


def _why_none(
    matching: tuple[IndexedArtifact, ...], known_digest: str | None, index: ReferenceIndex
) -> str:
    """Why artifacts that match the URI do not count, when there are any."""
    if not matching:
        return ""
    archived = sum(1 for entry in matching if not entry.live)
    foreign = [entry for entry in matching if entry.live and not entry.owner_allowed]
    admitted = len(matching) - archived - len(foreign)
    reasons = []
    if archived:
        reasons.append(f"{archived} matching artifact(s) belong to archived versions or models")
    if foreign:
        reasons.append(
            f"{len(foreign)} live one(s) belong to registered models whose owner is not one "
            f"allowed here ({index.owners.describe()}; setting --registry-owners): "
            f"{_models_and_owners(foreign)}"
        )
    if admitted and known_digest is not None:
        reasons.append(
            f"{admitted} live one(s) carry a digest other than the running {known_digest}"
        )
    return f" ({'; '.join(reasons)})" if reasons else ""


_SHOWN_MODELS: Final = 3


def _models_and_owners(entries: list[IndexedArtifact]) -> str:
    """`model X (owner 'o')` for the first few distinct models, and how many more."""
    models = {entry.model.id: entry.model for entry in entries}
    ordered = sorted(models.values(), key=lambda model: id_order(model.id))
    shown = ", ".join(
        f"model {model.name} (owner {_shown_owner(model.owner)})"
        for model in ordered[:_SHOWN_MODELS]
    )
    more = len(ordered) - _SHOWN_MODELS
    return f"{shown} and {more} more" if more > 0 else shown


def _shown_owner(owner: str | None) -> str:
    # Registry text, set by whoever registered the model: quoted, and not a page of it.
    if owner is None:
        return "none"
    return repr(owner if len(owner) <= 64 else f"{owner[:61]}...")
