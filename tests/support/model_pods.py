"""Model pods as KServe and a kubelet leave them, written through the real apiserver.

No kubelet runs in the tests: a pod is created with KServe's InferenceService label and a
ModelCar container, then its status is written through the status subresource as a kubelet
would, with the `imageID` containerd reports (`repository@digest`).
"""

from __future__ import annotations

from support.cluster import Cluster


def start_model_pod(
    kube: Cluster, namespace: str, deployment: str, image: str, digest: str, *, pod: str = ""
) -> str:
    """A running predictor pod of `deployment` whose ModelCar runs `image` at `digest`;
    its name (`<deployment>-predictor-0` unless `pod` says otherwise)."""
    name = pod or f"{deployment}-predictor-0"
    repository = image.split("@", 1)[0]
    if ":" in repository.rsplit("/", 1)[-1]:
        repository = repository.rsplit(":", 1)[0]  # drop the tag, keep a host's port
    kube.core.create_namespaced_pod(
        namespace,
        {
            "metadata": {
                "name": name,
                "labels": {"serving.kserve.io/inferenceservice": deployment},
            },
            "spec": {
                "containers": [
                    {"name": "kserve-container", "image": "vllm/vllm-openai:v0.9"},
                    {"name": "modelcar", "image": image},
                ]
            },
        },
    )
    kube.core.patch_namespaced_pod_status(
        name,
        namespace,
        {
            "status": {
                "phase": "Running",
                "containerStatuses": [
                    {
                        "name": "modelcar",
                        "image": image,
                        "imageID": f"{repository}@{digest}",
                        "ready": True,
                        "restartCount": 0,
                        "state": {"running": {}},
                    }
                ],
            }
        },
    )
    return name
