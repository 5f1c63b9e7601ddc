"""Replaying the real Model Registry's recorded exchanges against the stand-in, fairly.

A fair replay (see the third-party README) compares status codes exactly and bodies up
to: ids (mapped one-to-one per id sequence, also inside paths and request bodies), times
(both must be millisecond strings, and "changed since creation" must agree), page tokens
(empty vs non-empty; the stand-in's own token is fed to the next request that used one),
and the wording of error messages (the `code` must match).
"""

from __future__ import annotations

import copy
import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

TIME_FIELDS = ("createTimeSinceEpoch", "lastUpdateTimeSinceEpoch")
# Fields holding an id of the sequence shared by models, versions, environments, services.
CONTEXT_ID_FIELDS = ("registeredModelId", "modelVersionId", "servingEnvironmentId")
CONTEXT_ID_QUERY = ("parentResourceId",)
PATH_ID_SEQUENCE = {
    "registered_models": "context",
    "model_versions": "context",
    "serving_environments": "context",
    "inference_services": "context",
    "model_artifacts": "artifact",
    "artifacts": "artifact",
}


@dataclass(frozen=True)
class Exchange:
    """One recorded request and the real server's answer."""

    index: int
    name: str
    method: str
    path: str
    query: dict[str, str]
    request: Any
    status: int
    content_type: str
    response: Any

    @property
    def label(self) -> str:
        return f"exchange {self.index:02d} {self.name!r}"


def load_exchanges(path: Path) -> list[Exchange]:
    return [
        Exchange(
            index=index,
            name=raw["name"],
            method=raw["method"],
            path=raw["path"],
            query=dict(raw["query"]),
            request=raw["request"],
            status=raw["status"],
            content_type=raw["content_type"],
            response=raw["response"],
        )
        for index, raw in enumerate(json.loads(path.read_text(encoding="utf-8")))
    ]


def _sequence_of(entity: dict[str, Any]) -> str:
    return "artifact" if "artifactType" in entity else "context"


class IdMap:
    """Recorded ids and the stand-in's ids, one-to-one within each id sequence."""

    def __init__(self) -> None:
        self._forward: dict[str, dict[str, str]] = {"context": {}, "artifact": {}}
        self._backward: dict[str, dict[str, str]] = {"context": {}, "artifact": {}}

    def to_stand_in(self, sequence: str, recorded: str) -> str:
        """The stand-in's id for a recorded one; unknown ids (say 999999) pass unchanged."""
        return self._forward[sequence].get(recorded, recorded)

    def pair(self, sequence: str, recorded: Any, actual: Any) -> str | None:
        """Learn or check that `recorded` corresponds to `actual`; a problem text if not."""
        if not isinstance(actual, str) or not actual.isdigit():
            return f"stand-in id {actual!r} is not a decimal string"
        known = self._forward[sequence].get(recorded)
        if known is not None and known != actual:
            return f"recorded {sequence} id {recorded} is stand-in id {known}, got {actual}"
        owner = self._backward[sequence].get(actual)
        if owner is not None and owner != recorded:
            return f"stand-in {sequence} id {actual} already stands for recorded id {owner}"
        self._forward[sequence][recorded] = actual
        self._backward[sequence][actual] = recorded
        return None


@dataclass(frozen=True)
class SentRequest:
    method: str
    path: str
    query: dict[str, str]
    body: Any


@dataclass
class Outcome:
    """What the stand-in answered to one exchange, and how it differs from the recording."""

    exchange: Exchange
    sent: SentRequest
    status: int
    content_type: str
    body: Any
    differences: list[str] = field(default_factory=list)
    expected_view: Any = None  # the recorded body with ids mapped and volatile parts masked
    actual_view: Any = None

    def report(self) -> str:
        """A readable account of the divergence, naming the exchange."""
        query = "&".join(f"{k}={v}" for k, v in self.sent.query.items())
        lines = [
            f"{self.exchange.label}: {self.sent.method} {self.sent.path}"
            + (f"?{query}" if query else ""),
            f"status: recorded {self.exchange.status}, stand-in {self.status}",
            "differences:",
            *(f"  - {d}" for d in self.differences),
        ]
        expected = json.dumps(self.expected_view, indent=2, sort_keys=True).splitlines()
        actual = json.dumps(self.actual_view, indent=2, sort_keys=True).splitlines()
        diff = difflib.unified_diff(
            expected, actual, "recorded (ids mapped, times masked)", "stand-in", lineterm=""
        )
        return "\n".join([*lines, *diff])


def _translate_body(body: Any, ids: IdMap) -> Any:
    """A recorded request body with its ids replaced by the stand-in's."""
    if isinstance(body, list):
        return [_translate_body(item, ids) for item in body]
    if not isinstance(body, dict):
        return body
    translated = {key: _translate_body(value, ids) for key, value in body.items()}
    for key in CONTEXT_ID_FIELDS:
        if isinstance(body.get(key), str):
            translated[key] = ids.to_stand_in("context", body[key])
    if isinstance(body.get("id"), str):
        translated["id"] = ids.to_stand_in(_sequence_of(body), body["id"])
    return translated


def translate_request(exchange: Exchange, ids: IdMap, tokens: dict[str, str]) -> SentRequest:
    segments = exchange.path.split("/")
    for position in range(1, len(segments)):
        sequence = PATH_ID_SEQUENCE.get(segments[position - 1])
        if sequence is not None and segments[position].isdigit():
            segments[position] = ids.to_stand_in(sequence, segments[position])
    query = dict(exchange.query)
    for key in CONTEXT_ID_QUERY:
        if key in query:
            query[key] = ids.to_stand_in("context", query[key])
    if query.get("nextPageToken"):
        query["nextPageToken"] = tokens.get(query["nextPageToken"], query["nextPageToken"])
    return SentRequest(
        exchange.method, "/".join(segments), query, _translate_body(exchange.request, ids)
    )


