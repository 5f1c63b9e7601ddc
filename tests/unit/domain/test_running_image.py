"""What an InferenceService's pods run for its model (domain/running_image.py)."""

from __future__ import annotations

from typing import Any

import pytest

from registry_sync.domain.references import parse_storage_uri
from registry_sync.domain.running_image import (
    DigestNotKnowable,
    PodFacts,
    RunningDigest,
    SeveralDigests,
    image_digest,
    read_pod,
    running_digest,
)

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
DEPLOYED = parse_storage_uri("oci://quay.io/acme/model:v1")


def pod(
    name: str = "model-predictor-1",
    *,
    phase: str = "Running",
    deleting: bool = False,
    containers: list[dict[str, Any]] | None = None,
    init_containers: list[dict[str, Any]] | None = None,
    owner: str | None = "model",
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": {}}
    if owner is not None:
        metadata["labels"]["serving.kserve.io/inferenceservice"] = owner
    if deleting:
        metadata["deletionTimestamp"] = "2026-12-07T10:00:00Z"
    status: dict[str, Any] = {"phase": phase}
    if containers is not None:
        status["containerStatuses"] = containers
    if init_containers is not None:
        status["initContainerStatuses"] = init_containers
    return {"metadata": metadata, "status": status}


def container(name: str, image: str, image_id: str) -> dict[str, Any]:
    return {"name": name, "image": image, "imageID": image_id}


def modelcar_pod(digest: str = A, **kwargs: Any) -> dict[str, Any]:
    return pod(
        containers=[
            container("kserve-container", "vllm/vllm-openai:v0.9", "vllm@" + B),
            container("modelcar", "quay.io/acme/model:v1", f"quay.io/acme/model@{digest}"),
        ],
        **kwargs,
    )


@pytest.mark.parametrize(
    ("image_id", "digest"),
    [
        (f"docker-pullable://quay.io/acme/model@{A}", A),
        (f"quay.io/acme/model@{A}", A),
        (f"image-registry.openshift-image-registry.svc:5000/ns/model@{A}", A),
        (A, None),  # a bare config id is not a manifest digest
        ("", None),
        ("quay.io/acme/model:v1", None),
        ("quay.io/acme/model@sha256:short", None),
        (None, None),
        (42, None),
    ],
)
def test_image_digest_reads_every_form_a_runtime_reports(
    image_id: object, digest: str | None
) -> None:
    assert image_digest(image_id) == digest


def test_read_pod_keeps_only_the_modelcar_containers() -> None:
    facts = read_pod(
        pod(
            containers=[
                container("kserve-container", "vllm", "vllm@" + B),
                container("modelcar", "quay.io/acme/model:v1", "quay.io/acme/model@" + A),
                container("modelcar-1", "quay.io/acme/adapter:v1", "quay.io/acme/adapter@" + B),
            ],
            init_containers=[
                container("modelcar-init", "quay.io/acme/model:v1", "quay.io/acme/model@" + A),
                container("storage-initializer", "kserve/storage", "x@" + B),
            ],
        )
    )

    assert facts is not None
    assert {image.container for image in facts.model_images} == {
        "modelcar",
        "modelcar-1",
        "modelcar-init",
    }
    assert facts.inference_service == "model" and facts.running


@pytest.mark.parametrize(
    "body",
    [None, "pod", {}, {"metadata": "x"}, pod(owner=None), pod(owner=""), {"metadata": {"name": 3}}],
)
def test_read_pod_ignores_bodies_that_name_no_inference_service(body: object) -> None:
    assert read_pod(body) is None


def test_garbage_statuses_read_as_no_model_images() -> None:
    body = pod()
    body["status"]["containerStatuses"] = ["x", {"name": 5}, {"name": "modelcar", "imageID": 7}]

    facts = read_pod(body)

    assert facts is not None
    assert [image.digest for image in facts.model_images] == [None]


def facts(*bodies: dict[str, Any]) -> list[PodFacts]:
    read = [read_pod(body) for body in bodies]
    assert all(item is not None for item in read)
    return [item for item in read if item is not None]


def test_all_running_pods_on_one_digest_give_that_digest() -> None:
    pods = facts(modelcar_pod(), modelcar_pod(name="model-predictor-2"))

    assert running_digest(pods, DEPLOYED) == RunningDigest(A, 2)


def test_pods_on_two_digests_are_a_rollout() -> None:
    pods = facts(modelcar_pod(A), modelcar_pod(B, name="model-predictor-2"))

    assert running_digest(pods, DEPLOYED) == SeveralDigests((A, B))


@pytest.mark.parametrize(
    "leaving",
    [
        modelcar_pod(B, name="old", deleting=True),
        modelcar_pod(B, name="old", phase="Succeeded"),
        modelcar_pod(B, name="new", phase="Pending"),
    ],
)
def test_pods_not_running_or_being_deleted_do_not_count(leaving: dict[str, Any]) -> None:
    assert running_digest(facts(modelcar_pod(A), leaving), DEPLOYED) == RunningDigest(A, 1)


def test_other_oci_sources_of_the_pod_do_not_count() -> None:
    body = modelcar_pod(A)
    body["status"]["containerStatuses"].append(
        container("modelcar-1", "quay.io/acme/adapter:v1", "quay.io/acme/adapter@" + B)
    )

    assert running_digest(facts(body), DEPLOYED) == RunningDigest(A, 1)


def test_a_fully_qualified_image_name_is_the_same_repository() -> None:
    deployed = parse_storage_uri("oci://acme/model:v1")  # docker.io/acme/model
    body = pod(containers=[container("modelcar", "docker.io/acme/model:v1", "acme/model@" + A)])

    assert running_digest(facts(body), deployed) == RunningDigest(A, 1)


@pytest.mark.parametrize(
    ("pods", "deployed", "why"),
    [
        ([], DEPLOYED, "no pod"),
        ([modelcar_pod(phase="Pending")], DEPLOYED, "no pod"),
        (
            [pod(containers=[container("kserve-container", "vllm", "v@" + A)])],
            DEPLOYED,
            "no ModelCar",
        ),
        (
            [pod(containers=[container("modelcar", "quay.io/acme/model:v1", A)])],
            DEPLOYED,
            "no manifest digest",
        ),
        ([modelcar_pod()], parse_storage_uri("hf://acme/model"), "not an OCI image"),
        ([modelcar_pod()], None, "not an OCI image"),
    ],
)
def test_what_cannot_be_told_is_said_never_guessed(
    pods: list[dict[str, Any]], deployed: Any, why: str
) -> None:
    found = running_digest(facts(*pods), deployed)

    assert isinstance(found, DigestNotKnowable)
    assert why in found.why


def test_one_pod_without_a_digest_makes_the_whole_answer_unknowable() -> None:
    unknown = pod(name="p2", containers=[container("modelcar", "quay.io/acme/model:v1", "")])

    assert isinstance(running_digest(facts(modelcar_pod(), unknown), DEPLOYED), DigestNotKnowable)
