"""The digest an OCI reference names, asked of its registry: `DigestResolver`.

A reference that carries a digest is its own answer (no request). Otherwise the resolver
sends `HEAD /v2/<repository>/manifests/<tag>` (OCI distribution spec) and reads
`Docker-Content-Digest`; for an image index (or Docker manifest list) it then GETs the
index by that digest, checks the body hashes to it, and learns the digests of the
manifests it lists, so that a pod running one platform's manifest still matches.

Artifact URIs are written by whoever may register a model, so the rules below are
security rules, each tested:
- Hosts `--oci-hosts` does not allow are never contacted (`HostNotAllowed`): the
  registry, a token server, a redirect target alike. Plain `http://` only to hosts listed
  as insecure; TLS verified against the system trust plus `--oci-ca-file`.
- A credential goes only to the host it belongs to: the pull secret's entry for exactly
  the reference's registry; for the OpenShift internal registry (and no other host), the
  service-account token, when the pull secret has no entry for it. No credential travels
  over plain HTTP except to loopback.
- Redirects are never followed automatically. A redirect to the same origin is followed
  (at most `max_redirects` times) with the same credential. A redirect to another origin
  is followed only if that host is allowed (and over HTTPS, unless listed insecure), and
  from then on without any `Authorization`: a registry that asks for credentials after
  such a redirect is `Unauthorized`; nothing is sent across.
- Bearer challenges: the token server (`realm`) usually lives elsewhere (auth.docker.io
  for Docker Hub). It is asked only if its host is allowed, and with the credential of
  the *registry that sent the challenge*, never the realm host's own: otherwise a URI
  naming a hostile registry could point its realm at a trusted registry's token server,
  have the resolver fetch a token with that registry's credential, and receive the token
  on the retry. This is what Docker's client does too. The token obtained goes only back
  to the registry that asked for it. The token server's redirects are not followed.
- Every lookup has a deadline; bodies are read only up to their limits; at most
  `max_concurrency` lookups run at once.
- Messages say which host a credential was sent to and whose it was, never its value,
  and quote nothing a server sent but status codes and (shortened) header values.

Results are values (`Learned`, `Failed`), never exceptions.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.cookiejar
import ipaddress
import json
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Final
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx

from registry_sync.certificates.trust import client_context, is_certificate_failure
from registry_sync.domain.nesting import deeper_than
from registry_sync.domain.references import OciReference, StorageReference, parse_digest
from registry_sync.oci.challenge import Challenge, ChallengeError, parse_challenges
from registry_sync.oci.credentials import BasicCredential, Credential, IdentityToken
from registry_sync.oci.hosts import HostPatterns, api_host, canonical_host

OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_ACCEPT: Final = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST))
INDEX_MEDIA_TYPES: Final = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})

OPENSHIFT_INTERNAL_REGISTRY: Final = "image-registry.openshift-image-registry.svc:5000"
SERVICE_ACCOUNT_USER: Final = "serviceaccount"
"""The user name sent with the service-account token (OpenShift's registry checks only the
token, given as the password)."""

DEFAULT_TIMEOUT: Final = httpx.Timeout(connect=5.0, read=10.0, write=10.0, pool=10.0)
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_MAX_TOKEN_CHARS: Final = 16 * 1024
_DEFAULT_TOKEN_LIFETIME_S: Final = 60.0
_TOKEN_MARGIN_S: Final = 10.0
_MAX_REMEMBERED: Final = 4096
UNREACHABLE_BACKOFF_S: Final = 30.0
"""How long a host that could not be reached is not asked again (its lookups fail at once,
keeping their last digests), so that an outage costs one timeout, not one per artifact."""
_MAX_SERVICE_ACCOUNT_TOKEN_BYTES: Final = 64 * 1024
_MAX_INDEX_DEPTH: Final = 16
_MAX_INDEX_CONTAINERS: Final = 50_000
"""An index lists one manifest per platform: tens, with a few objects each."""
_SHOWN_CHARS: Final = 200


class FailureReason(StrEnum):
    """Why a lookup gave no digest."""

    HOST_NOT_ALLOWED = "HostNotAllowed"
    """`--oci-hosts` (or the insecure list, for plain HTTP) does not allow a host it needed."""
    NOT_FOUND = "NotFound"
    """The registry answered 404: no such repository or tag."""
    UNAUTHORIZED = "Unauthorized"
    """401/403 after the credential the rules allow (or with none to give)."""
    UNAVAILABLE = "Unavailable"
    """5xx, 429, a timeout, a connection or TLS failure: try again later."""
    GARBAGE = "Garbage"
    """An answer that is not what the distribution API promises (no or an invalid digest,
    an index that is not JSON, too large, or not hashing to its digest)."""
    REJECTED = "Rejected"
    """Another 4xx: the registry refused the request as such."""
    NOT_OCI = "NotOci"
    """The reference is not an OCI reference: there is no digest to learn."""


@dataclass(frozen=True, slots=True)
class Learned:
    """The digest a reference names now; for an index, the digests of its manifests too."""

    digest: str
    child_digests: frozenset[str]
    learned_at: float
    """Seconds since the epoch, by the resolver's clock."""

    def names(self, digest: str) -> bool:
        """Whether a pod running `digest` runs what the reference names: the index's own
        digest or any of its manifests'."""
        return digest == self.digest or digest in self.child_digests


