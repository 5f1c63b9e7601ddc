"""An AdmissionReview, checked before Kopf reads it: its size, its syntax, its shape.

The apiserver sends this webhook only what its configuration selects: a CREATE of an
opted-in PipelineRun in the operator's namespace. Anything else in the cluster that reaches
the port may send anything, and Kopf's server and admission code trust what they get: a
body over aiohttp's default 1 MiB is refused (though a real review can be larger), one
nested past Python's recursion limit or not UTF-8 is a bare 500, and the rest is parsed,
deep-copied and diffed whole, on the one event loop that answers every review. So, first:

- a body over `MAX_BODY_BYTES` is refused (413) without being read;
- bodies over `LARGE_BODY_BYTES` are read, parsed and answered one at a time, so a flood of
  them delays a normal review by one such body at most;
- a body that is not JSON Python can read is a 400;
- a review for another namespace or of a shape Kopf cannot handle is a 400 that says
  what is wrong, and a run with more than `MAX_PARAMS` params is denied, before anything
  is copied.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any, Final, cast

import aiohttp.web
import kopf

from registry_sync.domain.nesting import deeper_than
from registry_sync.domain.pipeline_run import shown_name

MAX_BODY_BYTES: Final = 3 * 1024 * 1024
"""The largest review read. The apiserver stores objects of up to 1.5 MiB (etcd's request
limit) and a CREATE review carries the object once, plus a few KiB: 3 MiB leaves room for
that and for JSON's escaping, and is also the apiserver's own request body limit."""

LARGE_BODY_BYTES: Final = 64 * 1024
"""Bodies above this are handled one at a time. A model-testing PipelineRun's review is a
few KiB, one that embeds its whole pipelineSpec rarely more than some tens."""

MAX_PARAMS: Final = 256
"""The most `spec.params` entries a run may have. A model-testing run has a handful; Kopf
copies and diffs every entry before the operator's handler sees one."""

MAX_DEPTH: Final = 100
"""Deeper objects are refused: real PipelineRuns nest a few dozen levels at most, and
copying or diffing far deeper ones exhausts Python's recursion limit."""

_SHOWN: Final = 63  # characters of a client's value echoed back (a namespace's longest name)


def review_problem(review: object, namespace: str) -> str | None:
    """What makes `review` unusable as an AdmissionReview for `namespace`, or None."""
    return _request_problem(review, namespace) or _objects_problem(review)


def _request_problem(review: object, namespace: str) -> str | None:
    """The review's envelope: cheap to check, and checked before anything else."""
    if not isinstance(review, Mapping):
        return "the body is not a JSON object"
    request = review.get("request")
    if not isinstance(request, Mapping):
        return "request is missing or not an object"
    if request.get("namespace") != namespace:
        return (
            f"request.namespace is {_shown(request.get('namespace'))}, but this webhook "
            f"answers for namespace {namespace!r} only"
        )
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
    return None


def _objects_problem(review: Any) -> str | None:
    for field in ("object", "oldObject"):
        problem = _object_problem(review["request"].get(field))
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
    if deeper_than(body, MAX_DEPTH):
        return f"is nested more than {MAX_DEPTH} levels deep"
    return None


def too_many_params(review: object) -> str | None:
    """The denial of a run with more than `MAX_PARAMS` params, or None.

    Counts without reading the entries, so it is cheap and safe on any body. A user can
    create such a run, so it is denied with a message rather than refused as malformed
    (the apiserver shows a webhook's 400 only as "rejected for an unknown reason").
    """
    request = review.get("request") if isinstance(review, Mapping) else None
    run = request.get("object") if isinstance(request, Mapping) else None
    spec = run.get("spec") if isinstance(run, Mapping) else None
    params = spec.get("params") if isinstance(spec, Mapping) else None
    if not isinstance(params, list) or len(params) <= MAX_PARAMS:
        return None
    return (
        f"PipelineRun {shown_name(run)}: spec.params has {len(params)} entries, and "
        f"registry-sync checks runs with at most {MAX_PARAMS}; a model-testing run needs a "
        "handful. Remove the params the pipeline does not use and create the run again."
    )


