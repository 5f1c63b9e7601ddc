"""The served-name check: does the running vLLM serve the name model-testing runs are given?

A model-testing run benchmarks through vLLM's OpenAI API with the vLLM name the binding
injects (`vllm_model_name`); vLLM refuses any other name ("The model `X` does not exist").
That name is derived from the InferenceService (`--served-model-name` in the predictor's
args, else its name), which is a claim about what runs. `GET /v1/models` on the predictor
is the fact: this module says where to ask, reads the answer, judges it against the
expected name, and says what the ModelBinding's conditions and `Ready` make of it per
`--served-name-check` mode. Pure: the asking is `controller.served_name_probe`'s.

Everything here that shows other people's text (served ids, URLs from an object's status,
server answers) shows it escaped and cut short: a hostile predictor or status must not
forge lines in `oc describe` or drive a terminal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from registry_sync.domain.checks import Check
from registry_sync.domain.escaping import escaped
from registry_sync.domain.nesting import deeper_than

CONDITION_TYPE: Final = "ServedNameVerified"
MODELS_PATH: Final = "/v1/models"

# A URL longer than this in an object's status is not a Service or Route address.
MAX_URL_LENGTH: Final = 2048
# vLLM lists its base model(s) and loaded LoRA adapters: a few entries. Far more is not vLLM.
MAX_SERVED_MODELS: Final = 1000
# A served name is a model name or a path; one this long is shown cut (never matched cut).
_SHOWN_ID_LENGTH: Final = 200
# How many served ids a message lists before saying how many more there are.
_SHOWN_IDS: Final = 10
_MAX_DEPTH: Final = 16


class ServedNameCheck(StrEnum):
    """`--served-name-check`: what a wrong or unknown served name does to the binding."""

    OFF = "off"  # not asked; no condition
    REPORT = "report"  # condition ServedNameVerified only
    ENFORCE = "enforce"  # also Ready False while the name is wrong or unknown


class Reason(StrEnum):
    """Reasons of the `ServedNameVerified` condition (and of `Ready` when it blocks)."""

    MATCHES = "ServedNameMatches"
    MISMATCH = "ServedNameMismatch"
    UNKNOWN = "ServedNameUnknown"


class ProbeProblem(StrEnum):
    """Why the served names could not be learnt."""

    NO_URL = "NoUrl"  # the status names no usable address (yet)
    UNREACHABLE = "Unreachable"  # connection refused, DNS, reset
    TIMEOUT = "Timeout"
    TLS = "Tls"  # the certificate is not trusted
    UNAUTHORIZED = "Unauthorized"  # 401: no token, or a refused one
    FORBIDDEN = "Forbidden"  # 403
    TOKEN = "Token"  # the token file cannot be read, or may not be sent
    REDIRECTED = "Redirected"  # 3xx: never followed
    HTTP_STATUS = "HttpStatus"  # any other non-200 answer
    TOO_LARGE = "TooLarge"
    GARBAGE = "Garbage"  # not vLLM's /v1/models answer


# What the probe learnt ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServedModels:
    """The ids vLLM's `/v1/models` lists (served names: base models and LoRA adapters), in
    the order listed, without repeats."""

    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ProbeFailed:
    """The served names are not known: `problem` says what kind of failure, `reason` says it
    in words for a person (already escaped)."""

    problem: ProbeProblem
    reason: str


ProbeResult = ServedModels | ProbeFailed


# Where to ask --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelsEndpoint:
    """The `/v1/models` URL to ask, and which status field it came from."""

    url: str
    source: str


@dataclass(frozen=True, slots=True)
class NoModelsEndpoint:
    """No URL to ask; `reason` says why (already escaped)."""

    reason: str


def models_url(inference_service_status: object) -> ModelsEndpoint | NoModelsEndpoint:
    """The predictor's `/v1/models` URL from an InferenceService's `status`. Never raises.

    `status.address.url` (the cluster-internal address KServe publishes) wins, else
    `status.url`; the first one present is the one used, and it must be an `http` or
    `https` URL with a host, without user info, query or fragment, at most
    `MAX_URL_LENGTH` characters. `/v1/models` is appended to its path. Anything else is a
    `NoModelsEndpoint` saying why: the status is another controller's, possibly hostile, and
    the URL decides where a request (perhaps with a token) goes.
    """
    status = inference_service_status if isinstance(inference_service_status, Mapping) else {}
    address = status.get("address")
    candidates = (
        ("status.address.url", address.get("url") if isinstance(address, Mapping) else None),
        ("status.url", status.get("url")),
    )
    for source, value in candidates:
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            return NoModelsEndpoint(f"{source} is not a string")
        problem = _url_problem(value)
        if problem is not None:
            return NoModelsEndpoint(f"{source} {shown_url(value)} {problem}")
        parts = urlsplit(value)
        path = parts.path.rstrip("/") + MODELS_PATH
        return ModelsEndpoint(urlunsplit((parts.scheme, parts.netloc, path, "", "")), source)
    return NoModelsEndpoint(
        "the InferenceService status has no address yet (status.address.url, status.url): "
        "the predictor is not ready, or KServe has not reconciled it"
    )


def _url_problem(url: str) -> str | None:
    if len(url) > MAX_URL_LENGTH:
        return f"is longer than {MAX_URL_LENGTH} characters"
    if any(character.isspace() or not character.isprintable() for character in url):
        return "contains spaces or control characters"
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError:
        return "is not a URL"
    if parts.scheme.lower() not in ("http", "https"):
        return "is not an http(s) URL"
    if not parts.hostname:
        return "names no host"
    if parts.username is not None or parts.password is not None:
        return "carries user info (credentials); refusing to use it"
    if parts.query or parts.fragment:
        return "carries a query or fragment"
    return None


def shown_url(url: str) -> str:
    """`url` as a message shows it: escaped, cut short, without user info."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return escaped(_cut(url))
    if parts.username is not None or parts.password is not None:
        netloc = f"[{host}]" if ":" in host else host
        if port is not None:
            netloc += f":{port}"
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return escaped(_cut(url))