@dataclass(frozen=True, slots=True)
class Failed:
    """A lookup that gave no digest: `reason` for conditions, `message` for people."""

    reason: FailureReason
    message: str
    failed_at: float


Lookup = Learned | Failed


@dataclass(frozen=True, slots=True)
class ResolverLimits:
    """Bounds on one lookup's time and memory, and on lookups at once."""

    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)
    deadline_s: float = 20.0
    """Seconds one lookup may take, every request of it included."""
    max_concurrency: int = 8
    max_index_bytes: int = 4 * 1024 * 1024
    max_token_answer_bytes: int = 64 * 1024
    max_redirects: int = 3

    def __post_init__(self) -> None:
        if self.deadline_s <= 0:
            raise ValueError(f"deadline_s must be positive, got {self.deadline_s}")
        if min(self.max_concurrency, self.max_index_bytes, self.max_token_answer_bytes) < 1:
            raise ValueError("max_concurrency and the byte limits must be at least 1")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must not be negative")


class _Fail(Exception):
    """Inside a lookup: stop with this reason; `resolve` turns it into `Failed`."""

    def __init__(self, reason: FailureReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class _Remembered:
    """An authorization a registry accepted, reused for its next lookups of the same
    repository (so that a lookup costs one request, not a challenge round trip each time)."""

    authorization: str = field(repr=False)
    sent: str | None
    expires_at: float | None


@dataclass(slots=True)
class _Session:
    """One lookup's state: where it asks, and what credential it has sent where."""

    reference: OciReference
    origin: tuple[str, str]  # (scheme, host[:port]) of the registry's API
    authorization: str | None = field(default=None, repr=False)
    sent: str | None = None
    """Whose credential went where, for messages (never the credential itself)."""
    redirected_to: str | None = None
    """The other host the last answer came from, after a cross-origin redirect."""
    challenged: bool = False
    """Whether this lookup answered the registry's challenge itself (once at most)."""
    expires_at: float | None = None
    """Until when the authorization may be reused (a token's lifetime; None: Basic)."""

    def url(self, path: str) -> str:
        scheme, host = self.origin
        return f"{scheme}://{host}{path}"


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """No cookie is kept or sent: a cookie is a credential the rules above do not govern."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: urllib.request.Request) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: urllib.request.Request) -> bool:
        return False


class DigestResolver:
    """Asks OCI registries which digest a tag names, under the module's rules.

    One per operator, shared (it holds the HTTP connection pool). `transport` is httpx's
    (tests give a mock); `clock` stamps results. `credentials` are by `host[:port]`, as
    `credentials.read_pull_secret` gives them; `set_credentials` replaces them when the
    pull secret changes. `service_account_token_file` is read when the internal registry
    (`internal_registry`) asks for a credential that the pull secret does not hold.
    `request_count` counts every HTTP request sent.
    """

    def __init__(
        self,
        *,
        hosts: HostPatterns | None = None,
        insecure_hosts: HostPatterns | None = None,
        credentials: Mapping[str, Credential] | None = None,
        service_account_token_file: Path | str | None = None,
        internal_registry: str = OPENSHIFT_INTERNAL_REGISTRY,
        ca_file: Path | str | None = None,
        limits: ResolverLimits | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        internal = canonical_host(internal_registry)
        if internal is None:
            raise ValueError(f"internal registry {internal_registry!r} is not host[:port]")
        self._hosts = hosts if hosts is not None else HostPatterns.any_host()
        self._insecure = insecure_hosts if insecure_hosts is not None else HostPatterns.no_host()
        self._credentials: dict[str, Credential] = dict(credentials or {})
        self._token_file = (
            Path(service_account_token_file) if service_account_token_file is not None else None
        )
        self._internal_registry = internal
        self.limits = limits or ResolverLimits()
        self._clock = clock
        self._semaphore = asyncio.Semaphore(self.limits.max_concurrency)
        # Hosts that could not be reached, until when they are not asked again, and why.
        self._unreachable: dict[tuple[str, str], tuple[float, str]] = {}
        # By (registry origin, repository): only ever sent back to that origin.
        self._remembered: dict[tuple[tuple[str, str], str], _Remembered] = {}
        self.request_count = 0
        self._http = httpx.AsyncClient(
            verify=client_context(ca_file, "--oci-ca-file"),
            timeout=self.limits.timeout,
            transport=transport,
            follow_redirects=False,
            cookies=http.cookiejar.CookieJar(policy=_NoCookies()),
            headers={"User-Agent": "registry-sync"},
        )

    async def __aenter__(self) -> DigestResolver:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    def set_credentials(self, credentials: Mapping[str, Credential]) -> None:
        """Use these credentials (by `host[:port]`) from the next request on."""
        if dict(credentials) != self._credentials:
            self._remembered.clear()  # made with the old ones
        self._credentials = dict(credentials)

    async def resolve(self, reference: StorageReference) -> Lookup:
        """What `reference` names now, or why that could not be learned. Never raises
        (but cancellation)."""
        if not isinstance(reference, OciReference):
            return self._failed(
                FailureReason.NOT_OCI, f"{reference} is not an OCI reference: it has no digest"
            )
        if reference.digest is not None:
            return Learned(reference.digest, frozenset(), self._clock())
        if not self._hosts.allows(reference.registry):
            return self._failed(
                FailureReason.HOST_NOT_ALLOWED,
                f"{reference.registry} is not among the hosts --oci-hosts allows "
                f"({_shown(str(self._hosts))}); it was not asked for the digest of {reference}",
            )
        async with self._semaphore:
            try:
                async with asyncio.timeout(self.limits.deadline_s):
                    return await self._resolve_tag(reference)
            except _Fail as failure:
                return self._failed(failure.reason, failure.message)
            except TimeoutError:
                return self._failed(
                    FailureReason.UNAVAILABLE,
                    f"no digest for {reference} within {self.limits.deadline_s:g} s",
                )

    # -- one lookup ---------------------------------------------------------------------

    async def _resolve_tag(self, reference: OciReference) -> Learned:
        scheme = self._scheme_for(reference.registry)
        origin = _origin_of(f"{scheme}://{api_host(reference.registry)}/")
        if origin is None:  # the reference grammar admits no such host; kept for safety
            raise _Fail(FailureReason.NOT_OCI, f"{reference}: no URL reaches {reference.registry}")
        session = _Session(reference, origin)
        path = f"/v2/{reference.repository}/manifests/{reference.tag}"
        response, _ = await self._fetch(session, "HEAD", path, body_limit=None)
        where = f"HEAD {session.url(path)}"
        header = response.headers.get("docker-content-digest")
        if header is None:
            raise _Fail(FailureReason.GARBAGE, f"{where}: no Docker-Content-Digest header")
        digest = parse_digest(header.strip())
        if digest is None or digest != header.strip():
            raise _Fail(
                FailureReason.GARBAGE,
                f"{where}: Docker-Content-Digest {_shown(header)!r} is not a digest",
            )
        media_type = response.headers.get("content-type", "").partition(";")[0].strip().lower()
        children: frozenset[str] = frozenset()
        if media_type in INDEX_MEDIA_TYPES:
            children = await self._children(session, digest)
        return Learned(digest, children, self._clock())

    async def _children(self, session: _Session, digest: str) -> frozenset[str]:
        """The manifest digests an index lists, read by the index's digest (so the index is
        the one the HEAD named, even if the tag moves meanwhile) and checked against it."""
        path = f"/v2/{session.reference.repository}/manifests/{digest}"
        where = f"GET {session.url(path)}"
        _, body = await self._fetch(session, "GET", path, body_limit=self.limits.max_index_bytes)
        if body is None:
            raise _Fail(
                FailureReason.GARBAGE,
                f"{where}: the index is larger than {self.limits.max_index_bytes} bytes",
            )
        algorithm, _, expected = digest.partition(":")
        if algorithm == "sha256" and hashlib.sha256(body).hexdigest() != expected:
            raise _Fail(FailureReason.GARBAGE, f"{where}: the index does not hash to {digest}")
        # Decoded, each JSON object or array costs some 70 bytes however short in the body
        # (`{},` is 3): counted first, brackets inside strings included (an overestimate).
        if body.count(b"{") + body.count(b"[") > _MAX_INDEX_CONTAINERS:
            raise _Fail(
                FailureReason.GARBAGE,
                f"{where}: the index holds more than {_MAX_INDEX_CONTAINERS} JSON objects",
            )
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            raise _Fail(FailureReason.GARBAGE, f"{where}: the index is not JSON") from None
        manifests = document.get("manifests") if isinstance(document, dict) else None
        if not isinstance(manifests, list) or deeper_than(document, _MAX_INDEX_DEPTH):
            raise _Fail(FailureReason.GARBAGE, f"{where}: the index has no list of manifests")
        children: set[str] = set()
        for entry in manifests:
            child = entry.get("digest") if isinstance(entry, dict) else None
            if not isinstance(child, str) or parse_digest(child) != child:
                raise _Fail(
                    FailureReason.GARBAGE, f"{where}: the index lists a manifest without a digest"
                )
            children.add(child)
        return frozenset(children)

    async def _fetch(
        self, session: _Session, method: str, path: str, *, body_limit: int | None
    ) -> tuple[httpx.Response, bytes | None]:
        """A 2xx answer to `method path` at the registry, authenticating once if it asks.

        The body is read (up to `body_limit`; None past it) only if `body_limit` is given.
        Any other outcome is raised as `_Fail`.
        """
        url = session.url(path)
        if session.authorization is None:
            self._reuse(session)
        response, body = await self._follow(session, method, url, body_limit)
        # Once only, and never after a redirect to another host (no credential goes there).
        if response.status_code == 401 and session.redirected_to is None and not session.challenged:
            self._remembered.pop((session.origin, session.reference.repository), None)
            session.challenged = True
            session.authorization = await self._authorize(session, response)
            response, body = await self._follow(session, method, url, body_limit)
        if response.is_success:
            self._remember(session)
            return response, body
        raise self._status_failure(session, method, url, response.status_code)

    def _reuse(self, session: _Session) -> None:
        """Start with the authorization this origin accepted for this repository, if it
        is still valid."""
        key = (session.origin, session.reference.repository)
        remembered = self._remembered.get(key)
        if remembered is None:
            return
        if remembered.expires_at is not None and self._clock() >= remembered.expires_at:
            del self._remembered[key]
            return
        session.authorization = remembered.authorization
        session.sent = remembered.sent
        session.expires_at = remembered.expires_at

    def _remember(self, session: _Session) -> None:
        if session.authorization is None or session.redirected_to is not None:
            return
        if len(self._remembered) >= _MAX_REMEMBERED:
            self._remembered.clear()  # bounded: a few thousand repositories at most
        self._remembered[(session.origin, session.reference.repository)] = _Remembered(
            session.authorization, session.sent, session.expires_at
        )

    async def _follow(
        self, session: _Session, method: str, url: str, body_limit: int | None
    ) -> tuple[httpx.Response, bytes | None]:
        """One request and the redirects the rules allow; the last answer and its body."""
        current = url
        crossed: str | None = None
        for _ in range(self.limits.max_redirects + 1):
            headers = {"Accept": MANIFEST_ACCEPT}
            if session.authorization is not None and crossed is None:
                headers["Authorization"] = session.authorization
            response, body = await self._request(method, current, headers, body_limit)
            if response.status_code not in _REDIRECTS:
                session.redirected_to = crossed
                return response, body
            target, target_origin = self._redirect_target(current, response)
            if target_origin != session.origin and crossed is None:
                crossed = target_origin[1]
            current = target
        raise _Fail(
            FailureReason.GARBAGE,
            f"{method} {_display(url)}: more than {self.limits.max_redirects} redirects",
        )

    def _redirect_target(
        self, current: str, response: httpx.Response
    ) -> tuple[str, tuple[str, str]]:
        """Where a redirect points, if the rules allow going there; else `_Fail`."""
        where = f"{response.request.method} {_display(current)}"
        location = response.headers.get("location")
        if not location:
            raise _Fail(FailureReason.GARBAGE, f"{where}: a redirect without a Location")
        target = urljoin(current, location.strip())
        origin = _origin_of(target)
        if origin is None:
            raise _Fail(
                FailureReason.GARBAGE,
                f"{where}: redirected to {_shown(location)!r}, not an http(s) URL of a host",
            )
        scheme, host = origin
        if not self._hosts.allows(host):
            raise _Fail(
                FailureReason.HOST_NOT_ALLOWED,
                f"{where}: redirected to {host}, which --oci-hosts does not allow; not followed",
            )
        if scheme == "http" and not self._insecure.allows(host):
            raise _Fail(
                FailureReason.HOST_NOT_ALLOWED,
                f"{where}: redirected to plain HTTP at {host}, which is not listed as an "
                "insecure registry; not followed",
            )
        return target, origin

    # -- credentials --------------------------------------------------------------------

    async def _authorize(self, session: _Session, response: httpx.Response) -> str:
        """The `Authorization` to retry with, after the registry's 401; else `_Fail`."""
        registry = session.reference.registry
        where = f"{response.request.method} {_display(str(response.request.url))}"
        try:
            challenges = parse_challenges(response.headers.get_list("www-authenticate"))
        except ChallengeError as error:
            raise _Fail(
                FailureReason.UNAUTHORIZED,
                f"{where}: 401 with an unreadable challenge ({error}); nothing sent",
            ) from None
        by_scheme = {challenge.scheme: challenge for challenge in reversed(challenges)}
        credential = self._credential_for(registry)
        if "bearer" in by_scheme:
            return await self._bearer(session, by_scheme["bearer"], credential)
        if "basic" in by_scheme:
            return self._basic(session, where, credential)
        schemes = ", ".join(sorted(by_scheme))
        raise _Fail(
            FailureReason.UNAUTHORIZED,
            f"{where}: 401 asking for {_shown(schemes)}, neither Bearer nor Basic; nothing sent",
        )

    def _credential_for(self, registry: str) -> tuple[Credential, str] | None:
        """The credential that belongs to `registry`, and whose it is (for messages)."""
        credential = self._credentials.get(registry)
        if credential is not None:
            return credential, f"the pull secret's credential for {registry}"
        if registry == self._internal_registry and self._token_file is not None:
            token = _read_token_file(self._token_file)
            return BasicCredential(SERVICE_ACCOUNT_USER, token), (
                f"the service-account token (for {registry})"
            )
        return None

    def _basic(self, session: _Session, where: str, found: tuple[Credential, str] | None) -> str:
        registry = session.reference.registry
        if found is None:
            raise _Fail(
                FailureReason.UNAUTHORIZED,
                f"{where}: 401 asking for Basic credentials; no credential for {registry} "
                "(none in the pull secret), nothing sent",
            )
        credential, whose = found
        if not isinstance(credential, BasicCredential):
            raise _Fail(
                FailureReason.UNAUTHORIZED,
                f"{where}: 401 asking for Basic credentials, but {whose} is an identity "
                "token, which only a token server takes; nothing sent",
            )
        if not _may_carry_credentials(session.origin):
            raise _Fail(
                FailureReason.UNAUTHORIZED,
                f"{where}: 401 asking for Basic credentials over plain HTTP; {whose} is "
                "not sent in clear",
            )
        session.sent = f"{whose} was sent to {session.origin[1]}"
        return _basic_header(credential)

    async def _bearer(
        self, session: _Session, challenge: Challenge, found: tuple[Credential, str] | None
    ) -> str:
        """A token from the challenge's realm, asked with the registry's own credential."""
        registry = session.reference.registry
        realm = challenge.realm or ""
        origin = _origin_of(realm)
        parts = urlsplit(realm) if origin is not None else None
        if origin is None or parts is None or parts.fragment:
            raise _Fail(
                FailureReason.UNAUTHORIZED,
                f"{registry} answered 401 with a Bearer challenge whose realm "
                f"{_shown(realm)!r} is not an http(s) URL of a host; nothing sent",
            )
        scheme, realm_host = origin
        if not self._hosts.allows(realm_host):
            raise _Fail(
                FailureReason.HOST_NOT_ALLOWED,
                f"{registry} sends for tokens to {realm_host}, which --oci-hosts does not "
                "allow; not asked",
            )
        if scheme == "http" and not self._insecure.allows(realm_host):
            raise _Fail(
                FailureReason.HOST_NOT_ALLOWED,
                f"{registry} sends for tokens to plain HTTP at {realm_host}, which is not "
                "listed as an insecure registry; not asked",
            )
        scope = challenge.scope or f"repository:{session.reference.repository}:pull"
        query = parse_qsl(parts.query, keep_blank_values=True)
        if challenge.service:
            query.append(("service", challenge.service))
        token_url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        shown = f"the token server {_display(token_url)}"
        headers = {"Accept": "application/json"}
        form: dict[str, str] | None = None
        sent = "no credential"
        if found is not None and _may_carry_credentials(origin):
            credential, whose = found
            sent = f"{whose} (sent to {realm_host})"
            if isinstance(credential, IdentityToken):
                form = {
                    "grant_type": "refresh_token",
                    "refresh_token": credential.token,
                    "client_id": "registry-sync",
                    "scope": scope,
                }
                if challenge.service:
                    form["service"] = challenge.service
            else:
                headers["Authorization"] = _basic_header(credential)
        elif found is not None:
            sent = f"no credential ({found[1]} is not sent over plain HTTP)"
        if form is None:
            query.append(("scope", scope))
        url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
        response, body = await self._request(
            "POST" if form is not None else "GET",
            url,
            headers,
            self.limits.max_token_answer_bytes,
            form=form,
        )
        status = response.status_code
        if status in (401, 403):
            raise _Fail(
                FailureReason.UNAUTHORIZED,
                f"{shown} refused a token for {registry} ({status}); {sent}",
            )
        if status == 429 or status >= 500:
            raise _Fail(FailureReason.UNAVAILABLE, f"{shown} answered {status}")
        if not response.is_success:
            # A redirect too: the token server's are not followed.
            raise _Fail(FailureReason.UNAUTHORIZED, f"{shown} answered {status}; {sent}")
        token = _token_in(body)
        # Reused until shortly before it expires (60 s when the server does not say).
        session.expires_at = self._clock() + max(0.0, _expires_in_s(body) - _TOKEN_MARGIN_S)
        if token is None:
            raise _Fail(
                FailureReason.GARBAGE,
                f"{shown} answered {status} without a token (JSON `token` or `access_token`)",
            )
        session.sent = f"a token from {_display(token_url)} was sent to {session.origin[1]}; " + (
            "asked with " + sent if found is not None else "asked anonymously"
        )
        return f"Bearer {token}"

    # -- HTTP ---------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body_limit: int | None,
        *,
        form: dict[str, str] | None = None,
    ) -> tuple[httpx.Response, bytes | None]:
        """One HTTP request; a 2xx body read up to `body_limit` (None past it)."""
        origin = _origin_of(url)
        unreachable = self._unreachable.get(origin) if origin is not None else None
        if unreachable is not None and self._clock() < unreachable[0]:
            # One host down must not cost every lookup of it a connect timeout.
            raise _Fail(
                FailureReason.UNAVAILABLE,
                f"{method} {_display(url)}: not asked again yet ({unreachable[1]} less than "
                f"{UNREACHABLE_BACKOFF_S:g} s ago)",
            )
        self.request_count += 1
        try:
            async with self._http.stream(method, url, headers=headers, data=form) as response:
                body = None
                if body_limit is not None and response.is_success:
                    body = await _read_bounded(response, body_limit)
                if origin is not None:
                    self._unreachable.pop(origin, None)
                return response, body
        except httpx.TimeoutException:
            self._mark_unreachable(origin, f"{_display(url)} timed out")
            raise _Fail(FailureReason.UNAVAILABLE, f"{method} {_display(url)}: timed out") from None
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            if is_certificate_failure(error):
                raise _Fail(
                    FailureReason.UNAVAILABLE,
                    f"{method} {_display(url)}: the TLS certificate is not trusted; give the "
                    "CA that signed it with --oci-ca-file",
                ) from None
            message = f"{_display(url)} could not be reached ({_shown(str(error) or 'no answer')})"
            self._mark_unreachable(origin, message)
            raise _Fail(FailureReason.UNAVAILABLE, f"{method} {message}") from None
        except httpx.HTTPError as error:
            if is_certificate_failure(error):
                message = (
                    f"{method} {_display(url)}: the TLS certificate is not trusted; give the "
                    "CA that signed it with --oci-ca-file"
                )
            else:
                message = f"{method} {_display(url)}: {_shown(type(error).__name__)}: " + _shown(
                    str(error) or "no answer"
                )
            raise _Fail(FailureReason.UNAVAILABLE, message) from None

    def _mark_unreachable(self, origin: tuple[str, str] | None, why: str) -> None:
        if origin is not None:
            self._unreachable[origin] = (self._clock() + UNREACHABLE_BACKOFF_S, why)

    def _status_failure(self, session: _Session, method: str, url: str, status: int) -> _Fail:
        where = f"{method} {_display(url)}"
        if session.redirected_to is not None:
            where += f" (redirected to {session.redirected_to})"
        if status in (401, 403):
            if session.redirected_to is not None and status == 401:
                sent = "no credential is sent across a redirect to another host"
            else:
                sent = session.sent or "no credential was sent"
            return _Fail(FailureReason.UNAUTHORIZED, f"{where}: {status}; {sent}")
        if status == 404:
            return _Fail(FailureReason.NOT_FOUND, f"{where}: 404, no such repository or tag")
        if status == 429 or status >= 500:
            return _Fail(FailureReason.UNAVAILABLE, f"{where}: {status}")
        if status in _REDIRECTS:  # only reachable when a redirect chain ends in one
            return _Fail(FailureReason.GARBAGE, f"{where}: {status}")
        return _Fail(FailureReason.REJECTED, f"{where}: {status}")

    def _scheme_for(self, registry: str) -> str:
        return "http" if self._insecure.allows(registry) else "https"

    def _failed(self, reason: FailureReason, message: str) -> Failed:
        return Failed(reason, message, self._clock())


