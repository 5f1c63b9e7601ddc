"""Generated AdmissionReviews for PipelineRun CREATE through the operator's webhook path.

In process, as the operator's webhook server does it: the review goes through the
operator's shape check (`webhook/review.py`) to Kopf's `serve_admission_request` with the
operator's own handler registry, whose mutating handler (`handlers/pipeline_runs.py`) asks
`PipelineRunAdmission` (and so `decide_admission`). The same runs also go through the
no-webhook mode's decision (`decide_without_webhook`). The
runs are the incident's run with odd params (arrays, objects, numbers, null, duplicates,
floods around the cap), missing or odd spec, wrong apiVersion, huge strings, random edits
anywhere; the reviews themselves are sometimes broken or for another namespace. Whatever
arrives:
- nothing escapes but the shape check's 400 and Kopf's documented `WebhookError`s
  (answered 400/404/409 by its server), each saying what is wrong;
- only reviews for the operator's namespace are answered, and a run with more than
  `MAX_PARAMS` params only by a denial;
- a denial carries the operator's own message, naming the run;
- a patch comes only for a run whose InferenceService's binding is Ready, and the patched
  run holds exactly the binding's names; a run admitted without a patch already did.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import logging
import random
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp.web
import jsonpatch
import kopf
import pytest
from kopf._cogs.structs import references
from kopf._core.engines import admission as kopf_admission
from kopf._core.engines.indexing import OperatorIndexers
from kopf._core.reactor.inventory import ResourceMemories

from fuzz.generators import deeply_nested, garbage, hostile, huge_text, mutate, text
from fuzz.harness import EXAMPLES, fuzz
from registry_sync.controller.binding_book import BindingBook, BindingEntry
from registry_sync.controller.metrics import OperatorMetrics
from registry_sync.controller.pipeline_run_admission import PipelineRunAdmission, binding_view
from registry_sync.controller.settings import OperatorSettings, WebhookMode
from registry_sync.domain.admission import BindingView
from registry_sync.domain.binding import CorrectionHistory, GitOpsPolicy, decide_binding
from registry_sync.domain.inference_service import read_inference_service
from registry_sync.domain.metadata import (
    TARGET_LABEL,
    VERSION_ANNOTATION,
    DeploymentKind,
    LabelKeys,
)
from registry_sync.domain.params import ParamNames
from registry_sync.domain.replacement import Cancel, Leave, Replace, decide_without_webhook
from registry_sync.domain.resolution import resolve
from registry_sync.handlers.triggers import build_kopf_registry
from registry_sync.webhook.review import MAX_PARAMS, checked
from unit.domain.seed import (
    INFERENCE_SERVICE_NAME,
    NAMESPACE,
    SNAPSHOT_TAKEN_AT_MS,
    seed_inference_service,
    seed_pipeline_run_params,
    seed_snapshot,
)

# 10^5 examples take minutes of CPU; on a shared machine, several times that in wall time.
pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(1800)]

NAMES = ParamNames()
AMBIGUOUS = "ambiguous-isvc"  # opted in, its binding not Ready
UNMANAGED = "unmanaged-isvc"  # exists without the opt-in annotation
UNKNOWN = "unknown-isvc"  # no such InferenceService
TARGETS = [INFERENCE_SERVICE_NAME, INFERENCE_SERVICE_NAME, AMBIGUOUS, UNMANAGED, UNKNOWN]
Review = Callable[[Any], Awaitable[Any]]


def _entry(body: dict[str, Any], registry_current: bool) -> BindingEntry:
    """A binding as the reconciler leaves it after handling `body`."""
    facts = read_inference_service(body, LabelKeys())
    now_ms = SNAPSHOT_TAKEN_AT_MS + 1000
    resolution = resolve(
        facts.deployed.storage,
        seed_snapshot() if registry_current else None,
        snapshot_current=registry_current,
        now_ms=now_ms,
    )
    decision = decide_binding(
        facts, resolution, keys=LabelKeys(), registry_name=None, history=CorrectionHistory(),
        policy=GitOpsPolicy(), previous_status=None, now_ms=now_ms,
    )  # fmt: skip
    return BindingEntry(
        facts=facts,
        resolution=resolution,
        decision=decision,
    )


def _book() -> tuple[BindingBook, dict[str, BindingView]]:
    """The seed's Ready binding, a binding that is not Ready, and an unmanaged target."""
    book = BindingBook()
    not_ready = seed_inference_service()
    not_ready["metadata"]["name"] = AMBIGUOUS
    entries = [_entry(seed_inference_service(), True), _entry(not_ready, False)]
    for entry in entries:
        book._entries[entry.facts.name] = entry  # filled as the reconciler's `put` does
    book.note_unmanaged(DeploymentKind.INFERENCE_SERVICE, UNMANAGED, True)
    views = {entry.facts.name: binding_view(entry) for entry in entries}
    assert views[INFERENCE_SERVICE_NAME].ready and not views[AMBIGUOUS].ready
    return book, views


