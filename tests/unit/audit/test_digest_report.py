"""The digest check in the report: a `digest` entry per InferenceService in the JSON
document, a `digest` line under each InferenceService in the table."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from registry_sync.audit.findings import AuditReport, RunningImages
from registry_sync.audit.report import WIDTH, render_table, report_document
from registry_sync.audit.verdicts import audit_namespace
from registry_sync.domain.digest_check import (
    DigestCheck,
    LearnedDigest,
    RegisteredDigest,
    UnlearnedDigest,
)
from registry_sync.domain.references import OciReference, parse_storage_uri
from unit.audit.scenario import (
    COMPARISON_URI,
    DEPLOYED_URI,
    DIGEST_A,
    DIGEST_B,
    ISVC,
    NAMESPACE,
    ONE_GPU_URI,
    OPTIMIZED_URI,
    RIGHT_LABELS,
    inference_service,
    model_pod,
    snapshot,
)

URL = "http://127.0.0.1:8080"


def canonical(uri: str) -> str:
    reference = parse_storage_uri(uri)
    assert isinstance(reference, OciReference)
    return reference.canonical


def deployed_names(found: RegisteredDigest, *, also_one_gpu: bool = False) -> dict[str, Any]:
    """What the OCI registry answered for the deployed URI (and, `also_one_gpu`, for the
    one-GPU version's); the seed's other artifacts name bits of their own."""
    others = (COMPARISON_URI, OPTIMIZED_URI, ONE_GPU_URI)
    registered: dict[str, Any] = {
        canonical(uri): LearnedDigest("sha256:" + str(n) * 64) for n, uri in enumerate(others)
    }
    registered[canonical(DEPLOYED_URI)] = found
    if also_one_gpu:
        registered[canonical(ONE_GPU_URI)] = found
    return registered


def report(
    registered: dict[str, RegisteredDigest] | None,
    *,
    mode: DigestCheck = DigestCheck.REPORT,
    pods: tuple[dict[str, Any], ...] | None = (model_pod(digest=DIGEST_A),),
    notes: tuple[str, ...] = (),
    name: str = ISVC,
) -> AuditReport:
    return audit_namespace(
        NAMESPACE,
        [inference_service(name, labels=RIGHT_LABELS)],
        [],
        snapshot(),
        notes=notes,
        digest_check=mode,
        running=RunningImages(pods, registered=registered or {}),
    )


def table_of(audited: AuditReport) -> list[str]:
    return render_table(audited, registry_url=URL).splitlines()


def service_row(lines: list[str]) -> str:
    return next(line for line in lines if line.startswith(ISVC))


# -- JSON ------------------------------------------------------------------------------------


def test_an_inference_service_entry_carries_its_digest_check() -> None:
    document = report_document(report(deployed_names(LearnedDigest(DIGEST_B))), registry_url=URL)

    (entry,) = document["inferenceServices"]
    digest = entry["digest"]
    assert list(digest) == [
        "status",
        "reason",
        "message",
        "runningDigest",
        "registeredDigest",
        "unverifiedCandidates",
        "mismatch",
    ]
    assert (digest["status"], digest["reason"], digest["mismatch"]) == ("False", "TagMoved", True)
    assert (digest["runningDigest"], digest["registeredDigest"]) == (DIGEST_A, DIGEST_B)
    assert (entry["verdict"], document["mismatches"], document["clean"]) == ("ok", 1, False)


def test_with_the_check_off_the_digest_entry_is_null() -> None:
    document = report_document(
        report(deployed_names(LearnedDigest(DIGEST_B)), mode=DigestCheck.OFF), registry_url=URL
    )

    (entry,) = document["inferenceServices"]
    assert entry["digest"] is None
    assert document["settings"]["digestCheck"] == "off"
    assert set(document["summary"]["digests"].values()) == {0}


def test_the_summary_counts_every_digest_reason_including_zeros() -> None:
    document = report_document(report(deployed_names(LearnedDigest(DIGEST_A))), registry_url=URL)

    assert document["settings"]["digestCheck"] == "report"
    assert document["summary"]["digests"] == {
        "DigestMatches": 1,
        "TagMoved": 0,
        "RolloutInProgress": 0,
        "DigestUnknown": 0,
        "HostNotAllowed": 0,
        "Forbidden": 0,
    }


# -- table -----------------------------------------------------------------------------------


def test_a_match_shows_the_running_digest_under_a_clean_row() -> None:
    lines = table_of(report(deployed_names(LearnedDigest(DIGEST_A))))

    assert service_row(lines).endswith("ok")
    assert f"    digest DigestMatches: running {DIGEST_A}" in lines
    assert lines[-1] == "RESULT: no mismatches"


def test_a_moved_tag_shows_in_the_verdict_column_with_both_digests() -> None:
    lines = table_of(report(deployed_names(LearnedDigest(DIGEST_B))))
    text = "\n".join(lines)

    assert service_row(lines).endswith("TagMoved")
    digest_line = next(i for i, line in enumerate(lines) if line.startswith("    digest "))
    shown = " ".join(line.strip() for line in lines[digest_line : digest_line + 2])
    assert shown.startswith(f"digest TagMoved: running {DIGEST_A}, registered {DIGEST_B}")
    assert "    ! the registry's artifact" in text
    assert lines[-1] == "RESULT: 1 mismatch (InferenceServices: 1 TagMoved)"


def test_a_wrong_verdict_stays_in_the_column_and_the_digest_is_counted_beside_it() -> None:
    audited = audit_namespace(
        NAMESPACE,
        [inference_service()],  # no labels: missing-labels
        [],
        snapshot(),
        digest_check=DigestCheck.REPORT,
        running=RunningImages(
            (model_pod(digest=DIGEST_A),), registered=deployed_names(LearnedDigest(DIGEST_B))
        ),
    )

    lines = table_of(audited)

    assert service_row(lines).endswith("missing-labels")
    assert lines[-1] == "RESULT: 2 mismatches (InferenceServices: 1 TagMoved, 1 missing-labels)"


def test_the_same_image_registered_twice_shows_ambiguous_and_the_running_digest() -> None:
    lines = table_of(report(deployed_names(LearnedDigest(DIGEST_A), also_one_gpu=True)))
    text = "\n".join(lines)

    assert service_row(lines).endswith("ambiguous")
    assert f"digest DigestMatches: running {DIGEST_A}" in text
    assert "registered more than" in text


def test_a_digest_not_known_says_why_and_is_not_a_mismatch_in_report() -> None:
    failed = UnlearnedDigest("DigestUnknown", "HEAD https://registry/v2/x/manifests/v1: 401")

    lines = table_of(report(deployed_names(failed)))
    text = " ".join(line.strip() for line in lines)

    assert service_row(lines).endswith("ok")
    assert f"digest DigestUnknown: running {DIGEST_A}, the running image cannot be verified" in text
    assert lines[-1] == "RESULT: no mismatches"


def test_a_digest_not_known_is_a_mismatch_in_enforce() -> None:
    failed = UnlearnedDigest("DigestUnknown", "HEAD https://registry/v2/x/manifests/v1: 401")

    lines = table_of(report(deployed_names(failed), mode=DigestCheck.ENFORCE))

    assert service_row(lines).endswith("DigestUnknown")
    assert lines[-1] == "RESULT: 1 mismatch (InferenceServices: 1 DigestUnknown)"


def test_pods_not_read_are_said_once_as_a_note_and_per_service_as_forbidden() -> None:
    note = "pods could not be read: digests not checked (HTTP 403)"
    audited = audit_namespace(
        NAMESPACE,
        [inference_service(labels=RIGHT_LABELS)],
        [],
        snapshot(),
        notes=(note,),
        digest_check=DigestCheck.REPORT,
        running=RunningImages(None, ("Forbidden", "the audit's identity may not list pods")),
    )

    lines = table_of(audited)

    assert f"    note: {note}" in lines
    assert any(line.startswith("    digest Forbidden: ") for line in lines)
    assert lines[-1] == "RESULT: no mismatches"


@given(name=st.text(alphabet="abcdefghij-0123456789", min_size=1, max_size=253))
def test_no_digest_line_is_wider_than_120_columns(name: str) -> None:
    pods = (model_pod(inference_service=name, digest=DIGEST_A),)
    audited = report(deployed_names(LearnedDigest(DIGEST_B)), pods=pods, name=name)

    assert max(len(line) for line in table_of(audited)) <= WIDTH


def test_artifacts_whose_digest_is_unknown_are_counted_on_the_digest_line() -> None:
    registered = deployed_names(LearnedDigest(DIGEST_A))
    registered[canonical(ONE_GPU_URI)] = UnlearnedDigest("DigestUnknown", "timed out")

    lines = table_of(report(registered))
    text = " ".join(line.strip() for line in lines)

    assert "the digest of 1 other artifact is unknown" in text
    (entry,) = report_document(report(registered), registry_url=URL)["inferenceServices"]
    assert entry["digest"]["unverifiedCandidates"] == [ONE_GPU_URI]


def test_what_an_oci_registry_said_is_shown_escaped() -> None:
    hostile = UnlearnedDigest("DigestUnknown", "HEAD …: 401 \x1b]52;c;cHduZWQ=\x07\nRESULT: ok")

    table = render_table(report(deployed_names(hostile)), registry_url=URL)

    assert "\x1b" not in table and "\x07" not in table
    assert "\\x1b]52;c;" in table
    assert [line for line in table.splitlines() if line.startswith("RESULT")] == [
        "RESULT: no mismatches"
    ]
