"""How the audit judges what runs: the digest the pods run against the registry's, as the
operator's digest check does (domain/digest_check.py), from plain bodies."""

from __future__ import annotations

from typing import Any

import pytest

from registry_sync.audit.findings import (
    AuditReport,
    InferenceServiceFinding,
    InferenceServiceVerdict,
    RunningImages,
)
from registry_sync.audit.verdicts import audit_namespace
from registry_sync.domain.answer import Outcome
from registry_sync.domain.digest_check import (
    DigestCheck,
    DigestReason,
    LearnedDigest,
    RegisteredDigest,
    UnlearnedDigest,
)
from registry_sync.domain.references import OciReference, parse_storage_uri
from registry_sync.domain.snapshot import RegistrySnapshot
from unit.audit.scenario import (
    DEPLOYED_URI,
    DIGEST_A,
    DIGEST_B,
    INCIDENT_LABELS,
    ISVC,
    NAMESPACE,
    ONE_GPU_URI,
    RIGHT_LABELS,
    RIGHT_PARAMS,
    inference_service,
    labelled_run,
    model_pod,
    snapshot,
)

V = InferenceServiceVerdict
FORBIDDEN = (DigestReason.FORBIDDEN, f"the audit's identity may not list pods in {NAMESPACE}")


def canonical(uri: str) -> str:
    reference = parse_storage_uri(uri)
    assert isinstance(reference, OciReference)
    return reference.canonical


def names(**by_uri: RegisteredDigest) -> dict[str, RegisteredDigest]:
    """What the OCI registry answered, by the scenario's URI constants' names."""
    uris = {"deployed": DEPLOYED_URI, "one_gpu": ONE_GPU_URI}
    return {canonical(uris[key]): found for key, found in by_uri.items()}


def audit(
    pods: list[dict[str, Any]] | None,
    registered: dict[str, RegisteredDigest] | None = None,
    *,
    mode: DigestCheck = DigestCheck.REPORT,
    service: dict[str, Any] | None = None,
    registry: RegistrySnapshot | None = None,
    problem: tuple[str, str] = FORBIDDEN,
    runs: list[dict[str, Any]] | None = None,
) -> AuditReport:
    running = RunningImages(None if pods is None else tuple(pods), problem, registered or {})
    return audit_namespace(
        NAMESPACE,
        [service or inference_service(labels=RIGHT_LABELS)],
        runs or [],
        registry or snapshot(),
        digest_check=mode,
        running=running,
    )


def judged(*args: Any, **kwargs: Any) -> InferenceServiceFinding:
    (finding,) = audit(*args, **kwargs).inference_services
    return finding


def test_with_the_check_off_nothing_is_judged_or_shown() -> None:
    report = audit([model_pod(digest=DIGEST_A)], names(deployed=LearnedDigest(DIGEST_B)),
                   mode=DigestCheck.OFF)  # fmt: skip

    (finding,) = report.inference_services
    assert (finding.digest, finding.verdict, report.clean) == (None, V.OK, True)


def test_pods_running_the_registered_digest_match() -> None:
    report = audit([model_pod(digest=DIGEST_A)], names(deployed=LearnedDigest(DIGEST_A)))

    (finding,) = report.inference_services
    assert finding.digest is not None
    assert (finding.digest.status, finding.digest.reason) == ("True", "DigestMatches")
    assert (finding.digest.running_digest, finding.digest.registered_digest) == (
        DIGEST_A,
        DIGEST_A,
    )
    assert (finding.verdict, finding.mismatch, report.mismatches) == (V.OK, False, 0)


def test_a_digest_among_an_index_manifests_matches() -> None:
    index = LearnedDigest(DIGEST_B, children=frozenset({DIGEST_A}))

    finding = judged([model_pod(digest=DIGEST_A)], names(deployed=index))

    assert finding.digest is not None and finding.digest.reason == "DigestMatches"


def test_a_moved_tag_is_a_mismatch_naming_both_digests() -> None:
    report = audit([model_pod(digest=DIGEST_A)], names(deployed=LearnedDigest(DIGEST_B)))

    (finding,) = report.inference_services
    assert finding.digest is not None
    assert (finding.digest.status, finding.digest.reason) == ("False", "TagMoved")
    assert (finding.digest.running_digest, finding.digest.registered_digest) == (
        DIGEST_A,
        DIGEST_B,
    )
    # The labels are right: the verdict says so, and the digest is the one mismatch.
    assert (finding.verdict, finding.mismatch, report.mismatches) == (V.OK, True, 1)
    (problem,) = finding.problems
    assert DIGEST_A in problem and DIGEST_B in problem and "tag moved" in problem


def test_the_same_image_registered_twice_makes_the_answer_ambiguous() -> None:
    registered = names(deployed=LearnedDigest(DIGEST_A), one_gpu=LearnedDigest(DIGEST_A))

    report = audit([model_pod(digest=DIGEST_A)], registered)

    (finding,) = report.inference_services
    assert finding.resolution.outcome is Outcome.AMBIGUOUS
    assert {c.model_version_id for c in finding.resolution.candidates} == {"5", "10"}
    assert finding.verdict is V.AMBIGUOUS
    assert finding.digest is not None and finding.digest.reason == "DigestMatches"
    assert any("registered more than once" in problem for problem in finding.problems)
    assert report.mismatches == 1


