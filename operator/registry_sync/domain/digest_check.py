"""Whether what runs is what the registry names: the digest check's decisions.

`judge_digest` compares the digest the pods run (domain/running_image.py) with the digest
the answer's registry artifact names (learned from the OCI registry by the shell, or
written in the artifact URI) and says what follows (README "Truth from what runs"):

- equal (the running digest is the artifact's, or one of its index's manifests) →
  `DigestVerified=True`; from a lookup that failed since → `DigestCached`, with its age.
- the artifact's tag now names other bits than those running → `TagMoved`: Ready False,
  labels left as they are (redeploy, or register the running digest).
- several live versions whose artifacts (other URIs) resolve to the running digest → the
  answer becomes `Ambiguous` (the same image registered more than once); a pin decides.
- two digests running → `RolloutInProgress`: Ready False until one remains.
- not knowable, or never learned → `DigestVerified=Unknown`; Ready False only in `enforce`.

In every mode but `off`, `TagMoved`, `RolloutInProgress` and the ambiguity make Ready
False: the truth is known to be wrong. In `off` nothing is judged and nothing is shown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final

from registry_sync.domain.answer import Candidate, Outcome, Resolution, format_age
from registry_sync.domain.checks import Check
from registry_sync.domain.escaping import escaped
from registry_sync.domain.metadata import PIN_ANNOTATION
from registry_sync.domain.reference_index import IndexedArtifact, ReferenceIndex
from registry_sync.domain.references import (
    InvalidStorageUri,
    OciReference,
    parse_storage_uri,
)
from registry_sync.domain.resolution import candidate_of
from registry_sync.domain.running_image import (
    DigestNotKnowable,
    RunningDigest,
    RunningImage,
    SeveralDigests,
)

MAX_UNVERIFIED_SHOWN: Final = 10
DIGEST_CONDITION: Final = "DigestVerified"


class DigestCheck(StrEnum):
    """`--digest-check`: whether digests are judged, and whether not knowing one blocks."""

    OFF = "off"
    REPORT = "report"
    ENFORCE = "enforce"


class DigestReason(StrEnum):
    DIGEST_MATCHES = "DigestMatches"
    DIGEST_CACHED = "DigestCached"
    TAG_MOVED = "TagMoved"
    ROLLOUT_IN_PROGRESS = "RolloutInProgress"
    DIGEST_UNKNOWN = "DigestUnknown"
    HOST_NOT_ALLOWED = "HostNotAllowed"
    FORBIDDEN = "Forbidden"
    NOT_SUPPORTED_FOR_KIND = "NotSupportedForKind"


@dataclass(frozen=True, slots=True)
class LearnedDigest:
    """What an artifact reference names: its manifest digest and, for an index, the digests
    of its manifests. `learned_ms` is when; `failure` is set when a later lookup failed
    (the digest is then the last one known)."""

    digest: str
    children: frozenset[str] = frozenset()
    learned_ms: int = 0
    failure: str | None = None

    def names(self, digest: str) -> bool:
        return digest == self.digest or digest in self.children


@dataclass(frozen=True, slots=True)
class UnlearnedDigest:
    """No digest was ever learned for a reference: `reason` is a `DigestReason` value.
    `passing` when it simply has not been asked yet (the first lookup is under way)."""

    reason: str
    message: str
    passing: bool = False


RegisteredDigest = LearnedDigest | UnlearnedDigest
DigestLookup = Callable[[OciReference], RegisteredDigest]
"""The shell's digest cache, read-only: what is known of a reference now (no I/O)."""


def _never_learned(reference: OciReference) -> RegisteredDigest:
    return UnlearnedDigest(
        DigestReason.DIGEST_UNKNOWN,
        f"{reference.canonical} has not been looked up yet",
        passing=True,
    )


@dataclass(frozen=True, slots=True)
class RegisteredDigests:
    """What the registry's live OCI artifacts name, for one index and one state of the
    digest cache: built once (`of`) and shared by every InferenceService's decision, so
    that a decision costs the same with ten artifacts or ten thousand."""

    lookup: DigestLookup
    by_digest: Mapping[str, tuple[IndexedArtifact, ...]]
    unlearned: tuple[IndexedArtifact, ...]

    @classmethod
    def of(cls, index: ReferenceIndex | None, lookup: DigestLookup) -> RegisteredDigests:
        by_digest: dict[str, list[IndexedArtifact]] = {}
        unlearned: list[IndexedArtifact] = []
        for entry in live_oci_artifacts(index):
            assert isinstance(entry.reference, OciReference)  # live_oci_artifacts keeps these
            registered = lookup(entry.reference)
            if isinstance(registered, UnlearnedDigest):
                unlearned.append(entry)
                continue
            for digest in {registered.digest, *registered.children}:
                by_digest.setdefault(digest, []).append(entry)
        return cls(
            lookup,
            {digest: tuple(entries) for digest, entries in by_digest.items()},
            tuple(unlearned),
        )

    @classmethod
    def nothing(cls) -> RegisteredDigests:
        """Before any lookup: every reference is unknown."""
        return cls(_never_learned, {}, ())

    def naming(self, digest: str) -> tuple[IndexedArtifact, ...]:
        """The live OCI artifacts that name `digest` (as their own, or an index's manifest)."""
        return self.by_digest.get(digest, ())


