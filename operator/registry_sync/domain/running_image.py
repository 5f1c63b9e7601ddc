"""Which model image an InferenceService's pods actually run: the digest behind the URI.

KServe serves an `oci://` model through a ModelCar: a container named `modelcar` (and
`modelcar-N` for a pod's further OCI sources) whose image is the model, pre-fetched by an
init container `modelcar-init` (`modelcar-init-N`); kserve/kserve `pkg/constants` names
them and `pkg/webhook/admission/pod/modelcar_injector.go`'s `ModelcarNames` adds the
suffixes. The kubelet reports the image each container started from as `imageID`:
`docker-pullable://repo@sha256:…` (dockershim), `repo@sha256:…` (containerd, CRI-O). That
digest is the manifest the node pulled: the fact a storage URI only claims.

`read_pod` keeps the few fields this needs (a watch may hold thousands of pods);
`running_digest` says what one InferenceService's running pods run for its deployed model.
A bare `sha256:…` imageID is the image's config id, not a manifest digest: it cannot be
compared with what a registry reports, so it counts as not knowable, never as a match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from registry_sync.domain.escaping import escaped
from registry_sync.domain.references import (
    InvalidStorageUri,
    OciReference,
    StorageReference,
    parse_digest,
    parse_storage_uri,
)

INFERENCE_SERVICE_POD_LABEL: Final = "serving.kserve.io/inferenceservice"
"""The label KServe puts on every pod of an InferenceService (its value: the name)."""

_MODELCAR_CONTAINER: Final = re.compile(r"modelcar(?:-init)?(?:-[0-9]+)?")
_MAX_MODEL_IMAGES: Final = 24  # KServe allows 10 OCI sources a pod, each two containers


@dataclass(frozen=True, slots=True)
class ModelImage:
    """One ModelCar container's image: what it was started from (`image`, as the kubelet
    reports it) and its manifest digest, None when the report does not carry one."""

    container: str
    image: str
    digest: str | None


@dataclass(frozen=True, slots=True)
class PodFacts:
    """The little a pod says about the model it serves."""

    name: str
    inference_service: str
    running: bool
    model_images: tuple[ModelImage, ...]


def read_pod(body: object) -> PodFacts | None:
    """The facts of a pod KServe made for an InferenceService; None for any other pod, or
    for a body too broken to name one. Never raises."""
    if not isinstance(body, Mapping):
        return None
    metadata = body.get("metadata")
    if not isinstance(metadata, Mapping):
        return None
    name, labels = metadata.get("name"), metadata.get("labels")
    owner = labels.get(INFERENCE_SERVICE_POD_LABEL) if isinstance(labels, Mapping) else None
    if not isinstance(name, str) or not isinstance(owner, str) or not owner:
        return None
    status = body.get("status")
    status = status if isinstance(status, Mapping) else {}
    # A pod being deleted may still report Running for its grace period: it is leaving.
    running = status.get("phase") == "Running" and metadata.get("deletionTimestamp") is None
    return PodFacts(name, owner, running, _model_images(status))


def image_digest(image_id: object) -> str | None:
    """The manifest digest in a kubelet's `imageID`; None for a bare config id or garbage."""
    if not isinstance(image_id, str) or "@" not in image_id:
        return None
    return parse_digest(image_id)


def _model_images(status: Mapping[str, object]) -> tuple[ModelImage, ...]:
    images: list[ModelImage] = []
    for field_name in ("initContainerStatuses", "containerStatuses"):
        statuses = status.get(field_name)
        if not isinstance(statuses, list):
            continue
        for entry in statuses:
            if not isinstance(entry, Mapping):
                continue
            container, image = entry.get("name"), entry.get("image")
            if not isinstance(container, str) or not _MODELCAR_CONTAINER.fullmatch(container):
                continue
            images.append(
                ModelImage(
                    container,
                    image if isinstance(image, str) else "",
                    image_digest(entry.get("imageID")),
                )
            )
    return tuple(images[:_MAX_MODEL_IMAGES])


@dataclass(frozen=True, slots=True)
class RunningDigest:
    """All running pods run the deployed model from this one manifest digest."""

    digest: str
    pods: int


@dataclass(frozen=True, slots=True)
class SeveralDigests:
    """Running pods run the deployed model from different digests (a rollout, or a canary
    for as long as it lasts): a benchmark would be served by both."""

    digests: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DigestNotKnowable:
    """What runs cannot be told; `why` says so for people. `passing` when that is the
    ordinary state of a deployment (no pod running: starting, or scaled to zero), not news."""

    why: str
    passing: bool = False


RunningImage = RunningDigest | SeveralDigests | DigestNotKnowable


def running_digest(pods: Iterable[PodFacts], deployed: StorageReference | None) -> RunningImage:
    """What the running pods of one InferenceService run for its deployed model.

    Only running pods that are not being deleted count. In each, the ModelCar images of the
    deployed repository count (a pod may fetch several OCI sources: the others are other
    models). Never guesses: a pod without such a container, or whose runtime reports no
    manifest digest for it, makes the digest not knowable.
    """
    if not isinstance(deployed, OciReference):
        return DigestNotKnowable(
            "the deployed model is not an OCI image (oci://), so it has no image digest"
        )
    running = [pod for pod in pods if pod.running]
    if not running:
        return DigestNotKnowable("no pod of this InferenceService is running", passing=True)
    digests: set[str] = set()
    for pod in running:
        images = [image for image in pod.model_images if _same_repository(image.image, deployed)]
        if not images:
            return DigestNotKnowable(
                f"pod {escaped(pod.name)} runs no ModelCar container for "
                f"{deployed.registry}/{deployed.repository} (KServe mounts the image another "
                "way, e.g. an image volume, or the pod has not reported it yet)"
            )
        unknown = next((image for image in images if image.digest is None), None)
        if unknown is not None:
            return DigestNotKnowable(
                f"the runtime of pod {escaped(pod.name)} reports no manifest digest for "
                f"container {escaped(unknown.container)} (a config id, or none yet)"
            )
        digests.update(image.digest for image in images if image.digest is not None)
    if len(digests) > 1:
        return SeveralDigests(tuple(sorted(digests)))
    return RunningDigest(digests.pop(), len(running))


def _same_repository(image: str, deployed: OciReference) -> bool:
    """Whether a container's image (as the kubelet reports it) is of the deployed repository.

    Runtimes write the image as given or fully qualified (`docker.io/library/…`); both
    parse through the storage-URI grammar, which applies the same defaults.
    """
    try:
        reference = parse_storage_uri(f"oci://{image}")
    except InvalidStorageUri:
        return False
    return (
        isinstance(reference, OciReference)
        and reference.registry == deployed.registry
        and reference.repository == deployed.repository
    )
