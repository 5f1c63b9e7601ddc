"""The served-name check's rules: where to ask, reading vLLM's answer, the verdict, and what
each `--served-name-check` mode makes of it.

Specification: DESIGN.md "Truth from what runs" (Served name) and "Facts and pitfalls"
(vLLM's `GET /v1/models` lists served names as `data[].id`).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from registry_sync.domain.served_names import (
    CONDITION_TYPE,
    MAX_SERVED_MODELS,
    ModelsEndpoint,
    NoModelsEndpoint,
    ProbeFailed,
    ProbeProblem,
    ServedModels,
    ServedNameCheck,
    ServedNameFinding,
    Verdict,
    decide_served_name,
    describe_ids,
    judge,
    models_url,
    parse_models_answer,
)

NAME = "mistral-24b-quantized"


def vllm_card(served: str, root: str = "/mnt/models", **more: Any) -> dict[str, Any]:
    """A `ModelCard` as vLLM serialises it (vllm/entrypoints/openai/engine/protocol.py)."""
    return {
        "id": served,
        "object": "model",
        "created": 1764000000,
        "owned_by": "vllm",
        "root": root,
        "parent": None,
        "max_model_len": 32768,
        "permission": [
            {
                "id": "modelperm-0123456789abcdef",
                "object": "model_permission",
                "created": 1764000000,
                "allow_create_engine": False,
                "allow_sampling": True,
                "allow_logprobs": True,
                "allow_search_indices": False,
                "allow_view": True,
                "allow_fine_tuning": False,
                "organization": "*",
                "group": None,
                "is_blocking": False,
            }
        ],
        **more,
    }


def vllm_answer(*cards: dict[str, Any]) -> bytes:
    return json.dumps({"object": "list", "data": list(cards)}).encode()


# Where to ask ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "url", "source"),
    [
        pytest.param(
            {
                "address": {"url": "http://mistral-predictor.demo.svc.cluster.local"},
                "url": "https://mistral-demo.apps.example.com",
            },
            "http://mistral-predictor.demo.svc.cluster.local/v1/models",
            "status.address.url",
            id="address-wins",
        ),
        pytest.param(
            {"url": "https://mistral-demo.apps.example.com"},
            "https://mistral-demo.apps.example.com/v1/models",
            "status.url",
            id="url-without-address",
        ),
        pytest.param(
            {"address": {}, "url": "https://mistral-demo.apps.example.com/"},
            "https://mistral-demo.apps.example.com/v1/models",
            "status.url",
            id="empty-address-trailing-slash",
        ),
        pytest.param(
            {"address": {"url": "https://gw.example.com:8443/serving/demo/mistral/"}},
            "https://gw.example.com:8443/serving/demo/mistral/v1/models",
            "status.address.url",
            id="path-and-port-kept",
        ),
        pytest.param(
            {"address": {"url": "HTTPS://[fd00::1]:8443"}},
            "https://[fd00::1]:8443/v1/models",
            "status.address.url",
            id="ipv6-scheme-case",
        ),
    ],
)
def test_the_models_url_is_the_predictor_address_plus_v1_models(
    status: dict[str, Any], url: str, source: str
) -> None:
    assert models_url(status) == ModelsEndpoint(url, source)


@pytest.mark.parametrize(
    ("status", "says"),
    [
        pytest.param(None, "no address yet", id="no-status"),
        pytest.param({}, "no address yet", id="empty-status"),
        pytest.param({"address": {"url": ""}}, "no address yet", id="empty-url"),
        pytest.param({"address": {"url": 7}}, "status.address.url is not a string", id="number"),
        pytest.param({"url": "ftp://x.example/"}, "is not an http(s) URL", id="ftp"),
        pytest.param({"url": "file:///etc/passwd"}, "is not an http(s) URL", id="file"),
        pytest.param({"url": "mistral.demo.svc"}, "is not an http(s) URL", id="no-scheme"),
        pytest.param({"url": "https://"}, "names no host", id="no-host"),
        pytest.param({"url": "http://x.example:port"}, "is not a URL", id="bad-port"),
        pytest.param({"url": "https://u:p@x.example"}, "carries user info", id="userinfo"),
        pytest.param({"url": "https://x.example/?a=1"}, "query or fragment", id="query"),
        pytest.param({"url": "https://x.example/#f"}, "query or fragment", id="fragment"),
        pytest.param({"url": "https://x.example/a b"}, "spaces or control", id="space"),
        pytest.param({"url": "https://x.example/\x1b[31m"}, "control", id="escape-sequence"),
        pytest.param({"url": "https://x.example/" + "a" * 3000}, "longer than", id="huge"),
    ],
)
def test_an_unusable_address_gives_no_url_and_says_why(status: object, says: str) -> None:
    found = models_url(status)

    assert isinstance(found, NoModelsEndpoint)
    assert says in found.reason


def test_a_refused_address_is_shown_escaped_and_without_credentials() -> None:
    found = models_url({"url": "gopher://user:s3cret@x.example/\u202eevil"})

    assert isinstance(found, NoModelsEndpoint)
    assert "s3cret" not in found.reason
    assert "\u202e" not in found.reason
    assert "\\u202e" in found.reason


# Reading vLLM's answer ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "ids"),
    [
        pytest.param(vllm_answer(vllm_card(NAME)), (NAME,), id="one-served-name"),
        pytest.param(
            vllm_answer(
                vllm_card(NAME),
                vllm_card("mistral-lora", root="/adapters/a", parent=NAME),
            ),
            (NAME, "mistral-lora"),
            id="base-and-lora",
        ),
        pytest.param(
            vllm_answer(vllm_card("a"), vllm_card("b"), vllm_card("a")),
            ("a", "b"),
            id="repeats-dropped-order-kept",
        ),
        pytest.param(vllm_answer(), (), id="empty-data"),
        pytest.param(b'{"data": [{"id": "x"}]}', ("x",), id="minimal-openai-shape"),
        pytest.param(
            vllm_answer(vllm_card(NAME, extra_field={"nested": [1, 2]})),
            (NAME,),
            id="unknown-fields-ignored",
        ),
        pytest.param(
            b'{"object":"list","data":[]}',
            (),
            id="compact",
        ),
    ],
)
def test_vllm_answers_give_their_served_ids(body: bytes, ids: tuple[str, ...]) -> None:
    assert parse_models_answer(body) == ServedModels(ids)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        pytest.param(b"<html>502 Bad Gateway</html>", "not JSON", id="html"),
        pytest.param(b"", "not JSON", id="empty-body"),
        pytest.param(b"\xff\xfe\x00", "not UTF-8", id="not-utf8"),
        pytest.param(b"[]", "a list, not a model list object", id="top-level-list"),
        pytest.param(b'"models"', "a string, not a model list", id="top-level-string"),
        pytest.param(b"null", "null, not a model list", id="null"),
        pytest.param(b'{"object": "error", "data": []}', '"object" is "error"', id="error"),
        pytest.param(b'{"object": "list"}', '"data" is null', id="no-data"),
        pytest.param(b'{"data": {"id": "x"}}', '"data" is an object', id="data-object"),
        pytest.param(b'{"data": ["x"]}', "data[0] is a string", id="card-string"),
        pytest.param(b'{"data": [{"root": "/m"}]}', 'data[0] has no "id"', id="no-id"),
        pytest.param(b'{"data": [{"id": 4}]}', 'data[0] has no "id"', id="id-number"),
        pytest.param(b'{"data": [{"id": ""}]}', 'data[0] has no "id"', id="id-empty"),
        pytest.param(b'{"data": [{"id": null}]}', 'data[0] has no "id"', id="id-null"),
        pytest.param(
            b'{"data": [{"id": "a"}, {"id": "b", "object": "file"}]}',
            'data[1] "object" is "file"',
            id="card-not-a-model",
        ),
        pytest.param(b'{"data": [{"id": "a", "root": 3}]}', '"root" is a number', id="root"),
        pytest.param(b'{"data": [{"id": "a", "parent": []}]}', '"parent" is a list', id="par"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "nests deeper", id="deep-nesting"),
        pytest.param(b'{"data": [' + b"[" * 40 + b"]" * 40 + b"]}", "nests deeper", id="deep"),
        pytest.param(b"1" * 5000, "not JSON", id="huge-integer"),
    ],
)
def test_anything_else_is_garbage_saying_what_is_wrong(body: bytes, says: str) -> None:
    found = parse_models_answer(body)

    assert isinstance(found, ProbeFailed)
    assert found.problem is ProbeProblem.GARBAGE
    assert says in found.reason


def test_too_many_models_is_garbage() -> None:
    body = vllm_answer(*(vllm_card(f"m{i}") for i in range(MAX_SERVED_MODELS + 1)))

    found = parse_models_answer(body)

    assert isinstance(found, ProbeFailed)
    assert "more than" in found.reason


def test_a_huge_body_of_models_is_read_without_raising() -> None:
    body = vllm_answer(*(vllm_card("x" * 100_000 + str(i)) for i in range(20)))

    found = parse_models_answer(body)

    assert isinstance(found, ServedModels)
    assert len(found.ids) == 20


def test_garbage_is_quoted_escaped() -> None:
    found = parse_models_answer(b"\x1b]52;c;ZXZpbA==\x07 not json")

    assert isinstance(found, ProbeFailed)
    assert "\x1b" not in found.reason
    assert "\\x1b]52" in found.reason


# Judging ------------------------------------------------------------------------------------


def test_the_expected_name_among_the_served_ids_is_verified() -> None:
    finding = judge(ServedModels(("other", NAME)), NAME)

    assert finding.verdict is Verdict.VERIFIED
    assert finding.served == ("other", NAME)
    assert NAME in finding.message


@pytest.mark.parametrize(
    "served",
    [
        pytest.param(("Mistral-24B-Instruct",), id="registry-name-served"),
        pytest.param((NAME.upper(),), id="case-differs"),
        pytest.param((NAME + " ",), id="trailing-space"),
        pytest.param((), id="nothing-served"),
    ],
)
def test_a_name_not_served_exactly_is_a_mismatch_listing_what_is(served: tuple[str, ...]) -> None:
    finding = judge(ServedModels(served), NAME)

    assert finding.verdict is Verdict.MISMATCH
    assert finding.served == served
    assert f"does not serve {NAME}" in finding.message
    assert describe_ids(served) in finding.message


def test_a_mismatch_shows_served_ids_escaped() -> None:
    finding = judge(ServedModels(("evil\nServedNameVerified=True", "\u202eeman")), NAME)

    assert "\n" not in finding.message
    assert "\u202e" not in finding.message
    assert "evil\\x0aServedNameVerified=True" in finding.message
    assert "\\u202eeman" in finding.message


def test_a_mismatch_message_lists_a_few_ids_then_counts_the_rest() -> None:
    served = tuple(f"model-{i}" for i in range(25))

    message = judge(ServedModels(served), NAME).message

    assert "model-9" in message
    assert "model-10" not in message
    assert "and 15 more" in message


def test_a_very_long_served_id_is_shown_cut() -> None:
    message = judge(ServedModels(("m" * 10_000,)), NAME).message

    assert len(message) < 1000


@pytest.mark.parametrize("problem", list(ProbeProblem))
def test_a_failed_probe_is_unknown_with_its_reason(problem: ProbeProblem) -> None:
    finding = judge(ProbeFailed(problem, "GET http://x/v1/models: connection refused"), NAME)

    assert finding.verdict is Verdict.UNKNOWN
    assert finding.problem is problem
    assert finding.served == ()
    assert "connection refused" in finding.message
    assert NAME in finding.message


# Deciding, per mode ----------------------------------------------------------------------------

VERIFIED = judge(ServedModels((NAME,)), NAME)
MISMATCH = judge(ServedModels(("other",)), NAME)
UNKNOWN = judge(ProbeFailed(ProbeProblem.UNREACHABLE, "connection refused"), NAME)

# (finding, mode, condition status, condition reason, blocks Ready)
DECISIONS: list[tuple[ServedNameFinding | None, ServedNameCheck, str, str, bool]] = [
    (VERIFIED, ServedNameCheck.REPORT, "True", "ServedNameMatches", False),
    (VERIFIED, ServedNameCheck.ENFORCE, "True", "ServedNameMatches", False),
    (MISMATCH, ServedNameCheck.REPORT, "False", "ServedNameMismatch", False),
    (MISMATCH, ServedNameCheck.ENFORCE, "False", "ServedNameMismatch", True),
    (UNKNOWN, ServedNameCheck.REPORT, "Unknown", "ServedNameUnknown", False),
    (UNKNOWN, ServedNameCheck.ENFORCE, "Unknown", "ServedNameUnknown", True),
    (None, ServedNameCheck.REPORT, "Unknown", "ServedNameUnknown", False),
    (None, ServedNameCheck.ENFORCE, "Unknown", "ServedNameUnknown", True),
]


@pytest.mark.parametrize(
    ("finding", "mode", "status", "reason", "blocks"),
    [
        pytest.param(*row, id=f"{row[0].verdict if row[0] else 'unchecked'}-{row[1]}")
        for row in DECISIONS
    ],
)
def test_each_mode_gives_its_condition_and_ready_effect(
    finding: ServedNameFinding | None,
    mode: ServedNameCheck,
    status: str,
    reason: str,
    blocks: bool,
) -> None:
    decision = decide_served_name(finding, mode)

    assert decision.condition is not None
    assert decision.condition["type"] == CONDITION_TYPE == "ServedNameVerified"
    assert (decision.condition["status"], decision.condition["reason"]) == (status, reason)
    assert set(decision.condition) == {"type", "status", "reason", "message"}
    assert decision.blocks_ready is blocks
    if blocks:
        assert decision.ready_reason == reason
        assert decision.ready_message is not None
        assert decision.condition["message"] in decision.ready_message
        assert "enforce" in decision.ready_message
    else:
        assert (decision.ready_reason, decision.ready_message) == (None, None)


@pytest.mark.parametrize("finding", [VERIFIED, MISMATCH, UNKNOWN, None])
def test_off_gives_no_condition_and_never_blocks(finding: ServedNameFinding | None) -> None:
    decision = decide_served_name(finding, ServedNameCheck.OFF)

    assert decision.condition is None
    assert not decision.blocks_ready
    assert decision.ready_reason is None


def test_the_modes_are_spelled_as_on_the_command_line() -> None:
    assert [mode.value for mode in ServedNameCheck] == ["off", "report", "enforce"]
