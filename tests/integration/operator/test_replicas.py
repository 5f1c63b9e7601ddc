"""Two replicas behind one webhook configuration, through SIGTERM, a rolling update and
SIGKILL (README "Several replicas").

Each replica runs `--webhook service` as a user of its own (client certificate), so the
apiserver's audit log tells their writes apart. A loopback proxy stands in for the Service:
each new connection goes only to a replica whose /readyz answered 200 within the last
second; none ready: the connection is closed (no retry), and the apiserver fails closed.
Runs are created all along; what each admission said is recorded.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from registry_sync.demo.seed import ISVC_NAME, SeedIds, seed_inference_service
from registry_sync.domain.lease import LEASE_NAME
from registry_sync.webhook.certificates import make_serving_certificate
from registry_sync.webhook.configuration import build_configuration, url_client_config
from support.bindings import MODEL_ID, VERSION_ID, binding_or_none, condition
from support.cluster import REQUIRE_CLUSTER_VARIABLE, TEST_CLUSTER_VARIABLE, Cluster
from support.cluster_objects import INFERENCE_SERVICES, PIPELINE_RUNS
from support.devregistry import RunningRegistry
from support.operator import RunningOperator, free_port
from support.private_cluster import private_cluster, why_no_control_plane

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(
        os.environ.get(TEST_CLUSTER_VARIABLE) == "existing",
        reason="reads the apiserver's audit log: only on a control plane the test starts",
    ),
]

USERS = [f"replica-{letter}" for letter in "abcdef"]
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {
            "level": "Request",
            "users": USERS,
            "verbs": ["create", "patch", "update"],
            "resources": [{"group": "coordination.k8s.io", "resources": ["leases"]}],
        },
        {"level": "Metadata", "users": USERS, "verbs": ["create", "patch", "update", "delete"]},
        {"level": "None"},
    ],
}
LABEL = "registry-sync.io/inference-service"
WRONG = {"vllm_model_name": "x", "model_name": "wrong", "version_name": "wrong"}


class ReadyProxy:
    """The Service's stand-in: TCP, one upstream per new connection, only to a replica whose
    /readyz answered 200 within the last second; never a retry."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.backends: dict[str, tuple[int, int]] = {}  # name: (webhook port, health port)
        self._ready_at: dict[str, float] = {}
        self._stop = threading.Event()
        for target in (self._accept, self._probe):
            threading.Thread(target=target, daemon=True).start()

    def _probe(self) -> None:
        with httpx.Client(timeout=0.5) as http:
            while not self._stop.is_set():
                for name, (_, health) in list(self.backends.items()):
                    with contextlib.suppress(httpx.HTTPError):
                        if http.get(f"http://127.0.0.1:{health}/readyz").status_code == 200:
                            self._ready_at[name] = time.monotonic()
                time.sleep(0.2)

    def ready(self) -> list[str]:
        now = time.monotonic()
        return [n for n in self.backends if now - self._ready_at.get(n, -9.0) < 1.0]

    def _accept(self) -> None:
        while not self._stop.is_set():
            client, _ = self._listener.accept()
            ready = self.ready()
            if not ready:
                client.close()
                continue
            port = self.backends[random.choice(ready)][0]
            try:
                upstream = socket.create_connection(("127.0.0.1", port), timeout=2)
            except OSError:
                client.close()
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    for end in (source, sink):
        with contextlib.suppress(OSError):
            end.shutdown(socket.SHUT_RDWR)


@dataclass
class Outcome:
    at: float
    admitted: dict[str, str] | None  # the params stored, None when denied
    denial: str = ""


@dataclass
class RunCreator:
    """Creates an opted-in run every 50 ms, with wrong params, recording each answer."""

    cluster: Cluster
    namespace: str
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        body = {
            "apiVersion": "tekton.dev/v1",
            "kind": "PipelineRun",
            "metadata": {"generateName": "failover-", "labels": {LABEL: ISVC_NAME}},
            "spec": {
                "pipelineRef": {"name": "model-testing"},
                "params": [{"name": k, "value": v} for k, v in WRONG.items()],
            },
        }
        while not self._stop.is_set():
            at = time.monotonic()
            try:
                stored = PIPELINE_RUNS.create(
                    self.cluster.api_client, self.namespace, body, dry_run=True
                )
                params = {p["name"]: p["value"] for p in stored["spec"]["params"]}
                self.outcomes.append(Outcome(at, params))
            except ApiException as error:
                self.outcomes.append(Outcome(at, None, str(error.body)[:300]))
            time.sleep(0.05)

    def since(self, start: float) -> list[Outcome]:
        return [o for o in self.outcomes if o.at >= start]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


