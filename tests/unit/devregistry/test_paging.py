"""List pages as the real registry cuts them."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_sync.devregistry.errors import ApiError
from registry_sync.devregistry.paging import PageRequest, cut_page, page_request


def _entity(entity_id: int, updated: int) -> dict[str, Any]:
    return {
        "id": str(entity_id),
        "createTimeSinceEpoch": str(1000 + entity_id),
        "lastUpdateTimeSinceEpoch": str(updated),
    }


def test_without_page_size_everything_is_one_page_echoing_zero() -> None:
    page = cut_page([_entity(i, 5) for i in (3, 1, 2)], page_request({}))

    assert page.body() == {
        "items": [_entity(1, 5), _entity(2, 5), _entity(3, 5)],
        "nextPageToken": "",
        "pageSize": 0,
        "size": 3,
    }


def test_a_token_encodes_the_last_id_and_its_sort_value() -> None:
    entities = [_entity(1, 50), _entity(2, 70), _entity(3, 60)]

    page = cut_page(
        entities,
        page_request({"pageSize": "1", "orderBy": "LAST_UPDATE_TIME", "sortOrder": "DESC"}),
    )

    assert base64.b64decode(page.next_page_token) == b"2:70"


def test_a_full_last_page_has_no_token() -> None:
    page = cut_page([_entity(1, 1), _entity(2, 2)], page_request({"pageSize": "2"}))

    assert page.next_page_token == ""


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"orderBy": "NAME"}, PageRequest(order_by="ID")),
        ({"sortOrder": "sideways"}, PageRequest(descending=False)),
        (
            {"orderBy": "CREATE_TIME", "sortOrder": "DESC"},
            PageRequest(order_by="CREATE_TIME", descending=True),
        ),
        ({"pageSize": ""}, PageRequest(page_size=0)),
    ],
)
def test_unknown_ordering_is_ignored(query: dict[str, str], expected: PageRequest) -> None:
    assert page_request(query) == expected


@pytest.mark.parametrize("size", ["abc", "1.5", "99999999999"])
def test_a_page_size_that_is_no_int32_is_a_bad_request(size: str) -> None:
    with pytest.raises(ApiError) as error:
        page_request({"pageSize": size})

    assert (error.value.status, error.value.code) == (400, "Bad Request")


def test_an_undecodable_token_starts_from_the_top() -> None:
    page = cut_page([_entity(1, 1), _entity(2, 2)], PageRequest(page_size=1, token="%%%"))

    assert [e["id"] for e in page.items] == ["1"]


@given(
    updates=st.lists(st.integers(min_value=0, max_value=5), min_size=0, max_size=12),
    page_size=st.integers(min_value=1, max_value=5),
    order_by=st.sampled_from(["ID", "CREATE_TIME", "LAST_UPDATE_TIME"]),
    descending=st.booleans(),
)
def test_following_tokens_visits_every_entity_once_in_order(
    updates: list[int], page_size: int, order_by: str, descending: bool
) -> None:
    entities = [_entity(i + 1, u) for i, u in enumerate(updates)]
    everything = cut_page(entities, PageRequest(order_by=order_by, descending=descending)).items
    visited: list[dict[str, Any]] = []
    token = ""
    while True:
        page = cut_page(entities, PageRequest(page_size, order_by, descending, token))
        visited += page.items
        token = page.next_page_token
        if not token:
            break

    assert visited == everything
