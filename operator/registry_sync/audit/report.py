"""An `AuditReport` as people read it (a table at 120 columns) and as machines do (JSON).

The JSON document is versioned (`schemaVersion`) and its keys are stable: docs/audit.md is
its description, and a key is only ever added within one schema version, never renamed or
removed. Both renderings are pure functions of the report.
"""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Final

from registry_sync.audit.findings import (
    AUDIT_DIGEST_REASONS,
    AuditReport,
    ImageDigestFinding,
    InferenceServiceFinding,
    InferenceServiceVerdict,
    LabelClaim,
    ParamClaim,
    PipelineRunFinding,
    PipelineRunVerdict,
    RecordFinding,
    RecordVerdict,
    TagReuse,
)
from registry_sync.domain.answer import Candidate, format_instant, version_document
from registry_sync.domain.escaping import escaped

SCHEMA_VERSION: Final = 1
WIDTH: Final = 120
_DETAIL_INDENT: Final = "    "


# -- JSON ----------------------------------------------------------------------------------


def report_document(report: AuditReport, *, registry_url: str | None) -> dict[str, Any]:
    """The report as the documented JSON document (docs/audit.md, schema version 1)."""
    snapshot = report.snapshot
    names = report.param_names
    return {
        "schemaVersion": SCHEMA_VERSION,
        "namespace": report.namespace,
        "clean": report.clean,
        "mismatches": report.mismatches,
        "settings": {
            "labelPrefix": report.label_keys.prefix,
            "registryName": report.registry_name,
            "digestCheck": report.digest_check.value,
            "paramNames": {
                "vllmModelName": names.served_name,
                "modelName": names.model_name,
                "versionName": names.version_name,
            },
        },
        "registry": {
            "url": registry_url,
            "dataTime": format_instant(snapshot.taken_at_ms) if snapshot.taken_at_ms else None,
            "registeredModels": len(snapshot.models),
            "modelVersions": len(snapshot.versions),
            "modelArtifacts": len(snapshot.artifacts),
        },
        "summary": {
            "inferenceServices": _count(
                InferenceServiceVerdict, (f.verdict for f in report.inference_services)
            ),
            "pipelineRuns": _count(PipelineRunVerdict, (f.verdict for f in report.pipeline_runs)),
            "tagReuse": len(report.tag_reuse),
            "inferenceServiceRecords": _count(RecordVerdict, (f.verdict for f in report.records)),
            "digests": _count(
                AUDIT_DIGEST_REASONS,
                (f.digest.reason for f in report.inference_services if f.digest is not None),
            ),
        },
        "inferenceServices": [_service_document(f) for f in report.inference_services],
        "pipelineRuns": [_run_document(f) for f in report.pipeline_runs],
        "tagReuse": [_reuse_document(r) for r in report.tag_reuse],
        "inferenceServiceRecords": [_record_document(f) for f in report.records],
        "notes": list(report.notes),
    }


def error_document(namespace: str | None, message: str) -> dict[str, Any]:
    """The JSON document of an audit that could not be made (exit code 2)."""
    return {"schemaVersion": SCHEMA_VERSION, "namespace": namespace, "error": message}


def render_json(document: dict[str, Any]) -> str:
    """Indented JSON with keys in the documented order, ending in a newline."""
    return json.dumps(document, indent=2, ensure_ascii=True) + "\n"


def _count(verdicts: Iterable[Any], seen: Iterable[Any]) -> dict[str, int]:
    counted = Counter(seen)
    return {verdict.value: counted.get(verdict, 0) for verdict in verdicts}


def _claim_document(claim: LabelClaim, *, version: bool = False) -> dict[str, Any]:
    document: dict[str, Any] = {
        "key": claim.key,
        "value": claim.value,
        "expected": claim.expected,
        "state": claim.state.value,
        "registryName": claim.registry_name,
    }
    if version:
        document["registeredModelId"] = claim.owner_model_id
        document["registeredModelName"] = claim.owner_model_name
    return document


