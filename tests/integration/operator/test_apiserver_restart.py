"""The operator through control-plane outages: kube-apiserver restarted under it, etcd
briefly gone. It must reconnect by itself, catch up with what changed, stay the same
process, and re-read each watched resource at most once per reconnect. A write the
apiserver refuses (as during an outage) is tried again later.

Each test has a private control plane (the outage would disturb the session's `kube`)
whose apiserver writes an audit log of the operator's requests: the operator runs as a
user of its own, so its LIST requests can be counted from the apiserver's side.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from registry_sync.demo.seed import (
    COMPARISON_URI,
    ISVC_NAME,
    ONE_GPU_URI,
    RUN_NAME,
    SeedIds,
    seed_inference_service,
    seed_pipeline_run,
)
from registry_sync.registry.client import RegistryClient
from support.bindings import MODEL_ID, VERSION_ID, binding_or_none, condition
from support.cluster import REQUIRE_CLUSTER_VARIABLE, TEST_CLUSTER_VARIABLE, Cluster
from support.cluster_local import LocalControlPlane
from support.cluster_objects import INFERENCE_SERVICES, PIPELINE_RUNS
from support.devregistry import RunningRegistry
from support.operator import RunningOperator, start_operator
from support.private_cluster import private_cluster, why_no_control_plane

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(
        os.environ.get(TEST_CLUSTER_VARIABLE) == "existing",
        reason="restarts the apiserver and etcd: only on a control plane the test starts",
    ),
]

OPERATOR_USER = "registry-sync-operator"
# What Kopf watches in `--webhook off` mode, and the ModelBindings the operator reads itself.
COUNTED_RESOURCES = ("inferenceservices", "pipelineruns", "modelbindings")
WATCHED_RESOURCES = ("inferenceservices", "pipelineruns")
# Only the operator's requests, one event per finished request (and one when a watch starts).
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [{"level": "Metadata", "users": [OPERATOR_USER]}, {"level": "None"}],
}
OPERATOR_ARGS = ("--registry-name", "demo-registry", "--refresh-seconds", "1", "--webhook", "off")
CONVERGENCE_SECONDS = 180.0
# Long enough for several registry refreshes (every second) to find an answer they
# cannot write: the write must be retried once the cluster is back.
REFRESHES_DURING_OUTAGE_SECONDS = 5.0
LATE_URI = "oci://quay.io/example/registered-during-the-outage:1"


@dataclass
class OutageCluster:
    cluster: Cluster
    control_plane: LocalControlPlane
    operator_kubeconfig: Path


@pytest.fixture
def outage_cluster(request: pytest.FixtureRequest) -> Iterator[OutageCluster]:
    """A private local control plane with the project CRDs and an audit log."""
    problem = why_no_control_plane()
    if problem is not None:
        if os.environ.get(REQUIRE_CLUSTER_VARIABLE) == "1":
            pytest.fail(f"{problem} ({REQUIRE_CLUSTER_VARIABLE}=1 forbids skipping)")
        pytest.skip(problem)
    failed_before = request.session.testsfailed
    with private_cluster("outage", audit_policy=AUDIT_POLICY) as cluster:
        control_plane = cluster.control_plane
        assert control_plane is not None
        operator_kubeconfig = control_plane.kubeconfig_for_user(OPERATOR_USER, ("system:masters",))
        yield OutageCluster(cluster, control_plane, operator_kubeconfig)
        if request.session.testsfailed > failed_before:
            control_plane.keep_files = True


@pytest.fixture
def outage_operator(
    outage_cluster: OutageCluster, dev_registry: RunningRegistry, seed: SeedIds, tmp_path: Path
) -> Iterator[RunningOperator]:
    """The operator without a webhook (so Kopf watches PipelineRuns too), as its own user,
    with three InferenceServices already handled: the seed, `moved` (the same model) and
    `late` (a URI not registered yet)."""
    cluster = outage_cluster.cluster
    namespace = cluster.create_namespace("outage")
    for name, uri in ((ISVC_NAME, None), ("moved", None), ("late", LATE_URI)):
        INFERENCE_SERVICES.create(cluster.api_client, namespace, isvc(namespace, seed, name, uri))
    with start_operator(
        cluster,
        namespace,
        dev_registry.url,
        tmp_path / "operator.log",
        extra_args=OPERATOR_ARGS,
        kubeconfig=outage_cluster.operator_kubeconfig,
    ) as operator:
        wait_for_ready(cluster, namespace, ISVC_NAME, "True")
        wait_for_ready(cluster, namespace, "moved", "True")
        wait_for_ready(cluster, namespace, "late", "False")
        # The initial LISTs are over (a first LIST of a new CRD may be refused while its
        # storage initializes): what is counted later is only what an outage caused.
        wait_for_watches(outage_cluster)
        yield operator


# -- reading the cluster and the audit log ------------------------------------------------


def isvc(namespace: str, seed: SeedIds, name: str, uri: str | None = None) -> dict[str, Any]:
    """The seed InferenceService (opted in, wrong version label) named `name`, serving
    `uri` when given."""
    body = seed_inference_service(namespace, seed)
    body["metadata"]["name"] = name
    if uri is not None:
        body["spec"]["predictor"]["model"]["storageUri"] = uri
    return body


def labels_of(cluster: Cluster, namespace: str, name: str) -> dict[str, str]:
    body = INFERENCE_SERVICES.get(cluster.api_client, namespace, name)
    return dict(body["metadata"].get("labels", {}))


def wait_for_ready(cluster: Cluster, namespace: str, name: str, status: str) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        binding = binding_or_none(cluster.api_client, namespace, name)
        ready = condition(binding, "Ready")
        return binding if ready is not None and ready["status"] == status else None

    found: dict[str, Any] = cluster.wait_for(
        reached, timeout=CONVERGENCE_SECONDS, description=f"{namespace}/{name} Ready={status}"
    )
    return found


def wait_for_labels(
    cluster: Cluster, namespace: str, name: str, model_id: str, version_id: str
) -> None:
    cluster.wait_for(
        lambda: (lambda labels: labels.get(MODEL_ID) == model_id
                 and labels.get(VERSION_ID) == version_id)(labels_of(cluster, namespace, name)),
        timeout=CONVERGENCE_SECONDS,
        description=f"{namespace}/{name} labelled model {model_id} version {version_id}",
    )  # fmt: skip


def operator_events(audit_log: Path, since: int) -> list[dict[str, Any]]:
    """The operator's audit events written after byte offset `since`."""
    with audit_log.open("rb") as handle:
        handle.seek(since)
        lines = handle.read().decode().splitlines()
    events = [json.loads(line) for line in lines if line.strip()]
    return [event for event in events if event["user"]["username"] == OPERATOR_USER]


