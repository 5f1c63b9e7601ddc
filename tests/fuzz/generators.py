"""Cheap seeded generators of hostile input: storage URIs, InferenceService bodies,
PipelineRuns and AdmissionReviews.

Hypothesis spends milliseconds per example on structured strategies on this machine;
10^5 examples per target would take most of an hour. These generators take microseconds:
each input is built from a `random.Random` seeded by (run seed, example index), so any
failure is replayed by that pair alone (`example_rng`). They mix near-valid input (a valid
object with a few mutations, where bugs hide) with plain garbage.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from typing import Any

# Characters that mean something to a URI, a YAML reader or a terminal, and some that
# mean nothing but are not ASCII.
_INTERESTING = list(":/@.-_+#?%[]=~ \t\n\r\x00\x1b\x7f\x85\u00e9\u0130\u212a\ufeff\u200b\U0001f600")
_URI_SCHEMES = ["oci", "OCI", "oci+native", "Oci+Fetch", "hf", "s3", "gs", "pvc", "https", "http",
                "HTTPS", "ftp", "file", "oci+", "", "oci:", "s3:/"]  # fmt: skip
_HOSTS = ["quay.io", "Quay.IO", "localhost", "localhost:5000", "docker.io", "index.docker.io",
          "[::1]:5000", "registry.example.com:443", "image-registry.svc:5000", "a", "a.b",
          "-bad.io", "bad-.io", "[zz]", "host:99999", "xn--bcher-kva.example"]  # fmt: skip
_WORDS = ["library", "mistral", "private-ai", "model", "a", "x__y", "a--b", "A", "", "..",
          "m.v", "m_v", "repo", "models", "mistral-24b-quantized", "bucket"]  # fmt: skip
_TAGS = ["latest", "v1", "w4a16-2501", "_x", ".bad", "-bad", "A" * 128, "A" * 129, "1.0.0"]


def example_rng(seed: int, index: int) -> random.Random:
    """The generator of example `index` of a run seeded with `seed`."""
    return random.Random(seed * 1_000_003 + index)


# Scalars and garbage ---------------------------------------------------------------------


def text(rng: random.Random, max_size: int = 24) -> str:
    """A short string: ASCII, interesting characters, or any code point (surrogates too:
    a JSON body may escape them)."""
    size = rng.randint(0, max_size)
    kind = rng.random()
    if kind < 0.4:
        return "".join(rng.choices(string.ascii_letters + string.digits + "-_.", k=size))
    if kind < 0.7:
        return "".join(rng.choices(_INTERESTING + list(string.ascii_lowercase), k=size))
    return "".join(chr(rng.randint(0, 0x10FFFF)) for _ in range(size))


def huge_text(rng: random.Random) -> str:
    """A string around a length limit, or far beyond any."""
    length = rng.choice([4095, 4096, 4097, 65_536, 300_000])
    return rng.choice("ab/:é") * length


def scalar(rng: random.Random) -> Any:
    kind = rng.randrange(12)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.randint(-(2**63), 2**63)
    if kind == 3:
        return rng.choice([0, -1, 1, 10**30, 2**64])
    if kind == 4:
        return rng.choice([0.0, -0.0, 1.5, 1e308, float("inf"), float("-inf"), float("nan")])
    if kind == 5:
        return huge_text(rng) if rng.random() < 0.05 else ""
    if kind == 6:
        return rng.choice(["true", "True", "false", "audit", "enforce", " ", "5", "null"])
    return text(rng)


def garbage(rng: random.Random, depth: int = 3) -> Any:
    """Any JSON-like value (dicts, lists, scalars), at most `depth` levels deep."""
    if depth <= 0 or rng.random() < 0.5:
        return scalar(rng)
    if rng.random() < 0.5:
        return [garbage(rng, depth - 1) for _ in range(rng.randint(0, 4))]
    return {text(rng, 10): garbage(rng, depth - 1) for _ in range(rng.randint(0, 4))}


def deeply_nested(rng: random.Random) -> Any:
    """A value nested far deeper than any real object (a hostile client can send it)."""
    value: Any = text(rng, 4)
    for _ in range(rng.choice([50, 200, 400, 900])):
        value = [value] if rng.random() < 0.5 else {"v": value}
    return value


def hostile(rng: random.Random) -> Any:
    """Garbage of any kind, sometimes huge or deeply nested."""
    roll = rng.random()
    if roll < 0.03:
        return deeply_nested(rng)
    if roll < 0.06:
        return huge_text(rng)
    return garbage(rng)


# Storage URIs ---------------------------------------------------------------------------


def valid_uri(rng: random.Random) -> str:
    """A well-formed storage URI of any supported scheme (scheme case varied)."""
    scheme = rng.choice(["oci", "OCI", "oci+native", "oci+fetch", "hf", "s3", "gs", "pvc", "https"])
    if scheme.lower().startswith("oci"):
        parts = [rng.choice(["mistral", "private-ai", "model", "a.b", "x__y", "m-1"])]
        parts += [rng.choice(["v1", "repo", "m"]) for _ in range(rng.randint(0, 2))]
        location = "/".join(parts)
        if rng.random() < 0.7:
            location = f"{rng.choice(_HOSTS[:9])}/{location}"
        if rng.random() < 0.7:
            location += ":" + rng.choice(["latest", "v1", "w4a16-2501", "1.0"])
        if rng.random() < 0.3:
            location += "@sha256:" + "".join(rng.choices("0123456789abcdef", k=64))
        return f"{scheme}://{location}"
    if scheme == "https":
        return f"https://{rng.choice(_HOSTS[:4])}/{rng.choice(_WORDS)}/{rng.choice(_WORDS)}"
    return f"{scheme}://{rng.choice(_WORDS) or 'b'}/{rng.choice(_WORDS)}" + "/" * rng.randint(0, 2)


def near_valid_uri(rng: random.Random) -> str:
    """A valid URI with one to three edits: characters inserted, deleted, replaced, case
    changed, truncated, segments repeated."""
    uri = valid_uri(rng)
    for _ in range(rng.randint(1, 3)):
        position = rng.randint(0, len(uri))
        edit = rng.randrange(6)
        noise = rng.choice(_INTERESTING) if rng.random() < 0.7 else chr(rng.randint(0, 0x10FFFF))
        if edit == 0:
            uri = uri[:position] + noise + uri[position:]
        elif edit == 1:
            uri = uri[:position] + uri[position + 1 :]
        elif edit == 2:
            uri = uri[:position] + noise + uri[position + 1 :]
        elif edit == 3:
            uri = uri[:position] + uri[position:].upper()
        elif edit == 4:
            uri = uri[:position]
        else:
            uri = uri[:position] + uri[position:] * 2
    return uri


def assembled_uri(rng: random.Random) -> str:
    """Plausible pieces put together without regard for the grammar."""
    pieces = [rng.choice(_URI_SCHEMES), "://", rng.choice(_HOSTS), "/"]
    pieces += ["/".join(rng.choice(_WORDS) for _ in range(rng.randint(0, 4)))]
    if rng.random() < 0.5:
        pieces += [":", rng.choice(_TAGS)]
    if rng.random() < 0.3:
        algorithm = rng.choice(["sha256", "sha512", "SHA256", "md5", "", "x+y"])
        length = rng.choice([0, 31, 32, 64, 65])
        pieces += ["@", algorithm, ":", "".join(rng.choices("0123456789abcdefABCDEFg", k=length))]
    return "".join(pieces)


class _HostileRepr:
    """An object whose repr fails, as a message builder might meet it."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def storage_uri_input(rng: random.Random) -> object:
    """Anything a `storageUri` field or a registry artifact `uri` could hold."""
    roll = rng.random()
    if roll < 0.25:
        return valid_uri(rng)
    if roll < 0.55:
        return near_valid_uri(rng)
    if roll < 0.75:
        return assembled_uri(rng)
    if roll < 0.85:
        return text(rng, 60)
    if roll < 0.88:
        return valid_uri(rng) + "/" + "a" * rng.choice([240, 4000, 5000])
    if roll < 0.9:
        return huge_text(rng)
    if roll < 0.92:
        return rng.choice([10**5000, _HostileRepr(), b"oci://quay.io/a:b", 7, None])
    return garbage(rng)


