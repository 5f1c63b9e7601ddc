"""The replay's comparison is fair but strict: what it forgives, and what it catches."""

from __future__ import annotations

from typing import Any

from contract.replay import Exchange, replay
from support.devregistry import RunningRegistry

API = "/api/model_registry/v1alpha3"
CREATED_MODEL = {
    "createTimeSinceEpoch": "1000",
    "customProperties": {},
    "id": "41",
    "lastUpdateTimeSinceEpoch": "1000",
    "name": "m",
    "state": "LIVE",
}


def _exchange(
    index: int, method: str, path: str, status: int, response: Any, **kw: Any
) -> Exchange:
    return Exchange(
        index=index,
        name=kw.get("name", f"step {index}"),
        method=method,
        path=API + path,
        query=kw.get("query", {}),
        request=kw.get("request"),
        status=status,
        content_type="application/json; charset=UTF-8",
        response=response,
    )


def _create(response: dict[str, Any]) -> Exchange:
    return _exchange(0, "POST", "/registered_models", 201, response, request={"name": "m"})


def test_other_ids_and_times_than_recorded_are_no_difference(
    dev_registry: RunningRegistry,
) -> None:
    fetch = _exchange(1, "GET", "/registered_models/41", 200, CREATED_MODEL)

    outcomes = replay([_create(CREATED_MODEL), fetch], dev_registry.url)

    assert [o.differences for o in outcomes] == [[], []]


def test_a_different_field_value_is_reported_with_the_exchange_name(
    dev_registry: RunningRegistry,
) -> None:
    recorded = {**CREATED_MODEL, "state": "ARCHIVED"}

    (outcome,) = replay([_create(recorded)], dev_registry.url)

    assert outcome.differences == ["$.state: recorded 'ARCHIVED', stand-in 'LIVE'"]
    assert "exchange 00 'step 0'" in outcome.report()


def test_one_recorded_id_standing_for_two_stand_in_ids_is_reported(
    dev_registry: RunningRegistry,
) -> None:
    second = _exchange(1, "POST", "/registered_models", 201, CREATED_MODEL, request={"name": "n"})

    outcomes = replay([_create(CREATED_MODEL), second], dev_registry.url)

    assert any(
        "recorded context id 41 is stand-in id 1, got 2" in d for d in outcomes[1].differences
    )


def test_an_error_message_may_differ_but_not_its_code(dev_registry: RunningRegistry) -> None:
    recorded = {"code": "Conflict", "message": "worded differently"}
    missing = _exchange(0, "GET", "/registered_models/7", 404, recorded)

    (outcome,) = replay([missing], dev_registry.url)

    assert outcome.differences == ["$.code: recorded 'Conflict', stand-in 'Not Found'"]


def test_a_missing_page_token_is_reported(dev_registry: RunningRegistry) -> None:
    page = {"items": [], "nextPageToken": "MTox", "pageSize": 10, "size": 0}
    listing = _exchange(0, "GET", "/registered_models", 200, page, query={"pageSize": "10"})

    (outcome,) = replay([listing], dev_registry.url)

    assert outcome.differences == ["$.nextPageToken: recorded a token, stand-in none"]


def test_an_update_the_recording_shows_but_the_stand_in_lacks_is_reported(
    dev_registry: RunningRegistry,
) -> None:
    recorded = {**CREATED_MODEL, "lastUpdateTimeSinceEpoch": "2000"}

    (outcome,) = replay([_create(recorded)], dev_registry.url)

    assert outcome.differences == ["$: recorded was updated after creation, stand-in was not"]