def lists_per_resource(events: list[dict[str, Any]], *, served: bool) -> Counter[str]:
    """Finished LIST requests per resource: those answered 200 (`served`), else all that
    reached the apiserver (refusals while it starts up included)."""
    return Counter(
        event["objectRef"]["resource"]
        for event in events
        if event["verb"] == "list"
        and event["stage"] == "ResponseComplete"
        and (not served or event["responseStatus"]["code"] == 200)
    )


def wait_for_watches(outage: OutageCluster) -> None:
    """Until the apiserver has accepted a watch of the operator's on every watched resource."""

    def watching() -> bool:
        started = {
            event["objectRef"]["resource"]
            for event in operator_events(outage.control_plane.audit_log, 0)
            if event["verb"] == "watch"
            and event["stage"] == "ResponseStarted"
            and event["responseStatus"]["code"] == 200
        }
        return started >= set(WATCHED_RESOURCES)

    outage.cluster.wait_for(
        watching, timeout=CONVERGENCE_SECONDS, description="the operator watching everything"
    )


def describe(events: list[dict[str, Any]]) -> str:
    """The operator's LIST/WATCH requests, one line each, for a failure message."""
    return "\n".join(
        f"{event['stageTimestamp']} {event['verb']} {event['objectRef'].get('resource')} "
        f"{event.get('responseStatus', {}).get('code')} {event.get('userAgent')}"
        for event in events
        if event["verb"] in ("list", "watch")
    )


