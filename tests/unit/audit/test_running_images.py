"""What an audit reads for its digest check: the model pods (a refusal is a note, never the
end of the audit) and, only when a pod reports a digest, the OCI registries' answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from registry_sync.audit.inputs import (
    AuditImpossible,
    look_up_digests,
    read_model_pods,
    reports_a_digest,
)
from registry_sync.audit.settings import load_audit_settings
from registry_sync.controller.kube_calls import KubeCallError
from registry_sync.domain.digest_check import LearnedDigest, UnlearnedDigest
from registry_sync.domain.references import OciReference, parse_storage_uri
from registry_sync.domain.snapshot import ModelArtifact
from unit.audit.scenario import (
    DIGEST_A,
    NAMESPACE,
    SEED_ARTIFACTS,
    model_pod,
    snapshot,
)

POD_LABEL = "serving.kserve.io/inferenceservice"


class FakeKube:
    """`KubeObjects` as far as the audit uses it: pods listed, or refused; no Secret."""

    def __init__(self, pods: list[dict[str, Any]] | int) -> None:
        self.pods = pods
        self.asked: list[tuple[str, str]] = []

    def list_model_pods(self, namespace: str, label: str) -> list[dict[str, Any]]:
        self.asked.append((namespace, label))
        if isinstance(self.pods, int):
            error = ApiException(status=self.pods, reason="Refused")
            error.body = json.dumps(
                {"message": f'pods is forbidden: cannot list "pods" ({self.pods})'}
            )
            raise KubeCallError("listing model pods in", namespace, error)
        return self.pods

    def read_secret(self, ref: object) -> dict[str, Any]:
        raise AssertionError("no pull secret is configured in these tests")


def canonical(uri: str) -> str:
    reference = parse_storage_uri(uri)
    assert isinstance(reference, OciReference)
    return reference.canonical


def test_the_model_pods_are_listed_by_kserve_label() -> None:
    kube = FakeKube([model_pod()])

    running, notes = read_model_pods(kube, NAMESPACE)  # type: ignore[arg-type]

    assert kube.asked == [(NAMESPACE, POD_LABEL)]
    assert (running.pods, notes) == ((model_pod(),), ())


def test_pods_forbidden_are_a_note_and_the_forbidden_reason() -> None:
    running, notes = read_model_pods(FakeKube(403), NAMESPACE)  # type: ignore[arg-type]

    assert running.pods is None
    assert running.pods_problem == (
        "Forbidden",
        f"the audit's identity may not list pods in {NAMESPACE}",
    )
    (note,) = notes
    assert note.startswith("pods could not be read: digests not checked (")
    assert "HTTP 403" in note and "--digest-check off" in note


def test_pods_that_fail_otherwise_are_a_note_and_unknown() -> None:
    running, notes = read_model_pods(FakeKube(500), NAMESPACE)  # type: ignore[arg-type]

    assert (running.pods, running.pods_problem[0]) == (None, "DigestUnknown")
    assert "HTTP 500" in running.pods_problem[1]
    assert len(notes) == 1


@pytest.mark.parametrize(
    ("pods", "reports"),
    [
        ([], False),
        ([model_pod(digest=None)], False),  # a bare config id
        ([model_pod(phase="Pending")], False),
        ([{"metadata": {"name": "not-a-model-pod"}}, model_pod()], True),
    ],
)
def test_registries_are_asked_only_when_a_running_pod_reports_a_digest(
    pods: list[dict[str, Any]], reports: bool
) -> None:
    assert reports_a_digest(tuple(pods)) is reports


async def test_every_live_oci_artifact_is_answered_for_under_the_operators_rules() -> None:
    pinned = f"oci://quay.io/example/pinned:v1@{DIGEST_A}"
    registry = snapshot(
        artifacts=(
            *SEED_ARTIFACTS,
            ModelArtifact(id="9", name="pinned", uri=pinned, model_version_id="7"),
        )
    )
    # No host may be asked: the answers come without a request.
    settings = load_audit_settings(oci_hosts="registry.invalid")
    progress: list[str] = []

    found = await look_up_digests(registry, settings, FakeKube([]), NAMESPACE, progress.append)  # type: ignore[arg-type]

    assert set(found) == {canonical(a.uri) for a in registry.artifacts}
    learned = found[canonical(pinned)]
    assert isinstance(learned, LearnedDigest) and learned.digest == DIGEST_A
    refused = found[canonical(SEED_ARTIFACTS[0].uri)]
    assert isinstance(refused, UnlearnedDigest) and refused.reason == "HostNotAllowed"
    assert progress == []


async def test_an_unusable_oci_ca_file_stops_the_audit(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("not a certificate")
    settings = load_audit_settings(oci_ca_file=str(ca_file))

    with pytest.raises(AuditImpossible, match="--oci-ca-file"):
        await look_up_digests(snapshot(), settings, FakeKube([]), NAMESPACE, print)  # type: ignore[arg-type]
