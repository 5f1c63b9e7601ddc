"""`WWW-Authenticate` parsing: Bearer and Basic challenges as registries send them, quoted
strings with commas and escapes, several challenges, and one error type for the rest."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_sync.oci.challenge import (
    MAX_HEADER_CHARS,
    Challenge,
    ChallengeError,
    parse_challenges,
)


def test_docker_hubs_bearer_challenge() -> None:
    header = (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/busybox:pull"'
    )

    (challenge,) = parse_challenges(header)

    assert challenge.scheme == "bearer"
    assert challenge.realm == "https://auth.docker.io/token"
    assert challenge.service == "registry.docker.io"
    assert challenge.scope == "repository:library/busybox:pull"


def test_a_comma_inside_quotes_is_text() -> None:
    (challenge,) = parse_challenges('Bearer realm="r",scope="repository:a:pull,push"')

    assert challenge.scope == "repository:a:pull,push"


def test_escaped_quotes_and_backslashes_are_unescaped() -> None:
    (challenge,) = parse_challenges(r'Basic realm="a \"b\" \\ c"')

    assert challenge.realm == r'a "b" \ c'


def test_basic_realm() -> None:
    assert parse_challenges('Basic realm="Registry Realm"') == (
        Challenge("basic", {"realm": "Registry Realm"}),
    )


def test_several_challenges_in_one_header() -> None:
    challenges = parse_challenges('Basic realm="x, y", Bearer realm="https://t/token" ,service=s')

    assert [c.scheme for c in challenges] == ["basic", "bearer"]
    assert challenges[0].realm == "x, y"
    assert challenges[1].params == {"realm": "https://t/token", "service": "s"}


def test_several_headers() -> None:
    challenges = parse_challenges(['Bearer realm="a"', "Basic"])

    assert [c.scheme for c in challenges] == ["bearer", "basic"]


def test_schemes_and_names_are_case_insensitive_values_are_kept() -> None:
    (challenge,) = parse_challenges('BEARER Realm="HTTPS://T/Token", SERVICE = "Svc"')

    assert challenge.scheme == "bearer"
    assert challenge.params == {"realm": "HTTPS://T/Token", "service": "Svc"}


def test_token_values_without_quotes() -> None:
    (challenge,) = parse_challenges("Bearer realm=r, service=svc")

    assert challenge.params == {"realm": "r", "service": "svc"}


def test_a_token68_challenge() -> None:
    challenges = parse_challenges("Negotiate abc==, Basic realm=x")

    assert challenges[0] == Challenge("negotiate", {}, "abc==")
    assert challenges[1].realm == "x"


def test_a_scheme_alone() -> None:
    assert parse_challenges("Basic") == (Challenge("basic"),)


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("", "no challenge"),
        ("   ,  ", "no challenge"),
        ('Bearer realm="open', "not closed"),
        ('Bearer realm="a\\', "not closed"),
        ("Bearer service=x, realm=", "has no value"),
        ('Bearer realm="a" service="b"', "expected a comma"),
        ('Bearer realm="a", realm="b"', "given twice"),
        ('Bearer realm="a\nb"', "control character"),
        ('"Bearer"', "expected an authentication scheme"),
        ("Bearer/x", "expected a space"),
        ("x" * (MAX_HEADER_CHARS + 1), "longer than"),
        (", ".join(["Basic"] * 20), "more than"),
    ],
)
def test_malformed_headers_raise_challenge_error(header: str, problem: str) -> None:
    with pytest.raises(ChallengeError, match=problem):
        parse_challenges(header)


def test_no_header_at_all() -> None:
    with pytest.raises(ChallengeError):
        parse_challenges([])


header_alphabet = st.sampled_from(list(' \t,="\\\n') + list("aBz09-.:/+~_") + ["Bearer", "realm"])


@given(st.text(max_size=200) | st.lists(header_alphabet, max_size=60).map("".join))
def test_any_text_gives_challenges_or_challenge_error(header: str) -> None:
    try:
        challenges = parse_challenges(header)
    except ChallengeError:
        return
    assert challenges
    assert all(c.scheme == c.scheme.lower() and c.scheme for c in challenges)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Bearer", "Basic", "X-Custom"]),
            st.dictionaries(
                st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
                st.text(st.characters(blacklist_characters="\r\n\x00"), max_size=30),
                max_size=4,
            ),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_written_challenges_parse_back(written: list[tuple[str, dict[str, str]]]) -> None:
    def quoted(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    header = ", ".join(
        f"{scheme} " + ", ".join(f"{name}={quoted(value)}" for name, value in params.items())
        if params
        else scheme
        for scheme, params in written
    )

    parsed = parse_challenges(header)

    assert [(c.scheme, dict(c.params)) for c in parsed] == [
        (scheme.lower(), params) for scheme, params in written
    ]