def _candidate_document(candidate: Candidate) -> dict[str, Any]:
    return {
        **version_document(candidate),
        "modelArtifactId": candidate.artifact_id,
        "uri": candidate.artifact_uri,
    }


def _service_document(finding: InferenceServiceFinding) -> dict[str, Any]:
    resolution = finding.resolution
    labels = finding.labels
    return {
        "name": finding.name,
        "optedIn": finding.opted_in,
        "storageUri": finding.storage_uri,
        "vllmModelName": finding.served_name,
        "labels": {
            "registeredModelId": _claim_document(labels.registered_model_id),
            "modelVersionId": _claim_document(labels.model_version_id, version=True),
            "registryName": _claim_document(labels.registry_name),
        },
        "registry": {
            "outcome": resolution.outcome.value,
            "message": resolution.message,
            **version_document(resolution),
            "modelArtifactId": resolution.artifact_id,
            "candidates": [_candidate_document(c) for c in resolution.candidates],
        },
        "digest": _digest_document(finding.digest) if finding.digest is not None else None,
        "verdict": finding.verdict.value,
        "problems": list(finding.problems),
    }


def _digest_document(digest: ImageDigestFinding) -> dict[str, Any]:
    return {
        "status": digest.status,
        "reason": digest.reason,
        "message": digest.message,
        "runningDigest": digest.running_digest,
        "registeredDigest": digest.registered_digest,
        "unverifiedCandidates": list(digest.unverified),
        "mismatch": digest.mismatch,
    }


def _param_document(claim: ParamClaim) -> dict[str, Any]:
    return {
        "param": claim.param,
        "value": claim.value,
        "expected": claim.expected,
        "state": claim.state.value,
    }


def _run_document(finding: PipelineRunFinding) -> dict[str, Any]:
    return {
        "name": finding.name,
        "inferenceService": finding.inference_service,
        "targetedBy": finding.targeted_by.value if finding.targeted_by else None,
        "params": {
            "vllmModelName": _param_document(finding.vllm_model_name),
            "modelName": _param_document(finding.model_name),
            "versionName": _param_document(finding.version_name),
        },
        "status": {"succeeded": finding.status.succeeded, "reason": finding.status.reason},
        "verdict": finding.verdict.value,
        "problems": list(finding.problems),
    }


def _reuse_document(reuse: TagReuse) -> dict[str, Any]:
    return {
        "reference": reuse.reference,
        "versions": [_candidate_document(c) for c in reuse.versions],
        "message": reuse.message,
    }


def _record_document(finding: RecordFinding) -> dict[str, Any]:
    record = finding.record
    return {
        "id": record.id,
        "name": record.name,
        "servingEnvironmentId": record.serving_environment_id,
        "registeredModelId": record.registered_model_id,
        "registeredModelName": finding.record_model_name,
        "modelVersionId": record.model_version_id,
        "modelVersionName": finding.record_version_name,
        "deployed": {
            "registeredModelId": finding.deployed_model_id,
            "modelVersionId": finding.deployed_version_id,
            "modelVersionName": finding.deployed_version_name,
        },
        "verdict": finding.verdict.value,
        "message": finding.message,
    }


# -- table ---------------------------------------------------------------------------------

_SERVICE_COLUMNS: Final = (
    ("NAME", 30),
    ("OPTED IN", 8),
    ("VLLM NAME", 26),
    ("LABELS M/V", 13),
    ("REGISTRY M/V", 16),
    ("VERDICT", 17),  # the longest digest reason shown there: RolloutInProgress
)
_RUN_COLUMNS: Final = (
    ("NAME", 34),
    ("INFERENCE SERVICE", 30),
    ("STATUS", 26),
    ("VERDICT", 24),
)