@dataclass(frozen=True, slots=True)
class DigestFinding:
    """The check's verdict for one InferenceService.

    `condition` is the `DigestVerified` condition (None in `off`); `blocker` the Ready
    reason and message when Ready must be False for it; `resolution` the answer, turned
    `Ambiguous` when the same image is registered more than once.
    """

    resolution: Resolution
    condition: dict[str, str] | None = None
    blocker: tuple[str, str] | None = None
    running_digest: str | None = None
    registered_digest: str | None = None
    unverified: tuple[str, ...] = ()
    passing: bool = False  # a state that passes by itself: shown, not announced

    def as_check(self) -> Check:
        """The finding as the binding decision takes it (domain/binding.py)."""
        return Check(
            DIGEST_CONDITION,
            self.condition,
            self.blocker,
            # Fields set to None are removed from the status (a merge patch).
            {
                "runningDigest": self.running_digest,
                "registeredDigest": self.registered_digest,
                "unverifiedCandidates": list(self.unverified) or None,
            },
            announce=not self.passing,
        )


def judge_digest(
    mode: DigestCheck,
    resolution: Resolution,
    running: RunningImage,
    index: ReferenceIndex | None,
    registered_digests: RegisteredDigests,
    now_ms: int,
) -> DigestFinding:
    """The digest check for one answer. Pure; never raises."""
    if mode is DigestCheck.OFF:
        return DigestFinding(resolution)
    enforce = mode is DigestCheck.ENFORCE
    shown_running = running.digest if isinstance(running, RunningDigest) else None
    if isinstance(running, SeveralDigests):
        message = (
            f"pods run different images ({', '.join(running.digests)}): a rollout or a canary "
            "is in progress, and a benchmark would be served by both; runs wait until one "
            "digest remains"
        )
        return DigestFinding(
            resolution,
            _condition("False", DigestReason.ROLLOUT_IN_PROGRESS, message),
            (DigestReason.ROLLOUT_IN_PROGRESS, message),
        )
    if not resolution.has_answer:
        return DigestFinding(
            resolution,
            _condition(
                "Unknown",
                DigestReason.DIGEST_UNKNOWN,
                "no registry answer to compare the running image with",
            ),
            running_digest=shown_running,
        )
    if isinstance(running, DigestNotKnowable):
        return _unknown(
            resolution, DigestReason.DIGEST_UNKNOWN, running.why, enforce, passing=running.passing
        )
    artifact = _answer_reference(resolution, index)
    if artifact is None:
        return _unknown(
            resolution,
            DigestReason.DIGEST_UNKNOWN,
            "the answer's registry artifact is not an OCI image, so it names no digest",
            enforce,
            running.digest,
        )
    unverified = _unverified(registered_digests, artifact)
    registered = registered_digests.lookup(artifact)
    if isinstance(registered, UnlearnedDigest):
        return _unknown(
            resolution,
            registered.reason,
            registered.message,
            enforce,
            running.digest,
            unverified,
            passing=registered.passing,
        )
    if not registered.names(running.digest):
        message = (
            f"the registry's artifact {artifact.canonical} now names {registered.digest}, but "
            f"the pods run {running.digest}: the tag moved after deployment. Redeploy to run "
            "the registered image, or register the running digest as a model version"
        )
        return DigestFinding(
            resolution,
            _condition("False", DigestReason.TAG_MOVED, message),
            (DigestReason.TAG_MOVED, message),
            running.digest,
            registered.digest,
            unverified,
        )
    twins = _same_image_elsewhere(resolution, registered_digests, artifact, running.digest)
    if twins:
        resolution = _ambiguous(resolution, twins, running.digest)
    if registered.failure is None:
        condition = _condition(
            "True",
            DigestReason.DIGEST_MATCHES,
            f"pods run {running.digest}, the digest {artifact.canonical} names",
        )
    else:
        age = format_age(max(0, now_ms - registered.learned_ms))
        condition = _condition(
            "True",
            DigestReason.DIGEST_CACHED,
            f"pods run {running.digest}, the digest {artifact.canonical} named {age} ago; "
            f"it cannot be checked now: {escaped(registered.failure)}",
        )
    return DigestFinding(resolution, condition, None, running.digest, registered.digest, unverified)