def _origin_of(url: str) -> tuple[str, str] | None:
    """(scheme, host[:port]) of an http(s) URL without user info, the port left out where it
    is the default; None for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None:
        return None  # httpx would send user info as Basic credentials
    name = parts.hostname
    if ":" in name:
        name = f"[{name}]"
    default = 443 if parts.scheme == "https" else 80
    host = canonical_host(name if port in (None, default) else f"{name}:{port}")
    if host is None:
        return None
    # canonical_host folds Docker Hub's names; the origin keeps the host the URL names.
    if host == "docker.io" and name != "docker.io":
        host = name
    return parts.scheme, host


def _may_carry_credentials(origin: tuple[str, str]) -> bool:
    """Credentials travel over HTTPS, or over plain HTTP only to this machine's loopback."""
    scheme, host = origin
    if scheme == "https":
        return True
    name = host.rpartition(":")[0] if not host.endswith("]") and ":" in host else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _basic_header(credential: BasicCredential) -> str:
    pair = f"{credential.username}:{credential.password}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def _token_in(body: bytes | None) -> str | None:
    """`token` (else `access_token`) of a token server's JSON answer, if it is one that
    can travel in a header."""
    if body is None:
        return None
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, dict):
        return None
    for name in ("token", "access_token"):
        token = document.get(name)
        if isinstance(token, str) and token:
            if len(token) > _MAX_TOKEN_CHARS or not all(
                "!" <= character <= "~" for character in token
            ):
                return None
            return token
    return None