# Object mutation ------------------------------------------------------------------------


def _containers(value: Any, limit: int = 12) -> list[tuple[Any, ...]]:
    """Paths of the dicts and lists inside `value` (itself included), `limit` levels deep.

    Iterative, and bounded: a deeply nested value planted by an earlier edit is edited as
    a whole, not walked.
    """
    found: list[tuple[Any, ...]] = []
    pending: list[tuple[tuple[Any, ...], Any]] = [((), value)]
    while pending:
        path, current = pending.pop()
        if isinstance(current, dict):
            children = list(current.items())
        elif isinstance(current, list):
            children = list(enumerate(current))
        else:
            continue
        found.append(path)
        if len(path) < limit:
            pending += [((*path, key), child) for key, child in children]
    return found


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


def mutate(rng: random.Random, document: Any, values: Callable[[random.Random], Any]) -> Any:
    """One random edit somewhere in `document` (changed in place where possible):
    a key deleted, a value replaced by `values(rng)`, a key added, a container swapped for
    a scalar or wrapped in a list, an entry duplicated."""
    paths = _containers(document)
    if not paths:
        return values(rng)
    path = rng.choice(paths)
    target = _at(document, path)
    edit = rng.randrange(6)
    if isinstance(target, dict) and target:
        key = rng.choice(list(target))
        if edit == 0:
            del target[key]
        elif edit == 1:
            target[text(rng, 12)] = values(rng)
        elif edit == 2 and path:
            _at(document, path[:-1])[path[-1]] = [target] if rng.random() < 0.5 else values(rng)
        else:
            target[key] = values(rng)
    elif isinstance(target, list) and target:
        position = rng.randrange(len(target))
        if edit == 0:
            del target[position]
        elif edit == 1:
            target.insert(position, target[position])  # a duplicate
        elif edit == 2:
            target.append(values(rng))
        else:
            target[position] = values(rng)
    elif path:
        _at(document, path[:-1])[path[-1]] = values(rng)
    else:
        return values(rng)
    return document
