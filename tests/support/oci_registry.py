"""A real OCI registry (CNCF distribution, `registry serve`) for tests (a pytest plugin module).

The binary comes from `hack/oci-registry/build.sh` (`make oci-registry`): the folder named
by `REGISTRY_SYNC_OCI_REGISTRY_DIR`, else what the script's `--print` names. Without it the
tests that ask for a registry are skipped with how to build it, or fail when
`REGISTRY_SYNC_REQUIRE_UPSTREAM=1` (CI).

Each `RunningOciRegistry` is one process on 127.0.0.1 with TLS (its own CA in `ca_file`),
filesystem storage with deletes enabled, and one of two kinds of authentication:
- `basic`: an htpasswd file (bcrypt, the only hash distribution accepts);
- `bearer`: distribution's token authentication, with `TokenServer` below as the realm.
  Clients get `WWW-Authenticate: Bearer realm=...,service=...,scope=...`, fetch a JWT from
  the realm with Basic credentials, and retry with it, as container clients do.

The push helpers (`push_image`, `push_index`, `tag`, `delete_manifest`) speak the
distribution HTTP API and answer the challenge like any client; they compute each digest
from the bytes they send and check it against `Docker-Content-Digest`.

Fixtures (session scope, one process each): `oci_registry_basic`, `oci_registry_bearer`.
Tests share them, so each test pushes to its own repository (`unique_repository()`).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import io
import json
import os
import re
import secrets
import ssl
import subprocess
import tarfile
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal, NoReturn

import httpx
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from registry_sync.certificates import authority
from registry_sync.local_control_plane import (
    ChildProcess,
    free_loopback_port,
    log_tail,
    spawn_child,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "hack" / "oci-registry" / "build.sh"
OCI_REGISTRY_DIR_VARIABLE = "REGISTRY_SYNC_OCI_REGISTRY_DIR"
REQUIRE_VARIABLE = "REGISTRY_SYNC_REQUIRE_UPSTREAM"

START_TIMEOUT_SECONDS = 30.0
LOG_TAIL_LINES = 40

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
# What a digest resolver sends on HEAD /v2/<name>/manifests/<tag>: without an Accept list
# distribution answers for an OCI manifest anyway, but an index is only served to a
# client that says it understands one.
MANIFEST_ACCEPT = (OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST)

AuthKind = Literal["basic", "bearer"]


class OciRegistryStartError(RuntimeError):
    """The registry (or its token server) did not come up; the message carries its log tail."""


class OciRegistryError(AssertionError):
    """The registry answered a push helper unexpectedly; the message has the exchange."""


def digest_of(data: bytes) -> str:
    """The OCI digest of `data` (`sha256:<hex>`)."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def unique_repository(prefix: str = "test") -> str:
    """A repository name no other test uses (the session registries are shared)."""
    return f"{prefix}/{secrets.token_hex(6)}"


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`WWW-Authenticate: Scheme k="v",k2="v2"` as ("scheme" lower-cased, {k: v})."""
    scheme, _, rest = header.strip().partition(" ")
    # Values are quoted strings here (distribution quotes every one); a scope may hold
    # commas ("pull,push"), so split on the quotes, not on commas.
    params = {key.lower(): value for key, value in re.findall(r'(\w+)="([^"]*)"', rest)}
    return scheme.lower(), params


def _unavailable(reason: str) -> NoReturn:
    """Skip, or fail when CI requires the tier."""
    if os.environ.get(REQUIRE_VARIABLE) == "1":
        pytest.fail(f"{reason} ({REQUIRE_VARIABLE}=1 forbids skipping)", pytrace=False)
    pytest.skip(reason)


def registry_binary() -> Path:
    """Where `registry` is expected: `$REGISTRY_SYNC_OCI_REGISTRY_DIR/registry`, else in
    the folder `hack/oci-registry/build.sh --print` names (it may not exist yet)."""
    configured = os.environ.get(OCI_REGISTRY_DIR_VARIABLE)
    if configured:
        return Path(configured) / "registry"
    printed = subprocess.run(
        [str(BUILD_SCRIPT), "--print"], check=True, capture_output=True, text=True, timeout=30
    ).stdout.strip()
    return Path(printed) / "registry"


# -- key material --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pki:
    """A CA and, signed by it, the loopback serving certificate (registry and token server)
    and the token-signing certificate. `ca_file` is the one file a client has to trust."""

    ca_file: Path
    server_cert_file: Path
    server_key_file: Path
    signing_key: ec.EllipticCurvePrivateKey
    signing_cert: x509.Certificate

    @classmethod
    def create(cls, folder: Path) -> _Pki:
        validity = datetime.timedelta(days=1)
        ca_key = authority.new_key()
        ca_name = authority.name("registry-sync test OCI registry CA")
        ca = authority.issue(ca_name, ca_key, ca_name, ca_key, validity=validity, is_ca=True)
        server_key = authority.new_key()
        server = authority.issue(
            authority.name("127.0.0.1"),
            server_key,
            ca_name,
            ca_key,
            validity=validity,
            usages=[authority.SERVER_AUTH],
            alternative_names=authority.host_names(["127.0.0.1", "localhost"]),
        )
        signing_key = authority.new_key()
        signing = authority.issue(
            authority.name("registry-sync test token signer"),
            signing_key,
            ca_name,
            ca_key,
            validity=validity,
        )
        pki = cls(
            ca_file=folder / "ca.pem",
            server_cert_file=folder / "server.pem",
            server_key_file=folder / "server-key.pem",
            signing_key=signing_key,
            signing_cert=signing,
        )
        authority.write_certificate(pki.ca_file, ca)
        authority.write_certificate(pki.server_cert_file, server)
        authority.write_private_key(pki.server_key_file, server_key)
        return pki

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.server_cert_file, self.server_key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


# -- the token server ----------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _parse_scope(scope: str) -> dict[str, Any] | None:
    """`repository:team/model:pull,push` as a JWT `access` entry; None when malformed.
    The name sits between the first and the last colon (it may hold a port's colon)."""
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    if not kind or not name or not actions:
        return None
    return {"type": kind, "name": name, "actions": actions.split(",")}


class TokenServer:
    """A Docker-style token server (`GET <realm>?service=...&scope=...`) on 127.0.0.1.

    It checks the Basic credentials (401 with a Basic challenge otherwise) and returns a
    JWT granting every scope asked for. distribution v3.1 verifies such a token with its
    `rootcertbundle`: the `x5c` header carries the signing certificate, which must chain to
    a root in the bundle (our CA), and the claims must have its `issuer` as `iss`, its
    `service` in `aud`, and `nbf`/`exp` around now (60 s leeway). `access` lists
    {type, name, actions} per scope.
    """

    ISSUER = "registry-sync-test-token-server"
    LIFETIME_SECONDS = 300

    def __init__(self, pki: _Pki, *, username: str, password: str) -> None:
        self._pki = pki
        self.username = username
        self.password = password
        # Every request seen, as (service, scopes, authorized), for tests of client caching.
        self.requests: list[tuple[str, list[str], bool]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def realm(self) -> str:
        assert self._server is not None, "the token server is not running"
        return f"https://127.0.0.1:{self._server.server_address[1]}/token"

    def issue(self, *, service: str, scopes: Sequence[str], subject: str) -> str:
        """A signed JWT (ES256) for `subject` granting `scopes` at `service`."""
        certificate = self._pki.signing_cert.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(certificate).decode()]}
        now = int(time.time())
        access = [entry for entry in map(_parse_scope, scopes) if entry is not None]
        claims = {
            "iss": self.ISSUER,
            "sub": subject,
            "aud": service,
            "exp": now + self.LIFETIME_SECONDS,
            "nbf": now,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        der = self._pki.signing_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        # JWS wants ES256 signatures as raw r || s (32 bytes each), not DER.
        r, s = decode_dss_signature(der)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return f"{signing_input}.{_b64url(signature)}"

    def _authorized(self, header: str | None) -> str | None:
        """The user name when `header` carries the right Basic credentials, else None."""
        scheme, _, value = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        ok = secrets.compare_digest(user, self.username) and secrets.compare_digest(
            password, self.password
        )
        return user if ok else None

    def __enter__(self) -> TokenServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                service = query.get("service", [""])[0]
                # Clients send one scope parameter per scope, or several space-separated.
                scopes = [s for value in query.get("scope", []) for s in value.split(" ") if s]
                user = owner._authorized(self.headers.get("Authorization"))
                with owner._lock:
                    owner.requests.append((service, scopes, user is not None))
                if url.path != "/token":
                    self._answer(404, {"errors": [{"code": "NOT_FOUND"}]})
                elif user is None:
                    self._answer(401, {"errors": [{"code": "UNAUTHORIZED"}]}, basic=True)
                else:
                    token = owner.issue(service=service, scopes=scopes, subject=user)
                    issued_at = datetime.datetime.now(datetime.UTC).isoformat()
                    body = {
                        "token": token,
                        "access_token": token,
                        "expires_in": owner.LIFETIME_SECONDS,
                        "issued_at": issued_at,
                    }
                    self._answer(200, body)

            def _answer(self, status: int, body: Mapping[str, Any], *, basic: bool = False) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if basic:
                    self.send_header("WWW-Authenticate", 'Basic realm="registry-sync-tests"')
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the registry's log tells the story; this one would only be noise

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.socket = self._pki.server_context().wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="oci-token-server", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)


