"""Storage references: what a storage URI names, in a form that compares as people mean it.

`parse_storage_uri` turns the `storageUri` of an InferenceService, or the `uri` of a registry
ModelArtifact, into a `StorageReference`:

- `OciReference` for `oci://`, `oci+native://` and `oci+fetch://` (one family: the variant
  only says how KServe fetches the image, not which image it is). The part after `://`
  follows the distribution reference grammar (the one `docker pull` uses).
- `UriReference` for `hf://`, `s3://`, `gs://`, `pvc://`, `https://` and `http://`: compared
  exactly, after trivial normalisation.

Equality (`==`) means "the same reference, written differently". `matches` is the looser
relation the resolver needs, because registry artifacts may pin a digest that a deployment
leaves out (see `OciReference.matches`).

Every problem with the input is one exception type, `InvalidStorageUri`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

MAX_URI_LENGTH: Final = 4096
"""Longer input is rejected before any parsing: no storage URI in practice comes close."""

# The distribution reference grammar caps the repository name, registry host included.
_MAX_OCI_NAME_LENGTH: Final = 255
_QUOTE_LIMIT: Final = 80

OCI_SCHEMES: Final = frozenset({"oci", "oci+native", "oci+fetch"})
URI_SCHEMES: Final = frozenset({"hf", "s3", "gs", "pvc", "https", "http"})
SUPPORTED_SCHEMES: Final = tuple(sorted(OCI_SCHEMES | URI_SCHEMES))

DEFAULT_OCI_REGISTRY: Final = "docker.io"
DEFAULT_OCI_TAG: Final = "latest"
# Docker's own normaliser folds its legacy index host into the default registry.
_LEGACY_DOCKER_REGISTRY: Final = "index.docker.io"

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://(.*)", re.DOTALL)
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# distribution/reference regexp.go, ASCII only (Python's \w would admit any Unicode letter).
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = re.compile(
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?",
    re.ASCII,
)
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*", re.ASCII)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", re.ASCII)
_DIGEST = re.compile(
    r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}", re.ASCII
)
_SHA256_DIGEST = re.compile(r"sha256:[0-9a-f]{64}", re.ASCII)


class InvalidStorageUri(ValueError):
    """A storage URI that cannot be understood.

    The message names the problem and quotes the input (shortened to a readable length);
    `problem` holds the problem alone, `uri` the quoted input.
    """

    def __init__(self, problem: str, uri: object) -> None:
        self.problem = problem
        self.uri = _quote(uri)
        super().__init__(f"invalid storage URI {self.uri}: {problem}")


@dataclass(frozen=True, slots=True)
class OciReference:
    """An OCI image reference: registry host, repository, tag and/or digest.

    `registry` is lower-case and keeps its port. `tag` is None only when the reference was
    written with a digest and no tag (`repo@sha256:...`); without either it is `latest`.
    """

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def canonical(self) -> str:
        """One spelling per reference (`oci://host/repo:tag@digest`), for labels and messages."""
        tag = f":{self.tag}" if self.tag is not None else ""
        digest = f"@{self.digest}" if self.digest is not None else ""
        return f"oci://{self.registry}/{self.repository}{tag}{digest}"

    def matches(self, other: StorageReference) -> bool:
        """Whether both references can name the same image.

        Registry host and repository must be equal. Where both sides carry a digest, the
        digests must be equal. Where both carry a tag, the tags must be equal. A digest-only
        reference (`repo@sha256:X`) names nothing but that digest: it matches a reference of
        the same repository only if that reference carries the same digest, whatever its tag.
        So `repo:t` matches `repo:t@sha256:X`, and `repo@sha256:X` matches `repo:t@sha256:X`,
        but `repo@sha256:X` does not match `repo:t` (nothing says which digest `t` is).
        """
        if not isinstance(other, OciReference):
            return False
        if self.registry != other.registry or self.repository != other.repository:
            return False
        if self.digest is not None and other.digest is not None:
            if self.digest != other.digest:
                return False
            if self.tag is None or other.tag is None:
                return True
        elif self.tag is None or other.tag is None:
            return False
        return self.tag == other.tag

    def __str__(self) -> str:
        return self.canonical


@dataclass(frozen=True, slots=True)
class UriReference:
    """A non-OCI storage URI: `scheme://rest`, compared exactly after trivial normalisation."""

    scheme: str
    rest: str

    @property
    def canonical(self) -> str:
        """The normalised URI, for labels and messages."""
        return f"{self.scheme}://{self.rest}"

    def matches(self, other: StorageReference) -> bool:
        """Whether both name the same object: for these schemes, exactly when they are equal."""
        return self == other

    def __str__(self) -> str:
        return self.canonical


StorageReference = OciReference | UriReference


def matches(a: StorageReference, b: StorageReference) -> bool:
    """Whether two references can name the same model (symmetric; see `OciReference.matches`)."""
    return a.matches(b)


def parse_storage_uri(uri: object) -> StorageReference:
    """Parse and normalise a storage URI.

    Returns an `OciReference` or a `UriReference` whose `canonical` form parses back to an
    equal reference. Raises `InvalidStorageUri`, and nothing else, for any input that is not a
    supported, well-formed storage URI (including input that is not a string at all).

    Normalisation, and only this: the scheme is lower-cased; OCI references get the rules of
    `_parse_oci`; `http(s)` hosts are lower-cased; trailing slashes are removed (all of them,
    so that normalising twice changes nothing; not after an `http(s)` query or fragment).
    """
    if not isinstance(uri, str):
        raise InvalidStorageUri(f"expected a string, got {type(uri).__name__}", uri)
    if not uri.strip():
        raise InvalidStorageUri("it is empty or only whitespace; expected scheme://location", uri)
    if len(uri) > MAX_URI_LENGTH:
        raise InvalidStorageUri(
            f"it is {len(uri)} characters long; at most {MAX_URI_LENGTH} are accepted", uri
        )
    if uri != uri.strip():
        raise InvalidStorageUri("it has leading or trailing whitespace; remove it", uri)
    if _CONTROL_CHARACTER.search(uri):
        raise InvalidStorageUri("it contains control characters", uri)
    written = _SCHEME.fullmatch(uri)
    if written is None:
        raise InvalidStorageUri(
            f"missing scheme; expected scheme://location with a scheme among "
            f"{', '.join(SUPPORTED_SCHEMES)}",
            uri,
        )
    scheme, rest = written.group(1).lower(), written.group(2)
    if scheme in OCI_SCHEMES:
        return _parse_oci(rest, uri)
    if scheme in URI_SCHEMES:
        return _parse_uri(scheme, rest, uri)
    raise InvalidStorageUri(
        f"unsupported scheme {scheme!r}; expected one of {', '.join(SUPPORTED_SCHEMES)}", uri
    )


def parse_digest(text: object) -> str | None:
    """The digest in `algorithm:hex`, or in a pod's `imageID` (`...@sha256:<hex>`); else None.

    A `sha256` digest must be exactly 64 lower-case hex digits, as OCI requires.
    """
    if not isinstance(text, str) or len(text) > MAX_URI_LENGTH:
        return None
    candidate = text.rpartition("@")[2]
    return candidate if _is_valid_digest(candidate) else None


def _parse_oci(rest: str, uri: str) -> OciReference:
    """Parse the distribution reference after `oci://`.

    A first path component containing `.` or `:`, or equal to `localhost`, is the registry
    host; otherwise the registry is `docker.io`, and a one-component repository there gets
    `library/`. Repository components must already be lower-case, as the grammar says: an
    upper-case repository is rejected, not lower-cased, because registries treat it as a
    different (invalid) name and lower-casing would match an image that cannot be pulled.
    """
    name, at, digest = rest.partition("@")
    if at and not _is_valid_digest(digest):
        raise InvalidStorageUri(
            f"digest {_quote(digest)} is not algorithm:hex (sha256 needs exactly 64 "
            "lower-case hex digits)",
            uri,
        )
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    tag: str | None = None
    if colon > last_slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise InvalidStorageUri(
                f"tag {_quote(tag)} is not valid; a tag is 1-128 of letters, digits, '_', '.', "
                "'-', not starting with '.' or '-'",
                uri,
            )
    registry, repository = _split_registry(name, uri)
    if len(registry) + 1 + len(repository) > _MAX_OCI_NAME_LENGTH:
        raise InvalidStorageUri(
            f"the repository name is longer than {_MAX_OCI_NAME_LENGTH} characters", uri
        )
    if tag is None and not at:
        tag = DEFAULT_OCI_TAG
    return OciReference(registry, repository, tag, digest if at else None)


def _split_registry(name: str, uri: str) -> tuple[str, str]:
    """Registry host (lower-case, default applied) and repository path of a reference name."""
    if not name:
        raise InvalidStorageUri("no repository after oci://", uri)
    first, slash, remainder = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        if not _HOST.fullmatch(first):
            raise InvalidStorageUri(f"registry host {_quote(first)} is not a valid host", uri)
        registry = first.lower()
        repository = remainder
    else:
        registry, repository = DEFAULT_OCI_REGISTRY, name
    if registry == _LEGACY_DOCKER_REGISTRY:
        registry = DEFAULT_OCI_REGISTRY
    components = repository.split("/")
    for component in components:
        if not _PATH_COMPONENT.fullmatch(component):
            if component.lower() != component and _PATH_COMPONENT.fullmatch(component.lower()):
                problem = "repository names must be lower-case"
            else:
                problem = (
                    "expected lower-case letters and digits separated by '.', '_', '__' or '-'"
                )
            raise InvalidStorageUri(
                f"repository path component {_quote(component)} is not valid: {problem}", uri
            )
    if registry == DEFAULT_OCI_REGISTRY and len(components) == 1:
        repository = f"library/{repository}"
    return registry, repository


def _parse_uri(scheme: str, rest: str, uri: str) -> UriReference:
    if scheme in ("http", "https"):
        location = _normalise_http_location(rest, uri)
    else:
        location = rest.rstrip("/")
        if not location:
            raise InvalidStorageUri(f"nothing after {scheme}://; expected a location", uri)
    if location != location.rstrip():
        # Whitespace before trailing slashes: without the slashes the canonical form would
        # end in whitespace, which does not parse back.
        raise InvalidStorageUri("it has whitespace before its trailing slash; remove it", uri)
    return UriReference(scheme, location)


def _normalise_http_location(rest: str, uri: str) -> str:
    """Lower-case the host and drop trailing slashes of the path; nothing else changes."""
    authority_end = len(rest)
    for separator in "/?#":
        found = rest.find(separator)
        if found != -1:
            authority_end = min(authority_end, found)
    authority, tail = rest[:authority_end], rest[authority_end:]
    userinfo, at, host = authority.rpartition("@")
    if not host or not _HOST.fullmatch(host):
        raise InvalidStorageUri(f"host {_quote(host)} is not a valid host", uri)
    if "?" not in tail and "#" not in tail:
        tail = tail.rstrip("/")
    return f"{userinfo}{at}{host.lower()}{tail}"


def _is_valid_digest(digest: str) -> bool:
    if not _DIGEST.fullmatch(digest):
        return False
    algorithm = digest.partition(":")[0]
    return algorithm.lower() != "sha256" or _SHA256_DIGEST.fullmatch(digest) is not None


def _quote(value: object) -> str:
    """`repr` of the value, shortened so that a message stays readable."""
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__, or an int too long to print, must not escape
        text = f"<{type(value).__name__}>"
    if len(text) <= _QUOTE_LIMIT:
        return text
    return f"{text[: _QUOTE_LIMIT - 3]}..."
