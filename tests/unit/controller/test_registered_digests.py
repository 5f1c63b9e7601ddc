"""The digest cache as the digest check reads it (controller/registered_digests.py): what
a lookup learned, failed to learn, or learned before failing, in the domain's terms."""

from __future__ import annotations

from registry_sync.controller.registered_digests import ArtifactDigests
from registry_sync.domain.digest_check import LearnedDigest, UnlearnedDigest
from registry_sync.domain.reference_index import ReferenceIndex
from registry_sync.domain.references import OciReference, StorageReference, parse_storage_uri
from registry_sync.domain.snapshot import (
    ModelArtifact,
    ModelVersion,
    RegisteredModel,
    RegistrySnapshot,
)
from registry_sync.oci.digest_cache import DigestCache
from registry_sync.oci.resolver import DigestResolver, Failed, FailureReason, Learned, Lookup

A = "sha256:" + "a" * 64
URI = "oci://quay.io/acme/model:v1"
OTHER = "oci://registry.example/acme/model:v1"


class ScriptedResolver(DigestResolver):
    """Answers from a script: each reference's answers in turn (the last one repeats)."""

    def __init__(self, script: dict[str, list[Lookup]]) -> None:
        super().__init__()
        self.script = script
        self.asked: list[str] = []

    async def resolve(self, reference: StorageReference) -> Lookup:
        assert isinstance(reference, OciReference)
        self.asked.append(reference.canonical)
        answers = self.script[reference.canonical]
        return answers.pop(0) if len(answers) > 1 else answers[0]


def index_of(*uris: str) -> ReferenceIndex:
    snapshot = RegistrySnapshot(
        models={"1": RegisteredModel(id="1", name="m")},
        versions={
            str(n): ModelVersion(id=str(n), name=f"v{n}", registered_model_id="1")
            for n, _ in enumerate(uris)
        },
        artifacts=tuple(
            ModelArtifact(id=str(n), name=f"a{n}", uri=uri, model_version_id=str(n))
            for n, uri in enumerate(uris)
        ),
    )
    return ReferenceIndex.from_snapshot(snapshot)


def reference(uri: str) -> OciReference:
    parsed = parse_storage_uri(uri)
    assert isinstance(parsed, OciReference)
    return parsed


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def test_learned_failed_and_cached_digests_read_as_the_domain_says() -> None:
    clock = Clock()
    canonical, other = reference(URI).canonical, reference(OTHER).canonical
    resolver = ScriptedResolver(
        {
            canonical: [
                Learned(A, frozenset(), 1_000.0),
                Failed(FailureReason.UNAVAILABLE, "503 from quay.io", 1_700.0),
            ],
            other: [Failed(FailureReason.HOST_NOT_ALLOWED, "not in --oci-hosts", 1_000.0)],
        }
    )
    digests = ArtifactDigests(DigestCache(resolver, ttl_s=600), resolver, clock=clock)
    index = index_of(URI, OTHER)

    await digests.refresh(index)
    view = digests.registered_digests(index)
    assert view.lookup(reference(URI)) == LearnedDigest(A, frozenset(), 1_000_000, None)
    assert isinstance(view.lookup(reference(OTHER)), UnlearnedDigest)
    assert view.lookup(reference(OTHER)).reason == "HostNotAllowed"  # type: ignore[union-attr]
    assert [entry.artifact.uri for entry in view.naming(A)] == [URI]

    clock.now = 1_700.0
    await digests.refresh(index)
    cached = digests.registered_digests(index).lookup(reference(URI))
    assert cached == LearnedDigest(A, frozenset(), 1_000_000, "503 from quay.io")


async def test_each_artifact_is_asked_once_per_ttl_whatever_the_refreshes() -> None:
    clock = Clock()
    canonical = reference(URI).canonical
    resolver = ScriptedResolver({canonical: [Learned(A, frozenset(), 1_000.0)]})
    digests = ArtifactDigests(DigestCache(resolver, ttl_s=600), resolver, clock=clock)
    index = index_of(URI)

    for step in range(20):  # 20 refreshes, 30 s apart: 600 s
        clock.now = 1_000.0 + 30 * step
        await digests.refresh(index)

    assert resolver.asked == [canonical]


def test_a_reference_never_looked_up_is_unknown() -> None:
    resolver = ScriptedResolver({})
    digests = ArtifactDigests(DigestCache(resolver), resolver)

    found = digests.registered_digests(index_of(URI)).lookup(reference(URI))

    assert isinstance(found, UnlearnedDigest) and found.reason == "DigestUnknown"
