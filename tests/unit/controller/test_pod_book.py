"""The model pods by InferenceService (controller/pod_book.py), fed by watch events."""

from __future__ import annotations

from typing import Any

from registry_sync.controller.pod_book import PodBook

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64


def pod(name: str, owner: str | None, digest: str = A, phase: str = "Running") -> dict[str, Any]:
    labels = {"serving.kserve.io/inferenceservice": owner} if owner else {}
    return {
        "metadata": {"name": name, "labels": labels},
        "status": {
            "phase": phase,
            "containerStatuses": [
                {
                    "name": "modelcar",
                    "image": "quay.io/acme/m:v1",
                    "imageID": f"quay.io/acme/m@{digest}",
                }
            ],
        },
    }


def test_a_new_pod_changes_its_inference_service() -> None:
    book = PodBook()

    assert book.note("ADDED", pod("p1", "model")) == "model"
    assert [facts.name for facts in book.pods_of("model")] == ["p1"]


def test_an_event_that_changes_nothing_it_reads_changes_nothing() -> None:
    book = PodBook()
    book.note("ADDED", pod("p1", "model"))

    assert book.note("MODIFIED", pod("p1", "model")) is None


def test_a_new_digest_or_phase_is_a_change() -> None:
    book = PodBook()
    book.note("ADDED", pod("p1", "model"))

    assert book.note("MODIFIED", pod("p1", "model", B)) == "model"
    assert book.note("MODIFIED", pod("p1", "model", B, phase="Succeeded")) == "model"


def test_a_deleted_pod_is_forgotten() -> None:
    book = PodBook()
    book.note("ADDED", pod("p1", "model"))

    assert book.note("DELETED", pod("p1", "model")) == "model"
    assert book.pods_of("model") == () and len(book) == 0


def test_a_relabelled_pod_moves_to_its_new_inference_service() -> None:
    book = PodBook()
    book.note("ADDED", pod("p1", "old"))

    book.note("MODIFIED", pod("p1", "new"))

    assert book.pods_of("old") == ()
    assert [facts.name for facts in book.pods_of("new")] == ["p1"]


def test_a_pod_losing_the_label_leaves_the_book() -> None:
    book = PodBook()
    book.note("ADDED", pod("p1", "model"))

    assert book.note("MODIFIED", pod("p1", None)) == "model"
    assert len(book) == 0


def test_garbage_bodies_are_ignored() -> None:
    book = PodBook()

    for body in ({}, {"metadata": "x"}, {"metadata": {"name": 5}}):
        assert book.note("ADDED", body) is None
    assert len(book) == 0