class _Comparison:
    """Walks a recorded body and the stand-in's side by side, collecting differences."""

    def __init__(self, ids: IdMap, tokens: dict[str, str], is_error: bool) -> None:
        self.ids = ids
        self.tokens = tokens
        self.is_error = is_error
        self.differences: list[str] = []

    def walk(self, recorded: Any, actual: Any, where: str) -> tuple[Any, Any]:
        """Compare, and return both sides with volatile parts masked for the diff."""
        if isinstance(recorded, dict) and isinstance(actual, dict):
            return self._objects(recorded, actual, where)
        if isinstance(recorded, list) and isinstance(actual, list):
            if len(recorded) != len(actual):
                self.differences.append(
                    f"{where}: recorded {len(recorded)} items, stand-in {len(actual)}"
                )
            pairs = [
                self.walk(r, a, f"{where}[{i}]")
                for i, (r, a) in enumerate(zip(recorded, actual, strict=False))
            ]
            extra_recorded, extra_actual = recorded[len(pairs) :], actual[len(pairs) :]
            return [p[0] for p in pairs] + extra_recorded, [p[1] for p in pairs] + extra_actual
        if recorded != actual:
            self.differences.append(f"{where}: recorded {recorded!r}, stand-in {actual!r}")
        return recorded, actual

    def _objects(
        self, recorded: dict[str, Any], actual: dict[str, Any], where: str
    ) -> tuple[Any, Any]:
        for key in sorted(recorded.keys() - actual.keys()):
            self.differences.append(f"{where}.{key}: recorded has it, stand-in does not")
        for key in sorted(actual.keys() - recorded.keys()):
            self.differences.append(f"{where}.{key}: stand-in has it, recorded does not")
        masked_recorded: dict[str, Any] = {}
        masked_actual: dict[str, Any] = {}
        for key in sorted(recorded.keys() & actual.keys()):
            here = f"{where}.{key}"
            rec, act = recorded[key], actual[key]
            if key == "id" or key in CONTEXT_ID_FIELDS:
                sequence = _sequence_of(recorded) if key == "id" else "context"
                problem = self.ids.pair(sequence, rec, act)
                if problem:
                    self.differences.append(f"{here}: {problem}")
                masked_recorded[key] = self.ids.to_stand_in(sequence, rec)
                masked_actual[key] = act
            elif key in TIME_FIELDS:
                if not (isinstance(act, str) and act.isdigit()):
                    self.differences.append(f"{here}: stand-in {act!r} is not a millisecond string")
                masked_recorded[key] = masked_actual[key] = "<time>"
            elif key == "nextPageToken":
                if bool(rec) != bool(act):
                    self.differences.append(
                        f"{here}: recorded {'a token' if rec else 'none'}, "
                        f"stand-in {'a token' if act else 'none'}"
                    )
                if rec and act:
                    self.tokens[rec] = act
                masked_recorded[key] = "<token>" if rec else ""
                masked_actual[key] = "<token>" if act else ""
            elif key == "message" and self.is_error and where == "$":
                if not (isinstance(act, str) and act):
                    self.differences.append(f"{here}: stand-in {act!r} is not a message")
                masked_recorded[key] = masked_actual[key] = "<message>"
            else:
                masked_recorded[key], masked_actual[key] = self.walk(rec, act, here)
        if all(k in recorded and k in actual for k in TIME_FIELDS):
            # Whether the entity changed since it was created must agree.
            recorded_changed = recorded[TIME_FIELDS[0]] != recorded[TIME_FIELDS[1]]
            actual_changed = actual[TIME_FIELDS[0]] != actual[TIME_FIELDS[1]]
            if recorded_changed != actual_changed:
                self.differences.append(
                    f"{where}: recorded {_was(recorded_changed)} updated after creation, "
                    f"stand-in {_was(actual_changed)}"
                )
        return masked_recorded, masked_actual


def _was(changed: bool) -> str:
    return "was" if changed else "was not"


def replay(exchanges: list[Exchange], base_url: str) -> list[Outcome]:
    """Send every exchange in order to the stand-in at `base_url` and compare each answer."""
    ids = IdMap()
    tokens: dict[str, str] = {}
    outcomes: list[Outcome] = []
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        for exchange in exchanges:
            sent = translate_request(exchange, ids, tokens)
            content = None if sent.body is None else json.dumps(sent.body).encode()
            headers = {} if content is None else {"Content-Type": "application/json"}
            answer = client.request(
                sent.method, sent.path, params=sent.query, content=content, headers=headers
            )
            try:
                body: Any = answer.json()
            except ValueError:
                body = answer.text
            outcome = Outcome(
                exchange, sent, answer.status_code, answer.headers.get("content-type", ""), body
            )
            if outcome.status != exchange.status:
                outcome.differences.append(
                    f"status: recorded {exchange.status}, stand-in {outcome.status}"
                )
            if outcome.content_type.lower() != exchange.content_type.lower():
                outcome.differences.append(
                    f"content type: recorded {exchange.content_type!r}, "
                    f"stand-in {outcome.content_type!r}"
                )
            comparison = _Comparison(ids, tokens, is_error=exchange.status >= 400)
            outcome.expected_view, outcome.actual_view = comparison.walk(
                copy.deepcopy(exchange.response), body, "$"
            )
            outcome.differences += comparison.differences
            outcomes.append(outcome)
    return outcomes
