"""Registry host names: one spelling per host, and the `--oci-hosts` patterns that say which
hosts the resolver may contact at all.

A host is written `host[:port]`, lower-case; `[v6 address]:port` for IPv6. Docker Hub has
three names (`docker.io`, `index.docker.io` in Docker's config files, `registry-1.docker.io`
where its API answers): all fold into `docker.io`, the name storage references use.

A pattern is a host as above, `*` alone (any host), or a host whose leading labels are `*`,
each standing for exactly one label: `*.example.com` allows `a.example.com`, not
`example.com` and not `a.b.example.com`. A port is part of the host: `quay.io` does not
allow `quay.io:8443`; write that host as it is. Patterns are compared with the host the
storage reference names (for Docker Hub, `docker.io`); a token server or a redirect target
is compared with its own host.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

DOCKER_HUB: Final = "docker.io"
DOCKER_HUB_API_HOST: Final = "registry-1.docker.io"
_DOCKER_HUB_NAMES: Final = frozenset({DOCKER_HUB, "index.docker.io", DOCKER_HUB_API_HOST})

MAX_PATTERNS: Final = 256
_MAX_HOST_LENGTH: Final = 261  # 253 for the name, a colon and a five-digit port
_QUOTE_LIMIT: Final = 80

_LABEL = r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)"
_NAME = rf"{_LABEL}(?:\.{_LABEL})*"
_IPV6 = r"\[[0-9a-f:.]+\]"
_HOST = re.compile(rf"(?P<name>{_NAME}|{_IPV6})(?::(?P<port>[0-9]{{1,5}}))?", re.ASCII)
_PATTERN = re.compile(
    rf"(?P<wild>(?:\*\.)*)(?P<name>{_NAME}|{_IPV6})(?::(?P<port>[0-9]{{1,5}}))?", re.ASCII
)
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*://", re.ASCII)


class HostPatternError(ValueError):
    """A host-pattern setting that cannot be understood; the message names the setting."""


def canonical_host(text: str) -> str | None:
    """`host[:port]`, lower-case, from `host`, `host:port` or a URL such as `https://host/v1/`
    (Docker's config files use all three); Docker Hub's names give `docker.io`.

    None when `text` holds no valid host, or a port outside 1-65535.
    """
    candidate = text.strip().lower()
    scheme = _SCHEME.match(candidate)
    if scheme is not None:
        candidate = candidate[scheme.end() :]
    candidate = candidate.partition("/")[0]
    if len(candidate) > _MAX_HOST_LENGTH:
        return None
    written = _HOST.fullmatch(candidate)
    if written is None or not _valid_port(written.group("port")):
        return None
    if written.group("name") in _DOCKER_HUB_NAMES and written.group("port") is None:
        return DOCKER_HUB
    return candidate


def api_host(registry: str) -> str:
    """The host whose `/v2/` API serves `registry` (for Docker Hub, `registry-1.docker.io`)."""
    return DOCKER_HUB_API_HOST if registry == DOCKER_HUB else registry


@dataclass(frozen=True, slots=True)
class _Pattern:
    wildcard_labels: int  # leading `*` labels; -1 for `*` alone
    suffix: str  # the labels after them (or the IPv6 literal)
    port: str | None

    def allows(self, name: str, port: str | None) -> bool:
        if self.wildcard_labels < 0:
            return True
        if port != self.port:
            return False
        if self.wildcard_labels == 0:
            return name == self.suffix
        if name.startswith("["):
            return False
        labels = name.split(".")
        suffix_labels = self.suffix.split(".")
        return (
            len(labels) == self.wildcard_labels + len(suffix_labels)
            and labels[self.wildcard_labels :] == suffix_labels
        )


@dataclass(frozen=True, slots=True)
class HostPatterns:
    """Which hosts a setting allows; build with `parse`. `written` is the setting's patterns
    in their normal form, for messages."""

    written: tuple[str, ...]
    _patterns: tuple[_Pattern, ...]

    @classmethod
    def parse(
        cls, text: str, *, setting: str = "--oci-hosts", allow_empty: bool = False
    ) -> HostPatterns:
        """Patterns from a comma-separated setting (spaces around commas ignored, case
        ignored). Raises `HostPatternError`, naming `setting`, for anything else, including
        an empty setting unless `allow_empty` (then it allows no host)."""
        if not isinstance(text, str):
            raise HostPatternError(f"{setting}: expected a comma-separated list of hosts")
        items = [item.strip().lower() for item in text.split(",")]
        if items == [""]:
            if allow_empty:
                return cls((), ())
            raise HostPatternError(
                f"{setting} is empty; give host[:port] patterns separated by commas, or * for any"
            )
        if len(items) > MAX_PATTERNS:
            raise HostPatternError(f"{setting}: more than {MAX_PATTERNS} patterns")
        patterns: list[_Pattern] = []
        for item in items:
            patterns.append(_parse_pattern(item, setting))
        return cls(tuple(items), tuple(patterns))

    @classmethod
    def any_host(cls) -> HostPatterns:
        """`*`: every host is allowed (the default of `--oci-hosts`)."""
        return cls.parse("*")

    @classmethod
    def no_host(cls) -> HostPatterns:
        """No host is allowed (the default of the insecure-hosts list)."""
        return cls((), ())

    def allows(self, host: str) -> bool:
        """Whether `host` (`host[:port]`, any case; a URL's host part) is allowed."""
        canonical = canonical_host(host)
        if canonical is None:
            return False
        written = _HOST.fullmatch(canonical)
        if written is None:  # canonical_host only returns what this matches
            return False
        name, port = written.group("name"), written.group("port")
        return any(pattern.allows(name, port) for pattern in self._patterns)

    def __str__(self) -> str:
        return ",".join(self.written) if self.written else "(none)"


def _parse_pattern(item: str, setting: str) -> _Pattern:
    if item == "*":
        return _Pattern(-1, "", None)
    if not item:
        raise HostPatternError(f"{setting}: an empty pattern (two commas, or one at an end)")
    written = _PATTERN.fullmatch(item) if len(item) <= _MAX_HOST_LENGTH else None
    if written is None:
        raise HostPatternError(
            f"{setting}: {_quote(item)} is not host[:port], *.domain[:port] or *; "
            "a * stands for whole leading labels only"
        )
    port = written.group("port")
    if not _valid_port(port):
        raise HostPatternError(f"{setting}: {_quote(item)} has a port outside 1-65535")
    name = written.group("name")
    wildcards = written.group("wild").count("*")
    if wildcards and name.startswith("["):
        raise HostPatternError(f"{setting}: {_quote(item)}: an IP address takes no wildcard")
    # `index.docker.io` in the setting means the host storage references call docker.io.
    if not wildcards and canonical_host(item) == DOCKER_HUB:
        name = DOCKER_HUB
    return _Pattern(wildcards, name, port)


def _valid_port(port: str | None) -> bool:
    return port is None or 1 <= int(port) <= 65535


def _quote(value: str) -> str:
    text = repr(value)
    return text if len(text) <= _QUOTE_LIMIT else f"{text[: _QUOTE_LIMIT - 3]}..."
