"""How deeply a JSON-like value nests, measured without recursion.

Copying, comparing or diffing a value recurses once per level: a value deeper than Python's
recursion limit makes those raise. Whatever reads untrusted bodies asks this first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def deeper_than(value: object, limit: int) -> bool:
    """Whether `value` nests more than `limit` levels of mappings and lists (or tuples).

    Iterative, so any depth is measured safely; it stops at the first branch past `limit`.
    """
    pending: list[tuple[object, int]] = [(value, 0)]
    while pending:
        current, depth = pending.pop()
        if isinstance(current, Mapping):
            children: Iterable[object] = current.values()
        elif isinstance(current, list | tuple):
            children = current
        else:
            continue
        if depth >= limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False
