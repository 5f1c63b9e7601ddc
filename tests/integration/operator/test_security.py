"""The operator keeps its registry token to itself and trusts only the registry it was told to.

- The bearer token (from `--token-file`) is sent to the registry and shows up nowhere
  else: not in the operator's debug log (`--verbose`), not in any Event of the namespace,
  not in a ModelBinding, also while the registry refuses it (401), echoes it back in its
  error bodies, or misbehaves otherwise.
- A registry serving a certificate from a CA the operator was not given is refused: the log
  and the binding say why, and nothing is labelled; given `--ca-file`, the same registry works.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from kubernetes import client

from integration.operator.faults_support import (
    LabelHistory,
    label_state,
    labels_of,
    operator_behind,
    run_params,
    try_run,
    wait_for_ready,
)
from registry_sync.demo.seed import (
    ISVC_NAME,
    SMALL_MODEL,
    SMALL_VERSION,
    SeedIds,
    register_seed,
    seed_inference_service,
)
from registry_sync.registry.client import RegistryClient
from support.bindings import MODEL_BINDINGS
from support.cluster import Cluster
from support.cluster_objects import INFERENCE_SERVICES
from support.devregistry import RunningRegistry, start_dev_registry
from support.faultproxy import (
    ConnectionReset,
    EchoAuthorization,
    Fault,
    FaultProxy,
    GarbageBody,
    Unauthorized,
    WrongTypes,
    fault_proxy_in_thread,
)

pytestmark = pytest.mark.cluster

RIGHT = {
    "vllm_model_name": ISVC_NAME,
    "model_name": SMALL_MODEL,
    "version_name": SMALL_VERSION,
}
WRONG = {"vllm_model_name": "x", "model_name": "y", "version_name": "z"}


@pytest.fixture
def token() -> str:
    return f"sha256~{uuid.uuid4().hex}"


@pytest.fixture
def token_file(tmp_path: Path, token: str) -> Path:
    path = tmp_path / "registry-token"
    path.write_text(token)
    return path


@pytest.fixture
def proxy(dev_registry: RunningRegistry) -> Iterator[FaultProxy]:
    with fault_proxy_in_thread(dev_registry.url) as running:
        yield running


def everything_posted(kube: Cluster, namespace: str) -> str:
    """Every Event and ModelBinding of the namespace, as one text."""
    events = kube.core.list_namespaced_event(namespace).items
    bindings = client.CustomObjectsApi(kube.api_client).list_namespaced_custom_object(
        MODEL_BINDINGS.group, MODEL_BINDINGS.version, namespace, MODEL_BINDINGS.plural
    )
    texts = [json.dumps(kube.api_client.sanitize_for_serialization(event)) for event in events]
    assert texts, "no Event was posted: the check proves nothing"
    return "\n".join([*texts, json.dumps(bindings)])


def warnings_in(log: str) -> int:
    return sum(" WARNING " in line for line in log.splitlines())


# Each fault is the registry's only answer until the next: refusals, echoes, and garbage.
FAULTS: list[Fault] = [
    Unauthorized(),
    EchoAuthorization(401),
    EchoAuthorization(503),
    GarbageBody(),
    WrongTypes(),
    ConnectionReset(),
]


def test_the_registry_token_is_sent_to_the_registry_and_shown_nowhere_else(
    kube: Cluster,
    namespace: str,
    seed: SeedIds,
    proxy: FaultProxy,
    token: str,
    token_file: Path,
    tmp_path: Path,
) -> None:
    with operator_behind(
        kube, namespace, proxy.url, tmp_path / "operator.log", token_file
    ) as operator:
        INFERENCE_SERVICES.create(
            kube.api_client, namespace, seed_inference_service(namespace, seed)
        )
        wait_for_ready(kube, namespace, "True", "Resolved")
        assert {request.authorization for request in proxy.seen} == {f"Bearer {token}"}

        for fault in FAULTS:
            warned_before = warnings_in(operator.log())
            proxy.start_outage(fault)
            # Two more warnings: the second comes from a refresh that met this fault throughout.
            kube.wait_for(
                lambda: warnings_in(operator.log()) >= warned_before + 2,  # noqa: B023
                timeout=60,
                description=f"the operator logged failures under {fault}",
            )
            binding = wait_for_ready(kube, namespace, "True", "RegistryUnavailable")
            assert binding["status"]["modelVersionId"] == seed.small_version
            outcome = try_run(kube, namespace, ISVC_NAME, WRONG)
            assert isinstance(outcome, dict), outcome
            assert run_params(outcome, RIGHT) == RIGHT
        # A deployment during the refusal: its binding and the denial speak of the registry.
        late = seed_inference_service(namespace, seed)
        late["metadata"]["name"] = "late"
        INFERENCE_SERVICES.create(kube.api_client, namespace, late)
        wait_for_ready(kube, namespace, "False", "RegistryUnavailable", name="late")
        denied = try_run(kube, namespace, "late", WRONG)
        assert isinstance(denied, str)
        proxy.end_outage()
        wait_for_ready(kube, namespace, "True", "Resolved")
        wait_for_ready(kube, namespace, "True", "Resolved", name="late")

        log = operator.log()
        posted = everything_posted(kube, namespace)

    assert "401" in log and "503" in log, "the refusals were not logged: nothing was checked"
    assert token not in log
    assert token not in posted
    assert token not in denied


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_registry(certificate_authority: trustme.CA, tmp_path: Path) -> Iterator[RunningRegistry]:
    """The stand-in over HTTPS, its certificate signed by a CA nobody trusts by default."""
    served = certificate_authority.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
    served.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    served.private_key_pem.write_to_path(str(key_file))
    with start_dev_registry(tls_cert_file=cert_file, tls_key_file=key_file) as registry:
        yield registry


@pytest.fixture
def ca_file(certificate_authority: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    certificate_authority.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
async def tls_seed(tls_registry: RunningRegistry, ca_file: Path) -> SeedIds:
    async with RegistryClient(tls_registry.url, ca_file=ca_file) as registry:
        return await register_seed(registry)


def test_an_untrusted_registry_certificate_is_refused_and_the_ca_file_makes_it_work(
    kube: Cluster,
    namespace: str,
    tls_registry: RunningRegistry,
    tls_seed: SeedIds,
    ca_file: Path,
    token_file: Path,
    tmp_path: Path,
) -> None:
    assert tls_registry.url.startswith("https://")
    body: dict[str, Any] = seed_inference_service(namespace, tls_seed)
    initial = label_state(body["metadata"]["labels"])
    log_path = tmp_path / "operator.log"

    with LabelHistory(kube, namespace) as history:
        with operator_behind(kube, namespace, tls_registry.url, log_path, token_file) as operator:
            INFERENCE_SERVICES.create(kube.api_client, namespace, body)
            binding = wait_for_ready(kube, namespace, "False", "RegistryUnavailable")
            log = operator.log()
        assert labels_of(kube, namespace, ISVC_NAME) == initial

        # What a person reads: the log and the binding both name the certificate and the cure.
        assert "certificate" in log and "--ca-file" in log
        ready = next(c for c in binding["status"]["conditions"] if c["type"] == "Ready")
        assert "certificate" in ready["message"] and "--ca-file" in ready["message"], ready

        with operator_behind(
            kube, namespace, tls_registry.url, log_path, token_file, "--ca-file", str(ca_file)
        ):
            wait_for_ready(kube, namespace, "True", "Resolved")
            admitted = try_run(kube, namespace, ISVC_NAME, WRONG)
            assert isinstance(admitted, dict), admitted

        # Before the CA was given, the labels never changed; after, once, to the answer.
        states = history.states(ISVC_NAME)
    assert states[0] == initial
    assert [state[:2] for state in states[1:]] == [(tls_seed.small_model, tls_seed.small_version)]
