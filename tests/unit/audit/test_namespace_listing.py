"""Listing a namespace for an audit: paging, progress for large namespaces, clear refusals."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from registry_sync.audit.inputs import PAGE_SIZE, AuditImpossible, read_namespace_objects


class FakeCustomObjects:
    """Answers LISTs from canned pages per plural; anything else is an error."""

    def __init__(self, pages: dict[str, list[dict[str, Any]] | ApiException]) -> None:
        self.pages = pages
        self.calls: list[tuple[str, str | None]] = []

    def list_namespaced_custom_object(
        self, group: str, version: str, namespace: str, plural: str, **query: Any
    ) -> dict[str, Any]:
        self.calls.append((plural, query.get("_continue")))
        answer = self.pages[plural]
        if isinstance(answer, ApiException):
            raise answer
        index = int(query.get("_continue") or 0)
        return answer[index]


def page(count: int, following: int | None = None) -> dict[str, Any]:
    return {
        "items": [{"metadata": {"name": f"o{i}"}} for i in range(count)],
        "metadata": {"continue": str(following) if following is not None else ""},
    }


def refusal(status: int, message: str) -> ApiException:
    error = ApiException(status=status, reason="Refused")
    error.body = json.dumps({"message": message})
    return error


@pytest.fixture
def progress() -> list[str]:
    return []


def read(
    pages: dict[str, list[dict[str, Any]] | ApiException], progress: list[str]
) -> tuple[Any, Any, Any]:
    fake: Any = FakeCustomObjects(pages)
    return read_namespace_objects(fake, "demo", progress.append)


def test_every_page_is_read(progress: list[str]) -> None:
    services, runs, notes = read(
        {
            "inferenceservices": [page(PAGE_SIZE, 1), page(3)],
            "pipelineruns": [page(2)],
        },
        progress,
    )

    assert (len(services), len(runs), notes) == (PAGE_SIZE + 3, 2, ())


def test_a_large_namespace_shows_progress(progress: list[str]) -> None:
    read({"inferenceservices": [page(PAGE_SIZE, 1), page(3)], "pipelineruns": [page(2)]}, progress)

    assert progress == [
        f"listed {PAGE_SIZE} InferenceServices in demo so far…",
        f"listed {PAGE_SIZE + 3} InferenceServices in demo",
    ]


def test_a_small_namespace_shows_no_progress(progress: list[str]) -> None:
    read({"inferenceservices": [page(3)], "pipelineruns": [page(2)]}, progress)

    assert progress == []


def test_without_tekton_runs_are_skipped_with_a_note(progress: list[str]) -> None:
    _, runs, notes = read(
        {"inferenceservices": [page(1)], "pipelineruns": refusal(404, "not found")}, progress
    )

    assert runs == ()
    assert notes == (
        "the cluster does not serve pipelineruns.tekton.dev/v1 (no Tekton / OpenShift "
        "Pipelines): no PipelineRuns were audited",
    )


def test_without_kserve_there_is_nothing_to_audit(progress: list[str]) -> None:
    with pytest.raises(AuditImpossible, match="does not serve inferenceservices"):
        read({"inferenceservices": refusal(404, "not found"), "pipelineruns": [page(0)]}, progress)


def test_a_refused_list_says_which_permission_is_needed(progress: list[str]) -> None:
    with pytest.raises(AuditImpossible) as refused:
        read(
            {
                "inferenceservices": refusal(403, "user cannot list"),
                "pipelineruns": [page(0)],
            },
            progress,
        )

    assert str(refused.value) == (
        "listing inferenceservices.serving.kserve.io in demo failed: HTTP 403 user cannot "
        "list; the kubeconfig's user needs get and list on inferenceservices.serving.kserve.io "
        "in demo"
    )