def render_table(report: AuditReport, *, registry_url: str | None) -> str:
    """The report for people: one table per kind, details under each row, at most 120 columns."""
    snapshot = report.snapshot
    lines = [
        _clip(
            f"namespace {report.namespace}; registry {registry_url or '(unknown)'}: "
            f"{len(snapshot.models)} models, {len(snapshot.versions)} versions, "
            f"{len(snapshot.artifacts)} artifacts"
            + (f", read {format_instant(snapshot.taken_at_ms)}" if snapshot.taken_at_ms else ""),
            WIDTH,
        ),
        "",
        f"INFERENCE SERVICES ({len(report.inference_services)})",
    ]
    if report.inference_services:
        lines.append(_row(_SERVICE_COLUMNS, [title for title, _ in _SERVICE_COLUMNS]))
        for service in report.inference_services:
            lines.append(_row(_SERVICE_COLUMNS, _service_cells(service)))
            lines.extend(_service_details(service))
    else:
        lines.append(f"{_DETAIL_INDENT}none")
    lines += ["", f"MODEL-TESTING PIPELINE RUNS ({len(report.pipeline_runs)})"]
    if report.pipeline_runs:
        lines.append(_row(_RUN_COLUMNS, [title for title, _ in _RUN_COLUMNS]))
        for run in report.pipeline_runs:
            lines.append(_row(_RUN_COLUMNS, _run_cells(run)))
            lines.extend(_run_details(run, report))
    else:
        lines.append(f"{_DETAIL_INDENT}none")
    lines += ["", "REGISTRY"]
    lines.append(f"tag reuse: {len(report.tag_reuse) or 'none'}")
    for reuse in report.tag_reuse:
        lines.extend(_wrapped(reuse.message, "- "))
    lines.append(
        f"InferenceService records of serving environment {report.namespace}: "
        f"{len(report.records) or 'none'}"
    )
    for record in report.records:
        lines.extend(_wrapped(f"{record.verdict.value}: {record.message}", "- "))
    for note in report.notes:
        lines.extend(_wrapped(f"note: {note}", ""))
    lines += ["", *_summary_lines(report)]
    # Every line escaped once more: names, params and args are other people's text.
    return "\n".join(escaped(line.rstrip()) for line in lines) + "\n"


def _service_cells(service: InferenceServiceFinding) -> list[str]:
    labels = service.labels
    resolution = service.resolution
    return [
        service.name,
        "yes" if service.opted_in else "no",
        service.served_name or "-",
        f"{labels.registered_model_id.value or '-'}/{labels.model_version_id.value or '-'}",
        (
            f"{resolution.registered_model_id}/{resolution.model_version_id}"
            if resolution.model_version_id is not None
            else resolution.outcome.value
        ),
        _shown_verdict(service),
    ]


def _shown_verdict(service: InferenceServiceFinding) -> str:
    """The first thing wrong: the verdict, else the digest check's reason, else ok (the
    details under the row list everything)."""
    digest = service.digest
    if service.verdict is InferenceServiceVerdict.OK and digest is not None and digest.mismatch:
        return digest.reason
    return service.verdict.value


def _service_details(service: InferenceServiceFinding) -> list[str]:
    lines = _wrapped(f"deployed: {service.storage_uri or '(no storage URI)'}", "")
    if service.digest is not None:
        lines += _wrapped(_digest_line(service.digest), "")
    if not service.mismatch:
        return lines
    model, version, _ = service.labels.all()
    lines += _wrapped(
        f"labels claim: model {_named(model.value, model.registry_name)}, version "
        f"{_named(version.value, version.registry_name)}"
        + (
            f" of model {_named(version.owner_model_id, version.owner_model_name)}"
            if version.owner_model_id is not None
            else ""
        ),
        "",
    )
    resolution = service.resolution
    if resolution.model_version_id is not None:
        model_said = _named(resolution.registered_model_id, resolution.registered_model_name)
        version_said = _named(resolution.model_version_id, resolution.model_version_name)
        lines += _wrapped(f"registry says: model {model_said}, version {version_said}", "")
    for problem in service.problems:
        lines += _wrapped(problem, "! ")
    return lines