def digest_not_read_for_kind(mode: DigestCheck, resolution: Resolution, kind: str) -> DigestFinding:
    """The digest check for a kind whose pods the operator does not read (an
    LLMInferenceService): `Unknown`, reason `NotSupportedForKind`; like every unknown digest,
    it blocks Ready only in `enforce`."""
    if mode is DigestCheck.OFF:
        return DigestFinding(resolution)
    why = f"the image digest of {kind} pods is not read (only InferenceService pods are)"
    return _unknown(
        resolution, DigestReason.NOT_SUPPORTED_FOR_KIND, why, mode is DigestCheck.ENFORCE
    )


def _unknown(
    resolution: Resolution,
    reason: str,
    why: str,
    enforce: bool,
    running_digest: str | None = None,
    unverified: tuple[str, ...] = (),
    *,
    passing: bool = False,
) -> DigestFinding:
    message = f"the running image cannot be verified: {why}"
    blocker = (str(reason), message + " (--digest-check enforce)") if enforce else None
    return DigestFinding(
        resolution,
        _condition("Unknown", reason, message),
        blocker,
        running_digest,
        None,
        unverified,
        passing=passing,
    )


def _answer_reference(resolution: Resolution, index: ReferenceIndex | None) -> OciReference | None:
    """The OCI reference of the answer's artifact: from the index, else (registry data
    not at hand) the deployed URI, which that artifact's URI matched."""
    if index is not None and resolution.model_version_id is not None:
        artifacts = index.artifacts_of_version(resolution.model_version_id)
        chosen = next((a for a in artifacts if a.artifact.id == resolution.artifact_id), None)
        chosen = chosen or next(
            (a for a in artifacts if isinstance(a.reference, OciReference)), None
        )
        if chosen is not None:
            return chosen.reference if isinstance(chosen.reference, OciReference) else None
    try:
        reference = parse_storage_uri(resolution.storage_uri)
    except InvalidStorageUri:
        return None
    return reference if isinstance(reference, OciReference) else None


def live_oci_artifacts(index: ReferenceIndex | None) -> tuple[IndexedArtifact, ...]:
    """The artifacts whose digests matter: live, admitted, OCI. The shell resolves these."""
    if index is None:
        return ()
    seen: dict[int, IndexedArtifact] = {}
    for entries in index.by_version.values():
        for entry in entries:
            if entry.live and entry.owner_allowed and isinstance(entry.reference, OciReference):
                seen[entry.position] = entry
    return tuple(seen[position] for position in sorted(seen))


def _same_image_elsewhere(
    resolution: Resolution,
    registered_digests: RegisteredDigests,
    answer: OciReference,
    digest: str,
) -> tuple[IndexedArtifact, ...]:
    """Other live versions whose artifacts, under other URIs, name the running digest.

    A pin already chose among them, and an outage's kept answer cannot be re-judged.
    """
    if resolution.outcome is not Outcome.RESOLVED:
        return ()
    twins: dict[str, IndexedArtifact] = {}
    for entry in registered_digests.naming(digest):
        if entry.version.id != resolution.model_version_id and entry.reference != answer:
            twins.setdefault(entry.version.id, entry)  # one mention per version
    return tuple(twins.values())


def _ambiguous(
    resolution: Resolution, twins: tuple[IndexedArtifact, ...], digest: str
) -> Resolution:
    answer = Candidate(
        registered_model_id=resolution.registered_model_id or "",
        registered_model_name=resolution.registered_model_name or "",
        model_version_id=resolution.model_version_id or "",
        model_version_name=resolution.model_version_name or "",
        artifact_id=resolution.artifact_id or "",
        artifact_uri=resolution.storage_uri or "",
    )
    candidates = (answer, *(candidate_of(entry) for entry in twins))
    return replace(
        resolution,
        outcome=Outcome.AMBIGUOUS,
        message=(
            f"the running image {digest} is registered more than once: "
            f"{'; '.join(f'{c.describe()} as {c.artifact_uri}' for c in candidates)}. "
            "Archive the duplicates, or pin the version this deployment serves with the "
            f"annotation {PIN_ANNOTATION}"
        ),
        registered_model_id=None,
        registered_model_name=None,
        model_version_id=None,
        model_version_name=None,
        artifact_id=None,
        candidates=candidates,
    )


def _unverified(registered_digests: RegisteredDigests, answer: OciReference) -> tuple[str, ...]:
    """Live OCI artifacts whose digest was never learned: any of them could be the same
    image registered again, unseen. Listed (a few, escaped) so that a person can look."""
    found: list[str] = []
    for entry in registered_digests.unlearned:
        uri = escaped(entry.artifact.uri)
        if entry.reference != answer and uri not in found:
            found.append(uri)
            if len(found) == MAX_UNVERIFIED_SHOWN:
                break
    return tuple(found)


def _condition(status: str, reason: str, message: str) -> dict[str, str]:
    return {"status": status, "reason": str(reason), "message": message}