def webhook(book: BindingBook) -> Review:
    """What Kopf's webhook server calls for a review, wired to the operator's handler."""
    registry = build_kopf_registry(
        OperatorSettings(registry_url="https://registry.example:8443", webhook=WebhookMode.URL)
    )
    runs = references.Resource(
        group="tekton.dev", version="v1", plural="pipelineruns", kind="PipelineRun",
        singular="pipelinerun", namespaced=True, preferred=True,
        verbs=frozenset({"create", "list", "watch", "patch"}),
    )  # fmt: skip
    services = type("Services", (), {})()
    # No waiting for a binding: an unknown target is denied at once.
    services.admission = PipelineRunAdmission(book, NAMES, OperatorMetrics(), binding_wait_s=0)
    return checked(
        functools.partial(
            kopf_admission.serve_admission_request,
            settings=kopf.OperatorSettings(),
            registry=registry,
            insights=references.Insights(webhook_resources={runs}),
            memories=ResourceMemories(),
            memobase=kopf.Memo(services=services),
            indices=OperatorIndexers().indices,
        ),
        NAMESPACE,
    )


# Generation ---------------------------------------------------------------------------

_ODD_PARAM_VALUES: list[Callable[[random.Random], Any]] = [
    lambda rng: [text(rng), text(rng)],  # an array param
    lambda rng: {"key": text(rng)},  # an object param
    lambda rng: rng.choice([0, 5, -1.5, True, None]),
    lambda rng: huge_text(rng),
    lambda rng: text(rng),
    lambda rng: garbage(rng),
    lambda rng: deeply_nested(rng),
]


def _params(rng: random.Random) -> Any:
    params: list[Any] = seed_pipeline_run_params()  # a new list of new dicts each time
    for _ in range(rng.randint(0, 3)):
        edit = rng.randrange(5)
        name = rng.choice([*NAMES.as_tuple(), "benchmark_profile", text(rng, 8)])
        if edit == 0:  # our param, or another, with an odd value
            params.append({"name": name, "value": rng.choice(_ODD_PARAM_VALUES)(rng)})
        elif edit == 1:  # a duplicate
            params.append({"name": name, "value": text(rng)})
            params.append({"name": name, "value": text(rng)})
        elif edit == 2 and params:
            del params[rng.randrange(len(params))]
        elif edit == 3:
            params.append(rng.choice([None, "x", 5, [], {"value": "no name"}, {"name": None}]))
        elif rng.random() < 0.1:  # a flood of params, around the cap
            count = rng.choice([MAX_PARAMS - len(params), MAX_PARAMS + 1 - len(params), 5000])
            params.extend({"name": f"p{number}", "value": "v"} for number in range(count))
        else:
            rng.shuffle(params)
    return rng.choice([params] * 8 + [None, {}, "params", 5])