# -- the registry --------------------------------------------------------------------------


@dataclass(frozen=True)
class PushedManifest:
    """A manifest a helper pushed: its exact bytes (re-tagging PUTs them again)."""

    digest: str
    media_type: str
    data: bytes
    platform: Mapping[str, str] | None  # for an image manifest; None for an index


class RunningOciRegistry:
    """One `registry serve` process on 127.0.0.1 with TLS, and the client helpers.

    Attributes:
        host: "127.0.0.1:PORT", as it appears in an image reference.
        url: "https://127.0.0.1:PORT".
        ca_file: the PEM CA that signed the registry's (and token server's) certificate.
        username, password: credentials that work (htpasswd user, or token-server user).
        auth: "basic" or "bearer".
        service: the token `service` (bearer only, else "").
        token_server: the realm (bearer only, else None).
        folder: the tmp folder holding config, certificates, storage and `registry.log`.
        log_file: the registry's stdout and stderr.
    """

    SERVICE = "registry-sync-test-registry"

    def __init__(self, binary: Path, folder: Path, auth: AuthKind) -> None:
        self.binary = binary
        self.folder = folder
        self.auth: AuthKind = auth
        self.username = "registry-sync"
        self.password = secrets.token_urlsafe(12)
        self.service = self.SERVICE if auth == "bearer" else ""
        self.log_file = folder / "registry.log"
        self._pki = _Pki.create(folder)
        self.ca_file = self._pki.ca_file
        self.token_server: TokenServer | None = None
        self._port = 0
        self._child: ChildProcess | None = None
        self._client: httpx.Client | None = None
        self._tokens: dict[str, str] = {}  # scope -> bearer token (helpers' cache)
        self.manifests: dict[str, PushedManifest] = {}  # digest -> what was pushed

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._port}"

    @property
    def url(self) -> str:
        return f"https://{self.host}"

    def image_reference(self, repository: str, reference: str) -> str:
        """`127.0.0.1:PORT/<repository>:<tag>`, or `...@sha256:...` for a digest."""
        separator = "@" if reference.startswith("sha256:") else ":"
        return f"{self.host}/{repository}{separator}{reference}"

    def server_context(self) -> ssl.SSLContext:
        """A server-side TLS context with the registry's own certificate (for 127.0.0.1,
        signed by `ca_file`): a proxy in front of it serves the same trust."""
        return self._pki.server_context()

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context trusting `ca_file` (for httpx `verify=`)."""
        return self._pki.client_context()

    # -- process ---------------------------------------------------------------------------

    def _config(self) -> dict[str, Any]:
        auth: dict[str, Any]
        if self.auth == "basic":
            # Imported here: a venv made before bcrypt joined the dev extras then loses only
            # this fixture, not every test of the session (this module is a plugin).
            import bcrypt

            htpasswd = self.folder / "htpasswd"
            hashed = bcrypt.hashpw(self.password.encode(), bcrypt.gensalt(rounds=4))
            htpasswd.write_text(f"{self.username}:{hashed.decode()}\n")
            auth = {"htpasswd": {"realm": "registry-sync-tests", "path": str(htpasswd)}}
        else:
            assert self.token_server is not None
            auth = {
                "token": {
                    "realm": self.token_server.realm,
                    "service": self.service,
                    "issuer": TokenServer.ISSUER,
                    "rootcertbundle": str(self.ca_file),
                }
            }
        return {
            "version": 0.1,
            "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.folder / "storage")},
                "delete": {"enabled": True},
                # No background purge of upload folders while tests run.
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {
                "addr": self.host,
                "secret": secrets.token_hex(16),
                "tls": {
                    "certificate": str(self._pki.server_cert_file),
                    "key": str(self._pki.server_key_file),
                },
            },
            "auth": auth,
        }

    def start(self) -> None:
        """Start the process and wait until `/v2/` answers; OciRegistryStartError otherwise."""
        if self.auth == "bearer" and self.token_server is None:
            self.token_server = TokenServer(
                self._pki, username=self.username, password=self.password
            ).__enter__()
        self._port = free_loopback_port()
        config_file = self.folder / "config.yml"
        config_file.write_text(yaml.safe_dump(self._config(), sort_keys=False))
        # No OpenTelemetry exporter: it would try to reach a collector and log failures.
        env = {**os.environ, "OTEL_TRACES_EXPORTER": "none"}
        command = [str(self.binary), "serve", str(config_file)]
        self._child = spawn_child("registry", command, self.log_file, env=env)
        self._client = httpx.Client(verify=self.ssl_context(), timeout=10.0)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while (problem := self._child.exit_problem()) is None:
            try:
                # Any HTTP answer (401 without credentials) means it serves.
                self._client.get(f"{self.url}/v2/")
                return
            except httpx.TransportError as error:
                problem = f"no answer from {self.url}/v2/ within {START_TIMEOUT_SECONDS:.0f}s"
                problem += f" ({error})"
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.stop()
        raise OciRegistryStartError(
            f"the OCI registry did not start: {problem}; command: {' '.join(command)}\n"
            f"--- {self.log_file} (last {LOG_TAIL_LINES} lines) ---\n"
            f"{log_tail(self.log_file, LOG_TAIL_LINES)}"
        )

    @property
    def running(self) -> bool:
        return self._child is not None and self._child.exit_problem() is None

    def stop(self) -> None:
        """Stop the registry (and its token server). Idempotent; storage stays on disk."""
        child, self._child = self._child, None
        if child is not None:
            child.stop()
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.token_server is not None:
            self.token_server.__exit__(None, None, None)
            self.token_server = None
        self._tokens.clear()

    def log_text(self, lines: int = LOG_TAIL_LINES) -> str:
        return log_tail(self.log_file, lines)

    # -- an authenticating client ----------------------------------------------------------

    def _bearer_token(self, challenge: Mapping[str, str]) -> str:
        scope = challenge.get("scope", "")
        if scope in self._tokens:
            return self._tokens[scope]
        assert self._client is not None
        params = {"service": challenge.get("service", "")}
        if scope:
            params["scope"] = scope
        answer = self._client.get(
            challenge["realm"], params=params, auth=(self.username, self.password)
        )
        _expect(answer, 200)
        token = str(answer.json()["token"])
        self._tokens[scope] = token
        return token

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """One request as an authenticated client: sent bare first, and on 401 once more
        with what the challenge asks for (Basic credentials, or a token from the realm)."""
        if self._client is None:
            raise RuntimeError("the OCI registry is not running")
        url = path_or_url if "://" in path_or_url else self.url + path_or_url
        answer = self._client.request(method, url, headers=headers, content=content)
        if answer.status_code != 401:
            return answer
        scheme, challenge = parse_challenge(answer.headers.get("WWW-Authenticate", ""))
        retry = dict(headers or {})
        if scheme == "basic":
            basic = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            retry["Authorization"] = f"Basic {basic}"
        elif scheme == "bearer":
            retry["Authorization"] = f"Bearer {self._bearer_token(challenge)}"
        else:
            return answer
        return self._client.request(method, url, headers=retry, content=content)

    def head_manifest(self, repository: str, reference: str) -> httpx.Response:
        """HEAD /v2/<repository>/manifests/<reference> with `MANIFEST_ACCEPT`, authenticated."""
        return self.request(
            "HEAD",
            f"/v2/{repository}/manifests/{reference}",
            headers={"Accept": ", ".join(MANIFEST_ACCEPT)},
        )

    # -- push helpers ----------------------------------------------------------------------

    def push_blob(self, repository: str, data: bytes) -> str:
        """Upload `data` as a blob (monolithic: POST for a session, one PUT with the
        bytes and the digest); returns its digest."""
        digest = digest_of(data)
        started = self.request("POST", f"/v2/{repository}/blobs/uploads/")
        _expect(started, 202)
        location = urllib.parse.urljoin(self.url + "/", started.headers["Location"])
        separator = "&" if "?" in location else "?"
        finished = self.request(
            "PUT",
            f"{location}{separator}digest={urllib.parse.quote(digest)}",
            headers={"Content-Type": "application/octet-stream"},
            content=data,
        )
        _expect(finished, 201)
        _expect_digest(finished, digest)
        return digest

    def put_manifest(self, repository: str, reference: str, media_type: str, data: bytes) -> str:
        """PUT manifest bytes under a tag (or their digest); returns the digest."""
        digest = digest_of(data)
        answer = self.request(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            headers={"Content-Type": media_type},
            content=data,
        )
        _expect(answer, 201)
        _expect_digest(answer, digest)
        return digest

    def push_image(
        self,
        repository: str,
        tag: str,
        *,
        seed: str,
        architecture: str = "amd64",
        os_name: str = "linux",
    ) -> str:
        """Push a small OCI image (a config blob, one tar layer holding `seed`, a manifest)
        as `repository:tag`; returns the manifest digest. The same seed and platform give
        the same bytes and so the same digest; a different seed, a different one."""
        layer = _tar_with({"seed.txt": seed.encode()})
        config = _canonical_json(
            {
                "architecture": architecture,
                "os": os_name,
                "config": {"Labels": {"io.registry-sync.test.seed": seed}},
                "rootfs": {"type": "layers", "diff_ids": [digest_of(layer)]},
            }
        )
        manifest = _canonical_json(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": OCI_CONFIG,
                    "digest": self.push_blob(repository, config),
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": OCI_LAYER,
                        "digest": self.push_blob(repository, layer),
                        "size": len(layer),
                    }
                ],
            }
        )
        digest = self.put_manifest(repository, tag, OCI_MANIFEST, manifest)
        platform = {"architecture": architecture, "os": os_name}
        self.manifests[digest] = PushedManifest(digest, OCI_MANIFEST, manifest, platform)
        return digest

    def push_index(self, repository: str, tag: str, manifest_digests: Sequence[str]) -> str:
        """Push an OCI image index over manifests this helper already pushed to
        `repository` (each entry with its platform); returns the index digest."""
        entries = []
        for digest in manifest_digests:
            pushed = self.manifests[digest]
            entry: dict[str, Any] = {
                "mediaType": pushed.media_type,
                "digest": digest,
                "size": len(pushed.data),
            }
            if pushed.platform is not None:
                entry["platform"] = dict(pushed.platform)
            entries.append(entry)
        index = _canonical_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
        digest = self.put_manifest(repository, tag, OCI_INDEX, index)
        self.manifests[digest] = PushedManifest(digest, OCI_INDEX, index, None)
        return digest

    def tag(self, repository: str, tag: str, digest: str) -> None:
        """Point `repository:tag` at a manifest or index pushed before (to this repository):
        its exact bytes are PUT under the tag, as `crane tag` does."""
        pushed = self.manifests[digest]
        self.put_manifest(repository, tag, pushed.media_type, pushed.data)

    def delete_manifest(self, repository: str, digest: str) -> None:
        """Delete a manifest by digest (its tags go with it)."""
        _expect(self.request("DELETE", f"/v2/{repository}/manifests/{digest}"), 202)


def _canonical_json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def _tar_with(files: Mapping[str, bytes]) -> bytes:
    """A tar archive of `files` with fixed metadata, so equal content gives equal bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _expect(answer: httpx.Response, status: int) -> None:
    if answer.status_code != status:
        request = answer.request
        raise OciRegistryError(
            f"{request.method} {request.url} answered {answer.status_code}, not {status}: "
            f"{answer.text[:500]}"
        )


