"""What the resolver tests share: references, digests, manifests, and answers a registry gives."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable

import httpx

from registry_sync.domain.references import OciReference, parse_storage_uri
from registry_sync.oci.resolver import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
)

NOW = 1_800_000_000.0
DIGEST = "sha256:" + "a" * 64
OTHER_DIGEST = "sha256:" + "b" * 64
ARM_DIGEST = "sha256:" + "c" * 64
AMD_DIGEST = "sha256:" + "d" * 64
PASSWORD = "quay-robot-password-SECRET"
TOKEN = "bearer-token-SECRET"
MEDIA_TYPES = (OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST)

Handler = Callable[[httpx.Request], httpx.Response]


def oci(uri: str) -> OciReference:
    reference = parse_storage_uri(uri)
    assert isinstance(reference, OciReference)
    return reference


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def manifest_found(digest: str = DIGEST, media_type: str = OCI_MANIFEST) -> httpx.Response:
    return httpx.Response(
        200, headers={"Docker-Content-Digest": digest, "Content-Type": media_type}
    )


def challenge(header: str) -> httpx.Response:
    return httpx.Response(401, headers={"WWW-Authenticate": header})


def index_body(*children: str, media_type: str = OCI_INDEX) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": child, "size": 500} for child in children
            ],
        }
    ).encode()


def digest_of(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def only_with(authorization: str, answer: httpx.Response, asked: str) -> Handler:
    """A registry that answers `answer` to requests bearing `authorization`, else challenges."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") == authorization:
            return answer
        return challenge(asked)

    return handle
