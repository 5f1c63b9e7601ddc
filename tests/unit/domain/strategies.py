"""Hypothesis strategies for the domain's inputs: storage URIs and JSON-like cluster data."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

OCI_SCHEME_SPELLINGS = ("oci", "OCI", "Oci", "oci+native", "OCI+NATIVE", "oci+fetch", "Oci+Fetch")
URI_SCHEMES = ("hf", "s3", "gs", "pvc", "https", "http")

SHA256_DIGESTS = st.binary(min_size=32, max_size=32).map(lambda raw: f"sha256:{raw.hex()}")
OTHER_DIGESTS = st.builds(
    lambda algorithm, raw, upper: f"{algorithm}:{raw.hex().upper() if upper else raw.hex()}",
    st.sampled_from(["sha512", "blake3", "multihash+base58"]),
    st.binary(min_size=16, max_size=40),
    st.booleans(),
)
DIGESTS = st.one_of(SHA256_DIGESTS, OTHER_DIGESTS)

_ALPHANUMERIC_WORDS = st.text(alphabet="abcxyz0189", min_size=1, max_size=6)
REGISTRY_HOSTS = st.one_of(
    st.sampled_from(
        [
            "quay.io",
            "Quay.IO",
            "localhost",
            "localhost:5000",
            "image-registry.openshift-image-registry.svc:5000",
            "docker.io",
            "index.docker.io",
            "[::1]:5000",
            "registry.example.com:443",
        ]
    ),
    st.builds(
        lambda labels, port: ".".join(labels) + (f":{port}" if port is not None else ""),
        st.lists(_ALPHANUMERIC_WORDS, min_size=2, max_size=3),
        st.none() | st.integers(min_value=0, max_value=65535),
    ),
)
PATH_COMPONENTS = st.builds(
    lambda first, rest: first + "".join(separator + word for separator, word in rest),
    _ALPHANUMERIC_WORDS,
    st.lists(
        st.tuples(st.sampled_from([".", "_", "__", "-", "--"]), _ALPHANUMERIC_WORDS), max_size=2
    ),
)
TAGS = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from("aZ09_"),
    st.text(alphabet="abcXYZ019_.-", max_size=20),
)


@st.composite
def oci_locations(draw: st.DrawFn) -> str:
    """The part after `oci://` of a valid reference: optional host, repository, tag, digest."""
    host = draw(st.none() | REGISTRY_HOSTS)
    components = draw(st.lists(PATH_COMPONENTS, min_size=1, max_size=3))
    tag = draw(st.none() | TAGS)
    digest = draw(st.none() | DIGESTS)
    if host is None and ("." in components[0] or components[0] == "localhost"):
        # Such a first component names a registry host, not a repository path.
        components = ["repo", *components]
    location = "/".join(components)
    if host is not None:
        location = f"{host}/{location}"
    if tag is not None:
        location = f"{location}:{tag}"
    if digest is not None:
        location = f"{location}@{digest}"
    return location


VALID_OCI_URIS = st.builds(
    lambda scheme, location: f"{scheme}://{location}",
    st.sampled_from(OCI_SCHEME_SPELLINGS),
    oci_locations(),
)

_URI_REST_CHARACTERS = st.characters(
    blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), blacklist_characters="\x85"
)


@st.composite
def valid_other_uris(draw: st.DrawFn) -> str:
    """A valid `hf`/`s3`/`gs`/`pvc`/`http(s)` URI, scheme case varied."""
    scheme = draw(st.sampled_from(URI_SCHEMES))
    spelled = draw(st.sampled_from([scheme, scheme.upper()]))
    if scheme in ("http", "https"):
        host = draw(REGISTRY_HOSTS)
        path = draw(st.text(_URI_REST_CHARACTERS, max_size=30))
        return f"{spelled}://{host}/{path}"
    first = draw(st.text(_URI_REST_CHARACTERS.filter(lambda c: c != "/"), min_size=1))
    path = draw(st.text(_URI_REST_CHARACTERS, max_size=30))
    return f"{spelled}://{first}{path}"


VALID_URIS = st.one_of(VALID_OCI_URIS, valid_other_uris())


@st.composite
def near_valid_uris(draw: st.DrawFn) -> str:
    """A valid URI with one edit: a character inserted, removed or replaced, or case changed."""
    uri = draw(VALID_URIS)
    position = draw(st.integers(min_value=0, max_value=len(uri)))
    edit = draw(st.sampled_from(["insert", "delete", "replace", "upper", "truncate"]))
    noise = draw(st.sampled_from(list(":/@.-_+A \t\n\x00é#?")) | st.characters())
    if edit == "insert":
        return uri[:position] + noise + uri[position:]
    if edit == "delete":
        return uri[:position] + uri[position + 1 :]
    if edit == "replace":
        return uri[:position] + noise + uri[position + 1 :]
    if edit == "upper":
        return uri[:position] + uri[position:].upper()
    return uri[:position]


JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
)


def json_values(leaves: st.SearchStrategy[Any] = JSON_SCALARS) -> st.SearchStrategy[Any]:
    """Arbitrary JSON-like data, as a Kubernetes API could hand over (or worse)."""
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(st.text(max_size=12), children, max_size=4),
        ),
        max_leaves=12,
    )