# -- what changes while the operator is cut off, and what it must end with ----------------


async def change_during_outage(registry_client: RegistryClient, seed: SeedIds) -> str:
    """Register the late InferenceService's URI (the operator cannot write the answer
    while the cluster is down); return the new version's id."""
    version = await registry_client.create_model_version(seed.comparison_model, "during-outage")
    await registry_client.create_model_artifact(version.id, name="late", uri=LATE_URI)
    return version.id


def change_after_outage(cluster: Cluster, namespace: str, seed: SeedIds) -> None:
    """Label drift on the seed, a new InferenceService, a storage URI change on `moved`,
    and an opted-in PipelineRun with wrong params (the operator cancels it)."""
    PIPELINE_RUNS.create(cluster.api_client, namespace, seed_pipeline_run(namespace))
    INFERENCE_SERVICES.merge_patch(
        cluster.api_client, namespace, ISVC_NAME, {"metadata": {"labels": {VERSION_ID: "999"}}}
    )
    INFERENCE_SERVICES.create(
        cluster.api_client, namespace, isvc(namespace, seed, "added", ONE_GPU_URI)
    )
    spec = copy.deepcopy(isvc(namespace, seed, "moved", COMPARISON_URI)["spec"])
    INFERENCE_SERVICES.merge_patch(cluster.api_client, namespace, "moved", {"spec": spec})


def assert_converged(cluster: Cluster, namespace: str, seed: SeedIds, late_version: str) -> None:
    """Every change made during and after the outage is reflected in labels and bindings,
    and the PipelineRun made after it is cancelled: both watches deliver events again."""
    cluster.wait_for(
        lambda: (
            PIPELINE_RUNS.get(cluster.api_client, namespace, RUN_NAME)["spec"].get("status")
            == "Cancelled"
        ),
        timeout=CONVERGENCE_SECONDS,
        description=f"{RUN_NAME} (wrong params) cancelled",
    )
    wait_for_labels(cluster, namespace, ISVC_NAME, seed.small_model, seed.small_version)
    wait_for_labels(cluster, namespace, "late", seed.comparison_model, late_version)
    wait_for_ready(cluster, namespace, "late", "True")
    wait_for_labels(cluster, namespace, "added", seed.mistral_model, seed.one_gpu_version)
    wait_for_ready(cluster, namespace, "added", "True")
    wait_for_labels(cluster, namespace, "moved", seed.comparison_model, seed.comparison_version)
    cluster.wait_for(
        lambda: (
            (binding_or_none(cluster.api_client, namespace, "moved") or {})
            .get("status", {})
            .get("storageUri")
            == COMPARISON_URI
        ),
        timeout=CONVERGENCE_SECONDS,
        description="the binding of `moved` following its storage URI change",
    )


def assert_one_list_at_most(outage: OutageCluster, since: int) -> None:
    """No resource was LISTed (answered 200) more than once by the operator since `since`:
    one outage is one reconnect. Called after convergence, so every re-LIST is done."""
    events = operator_events(outage.control_plane.audit_log, since)
    served = lists_per_resource(events, served=True)
    for resource in COUNTED_RESOURCES:
        assert served[resource] <= 1, (
            f"{served[resource]} LISTs of {resource} for one reconnect:\n{describe(events)}"
        )
    # For the record (pytest -s): the attempts include refusals during the apiserver's start.
    print(f"LISTs served: {dict(served)}; reached the apiserver: "
          f"{dict(lists_per_resource(events, served=False))}\n{describe(events)}")  # fmt: skip


# -- the outages --------------------------------------------------------------------------


