"""The AdmissionReview shape check in front of Kopf (found by tests/fuzz: each of these
reviews made Kopf's admission code raise, which its server answers with a bare 500)."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import aiohttp.web
import pytest

from registry_sync.webhook.review import (
    MAX_DEPTH,
    MAX_PARAMS,
    checked,
    review_problem,
    too_many_params,
)

NAMESPACE = "models"


def review() -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "u-1",
            "resource": {"group": "tekton.dev", "version": "v1", "resource": "pipelineruns"},
            "namespace": NAMESPACE,
            "operation": "CREATE",
            "userInfo": {"username": "alice"},
            "object": {
                "metadata": {"name": "run", "labels": {"registry-sync.io/inference-service": "m"}},
                "spec": {"params": [{"name": "p", "value": {"k": "v"}}]},
            },
            "oldObject": None,
        },
    }


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"v": value}
    return value


def params(count: int) -> list[dict[str, str]]:
    return [{"name": f"p{number}", "value": "v"} for number in range(count)]


def edited(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(review())
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


def test_a_review_as_the_apiserver_sends_it_has_no_problem() -> None:
    assert review_problem(review(), NAMESPACE) is None


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        pytest.param([1, 2], "not a JSON object", id="not-an-object"),
        pytest.param({"kind": "AdmissionReview"}, "request is missing", id="no-request"),
        pytest.param(edited(("request", "resource"), None), "request.resource", id="no-resource"),
        pytest.param(
            edited(("request", "resource", "group"), 5), "request.resource", id="resource-number"
        ),
        pytest.param(
            edited(("request", "resource", "resource"), ""), "request.resource", id="resource-empty"
        ),
        pytest.param(edited(("request", "operation"), ["CREATE"]), "operation", id="operation"),
        pytest.param(edited(("request", "userInfo"), "alice"), "userInfo", id="user-info"),
        pytest.param(edited(("request", "object"), "run"), "object is not", id="object-string"),
        pytest.param(
            edited(("request", "object", "metadata"), []), "metadata that", id="metadata-list"
        ),
        pytest.param(
            edited(("request", "object", "metadata", "labels"), 5), "metadata.labels", id="labels"
        ),
        pytest.param(
            edited(("request", "object", "metadata", "annotations"), {"a": 1}),
            "metadata.annotations",
            id="annotation-number",
        ),
        pytest.param(
            edited(("request", "oldObject"), {"metadata": "x"}), "request.oldObject", id="old"
        ),
        pytest.param(
            edited(("request", "object", "metadata", "annotations"), None),
            "metadata.annotations",
            id="annotations-null",
        ),
        pytest.param(edited(("request", "object", "spec"), None), "spec: null", id="spec-null"),
        pytest.param(
            edited(("request", "namespace"), "elsewhere"),
            "request.namespace is 'elsewhere', but this webhook answers for namespace 'models'",
            id="other-namespace",
        ),
        pytest.param(
            edited(("request", "namespace"), None),
            "request.namespace is missing",
            id="no-namespace",
        ),
        pytest.param(
            edited(("request", "namespace"), "n" * 10_000),
            "request.namespace is 'nnn",
            id="namespace-huge",
        ),
        pytest.param(
            edited(("request", "object", "spec"), nested(MAX_DEPTH + 1)),
            f"more than {MAX_DEPTH} levels",
            id="too-deep",
        ),
    ],
)
def test_a_malformed_review_is_named_by_its_problem(body: Any, problem: str) -> None:
    found = review_problem(body, NAMESPACE)
    assert found is not None and problem in found


def test_a_deep_but_not_too_deep_object_passes() -> None:
    deep = edited(("request", "object", "spec"), nested(MAX_DEPTH - 2))
    assert review_problem(deep, NAMESPACE) is None


def test_checked_answers_a_malformed_review_with_a_400_naming_the_problem() -> None:
    async def never(request: Any, **_: Any) -> Any:
        raise AssertionError("a malformed review must not reach Kopf")

    with pytest.raises(aiohttp.web.HTTPBadRequest) as raised:
        asyncio.run(checked(never, NAMESPACE)({"request": "x"}, webhook="id"))
    assert "malformed AdmissionReview: request is missing" in raised.value.text


def test_checked_passes_a_good_review_and_its_arguments_through() -> None:
    async def answer(request: Any, **kwargs: Any) -> Any:
        return {"seen": request["request"]["uid"], **kwargs}

    answered = asyncio.run(checked(answer, NAMESPACE)(review(), webhook="id"))
    assert answered == {"seen": "u-1", "webhook": "id"}


def answer_of(review: dict[str, Any]) -> Any:
    """What `checked` answers for `review`, with Kopf's side failing the test if reached."""

    async def never(request: Any, **_: Any) -> Any:
        raise AssertionError("the review must not reach Kopf")

    return asyncio.run(checked(never, NAMESPACE)(review, webhook="id"))


def test_a_run_with_too_many_params_is_denied_naming_it_without_reaching_kopf() -> None:
    answer = answer_of(edited(("request", "object", "spec", "params"), params(MAX_PARAMS + 1)))

    assert answer["response"]["uid"] == "u-1"
    assert answer["response"]["allowed"] is False
    assert answer["response"]["status"]["code"] == 400
    assert answer["response"]["status"]["message"].startswith(
        f"PipelineRun run: spec.params has {MAX_PARAMS + 1} entries"
    )


def test_params_are_counted_before_the_object_is_walked() -> None:
    # Counting is cheap; walking 31,000 params (and Kopf's copy and diff of them) is not.
    flooded = edited(("request", "object", "spec", "params"), params(31_000))
    flooded["request"]["object"]["spec"]["deep"] = nested(MAX_DEPTH * 2)

    answer = answer_of(flooded)

    assert "spec.params has 31000 entries" in answer["response"]["status"]["message"]


def test_the_most_params_allowed_are_not_too_many() -> None:
    run = edited(("request", "object", "spec", "params"), params(MAX_PARAMS))

    assert too_many_params(run) is None
    assert review_problem(run, NAMESPACE) is None


@pytest.mark.parametrize("spec", [None, "x", {"params": "x"}, {"params": None}, {}])
def test_too_many_params_reads_any_spec_safely(spec: Any) -> None:
    assert too_many_params(edited(("request", "object", "spec"), spec)) is None


def test_a_review_for_another_namespace_is_refused_before_its_object_is_read() -> None:
    foreign = edited(("request", "namespace"), "elsewhere")
    foreign["request"]["object"] = {"spec": {"params": params(31_000)}}

    with pytest.raises(aiohttp.web.HTTPBadRequest) as raised:
        answer_of(foreign)

    assert raised.value.text is not None and "request.namespace is 'elsewhere'" in raised.value.text