@dataclass
class Replicas:
    cluster: Cluster
    namespace: str
    registry: RunningRegistry
    folder: Path
    proxy: ReadyProxy
    certs: Any
    running: dict[str, RunningOperator] = field(default_factory=dict)
    users: Iterator[str] = field(default_factory=lambda: iter(USERS))

    def start(self) -> str:
        user = next(self.users)
        control_plane = self.cluster.control_plane
        assert control_plane is not None
        kubeconfig = control_plane.kubeconfig_for_user(user, ("system:masters",))
        webhook_port, health_port = free_port(), free_port()
        operator = RunningOperator(
            self.cluster,
            self.namespace,
            self.registry.url,
            self.folder / f"{user}.log",
            [
                "--webhook", "service", "--webhook-host", "127.0.0.1",
                "--webhook-cert-file", str(self.certs.cert_file),
                "--webhook-key-file", str(self.certs.key_file),
                "--leader-identity", user, "--refresh-seconds", "2",
            ],
            {},
            kubeconfig=kubeconfig,
            webhook_port=webhook_port,
        )  # fmt: skip
        # Its own health port (RunningOperator passes 0 first; the last flag wins).
        operator.extra_args += ["--health-port", str(health_port)]
        operator.start(wait=False)
        self.running[user] = operator
        self.proxy.backends[user] = (webhook_port, health_port)
        self.cluster.wait_for(
            lambda: user in self.proxy.ready(), timeout=60, description=f"{user} ready"
        )
        return user

    def sigterm(self, user: str) -> None:
        """SIGTERM and wait until it has drained and exited."""
        operator = self.running.pop(user)
        operator.stop(timeout=30)
        del self.proxy.backends[user]

    def sigkill(self, user: str) -> None:
        self.running.pop(user).kill()
        del self.proxy.backends[user]

    def holder(self) -> str | None:
        try:
            lease = client.CoordinationV1Api(self.cluster.api_client).read_namespaced_lease(
                LEASE_NAME, self.namespace
            )
        except ApiException:
            return None
        return lease.spec.holder_identity  # type: ignore[no-any-return]

    def leader(self) -> str:
        holder = self.cluster.wait_for(
            lambda: self.holder() if self.holder() in self.running else None,
            timeout=30,
            description="a running replica holds the Lease",
        )
        return str(holder)


@pytest.fixture
def replicas(
    request: pytest.FixtureRequest, dev_registry: RunningRegistry, seed: SeedIds, tmp_path: Path
) -> Iterator[Replicas]:
    problem = why_no_control_plane()
    if problem is not None:
        if os.environ.get(REQUIRE_CLUSTER_VARIABLE) == "1":
            pytest.fail(f"{problem} ({REQUIRE_CLUSTER_VARIABLE}=1 forbids skipping)")
        pytest.skip(problem)
    with private_cluster("replicas", audit_policy=AUDIT_POLICY) as cluster:
        namespace = cluster.create_namespace("replicas")
        INFERENCE_SERVICES.create(
            cluster.api_client, namespace, seed_inference_service(namespace, seed)
        )
        certs = make_serving_certificate(tmp_path / "certs", ["127.0.0.1", "localhost"])
        proxy = ReadyProxy()
        cluster.apply(
            build_configuration(
                namespace, url_client_config(f"https://127.0.0.1:{proxy.port}", certs.ca_pem)
            )
        )
        group = Replicas(cluster, namespace, dev_registry, tmp_path, proxy, certs)
        try:
            yield group
        finally:
            for operator in group.running.values():
                operator.kill()
            proxy.close()


def expected_params(cluster: Cluster, namespace: str) -> dict[str, str]:
    status = binding_or_none(cluster.api_client, namespace, ISVC_NAME)["status"]  # type: ignore[index]
    return {
        "vllm_model_name": status["vllmModelName"],
        "model_name": status["registeredModelName"],
        "version_name": status["modelVersionName"],
    }


def labels_right(cluster: Cluster, namespace: str, seed: SeedIds) -> bool:
    """The labels name what the Ready binding names."""
    binding = binding_or_none(cluster.api_client, namespace, ISVC_NAME)
    ready = condition(binding, "Ready")
    if binding is None or ready is None or ready["status"] != "True":
        return False
    labels = INFERENCE_SERVICES.get(cluster.api_client, namespace, ISVC_NAME)["metadata"].get(
        "labels", {}
    )
    status = binding["status"]
    return (labels.get(MODEL_ID), labels.get(VERSION_ID)) == (
        status.get("registeredModelId"),
        status.get("modelVersionId"),
    )