def _expect_digest(answer: httpx.Response, digest: str) -> None:
    reported = answer.headers.get("Docker-Content-Digest")
    if reported != digest:
        raise OciRegistryError(
            f"{answer.request.method} {answer.request.url}: Docker-Content-Digest "
            f"{reported!r}, but the bytes sent hash to {digest}"
        )


@contextmanager
def start_oci_registry(folder: Path, auth: AuthKind) -> Iterator[RunningOciRegistry]:
    """A running registry for the `with` block, its files in `folder`; skips (fails under
    `REGISTRY_SYNC_REQUIRE_UPSTREAM=1`) when the binary has not been built."""
    binary = registry_binary()
    if not os.access(binary, os.X_OK):
        _unavailable(
            f"the OCI registry binary is not at {binary}; build it with `make oci-registry` "
            f"(hack/oci-registry/build.sh), or point {OCI_REGISTRY_DIR_VARIABLE} at its folder"
        )
    registry = RunningOciRegistry(binary, folder, auth)
    try:
        registry.start()
        yield registry
    finally:
        registry.stop()


@pytest.fixture(scope="session")
def oci_registry_basic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningOciRegistry]:
    """A registry with Basic authentication (htpasswd), shared by the session."""
    with start_oci_registry(tmp_path_factory.mktemp("oci-registry-basic"), "basic") as registry:
        yield registry


@pytest.fixture(scope="session")
def oci_registry_bearer(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningOciRegistry]:
    """A registry with Bearer token authentication (its token server), shared by the session."""
    with start_oci_registry(tmp_path_factory.mktemp("oci-registry-bearer"), "bearer") as registry:
        yield registry