def denial(review: Mapping[str, Any], message: str, code: int = 400) -> dict[str, Any]:
    """The AdmissionReview answer that denies the reviewed request with `message`."""
    request = review.get("request")
    uid = request.get("uid") if isinstance(request, Mapping) else None
    return {
        "apiVersion": review.get("apiVersion", "admission.k8s.io/v1"),
        "kind": review.get("kind", "AdmissionReview"),
        "response": {
            "uid": uid if isinstance(uid, str) else "",
            "allowed": False,
            "status": {"code": code, "message": message},
        },
    }


def _shown(value: object) -> str:
    if not isinstance(value, str):
        return "missing" if value is None else f"not a string ({type(value).__name__})"
    return repr(value if len(value) <= _SHOWN else f"{value[: _SHOWN - 3]}...")


def checked(fn: kopf.WebhookFn, namespace: str) -> kopf.WebhookFn:
    """`fn` behind the checks, cheapest first: a review unusable for `namespace` is
    answered 400, a run with too many params is denied; neither reaches `fn`."""

    async def check_then_serve(request: Any, **kwargs: Any) -> Any:
        problem = _request_problem(request, namespace)
        if problem is None:
            refusal = too_many_params(request)
            if refusal is not None:
                return denial(request, refusal)
            problem = _objects_problem(request)
        if problem is not None:
            raise _malformed(problem)
        return await fn(request, **kwargs)

    return check_then_serve


class CheckingWebhookServer(kopf.WebhookServer):
    """Kopf's webhook server for one namespace: body size limited, large bodies one at a
    time, every review's syntax and shape checked before Kopf reads it."""

    def __init__(self, *, namespace: str, **options: Any) -> None:
        super().__init__(**options)
        self.namespace = namespace
        self._large_body_turn = asyncio.Semaphore(1)
        self.listening = False  # Kopf yields a client config once its server listens
        # Set on SIGTERM: every answer then closes its connection, so that the apiserver's
        # next review opens a new one, which the Service sends to a replica still ready
        # (a kept-alive connection would stay with this one until it exits mid-request).
        self.closing_connections = False

    async def __call__(self, fn: kopf.WebhookFn) -> AsyncIterator[kopf.WebhookClientConfig]:
        # Closed with this generator, so that the server stops listening when it does.
        # Kopf's server is an async generator; its signature says only AsyncIterator.
        served = cast(
            AsyncGenerator[kopf.WebhookClientConfig, None],
            super().__call__(checked(fn, self.namespace)),
        )
        async with contextlib.aclosing(served) as configs:
            async for client_config in configs:
                self.listening = True
                yield client_config

    # Kopf's server builds its aiohttp application with the default body limit (1 MiB) and
    # hands every request to this method, which reads, parses and answers it.
    async def _serve(  # type: ignore[override]
        self, fn: kopf.WebhookFn, request: aiohttp.web.Request
    ) -> aiohttp.web.Response:
        size = request.content_length
        if size is not None and size > MAX_BODY_BYTES:
            raise aiohttp.web.HTTPRequestEntityTooLarge(
                max_size=MAX_BODY_BYTES,
                actual_size=size,
                text=f"an AdmissionReview of {size} bytes; at most {MAX_BODY_BYTES} are read",
            )
        limited = request.clone(client_max_size=MAX_BODY_BYTES)
        large = size is None or size > LARGE_BODY_BYTES
        async with self._large_body_turn if large else contextlib.nullcontext():
            try:
                response = await kopf.WebhookServer._serve(fn, limited)
                if self.closing_connections:
                    response.force_close()
                return response
            except RecursionError:
                raise _malformed("the body nests deeper than can be parsed") from None
            except ValueError as error:  # not UTF-8, or an integer of thousands of digits
                raise _malformed(f"the body is not JSON that can be read: {error}") from None


def _malformed(problem: str) -> aiohttp.web.HTTPBadRequest:
    return aiohttp.web.HTTPBadRequest(
        reason="Malformed AdmissionReview", text=f"malformed AdmissionReview: {problem}"
    )
