"""The `filterQuery` language of the Model Registry: parsing, and matching entities.

The real server accepts a SQL-like WHERE clause: comparisons `property OP value` joined
by `AND`/`OR` with parentheses. A property is one of the entity's own fields (`name`,
`uri`, `state`, ...) or, failing that, a custom property; `prop.string_value` (or
`int_value`, `double_value`, `bool_value`) picks a custom property's value explicitly,
otherwise the literal's type decides. Operators: `= != <> < <= > >= LIKE ILIKE IN`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Scalar = str | int | float | bool

VALUE_TYPES = ("string_value", "int_value", "double_value", "bool_value")
OPERATORS = ("=", "!=", "<>", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IN")

_TOKEN_RULES: tuple[tuple[str, str], ...] = (
    ("space", r"\s+"),
    ("comment", r"--[^\r\n]*"),
    ("Ident", r"[a-zA-Z_][a-zA-Z0-9_]*"),
    ("Float", r"[-+]?\d*\.\d+(?:[eE][-+]?\d+)?|[-+]?\d+[eE][-+]?\d+"),
    ("Int", r"[-+]?\d+"),
    ("String", r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""),
    ("EscapedIdent", r"`(?:[^`\\]|\\.)*`"),
    ("Operator", r">=|<=|!=|<>|=|>|<"),
    ("Punct", r"[().,]"),
)
_TOKEN_PATTERN = re.compile("|".join(f"(?P<{name}>{rule})" for name, rule in _TOKEN_RULES))


class FilterSyntaxError(ValueError):
    """A `filterQuery` that does not parse; `str()` says where and what was expected."""


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    column: int  # 1-based, as the real server reports it


@dataclass(frozen=True, slots=True)
class Comparison:
    """`property[.value_type] operator value`."""

    property: str
    value_type: str | None
    operator: str
    value: Scalar

    def matches(self, entity: Mapping[str, Any]) -> bool:
        found = _property_value(entity, self.property, self.value_type, self.value)
        return found is not None and _compare(found, self.operator, self.value)


@dataclass(frozen=True, slots=True)
class Junction:
    """Two expressions joined by `AND` or `OR`."""

    operator: Literal["AND", "OR"]
    left: FilterExpression
    right: FilterExpression

    def matches(self, entity: Mapping[str, Any]) -> bool:
        if self.operator == "AND":
            return self.left.matches(entity) and self.right.matches(entity)
        return self.left.matches(entity) or self.right.matches(entity)


FilterExpression = Comparison | Junction


def parse_filter(text: str) -> FilterExpression | None:
    """The parsed expression, `None` for a blank query; raises `FilterSyntaxError`."""
    if not text.strip():
        return None
    parser = _Parser(_tokenize(text))
    expression = parser.expression()
    parser.expect_end()
    return expression


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN_PATTERN.match(text, position)
        if match is None or match.lastgroup is None:
            raise FilterSyntaxError(
                f'1:{position + 1}: invalid input text "{text[position : position + 10]}"'
            )
        if match.lastgroup not in ("space", "comment"):
            tokens.append(_Token(match.lastgroup, match.group(), position + 1))
        position = match.end()
    tokens.append(_Token("EOF", "<EOF>", len(text) + 1))
    return tokens


class _Parser:
    """Recursive descent over: expr := and (OR and)*; and := term (AND term)*;
    term := '(' expr ')' | property operator value."""

    def __init__(self, tokens: list[_Token]) -> None:
        self._tokens = tokens
        self._next = 0

    def _peek(self) -> _Token:
        return self._tokens[self._next]

    def _take(self) -> _Token:
        token = self._tokens[self._next]
        self._next += 1
        return token

    def _keyword(self, word: str) -> bool:
        token = self._peek()
        if token.kind == "Ident" and token.text.upper() == word:
            self._next += 1
            return True
        return False

    def _fail(self, expected: str) -> FilterSyntaxError:
        token = self._peek()
        return FilterSyntaxError(
            f'1:{token.column}: unexpected token "{token.text}" (expected {expected})'
        )

    def expect_end(self) -> None:
        if self._peek().kind != "EOF":
            raise self._fail("<EOF>")

    def expression(self) -> FilterExpression:
        left = self._conjunction()
        while self._keyword("OR"):
            left = Junction("OR", left, self._conjunction())
        return left

    def _conjunction(self) -> FilterExpression:
        left = self._term()
        while self._keyword("AND"):
            left = Junction("AND", left, self._term())
        return left

    def _term(self) -> FilterExpression:
        token = self._peek()
        if token.kind == "Punct" and token.text == "(":
            self._take()
            inner = self.expression()
            closing = self._peek()
            if not (closing.kind == "Punct" and closing.text == ")"):
                raise self._fail('")"')
            self._take()
            return inner
        return self._comparison()

    def _comparison(self) -> Comparison:
        token = self._peek()
        if token.kind == "EscapedIdent":
            name = token.text[1:-1].replace("\\.", ".").replace("\\\\", "\\")
        elif token.kind == "Ident":
            name = token.text
        else:
            raise self._fail("PropertyRef")
        self._take()
        value_type: str | None = None
        dot = self._peek()
        if dot.kind == "Punct" and dot.text == ".":
            self._take()
            suffix = self._peek()
            if suffix.kind != "Ident" or suffix.text.lower() not in VALUE_TYPES:
                raise self._fail(" | ".join(f'"{t}"' for t in VALUE_TYPES))
            value_type = self._take().text.lower()
        operator = self._peek()
        if operator.kind == "Operator" or (
            operator.kind == "Ident" and operator.text.upper() in ("LIKE", "ILIKE", "IN")
        ):
            self._take()
        else:
            raise self._fail("Operator")
        return Comparison(name, value_type, operator.text.upper(), self._value())

    def _value(self) -> Scalar:
        token = self._peek()
        if token.kind == "String":
            self._take()
            return token.text[1:-1].replace('\\"', '"').replace("\\'", "'").replace("\\\\", "\\")
        if token.kind == "Int":
            self._take()
            return int(token.text)
        if token.kind == "Float":
            self._take()
            return float(token.text)
        if token.kind == "Ident" and token.text.lower() in ("true", "false"):
            self._take()
            return token.text.lower() == "true"
        raise self._fail("Value")


def _literal_value_type(value: Scalar) -> str:
    if isinstance(value, bool):
        return "bool_value"
    if isinstance(value, int):
        return "int_value"
    if isinstance(value, float):
        return "double_value"
    return "string_value"


def _property_value(
    entity: Mapping[str, Any], name: str, value_type: str | None, literal: Scalar
) -> Any:
    """The entity's own field `name`, else its custom property `name` (None when absent)."""
    if value_type is None and name != "customProperties" and name in entity:
        return entity[name]
    custom = entity.get("customProperties", {}).get(name)
    if not isinstance(custom, Mapping):
        return None
    return custom.get(value_type or _literal_value_type(literal))


def _like_pattern(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    parts: list[str] = []
    escaped = False
    for char in pattern:
        if escaped:
            parts.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _ordered(left: Any, operator: str, right: Any) -> bool:
    if operator in ("=", "IN"):
        return bool(left == right)
    if operator in ("!=", "<>"):
        return bool(left != right)
    if operator == "<":
        return bool(left < right)
    if operator == "<=":
        return bool(left <= right)
    if operator == ">":
        return bool(left > right)
    if operator == ">=":
        return bool(left >= right)
    return False


def _compare(found: Any, operator: str, literal: Scalar) -> bool:
    if operator in ("LIKE", "ILIKE"):
        if not isinstance(found, str) or not isinstance(literal, str):
            return False
        return _like_pattern(literal, operator == "ILIKE").fullmatch(found) is not None
    if isinstance(literal, bool):
        flag = found if isinstance(found, bool) else {"true": True, "false": False}.get(found)
        return flag is not None and _ordered(flag, operator, literal)
    if isinstance(literal, int | float):
        number = _as_number(found)
        return number is not None and _ordered(number, operator, float(literal))
    if not isinstance(found, str):
        return False
    return _ordered(found, operator, literal)
