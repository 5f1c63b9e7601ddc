"""List pages as the real server cuts them: `pageSize`, `orderBy`, `sortOrder`, page tokens.

- No `pageSize` (or 0) means everything in one page; the answer echoes the request's
  `pageSize`, or 0 when none was given.
- `orderBy` is `ID` (default), `CREATE_TIME` or `LAST_UPDATE_TIME`; anything else is
  ignored, as is an unknown `sortOrder` (default `ASC`). Ties are broken by id.
- `nextPageToken` is base64 of `id:value` for the last item of the page, where value is
  the sort key; it is `""` on the last page. An undecodable token starts from the top.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from registry_sync.devregistry.errors import bad_request, invalid_number

ORDER_FIELDS = {
    "ID": "id",
    "CREATE_TIME": "createTimeSinceEpoch",
    "LAST_UPDATE_TIME": "lastUpdateTimeSinceEpoch",
}
INT32_MAX = 2**31 - 1


@dataclass(frozen=True, slots=True)
class PageRequest:
    """What a list request asked for."""

    page_size: int = 0
    order_by: str = "ID"
    descending: bool = False
    token: str = ""


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    next_page_token: str
    page_size: int

    def body(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "nextPageToken": self.next_page_token,
            "pageSize": self.page_size,
            "size": len(self.items),
        }


def parse_int32(text: str) -> int:
    """A decimal int32 as Go's `strconv.ParseInt(text, 10, 32)` accepts it; ValueError names why."""
    stripped = text[1:] if text[:1] in "+-" else text
    if not stripped.isascii() or not stripped.isdigit():
        raise ValueError(invalid_number(text))
    value = int(text)
    if not -(2**31) <= value <= INT32_MAX:
        raise ValueError(f'strconv.ParseInt: parsing "{text}": value out of range')
    return value


def page_request(query: Mapping[str, str]) -> PageRequest:
    """The paging part of a list request's query; a non-numeric `pageSize` is a 400."""
    raw_size = query.get("pageSize", "")
    try:
        page_size = parse_int32(raw_size) if raw_size else 0
    except ValueError as error:
        raise bad_request(f"invalid numeric string: {error}") from None
    order_by = query.get("orderBy", "ID")
    return PageRequest(
        page_size=page_size,
        order_by=order_by if order_by in ORDER_FIELDS else "ID",
        descending=query.get("sortOrder", "ASC") == "DESC",
        token=query.get("nextPageToken", ""),
    )


def _sort_key(entity: Mapping[str, Any], order_by: str) -> tuple[int, int]:
    return int(entity[ORDER_FIELDS[order_by]]), int(entity["id"])


def _decode_token(token: str) -> tuple[int, int] | None:
    """(sort value, id) of the token's cursor, or None when it is not one of ours."""
    try:
        id_text, value_text = base64.b64decode(token, validate=True).decode().split(":")
        return int(value_text), int(id_text)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _encode_token(entity: Mapping[str, Any], order_by: str) -> str:
    cursor = f"{entity['id']}:{entity[ORDER_FIELDS[order_by]]}"
    return base64.b64encode(cursor.encode()).decode()


def cut_page(entities: Iterable[dict[str, Any]], request: PageRequest) -> Page:
    """The page `request` asks for, from entities in any order."""
    ordered = sorted(
        entities, key=lambda e: _sort_key(e, request.order_by), reverse=request.descending
    )
    cursor = _decode_token(request.token) if request.token else None
    if cursor is not None:
        if request.descending:
            ordered = [e for e in ordered if _sort_key(e, request.order_by) < cursor]
        else:
            ordered = [e for e in ordered if _sort_key(e, request.order_by) > cursor]
    if request.page_size > 0 and len(ordered) > request.page_size:
        items = ordered[: request.page_size]
        return Page(items, _encode_token(items[-1], request.order_by), request.page_size)
    return Page(ordered, "", request.page_size)


def parse_id(text: str, what: str) -> str:
    """A path or query id in canonical decimal form; a 400 naming `what` otherwise."""
    try:
        return str(parse_int32(text))
    except ValueError as error:
        raise bad_request(f"invalid {what} ID: {error}") from None