def drift_labels(cluster: Cluster, namespace: str) -> None:
    INFERENCE_SERVICES.merge_patch(
        cluster.api_client, namespace, ISVC_NAME, {"metadata": {"labels": {VERSION_ID: "9"}}}
    )


def writes_outside_terms(audit_log: Path, namespace: str) -> tuple[list[str], int, int]:
    """Successful writes (other than the Lease) made by a replica outside its terms, the
    terms read from the Lease writes themselves (who took it when, who released it)."""
    events = [json.loads(line) for line in audit_log.read_text().splitlines() if line]
    events = [e for e in events if e.get("objectRef", {}).get("namespace") == namespace]
    events.sort(key=lambda e: e["stageTimestamp"])
    terms: dict[str, list[list[float]]] = {}
    holder: str | None = None
    problems = []
    writes = 0
    for event in events:
        user = event["user"]["username"]
        at = _seconds(event["stageTimestamp"])
        code = event.get("responseStatus", {}).get("code", 0)
        if event["objectRef"].get("resource") == "leases":
            if code >= 300:
                continue
            new = ((event.get("requestObject") or {}).get("spec") or {}).get("holderIdentity")
            if new != holder:
                if holder is not None and terms.get(holder):
                    terms[holder][-1][1] = at
                if new is not None:
                    terms.setdefault(new, []).append([at, float("inf")])
                holder = new
            continue
        if code >= 300:
            continue
        writes += 1
        received = _seconds(event["requestReceivedTimestamp"])
        if not any(start <= received and at <= end for start, end in terms.get(user, [])):
            what = f"{event['verb']} {event['objectRef']}"
            problems.append(f"{user} {what} at {event['stageTimestamp']}")
    return problems, writes, sum(len(t) for t in terms.values())


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_failovers_never_admit_wrong_names_and_deny_nothing_on_sigterm(
    replicas: Replicas, seed: SeedIds
) -> None:
    cluster, namespace = replicas.cluster, replicas.namespace
    replicas.start()
    replicas.start()
    cluster.wait_for(
        lambda: labels_right(cluster, namespace, seed), timeout=60, description="labels right"
    )
    expected = expected_params(cluster, namespace)
    creator = RunCreator(cluster, namespace)
    report: dict[str, Any] = {}
    try:
        # SIGTERM of the leader, then the rolling update of both (new before old).
        start = time.monotonic()
        leader = replicas.leader()
        stopping = threading.Thread(target=replicas.sigterm, args=(leader,))
        stopping.start()
        new_leader = cluster.wait_for(
            lambda: (h := replicas.holder()) not in (None, leader) and h,
            timeout=30,
            description="another replica takes the Lease",
        )
        report["sigterm take-over s"] = round(time.monotonic() - start, 1)
        stopping.join()
        replicas.start()
        report["sigterm denied"] = [o.denial for o in creator.since(start) if o.admitted is None]

        start = time.monotonic()
        for old in list(replicas.running):
            replicas.start()
            replicas.sigterm(old)
        report["rolling denied"] = [o.denial for o in creator.since(start) if o.admitted is None]

        # SIGKILL of the leader, labels drifting meanwhile; then of a follower.
        start = time.monotonic()
        leader = replicas.leader()
        replicas.sigkill(leader)
        drift_labels(cluster, namespace)
        cluster.wait_for(
            lambda: replicas.holder() in replicas.running, timeout=40, description="take-over"
        )
        report["sigkill take-over s"] = round(time.monotonic() - start, 1)
        cluster.wait_for(
            lambda: labels_right(cluster, namespace, seed), timeout=30, description="converged"
        )
        report["sigkill leader denied"] = len(
            [o for o in creator.since(start) if o.admitted is None]
        )
        replicas.start()
        start = time.monotonic()
        follower = next(u for u in replicas.running if u != replicas.leader())
        replicas.sigkill(follower)
        time.sleep(3)
        report["sigkill follower denied"] = len(
            [o for o in creator.since(start) if o.admitted is None]
        )
    finally:
        creator.stop()
    report["runs"] = len(creator.outcomes)
    print(f"failover report: {json.dumps(report)} (new leader after SIGTERM: {new_leader})")

    wrong = [o.admitted for o in creator.outcomes if o.admitted and o.admitted != expected]
    assert wrong == []
    assert report["sigterm denied"] == []
    assert report["rolling denied"] == []
    control_plane = cluster.control_plane
    assert control_plane is not None
    outside, writes, terms = writes_outside_terms(control_plane.audit_log, namespace)
    print(f"audit: {writes} writes by replicas in {terms} Lease terms")
    assert outside == []
    assert writes > 0 and terms >= 4  # a, then b after SIGTERM, the rolling update, SIGKILL
