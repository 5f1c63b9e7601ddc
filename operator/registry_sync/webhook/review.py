"""The shape of an AdmissionReview, checked before Kopf reads it.

Kopf's admission code trusts the review it is given: a review without `request.resource`,
an object whose metadata or labels are not mappings, or an object nested deeper than
Python's recursion allows make it raise, and its server answers a bare 500. The apiserver
never sends such a review; anything else that reaches the port may. Checked first, each
gets a 400 that says what is wrong, and the webhook carries on serving.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Final

import aiohttp.web
import kopf

MAX_DEPTH: Final = 100
"""Deeper objects are refused: real PipelineRuns nest a few dozen levels at most, and
copying or diffing far deeper ones exhausts Python's recursion limit."""


def review_problem(review: object) -> str | None:
    """What makes `review` unusable as an AdmissionReview, or None if nothing does."""
    if not isinstance(review, Mapping):
        return "the body is not a JSON object"
    request = review.get("request")
    if not isinstance(request, Mapping):
        return "request is missing or not an object"
    resource = request.get("resource")
    if (
        not isinstance(resource, Mapping)
        or not isinstance(resource.get("group"), str)
        or not all(
            isinstance(resource.get(key), str) and resource[key] for key in ("version", "resource")
        )
    ):
        return (
            "request.resource must be an object with a string group and non-empty version "
            "and resource"
        )
    if not isinstance(request.get("operation"), str):
        return "request.operation must be a string"
    if not isinstance(request.get("userInfo"), Mapping):
        return "request.userInfo is missing or not an object"
    for field in ("object", "oldObject"):
        problem = _object_problem(request.get(field))
        if problem is not None:
            return f"request.{field} {problem}"
    return None


def _object_problem(body: object) -> str | None:
    if body is None:
        return None
    if not isinstance(body, Mapping):
        return "is not an object"
    metadata = body.get("metadata", {})
    if not isinstance(metadata, Mapping):
        return "has metadata that is not an object"
    for field in ("labels", "annotations"):
        values = metadata.get(field, {})
        if not isinstance(values, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in values.items()
        ):
            return f"has metadata.{field} that is not a map of strings"
    # Kopf writes the patch into the object: a null where it adds params cannot take them.
    if "spec" in body and body["spec"] is None:
        return "has spec: null"
    if _deeper_than(body, MAX_DEPTH):
        return f"is nested more than {MAX_DEPTH} levels deep"
    return None


def _deeper_than(value: object, limit: int) -> bool:
    """Whether `value` nests more than `limit` levels of objects and arrays (iterative)."""
    pending: list[tuple[object, int]] = [(value, 0)]
    while pending:
        current, depth = pending.pop()
        if isinstance(current, Mapping):
            children: Any = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        if depth >= limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def checked(fn: kopf.WebhookFn) -> kopf.WebhookFn:
    """`fn` behind the shape check: a malformed review is answered 400 with the problem."""

    async def check_then_serve(request: Any, **kwargs: Any) -> Any:
        problem = review_problem(request)
        if problem is not None:
            raise aiohttp.web.HTTPBadRequest(
                reason="Malformed AdmissionReview", text=f"malformed AdmissionReview: {problem}"
            )
        return await fn(request, **kwargs)

    return check_then_serve


class CheckingWebhookServer(kopf.WebhookServer):
    """Kopf's webhook server, with every review's shape checked before Kopf reads it."""

    async def __call__(self, fn: kopf.WebhookFn) -> AsyncIterator[kopf.WebhookClientConfig]:
        async for client_config in super().__call__(checked(fn)):
            yield client_config