def _name(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.6:
        return "model-test-1"
    if roll < 0.9:
        return text(rng)
    return rng.choice(["", None, 5, "n" * 254, huge_text(rng)])


def pipeline_run(rng: random.Random) -> Any:
    labels: dict[str, Any] = {TARGET_LABEL: rng.choice(TARGETS)}
    if rng.random() < 0.05:
        labels[TARGET_LABEL] = rng.choice(["", " ", "x" * 300, huge_text(rng), None])
    run: dict[str, Any] = {
        "apiVersion": rng.choice(["tekton.dev/v1"] * 6 + ["tekton.dev/v1beta1", "v1", "", 5]),
        "kind": "PipelineRun",
        "metadata": {
            "name": _name(rng),
            "generateName": rng.choice([None, "model-test-", 7]),
            "namespace": NAMESPACE,
            "labels": labels,
        },
        "spec": {"pipelineRef": {"name": "model-testing"}, "params": _params(rng)},
    }
    roll = rng.random()
    if roll < 0.05:
        del run["spec"]
    elif roll < 0.1:
        run["spec"] = rng.choice([None, "spec", [], 5, garbage(rng)])
    for _ in range(rng.choice([0, 0, 0, 1, 2])):
        run = mutate(rng, run, hostile)
    return run


def admission_review(rng: random.Random) -> Any:
    review: Any = {
        "apiVersion": rng.choice(["admission.k8s.io/v1"] * 8 + ["admission.k8s.io/v1beta1", 3]),
        "kind": "AdmissionReview",
        "request": {
            "uid": text(rng, 36),
            "kind": {"group": "tekton.dev", "version": "v1", "kind": "PipelineRun"},
            "resource": {"group": "tekton.dev", "version": "v1", "resource": "pipelineruns"},
            # The apiserver sends only this namespace's runs; anyone else may send others.
            "namespace": rng.choice([NAMESPACE] * 20 + ["elsewhere", "", None]),
            "operation": rng.choice(["CREATE"] * 30 + ["UPDATE", "DELETE", None]),
            "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
            "object": pipeline_run(rng),
            "oldObject": None,
            "dryRun": rng.random() < 0.1,
        },
    }
    if rng.random() < 0.1:  # a broken review: the apiserver never sends one, anyone else may
        review = mutate(rng, review, hostile)
    return review


# Checking -------------------------------------------------------------------------------


# A denial names the run (shortened) and may quote a binding's message, which may quote a
# storage URI (at most 4096 characters): anything longer echoes input it should not.
_READABLE = 6000


def check_answer(review: Any, answer: Any, views: dict[str, BindingView]) -> None:
    if isinstance(answer, aiohttp.web.HTTPBadRequest):  # the operator's shape check
        assert answer.text and answer.text.startswith("malformed AdmissionReview: ")
        return
    if isinstance(answer, kopf_admission.WebhookError):  # Kopf's own, answered 400/404/409
        assert str(answer).strip(), "a rejected review must say why"
        return
    if isinstance(answer, BaseException):
        raise answer
    assert review["request"]["namespace"] == NAMESPACE, "answered for another namespace"
    run = review["request"]["object"]
    params = run.get("spec", {}).get("params") if isinstance(run.get("spec"), dict) else None
    payload = answer["response"]
    assert isinstance(payload["allowed"], bool)
    if isinstance(params, list) and len(params) > MAX_PARAMS:
        assert not payload["allowed"], "a run with too many params admitted"
        assert "entries, and registry-sync checks runs with at most" in payload["status"]["message"]
    if not payload["allowed"]:
        message = payload["status"]["message"]
        assert "patch" not in payload
        assert message.startswith("PipelineRun "), f"not the operator's own denial: {message!r}"
        assert len(message) <= _READABLE, f"a denial of {len(message)} characters"
        return
    target = _target(run)
    if "patch" in payload:
        assert payload["patchType"] == "JSONPatch"
        operations = json.loads(base64.b64decode(payload["patch"]))
        patched = jsonpatch.apply_patch(run, operations)
        assert target is not None and views[target].ready, "a patch from a binding not Ready"
        _assert_carries_binding(patched, views[target])
        return
    handled = review["request"].get("operation") == "CREATE" and _has_label(run)
    if handled:  # admitted unchanged: it must have carried the right names already
        assert target is not None and views[target].ready, "admitted without a Ready binding"
        _assert_carries_binding(run, views[target])


def _has_label(run: Any) -> bool:
    metadata = run.get("metadata") if isinstance(run, dict) else None
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    return isinstance(labels, dict) and TARGET_LABEL in labels


def _target(run: Any) -> str | None:
    value = run["metadata"]["labels"][TARGET_LABEL] if _has_label(run) else None
    return value if isinstance(value, str) else None


def _assert_carries_binding(run: dict[str, Any], view: BindingView) -> None:
    params = [p for p in run["spec"]["params"] if p.get("name") in NAMES.as_tuple()]
    assert sorted((p["name"], p["value"]) for p in params) == sorted(
        zip(NAMES.as_tuple(), (view.served_name, view.model_name, view.version_name), strict=True)
    )
    assert run["metadata"]["annotations"][VERSION_ANNOTATION] == view.version_id


def check_without_webhook(run: Any, views: dict[str, BindingView]) -> None:
    """The no-webhook mode's decision for the same run, as its watch would deliver it."""
    if not isinstance(run, dict):
        return
    target = _target(run)
    action = decide_without_webhook(run, views.get(target or ""), NAMES)
    if isinstance(action, Replace):
        assert target is not None and views[target].ready, "a copy from a binding not Ready"
        _assert_carries_binding(dict(action.copy), views[target])
        assert action.message.strip()
    elif isinstance(action, Cancel):
        assert action.reason and action.message.strip()
    else:
        assert isinstance(action, Leave) and action.why.strip()


@contextlib.contextmanager
def kopf_quiet() -> Iterator[None]:
    """Kopf logs every denial at ERROR: 10^5 of them would only fill memory."""
    logger = logging.getLogger("kopf")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def test_any_admission_review_is_answered_safely() -> None:
    book, views = _book()
    review_fn = webhook(book)
    loop = asyncio.new_event_loop()

    async def answer(review: Any) -> Any:
        try:
            return await review_fn(review)
        except Exception as error:  # judged by check_answer: only documented ones are fine
            return error

    def check(review: Any, _: random.Random) -> None:
        check_answer(review, loop.run_until_complete(answer(review)), views)
        request = review.get("request") if isinstance(review, dict) else None
        if isinstance(request, dict):
            check_without_webhook(request.get("object"), views)

    try:
        with kopf_quiet():
            assert fuzz(admission_review, check) == EXAMPLES
    finally:
        loop.close()
