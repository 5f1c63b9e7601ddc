"""The stand-in's `filterQuery` language: what matches, and what does not parse."""

from __future__ import annotations

from typing import Any

import pytest

from registry_sync.devregistry.filtering import FilterSyntaxError, parse_filter

VERSION: dict[str, Any] = {
    "id": "12",
    "name": "quantized-w4a16",
    "state": "LIVE",
    "createTimeSinceEpoch": "1000",
    "customProperties": {
        "container_image": {"metadataType": "MetadataStringValue", "string_value": "quay.io/a:1"},
        "replicas": {"metadataType": "MetadataIntValue", "int_value": "3"},
        "score": {"metadataType": "MetadataDoubleValue", "double_value": 0.75},
        "tested": {"metadataType": "MetadataBoolValue", "bool_value": True},
    },
}


@pytest.mark.parametrize(
    ("query", "matches"),
    [
        ("name = 'quantized-w4a16'", True),
        ('name = "quantized-w4a16"', True),
        ("name = 'other'", False),
        ("name != 'other'", True),
        ("name <> 'quantized-w4a16'", False),
        ("name LIKE 'quantized%'", True),
        ("name like '%w4a16'", True),
        ("name LIKE 'QUANTIZED%'", False),
        ("name ILIKE 'QUANTIZED%'", True),
        ("name LIKE 'quantized-w4a1_'", True),
        ("id > 10", True),
        ("id >= 13", False),
        ("createTimeSinceEpoch < 2000", True),
        ("container_image = 'quay.io/a:1'", True),
        ("container_image.string_value = 'quay.io/a:1'", True),
        ("replicas = 3", True),
        ("replicas.int_value = '3'", True),
        ("score > 0.5", True),
        ("tested = true", True),
        ("tested = FALSE", False),
        ("missing = 'x'", False),
        ("name = 'other' OR state = 'LIVE'", True),
        ("name = 'other' AND state = 'LIVE'", False),
        ("state = 'LIVE' AND (name = 'other' OR replicas = 3)", True),
        ("`container_image` = 'quay.io/a:1'", True),
    ],
)
def test_filter_query_matches_as_the_registry_does(query: str, matches: bool) -> None:
    expression = parse_filter(query)

    assert expression is not None
    assert expression.matches(VERSION) is matches


def test_a_blank_filter_query_filters_nothing() -> None:
    assert parse_filter("   ") is None


@pytest.mark.parametrize(
    ("query", "complaint"),
    [
        ("uri = = 'x'", '1:7: unexpected token "=" (expected Value)'),
        ("uri 'x'", "1:5: unexpected token \"'x'\" (expected Operator)"),
        ("(uri = 'x'", '1:11: unexpected token "<EOF>" (expected ")")'),
        ("uri = 'x' name = 'y'", '1:11: unexpected token "name" (expected <EOF>)'),
        ("= 'x'", '1:1: unexpected token "=" (expected PropertyRef)'),
        ("uri = 'x", "1:7: invalid input text"),
    ],
)
def test_a_malformed_filter_query_says_where_and_what_was_expected(
    query: str, complaint: str
) -> None:
    with pytest.raises(FilterSyntaxError) as error:
        parse_filter(query)

    assert str(error.value).startswith(complaint)
