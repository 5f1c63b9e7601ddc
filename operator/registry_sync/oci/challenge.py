"""`WWW-Authenticate` headers read as RFC 9110 says: challenges and their parameters.

One header value may hold several challenges (`Bearer realm="…",service="…", Basic
realm="…"`), and a response several headers. Parameter values are tokens or quoted
strings, in which commas, `=` and escaped quotes are text. Schemes and parameter names are
compared case-insensitively (kept lower-case); values are kept as written. A challenge may
carry a token68 instead of parameters (`Negotiate abc==`), kept in `token68`.

Anything else (an unterminated quote, a parameter without a value, a name given twice in
one challenge, a header past `MAX_HEADER_CHARS`) is a `ChallengeError`, the only exception
`parse_challenges` raises. Its message quotes at most a short, printable part of the input.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

MAX_HEADER_CHARS: Final = 8192
MAX_CHALLENGES: Final = 16

# RFC 9110 tchar
_TOKEN_CHARACTERS: Final = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
_TOKEN68_CHARACTERS: Final = frozenset(
    "-._~+/0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
_WHITESPACE: Final = " \t"


class ChallengeError(ValueError):
    """A `WWW-Authenticate` header that does not parse."""


@dataclass(frozen=True, slots=True)
class Challenge:
    """One challenge: `scheme` lower-case, `params` by lower-case name."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)
    token68: str | None = None

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scope(self) -> str | None:
        return self.params.get("scope")


def parse_challenges(headers: str | Iterable[str]) -> tuple[Challenge, ...]:
    """Every challenge of one header value, or of several (in order).

    Raises `ChallengeError`, and nothing else, for input that is not a list of challenges
    (an empty header included).
    """
    values = [headers] if isinstance(headers, str) else list(headers)
    if not values:
        raise ChallengeError("no WWW-Authenticate header")
    if sum(len(value) for value in values) > MAX_HEADER_CHARS:
        raise ChallengeError(f"WWW-Authenticate is longer than {MAX_HEADER_CHARS} characters")
    found: list[Challenge] = []
    for value in values:
        found.extend(_Parser(value).challenges())
        if len(found) > MAX_CHALLENGES:
            raise ChallengeError(f"more than {MAX_CHALLENGES} challenges")
    return tuple(found)


class _Parser:
    """A cursor over one header value; each method consumes what it reads."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def challenges(self) -> list[Challenge]:
        found: list[Challenge] = []
        self._skip_list_separators()
        if self._done():
            raise ChallengeError("the WWW-Authenticate header holds no challenge")
        while not self._done():
            found.append(self._challenge())
            if len(found) > MAX_CHALLENGES:
                raise ChallengeError(f"more than {MAX_CHALLENGES} challenges")
            self._skip_list_separators()
        return found

    def _challenge(self) -> Challenge:
        scheme = self._token()
        if scheme is None:
            raise self._error("expected an authentication scheme")
        if self._done() or self._peek() == ",":
            return Challenge(scheme.lower())
        if self._peek() not in _WHITESPACE:
            raise self._error("expected a space after the scheme")
        self._skip(_WHITESPACE)
        if self._done() or self._peek() == ",":
            return Challenge(scheme.lower())
        token68 = self._token68()
        if token68 is not None:
            return Challenge(scheme.lower(), {}, token68)
        params: dict[str, str] = {}
        while True:
            name, value = self._param()
            if name in params:
                raise self._error(f"parameter {name!r} given twice")
            params[name] = value
            self._skip(_WHITESPACE)
            if self._done():
                break
            if self._peek() != ",":
                raise self._error("expected a comma between parameters")
            # After a comma: another parameter of this challenge, or the next challenge.
            self._skip_list_separators()
            if self._done() or not self._param_follows():
                break
        return Challenge(scheme.lower(), params)

    def _param(self) -> tuple[str, str]:
        name = self._token()
        if name is None:
            raise self._error("expected a parameter name")
        self._skip(_WHITESPACE)
        if self._peek() != "=":
            raise self._error(f"parameter {_short(name)} has no value")
        self.at += 1
        self._skip(_WHITESPACE)
        if self._peek() == '"':
            return name.lower(), self._quoted()
        value = self._token()
        if value is None:
            raise self._error(f"parameter {_short(name)} has no value")
        return name.lower(), value

    def _param_follows(self) -> bool:
        """Whether a `name=` comes next (else a new challenge does); consumes nothing."""
        mark = self.at
        try:
            if self._token() is None:
                return False
            self._skip(_WHITESPACE)
            return self._peek() == "="
        finally:
            self.at = mark

    def _token68(self) -> str | None:
        """A token68 that makes up the rest of this challenge; None (nothing consumed) if
        what follows is not one (it is then parameters)."""
        start = self.at
        end = start
        while end < len(self.text) and self.text[end] in _TOKEN68_CHARACTERS:
            end += 1
        if end == start:
            return None
        padded = end
        while padded < len(self.text) and self.text[padded] == "=":
            padded += 1
        rest = padded
        while rest < len(self.text) and self.text[rest] in _WHITESPACE:
            rest += 1
        if rest < len(self.text) and self.text[rest] != ",":
            return None  # `name=value`: parameters
        if padded > end and rest < len(self.text) and self._is_param_shaped(end):
            return None
        self.at = padded
        return self.text[start:padded]

    def _is_param_shaped(self, equals: int) -> bool:
        """`name=` followed by a value (`a=b` is a parameter, `a==` is token68)."""
        after = equals + 1
        return after < len(self.text) and self.text[after] not in "=,"

    def _quoted(self) -> str:
        self.at += 1  # the opening quote
        value: list[str] = []
        while not self._done():
            character = self.text[self.at]
            self.at += 1
            if character == '"':
                return "".join(value)
            if character == "\\":
                if self._done():
                    break
                character = self.text[self.at]
                self.at += 1
            if character in "\r\n\x00":
                raise self._error("a control character inside a quoted string")
            value.append(character)
        raise self._error("a quoted string is not closed")

    def _token(self) -> str | None:
        start = self.at
        while not self._done() and self.text[self.at] in _TOKEN_CHARACTERS:
            self.at += 1
        return self.text[start : self.at] if self.at > start else None

    def _skip(self, characters: str) -> None:
        while not self._done() and self.text[self.at] in characters:
            self.at += 1

    def _skip_list_separators(self) -> None:
        self._skip(_WHITESPACE + ",")

    def _peek(self) -> str:
        return self.text[self.at] if not self._done() else ""

    def _done(self) -> bool:
        return self.at >= len(self.text)

    def _error(self, problem: str) -> ChallengeError:
        return ChallengeError(f"WWW-Authenticate: {problem} at character {self.at + 1}")


def _short(text: str) -> str:
    shown = "".join(character if character.isprintable() else "?" for character in text[:40])
    return repr(shown + ("…" if len(text) > 40 else ""))
