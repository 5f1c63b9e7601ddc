"""The digests the registry's artifacts name, kept current for the digest check.

`ArtifactDigests` owns the one `DigestCache` (registry_sync/oci): after each registry
refresh it looks up every live OCI artifact of the snapshot that is due (at most once per
`--digest-ttl-seconds` each, whatever the number of InferenceServices), re-reading the
pull secret first; between refreshes it answers the reconciler from memory, as the domain's
`RegisteredDigests` (built once per index and cache state, shared by every decision).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from registry_sync.controller.kube_calls import KubeCallError, KubeObjects, ObjectRef
from registry_sync.controller.settings import RegistrySettings
from registry_sync.domain.digest_check import (
    DigestReason,
    LearnedDigest,
    RegisteredDigest,
    RegisteredDigests,
    UnlearnedDigest,
    live_oci_artifacts,
)
from registry_sync.domain.escaping import escaped
from registry_sync.domain.reference_index import ReferenceIndex
from registry_sync.domain.references import OciReference
from registry_sync.oci.credentials import PullSecretError, read_pull_secret
from registry_sync.oci.digest_cache import DigestCache, RefreshSummary
from registry_sync.oci.hosts import HostPatterns
from registry_sync.oci.resolver import DigestResolver, FailureReason

log = logging.getLogger(__name__)

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
SERVICE_CA = Path("/var/run/secrets/kubernetes.io/serviceaccount/service-ca.crt")


class ArtifactDigests:
    """The digest cache, refreshed with the registry and read by every decision."""

    def __init__(
        self,
        cache: DigestCache,
        resolver: DigestResolver,
        *,
        kube: KubeObjects | None = None,
        pull_secret: ObjectRef | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._cache = cache
        self._resolver = resolver
        self._kube = kube
        self._pull_secret = pull_secret
        self._clock = clock
        self._secret_problem: str | None = None
        self._generation = 0
        self._view: tuple[int, int, RegisteredDigests] | None = None
        self.last_refresh: RefreshSummary | None = None

    @classmethod
    def from_settings(
        cls, settings: RegistrySettings, kube: KubeObjects, namespace: str
    ) -> ArtifactDigests:
        resolver = DigestResolver(
            hosts=HostPatterns.parse(settings.oci_hosts),
            # In a pod the service account's token goes to OpenShift's internal registry
            # (and nowhere else); its service CA is trusted beside --oci-ca-file.
            service_account_token_file=(
                SERVICE_ACCOUNT_TOKEN if SERVICE_ACCOUNT_TOKEN.is_file() else None
            ),
            ca_file=settings.oci_ca_file or (SERVICE_CA if SERVICE_CA.is_file() else None),
        )
        secret = ObjectRef(namespace, settings.pull_secret) if settings.pull_secret else None
        cache = DigestCache(resolver, ttl_s=settings.digest_ttl_seconds)
        return cls(cache, resolver, kube=kube, pull_secret=secret)

    async def aclose(self) -> None:
        await self._resolver.aclose()

    @property
    def request_count(self) -> int:
        """HTTP requests sent to OCI registries so far (the benchmark reads it)."""
        return self._resolver.request_count

    async def refresh(self, index: ReferenceIndex | None) -> RefreshSummary:
        """Look up the live OCI artifacts of `index` that are due; forget the others."""
        await self._read_pull_secret()
        references = [
            entry.reference
            for entry in live_oci_artifacts(index)
            if isinstance(entry.reference, OciReference)
        ]
        summary = await self._cache.refresh_due(references, self._clock())
        self._generation += 1
        self.last_refresh = summary
        if summary.failed:
            log.info(
                "image digests: %d of %d lookups failed (the last known digests stay in use)",
                summary.failed,
                summary.looked_up,
            )
        return summary

    def registered_digests(self, index: ReferenceIndex | None) -> RegisteredDigests:
        """What the cache knows now, for `index` (no I/O; one build per index and refresh)."""
        if self._view is not None and self._view[:2] == (id(index), self._generation):
            return self._view[2]
        view = RegisteredDigests.of(index, self.lookup)
        self._view = (id(index), self._generation, view)
        return view

    def lookup(self, reference: OciReference) -> RegisteredDigest:
        """What the cache knows of `reference` now, as the digest check reads it (no I/O)."""
        cached = self._cache.lookup(reference, self._clock())
        if cached is None:
            return UnlearnedDigest(
                DigestReason.DIGEST_UNKNOWN,
                f"{reference.canonical} has not been looked up yet",
                passing=True,
            )
        failure = cached.failure
        if cached.learned is None:
            assert failure is not None  # a lookup without a digest failed
            reason = (
                DigestReason.HOST_NOT_ALLOWED
                if failure.reason is FailureReason.HOST_NOT_ALLOWED
                else DigestReason.DIGEST_UNKNOWN
            )
            return UnlearnedDigest(reason, self._explained(failure.message, failure.reason))
        return LearnedDigest(
            cached.learned.digest,
            cached.learned.child_digests,
            int(cached.learned.learned_at * 1000),
            failure.message if failure is not None else None,
        )

    def _explained(self, message: str, reason: FailureReason) -> str:
        if reason is FailureReason.UNAUTHORIZED and self._secret_problem is not None:
            return f"{message}; the pull secret could not be used: {self._secret_problem}"
        return message

    async def _read_pull_secret(self) -> None:
        """Re-read the pull secret (a rotated login takes effect at the next refresh)."""
        if self._pull_secret is None or self._kube is None:
            return
        try:
            secret = await asyncio.to_thread(self._kube.read_secret, self._pull_secret)
            credentials = read_pull_secret(
                str(self._pull_secret), secret.get("type"), secret.get("data")
            )
        except (KubeCallError, PullSecretError) as error:
            problem = escaped(str(error))
            if problem != self._secret_problem:
                log.warning("pull secret %s not used: %s", self._pull_secret, problem)
            self._secret_problem = problem
            return
        self._secret_problem = None
        self._resolver.set_credentials(credentials)