def _expires_in_s(body: bytes | None) -> float:
    """`expires_in` of a token server's answer (the distribution token spec's default: 60)."""
    try:
        document = json.loads(body or b"")
    except (ValueError, RecursionError):
        return _DEFAULT_TOKEN_LIFETIME_S
    value = document.get("expires_in") if isinstance(document, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 86400:
        return float(value)
    return _DEFAULT_TOKEN_LIFETIME_S


def _read_token_file(path: Path) -> str:
    """The service-account token, re-read on every use (the kubelet rotates it)."""
    try:
        with path.open("rb") as file:
            raw = file.read(_MAX_SERVICE_ACCOUNT_TOKEN_BYTES + 1)
    except OSError as error:
        raise _Fail(
            FailureReason.UNAUTHORIZED,
            f"cannot read the service-account token from {path}: "
            f"{error.strerror or type(error).__name__}",
        ) from None
    token = raw.decode("ascii", errors="replace").strip()
    if len(raw) > _MAX_SERVICE_ACCOUNT_TOKEN_BYTES or not token:
        raise _Fail(
            FailureReason.UNAUTHORIZED,
            f"the service-account token file {path} is empty or too large",
        )
    if not all("!" <= character <= "~" for character in token):
        raise _Fail(
            FailureReason.UNAUTHORIZED,
            f"the service-account token in {path} has characters a token cannot have",
        )
    return token


async def _read_bounded(response: httpx.Response, limit: int) -> bytes | None:
    """The body, or None as soon as it is longer than `limit` (counted after decoding)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    received = bytearray()
    async for chunk in response.aiter_bytes():
        received += chunk
        if len(received) > limit:
            return None
    return bytes(received)


def _display(url: str) -> str:
    """A URL for messages: no query (a token server's may carry anything), no user info."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
        shown = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        shown = "<unreadable URL>"
    return _shown(shown)


def _shown(text: str) -> str:
    """Server-given text fit for a message: printable, and short."""
    printable = "".join(character if character.isprintable() else "?" for character in text)
    if len(printable) <= _SHOWN_CHARS:
        return printable
    return printable[: _SHOWN_CHARS - 1] + "…"