# What is stopped and started again: the apiserver (restarted under the operator) or etcd
# (briefly gone while the apiserver stays up).
OUTAGES = {
    "apiserver-restart": (LocalControlPlane.stop_apiserver, LocalControlPlane.start_apiserver),
    "short-etcd-outage": (LocalControlPlane.stop_etcd, LocalControlPlane.start_etcd),
}


@pytest.mark.parametrize("outage", sorted(OUTAGES))
async def test_the_operator_rides_out_a_control_plane_outage_and_catches_up(
    outage_cluster: OutageCluster,
    outage_operator: RunningOperator,
    registry_client: RegistryClient,
    seed: SeedIds,
    outage: str,
) -> None:
    cluster, control_plane = outage_cluster.cluster, outage_cluster.control_plane
    namespace = outage_operator.namespace
    assert outage_operator.process is not None
    pid = outage_operator.process.pid
    before = control_plane.audit_log.stat().st_size
    stop, start = OUTAGES[outage]

    stop(control_plane)
    late_version = await change_during_outage(registry_client, seed)
    await asyncio.sleep(REFRESHES_DURING_OUTAGE_SECONDS)
    start(control_plane)
    change_after_outage(cluster, namespace, seed)

    assert_converged(cluster, namespace, seed, late_version)
    assert_one_list_at_most(outage_cluster, before)
    assert outage_operator.running and outage_operator.process.pid == pid


def refusing_policy(user: str) -> list[dict[str, Any]]:
    """A ValidatingAdmissionPolicy (and its binding) refusing every InferenceService
    update by `user`: the refusal an outage or a policy gives, on demand."""
    name = "refuse-operator-updates"
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": ["serving.kserve.io"],
                            "apiVersions": ["*"],
                            "operations": ["UPDATE"],
                            "resources": ["inferenceservices"],
                        }
                    ]
                },
                "validations": [
                    {
                        "expression": f"request.userInfo.username != '{user}'",
                        "message": "refused for the test",
                    }
                ],
            },
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": {"policyName": name, "validationActions": ["Deny"]},
        },
    ]


def labels_reason(cluster: Cluster, namespace: str, name: str) -> str | None:
    found = condition(binding_or_none(cluster.api_client, namespace, name), "LabelsInSync")
    return None if found is None else str(found["reason"])


async def test_a_label_patch_the_apiserver_refused_is_tried_again_later(
    outage_cluster: OutageCluster,
    outage_operator: RunningOperator,
    registry_client: RegistryClient,
    seed: SeedIds,
) -> None:
    cluster = outage_cluster.cluster
    namespace = outage_operator.namespace
    policy = refusing_policy(OPERATOR_USER)
    cluster.apply(policy)

    def refused_for_the_operator() -> bool:
        probe = cluster.kubectl(
            "label", "inferenceservice", "late", "probe=1", "--dry-run=server",
            f"--namespace={namespace}", f"--as={OPERATOR_USER}", "--as-group=system:masters",
            check=False,
        )  # fmt: skip
        return "refused for the test" in probe.stderr

    cluster.wait_for(refused_for_the_operator, description="the policy enforced")
    late_version = await change_during_outage(registry_client, seed)
    # The new answer is found by a refresh, whose label patch is refused.
    cluster.wait_for(
        lambda: labels_reason(cluster, namespace, "late") == "LabelPatchFailed",
        timeout=CONVERGENCE_SECONDS,
        description="the refused label patch recorded on the binding",
    )
    for document in reversed(policy):
        cluster.kubectl("delete", document["kind"].lower(), document["metadata"]["name"])

    # No event follows a refused write: only the operator trying again can fix the labels.
    wait_for_labels(cluster, namespace, "late", seed.comparison_model, late_version)
    cluster.wait_for(
        lambda: labels_reason(cluster, namespace, "late") not in (None, "LabelPatchFailed"),
        timeout=CONVERGENCE_SECONDS,
        description="the binding no longer reporting the refused patch",
    )
