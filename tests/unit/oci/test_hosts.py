"""`--oci-hosts` patterns: `*`, exact hosts with their ports, whole leading `*` labels, and
errors that name the setting."""

from __future__ import annotations

import pytest

from registry_sync.oci.hosts import HostPatternError, HostPatterns, api_host, canonical_host


def test_the_star_allows_every_host() -> None:
    patterns = HostPatterns.parse("*")

    assert patterns.allows("quay.io")
    assert patterns.allows("registry.local:5000")
    assert patterns.allows("[fd00::1]:5000")


def test_the_default_is_the_star() -> None:
    assert HostPatterns.any_host().allows("anything.example")


def test_an_exact_host_allows_itself_in_any_case_and_nothing_else() -> None:
    patterns = HostPatterns.parse("quay.io")

    assert patterns.allows("QUAY.io")
    assert not patterns.allows("evil-quay.io")
    assert not patterns.allows("quay.io.evil.example")


def test_a_port_is_part_of_the_host() -> None:
    patterns = HostPatterns.parse("quay.io, registry.local:5000")

    assert not patterns.allows("quay.io:8443")
    assert patterns.allows("registry.local:5000")
    assert not patterns.allows("registry.local")
    assert not patterns.allows("registry.local:5001")


def test_a_wildcard_stands_for_exactly_one_leading_label() -> None:
    patterns = HostPatterns.parse("*.example.com")

    assert patterns.allows("a.example.com")
    assert not patterns.allows("example.com")
    assert not patterns.allows("a.b.example.com")
    assert not patterns.allows("a.example.com.evil")


def test_two_wildcards_stand_for_two_labels() -> None:
    assert HostPatterns.parse("*.*.example.com").allows("a.b.example.com")


def test_docker_hubs_names_are_one_host() -> None:
    patterns = HostPatterns.parse("index.docker.io")

    assert patterns.allows("docker.io")
    assert patterns.allows("registry-1.docker.io")


def test_no_host_allows_nothing() -> None:
    assert not HostPatterns.no_host().allows("quay.io")
    assert not HostPatterns.parse("", setting="--oci-insecure-hosts", allow_empty=True).allows(
        "quay.io"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "is empty"),
        ("quay.io,,ghcr.io", "an empty pattern"),
        ("quay.io,", "an empty pattern"),
        ("quay.*", "not host[:port]"),
        ("a*.example.com", "not host[:port]"),
        ("example.*.com", "not host[:port]"),
        ("https://quay.io", "not host[:port]"),
        ("quay.io:0", "port outside"),
        ("quay.io:70000", "port outside"),
        ("*.[fd00::1]", "takes no wildcard"),
        ("quay.io/path", "not host[:port]"),
    ],
)
def test_invalid_patterns_are_refused_naming_the_setting(text: str, problem: str) -> None:
    with pytest.raises(HostPatternError) as raised:
        HostPatterns.parse(text, setting="--oci-hosts")

    assert "--oci-hosts" in str(raised.value)
    assert problem in str(raised.value)


def test_an_invalid_host_is_never_allowed() -> None:
    assert not HostPatterns.parse("*").allows("not a host")


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("https://quay.io/v1/", "quay.io"),
        ("Quay.IO:8443", "quay.io:8443"),
        ("index.docker.io", "docker.io"),
        ("index.docker.io:443", "index.docker.io:443"),
        ("x:99999", None),
        ("", None),
        ("a b", None),
    ],
)
def test_canonical_host(written: str, canonical: str | None) -> None:
    assert canonical_host(written) == canonical


def test_docker_hubs_api_answers_at_registry_1() -> None:
    assert api_host("docker.io") == "registry-1.docker.io"
    assert api_host("quay.io") == "quay.io"