def test_a_run_of_a_deployment_registered_twice_has_no_registry_target() -> None:
    registered = names(deployed=LearnedDigest(DIGEST_A), one_gpu=LearnedDigest(DIGEST_A))

    report = audit([model_pod(digest=DIGEST_A)], registered, runs=[labelled_run(RIGHT_PARAMS)])

    (run,) = report.pipeline_runs
    assert run.verdict.value == "unresolved-target"


def test_two_digests_running_are_a_rollout_in_progress() -> None:
    pods = [model_pod(digest=DIGEST_A), model_pod(f"{ISVC}-predictor-1", digest=DIGEST_B)]

    report = audit(pods, names(deployed=LearnedDigest(DIGEST_A)))

    (finding,) = report.inference_services
    assert finding.digest is not None
    assert (finding.digest.reason, finding.digest.mismatch) == ("RolloutInProgress", True)
    assert report.mismatches == 1


@pytest.mark.parametrize(
    ("mode", "mismatch"), [(DigestCheck.REPORT, False), (DigestCheck.ENFORCE, True)]
)
def test_a_lookup_that_failed_is_unknown_and_a_mismatch_only_in_enforce(
    mode: DigestCheck, mismatch: bool
) -> None:
    failed = UnlearnedDigest(DigestReason.DIGEST_UNKNOWN, "HEAD …/manifests/w4a16-2501: 401")

    report = audit([model_pod(digest=DIGEST_A)], names(deployed=failed), mode=mode)

    (finding,) = report.inference_services
    assert finding.digest is not None
    assert (finding.digest.status, finding.digest.reason) == ("Unknown", "DigestUnknown")
    assert finding.digest.running_digest == DIGEST_A
    assert "401" in finding.digest.message
    assert (finding.digest.mismatch, report.mismatches) == (mismatch, int(mismatch))


def test_a_host_not_allowed_says_so() -> None:
    refused = UnlearnedDigest(
        DigestReason.HOST_NOT_ALLOWED, "not among the hosts --oci-hosts allows"
    )

    finding = judged([model_pod(digest=DIGEST_A)], names(deployed=refused))

    assert finding.digest is not None
    assert (finding.digest.reason, finding.digest.mismatch) == ("HostNotAllowed", False)


@pytest.mark.parametrize(
    ("mode", "mismatch"), [(DigestCheck.REPORT, False), (DigestCheck.ENFORCE, True)]
)
def test_pods_that_could_not_be_read_say_forbidden(mode: DigestCheck, mismatch: bool) -> None:
    report = audit(None, mode=mode)

    (finding,) = report.inference_services
    assert finding.digest is not None
    assert (finding.digest.status, finding.digest.reason) == ("Unknown", "Forbidden")
    assert "may not list pods" in finding.digest.message
    assert (finding.digest.mismatch, report.mismatches) == (mismatch, int(mismatch))


def test_without_running_pods_the_digest_is_not_knowable() -> None:
    pods = [model_pod(phase="Pending"), model_pod("other-predictor-0", inference_service="other")]

    finding = judged(pods, names(deployed=LearnedDigest(DIGEST_A)))

    assert finding.digest is not None
    assert finding.digest.reason == "DigestUnknown"
    assert "no pod of this InferenceService is running" in finding.digest.message


def test_a_bare_config_id_is_not_knowable_never_a_match() -> None:
    finding = judged([model_pod(digest=None)], names(deployed=LearnedDigest(DIGEST_A)))

    assert finding.digest is not None
    assert (finding.digest.reason, finding.digest.running_digest) == ("DigestUnknown", None)


def test_an_artifact_not_looked_up_is_unknown() -> None:
    finding = judged([model_pod(digest=DIGEST_A)], {})

    assert finding.digest is not None
    assert finding.digest.reason == "DigestUnknown"
    assert "was not looked up" in finding.digest.message


def test_a_deployment_that_does_not_resolve_shows_its_running_digest() -> None:
    service = inference_service(uri="oci://quay.io/example/never-registered:v1")
    pod = model_pod(image="quay.io/example/never-registered:v1", digest=DIGEST_A)

    report = audit([pod], service=service)

    (finding,) = report.inference_services
    assert finding.digest is not None
    assert (finding.digest.reason, finding.digest.running_digest) == ("DigestUnknown", DIGEST_A)
    assert (finding.verdict, report.mismatches) == (V.NOT_REGISTERED, 1)


def test_a_service_that_did_not_opt_in_is_judged_too() -> None:
    service = inference_service(labels=RIGHT_LABELS, annotations={"owner": "someone"})

    finding = judged([model_pod(digest=DIGEST_A)], names(deployed=LearnedDigest(DIGEST_B)),
                     service=service)  # fmt: skip

    assert (finding.opted_in, finding.digest is not None) == (False, True)
    assert finding.digest is not None and finding.digest.reason == "TagMoved"


def test_wrong_labels_and_a_moved_tag_are_two_mismatches() -> None:
    service = inference_service(labels=INCIDENT_LABELS)

    report = audit([model_pod(digest=DIGEST_A)], names(deployed=LearnedDigest(DIGEST_B)),
                   service=service)  # fmt: skip

    (finding,) = report.inference_services
    assert (finding.verdict, finding.mismatches, report.mismatches) == (V.WRONG_LABELS, 2, 2)
    assert "tag moved" in finding.problems[-1]