# Reading vLLM's answer ----------------------------------------------------------------------

# The schema read here is vLLM's own: `ModelList` {"object": "list", "data": [ModelCard]} and
# `ModelCard` {"id": <served name>, "object": "model", "created", "owned_by": "vllm",
# "root": <model path>, "parent": <base model of a LoRA adapter, else null>,
# "max_model_len", "permission": [...]}, declared in vllm/entrypoints/openai/engine/protocol.py
# (vllm/entrypoints/openai/protocol.py in releases before the split) and filled by
# `OpenAIServingModels.show_available_models` in vllm/entrypoints/openai/models/serving.py:
# one card per `--served-model-name` (id = the name, root = the model path), one per LoRA.
# Only `id` matters here; the other fields are checked for type only where they are given.


def parse_models_answer(body: bytes) -> ServedModels | ProbeFailed:
    """The served ids of a `/v1/models` answer body, or `ProbeFailed(GARBAGE)` saying what is
    wrong with it. Never raises, whatever the body (the caller bounds its size)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return _garbage("the answer is not UTF-8 text")
    try:
        document = json.loads(text)
    except RecursionError:
        return _garbage(f"the answer nests deeper than {_MAX_DEPTH} levels")
    except ValueError:
        return _garbage(f"the answer is not JSON (it starts {_opening(text)})")
    if deeper_than(document, _MAX_DEPTH):
        return _garbage(f"the answer nests deeper than {_MAX_DEPTH} levels")
    return read_model_list(document)


def read_model_list(document: object) -> ServedModels | ProbeFailed:
    """`parse_models_answer` for a document already decoded from JSON."""
    if not isinstance(document, Mapping):
        return _garbage(f"the answer is {_kind(document)}, not a model list object")
    if document.get("object", "list") != "list":
        return _garbage(f'"object" is {_shown_value(document.get("object"))}, not "list"')
    data = document.get("data")
    if not isinstance(data, list):
        return _garbage(f'"data" is {_kind(data)}, not a list of models')
    if len(data) > MAX_SERVED_MODELS:
        return _garbage(f"it lists {len(data)} models, more than {MAX_SERVED_MODELS}")
    ids: dict[str, None] = {}  # ordered, without repeats
    for position, card in enumerate(data):
        if not isinstance(card, Mapping):
            return _garbage(f"data[{position}] is {_kind(card)}, not a model")
        served = card.get("id")
        if not isinstance(served, str) or not served:
            return _garbage(f'data[{position}] has no "id" string (the served name)')
        if card.get("object", "model") != "model":
            return _garbage(
                f'data[{position}] "object" is {_shown_value(card.get("object"))}, not "model"'
            )
        for optional in ("root", "parent"):
            if card.get(optional) is not None and not isinstance(card.get(optional), str):
                return _garbage(f'data[{position}] "{optional}" is {_kind(card.get(optional))}')
        ids[served] = None
    return ServedModels(tuple(ids))


def _garbage(what: str) -> ProbeFailed:
    return ProbeFailed(ProbeProblem.GARBAGE, f"not vLLM's /v1/models answer: {what}")


def _kind(value: object) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), "something else")


def _shown_value(value: object) -> str:
    return escaped(_cut(json.dumps(value))) if isinstance(value, str) else _kind(value)


def _opening(text: str) -> str:
    return repr(escaped(text[:40]))


def _cut(text: str, length: int = _SHOWN_ID_LENGTH) -> str:
    return text if len(text) <= length else f"{text[:length]}..."


# Judging -----------------------------------------------------------------------------------


class Verdict(StrEnum):
    VERIFIED = "Verified"
    MISMATCH = "Mismatch"
    UNKNOWN = "Unknown"


@dataclass(frozen=True, slots=True)
class ServedNameFinding:
    """What the check found for one InferenceService.

    `served` holds the ids vLLM listed (empty unless the probe got an answer); `message`
    says it for a person, escaped. `problem` is set when the verdict is UNKNOWN.
    """

    verdict: Verdict
    expected: str
    served: tuple[str, ...]
    message: str
    problem: ProbeProblem | None = None


def judge(served: ProbeResult, expected_vllm_name: str) -> ServedNameFinding:
    """Whether vLLM serves `expected_vllm_name` (the name model-testing runs are given).

    VERIFIED when it is among the served ids (compared exactly, as vLLM compares them);
    MISMATCH when vLLM answered without it, listing what it serves; UNKNOWN when the probe
    failed, with the probe's reason. Pure; never raises.
    """
    expected = escaped(_cut(expected_vllm_name))
    match served:
        case ProbeFailed(problem=problem, reason=reason):
            return ServedNameFinding(
                Verdict.UNKNOWN,
                expected_vllm_name,
                (),
                f"cannot tell whether vLLM serves {expected}: {reason}",
                problem,
            )
        case ServedModels(ids=ids) if expected_vllm_name in ids:
            return ServedNameFinding(
                Verdict.VERIFIED, expected_vllm_name, ids, f"vLLM serves {expected}"
            )
        case ServedModels(ids=ids):
            return ServedNameFinding(
                Verdict.MISMATCH,
                expected_vllm_name,
                ids,
                f"vLLM does not serve {expected}, the vLLM name model-testing runs are given "
                f"(it would refuse them); it serves {describe_ids(ids)}. Make the predictor's "
                "--served-model-name (spec.predictor.model.args) and the served name agree",
            )
    raise AssertionError(f"unexpected probe result {served!r}")  # pragma: no cover


def describe_ids(ids: Sequence[str]) -> str:
    """Served ids for a message: escaped, each cut short, at most a few, then a count."""
    if not ids:
        return "no model at all"
    shown = ", ".join(escaped(_cut(served)) for served in ids[:_SHOWN_IDS])
    more = len(ids) - _SHOWN_IDS
    return shown + (f" and {more} more" if more > 0 else "")


# Deciding -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServedNameDecision:
    """What the check adds to a binding's status.

    `condition` is the `ServedNameVerified` condition (`type`, `status`, `reason`,
    `message`), None in mode `off` (no condition at all). `blocks_ready` says whether
    `Ready` must be False because of it; then `ready_reason` and `ready_message` are what
    `Ready` says (else both None and `Ready` stays as the resolution has it).
    """

    condition: dict[str, str] | None
    blocks_ready: bool
    ready_reason: str | None
    ready_message: str | None


NO_DECISION: Final = ServedNameDecision(None, False, None, None)


def decide_served_name(
    finding: ServedNameFinding | None, mode: ServedNameCheck
) -> ServedNameDecision:
    """The condition and the `Ready` effect of a finding under `mode`. Pure; never raises.

    - `off`: nothing (no condition, `Ready` untouched), whatever the finding.
    - VERIFIED: `ServedNameVerified=True`, reason `ServedNameMatches`.
    - MISMATCH: `ServedNameVerified=False`, reason `ServedNameMismatch`.
    - UNKNOWN, or no finding yet (not asked): `ServedNameVerified=Unknown`, reason
      `ServedNameUnknown`.
    MISMATCH and UNKNOWN make `Ready` False with the same reason and message only in
    `enforce`; in `report` they are only the condition.
    """
    if mode is ServedNameCheck.OFF:
        return NO_DECISION
    if finding is None:
        status, reason = "Unknown", Reason.UNKNOWN
        message = "the served name has not been checked yet"
    elif finding.verdict is Verdict.VERIFIED:
        status, reason, message = "True", Reason.MATCHES, finding.message
    elif finding.verdict is Verdict.MISMATCH:
        status, reason, message = "False", Reason.MISMATCH, finding.message
    else:
        status, reason, message = "Unknown", Reason.UNKNOWN, finding.message
    condition = {
        "type": CONDITION_TYPE,
        "status": status,
        "reason": reason.value,
        "message": message,
    }
    if status == "True" or mode is not ServedNameCheck.ENFORCE:
        return ServedNameDecision(condition, False, None, None)
    return ServedNameDecision(
        condition,
        True,
        reason.value,
        f"{message} (--served-name-check enforce: model-testing runs are refused until "
        "the served name is confirmed)",
    )


def served_name_check(decision: ServedNameDecision) -> Check:
    """The decision as the binding decision takes it (domain/binding.py)."""
    condition = None
    if decision.condition is not None:
        condition = {key: value for key, value in decision.condition.items() if key != "type"}
    blocker = None
    if decision.blocks_ready and decision.ready_reason and decision.ready_message:
        blocker = (decision.ready_reason, decision.ready_message)
    return Check(CONDITION_TYPE, condition, blocker)