def _digest_line(digest: ImageDigestFinding) -> str:
    """`digest REASON: running …, registered …` (registered only when it differs), and the
    condition's message when the digests do not tell the story; never a mismatch's
    message, which its problem line (`!`) gives."""
    said: list[str] = []
    if digest.running_digest is not None:
        said.append(f"running {digest.running_digest}")
    if digest.registered_digest not in (None, digest.running_digest):
        said.append(f"registered {digest.registered_digest}")
    if not digest.mismatch and (digest.status != "True" or not said):
        said.append(digest.message)
    if digest.unverified:
        count = len(digest.unverified)
        said.append(f"the digest of {count} other artifact{'s' if count > 1 else ''} is unknown")
    return f"digest {digest.reason}" + (": " + ", ".join(said) if said else "")


def _run_cells(run: PipelineRunFinding) -> list[str]:
    status = run.status
    shown = (
        f"{status.succeeded or '?'}: {status.reason or '-'}"
        if status.succeeded or status.reason
        else "-"
    )
    target = run.inference_service or "-"
    if run.targeted_by is not None:
        target += f" ({run.targeted_by.value})"
    return [run.name, target, shown, run.verdict.value]


def _run_details(run: PipelineRunFinding, report: AuditReport) -> list[str]:
    claims = (run.vllm_model_name, run.model_name, run.version_name)
    lines = _wrapped("params: " + "  ".join(f"{c.param}={_shown(c.value)}" for c in claims), "")
    if run.verdict is PipelineRunVerdict.OK:
        return lines
    if any(claim.expected is not None for claim in claims):
        lines += _wrapped(
            "should be: " + "  ".join(f"{c.param}={_shown(c.expected)}" for c in claims), ""
        )
    for problem in run.problems:
        lines += _wrapped(problem, "! ")
    return lines


def _summary_lines(report: AuditReport) -> list[str]:
    if report.clean:
        return ["RESULT: no mismatches"]
    parts: list[str] = []
    services = report.inference_services
    for kind, verdicts in (
        (
            "InferenceServices",
            [f.verdict.value for f in services if f.verdict is not InferenceServiceVerdict.OK]
            + [f.digest.reason for f in services if f.digest is not None and f.digest.mismatch],
        ),
        ("PipelineRuns", [f.verdict.value for f in report.pipeline_runs if f.mismatch]),
        ("registry records", [f.verdict.value for f in report.records if f.mismatch]),
    ):
        if verdicts:
            counted = ", ".join(f"{n} {v}" for v, n in sorted(Counter(verdicts).items()))
            parts.append(f"{kind}: {counted}")
    if report.tag_reuse:
        parts.append(f"tag reuse: {len(report.tag_reuse)}")
    count = report.mismatches
    noun = "mismatch" if count == 1 else "mismatches"
    return textwrap.wrap(
        f"RESULT: {count} {noun} ({'; '.join(parts)})",
        width=WIDTH,
        subsequent_indent=_DETAIL_INDENT,
        break_on_hyphens=False,
    )


def _row(columns: Sequence[tuple[str, int]], cells: Sequence[str]) -> str:
    return "  ".join(
        _clip(cell, width).ljust(width) for (_, width), cell in zip(columns, cells, strict=True)
    ).rstrip()


def _clip(text: str, width: int) -> str:
    text = escaped(text)  # before clipping, so a cell cannot end inside an escape sequence
    return text if len(text) <= width else text[: width - 1] + "…"


def _wrapped(text: str, bullet: str) -> list[str]:
    return textwrap.wrap(
        escaped(text),  # else textwrap would turn a newline into a space and hide it
        width=WIDTH,
        initial_indent=_DETAIL_INDENT + bullet,
        subsequent_indent=_DETAIL_INDENT + " " * max(len(bullet), 2),
        break_long_words=True,
        break_on_hyphens=False,
    ) or [_DETAIL_INDENT + bullet.rstrip()]


def _named(identifier: str | None, name: str | None) -> str:
    if identifier is None:
        return "(none)"
    return f"{identifier} ({name})" if name else f"{identifier} (unknown to the registry)"


def _shown(value: str | None) -> str:
    return value if value is not None else "(missing)"
