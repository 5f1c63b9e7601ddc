"""The served-name probe against a real HTTP(S) server answering in vLLM's `/v1/models`
schema (tests/support/vllm_models_server.py), and the verdict it leads to.

Specification: DESIGN.md "Truth from what runs" (Served name).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme

from registry_sync.controller.served_name_probe import ServedNameProbe
from registry_sync.domain.served_names import (
    ModelsEndpoint,
    ProbeFailed,
    ProbeProblem,
    ServedModels,
    Verdict,
    judge,
    models_url,
)
from support.vllm_models_server import VllmModelsServer

NAME = "mistral-24b-quantized"
API_KEY = "sk-predictor-s3cr3t"


@pytest.fixture
async def vllm() -> AsyncIterator[VllmModelsServer]:
    async with VllmModelsServer([NAME]) as server:
        yield server


@pytest.fixture
async def probe() -> AsyncIterator[ServedNameProbe]:
    async with ServedNameProbe() as running:
        yield running


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "predictor-token"
    path.write_text(API_KEY + "\n")
    return path


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def served_certificate(
    certificate_authority: trustme.CA, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("predictor-tls")
    issued = certificate_authority.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = folder / "tls.crt", folder / "tls.key"
    issued.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    issued.private_key_pem.write_to_path(str(key_file))
    return cert_file, key_file


@pytest.fixture(scope="module")
def ca_file(certificate_authority: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("predictor-ca") / "ca.pem"
    certificate_authority.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: bound, then closed."""
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return int(probe_socket.getsockname()[1])


def status_of(server: VllmModelsServer) -> dict[str, object]:
    """An InferenceService status whose internal address is the stand-in."""
    return {"address": {"url": server.url}, "url": "https://mistral.apps.example.invalid"}


async def test_the_served_name_is_verified_through_the_status_address(
    vllm: VllmModelsServer, probe: ServedNameProbe
) -> None:
    endpoint = models_url(status_of(vllm))
    assert isinstance(endpoint, ModelsEndpoint)

    finding = judge(await probe.served_models(endpoint.url), NAME)

    assert finding.verdict is Verdict.VERIFIED
    assert [seen.path for seen in vllm.requests] == ["/v1/models"]


async def test_another_served_name_is_a_mismatch_listing_it(
    vllm: VllmModelsServer, probe: ServedNameProbe
) -> None:
    vllm.served_names = ["Mistral-24B-Instruct"]

    finding = judge(await probe.served_models(vllm.models_url), NAME)

    assert finding.verdict is Verdict.MISMATCH
    assert finding.served == ("Mistral-24B-Instruct",)
    assert "it serves Mistral-24B-Instruct" in finding.message


async def test_several_served_names_include_the_expected_one(probe: ServedNameProbe) -> None:
    async with VllmModelsServer(["granite", NAME]) as server:
        result = await probe.served_models(server.models_url)

    assert result == ServedModels(("granite", NAME))
    assert judge(result, NAME).verdict is Verdict.VERIFIED


async def test_a_predictor_wanting_a_token_is_unknown_without_one(
    probe: ServedNameProbe,
) -> None:
    async with VllmModelsServer([NAME], api_key=API_KEY) as server:
        result = await probe.served_models(server.models_url)

    assert isinstance(result, ProbeFailed)
    assert result.problem is ProbeProblem.UNAUTHORIZED
    assert "--predictor-token-file" in result.reason
    assert server.requests[0].authorization is None
    assert judge(result, NAME).verdict is Verdict.UNKNOWN


async def test_a_predictor_wanting_a_token_is_verified_with_the_token_file(
    token_file: Path,
) -> None:
    async with (
        VllmModelsServer([NAME], api_key=API_KEY) as server,
        ServedNameProbe(token_file=token_file) as probe,
    ):
        result = await probe.served_models(server.models_url)

    assert judge(result, NAME).verdict is Verdict.VERIFIED
    assert server.requests[0].authorization == f"Bearer {API_KEY}"


async def test_a_closed_port_is_unknown_saying_the_predictor_cannot_be_reached(
    probe: ServedNameProbe, closed_port: int
) -> None:
    result = await probe.served_models(f"http://127.0.0.1:{closed_port}/v1/models")

    assert isinstance(result, ProbeFailed)
    assert result.problem is ProbeProblem.UNREACHABLE
    finding = judge(result, NAME)
    assert finding.verdict is Verdict.UNKNOWN
    assert "cannot reach the predictor" in finding.message


async def test_https_is_verified_with_the_predictor_ca(
    served_certificate: tuple[Path, Path], ca_file: Path
) -> None:
    async with (
        VllmModelsServer([NAME], tls=served_certificate) as server,
        ServedNameProbe(ca_file=ca_file) as probe,
    ):
        assert server.url.startswith("https://")
        result = await probe.served_models(server.models_url)

    assert result == ServedModels((NAME,))


async def test_https_without_the_predictor_ca_is_refused_saying_what_to_give(
    served_certificate: tuple[Path, Path], probe: ServedNameProbe
) -> None:
    async with VllmModelsServer([NAME], tls=served_certificate) as server:
        result = await probe.served_models(server.models_url)

    assert isinstance(result, ProbeFailed)
    assert result.problem is ProbeProblem.TLS
    assert "--predictor-ca-file" in result.reason
    assert server.requests == []


async def test_https_with_a_token_sends_it_only_over_the_verified_connection(
    served_certificate: tuple[Path, Path], ca_file: Path, token_file: Path
) -> None:
    async with (
        VllmModelsServer([NAME], api_key=API_KEY, tls=served_certificate) as server,
        ServedNameProbe(ca_file=ca_file, token_file=token_file) as probe,
    ):
        result = await probe.served_models(server.models_url)

    assert result == ServedModels((NAME,))
    assert [seen.authorization for seen in server.requests] == [f"Bearer {API_KEY}"]


async def test_a_restarted_predictor_serving_another_name_is_seen_after_the_ttl(
    vllm: VllmModelsServer,
) -> None:
    now = [0.0]
    async with ServedNameProbe(clock=lambda: now[0]) as probe:
        first = await probe.served_models(vllm.models_url)
        vllm.served_names = ["renamed"]
        cached = await probe.served_models(vllm.models_url)
        now[0] += 61
        fresh = await probe.served_models(vllm.models_url)

    assert first == cached == ServedModels((NAME,))
    assert fresh == ServedModels(("renamed",))
    assert len(vllm.requests) == 2
