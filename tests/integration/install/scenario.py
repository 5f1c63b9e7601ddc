"""The seed scenario, step by step, as the RBAC tests run it against an operator that
holds only the install's ServiceAccount token.

Each step waits for what a user would see. A step fails when that does not come in time,
or as soon as the operator logs a permission error that is not about Events (Events are
best-effort: the operator carries on without them, and so does the scenario).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes.client.exceptions import ApiException

from registry_sync.demo.seed import (
    DEPLOYED_URI as SEED_DEPLOYED_URI,
)
from registry_sync.demo.seed import (
    ISVC_NAME,
    SMALL_MODEL,
    SMALL_VERSION,
    SeedIds,
    seed_inference_service,
    seed_pipeline_run,
)
from registry_sync.webhook.certificates import ServingCertificate, make_serving_certificate
from registry_sync.webhook.configuration import build_configuration, url_client_config
from support.bindings import MODEL_ID, VERSION_ID, binding_or_none, binding_ready
from support.cluster import Cluster
from support.cluster_objects import (
    INFERENCE_SERVICES,
    LLM_INFERENCE_SERVICES,
    PIPELINE_RUNS,
    llm_inference_service,
    params_of,
)
from support.model_pods import start_model_pod
from support.operator import READY_LINE, RunningOperator

# What the apiserver's refusals look like in the operator's log: the operator's own
# writes ("HTTP 403") and Kopf's list/watch ("403 Forbidden", "is forbidden").
_PERMISSION_ERROR = re.compile(r"HTTP 403|403,? Forbidden|is forbidden|APIForbiddenError")
_EVENT_POSTING = re.compile(r"could not post Event|post an event|events\b.*forbidden", re.I)

# The seed deploys its image by tag; its pod runs this digest of it.
DEPLOYED_IMAGE = SEED_DEPLOYED_URI.removeprefix("oci://")
RUNNING_DIGEST = "sha256:" + "5eed" * 16

STEPS = (
    "operator started",
    "labels corrected",
    "binding Ready",
    "running digest read",
    "run params corrected",
    "binding deleted on opt-out",
    "LLMInferenceService labelled",
)

# An LLMInferenceService deploying the seed's image under a name of its own.
LLM_NAME = "mistral-llm"


class StepFailed(AssertionError):
    """A scenario step did not happen; the message names it and says what was seen."""

    def __init__(self, step: str, why: str) -> None:
        self.step = step
        super().__init__(f"step {step!r} failed: {why}")


def permission_errors(log: str, *, events_too: bool = False) -> list[str]:
    """Log lines in which the apiserver refused the operator something."""
    return [
        line
        for line in log.splitlines()
        if _PERMISSION_ERROR.search(line) and (events_too or not _EVENT_POSTING.search(line))
    ]


def webhook_certificate(folder: Path) -> ServingCertificate:
    """A serving certificate for a webhook on 127.0.0.1 (the Secret's stand-in)."""
    return make_serving_certificate(folder, ["127.0.0.1", "localhost"])


def register_webhook_as_admin(
    kube: Cluster, namespace: str, port: int, certificate: ServingCertificate
) -> None:
    """The webhook configuration the manifests ship, but pointing at 127.0.0.1: in a
    cluster an admin applies it once; the operator's identity cannot write it."""
    body = build_configuration(
        namespace, url_client_config(f"https://127.0.0.1:{port}", certificate.ca_pem)
    )
    kube.apply(body)


def service_mode_args(certificate: ServingCertificate) -> list[str]:
    """`registry-sync run` flags as in the Deployment, on loopback."""
    return [
        "--webhook", "service",
        "--webhook-host", "127.0.0.1",
        "--webhook-cert-file", str(certificate.cert_file),
        "--webhook-key-file", str(certificate.key_file),
        "--refresh-seconds", "1",
    ]  # fmt: skip


def wait_for_step(
    operator: RunningOperator, step: str, seen: Callable[[], bool], timeout: float
) -> None:
    """Until `seen()`; StepFailed as soon as the operator logs a refusal (Events aside) or
    exits, or once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        if seen():
            return
        refused = permission_errors(operator.log())
        if refused:
            raise StepFailed(step, "the operator was refused: " + refused[0].strip())
        if not operator.running:
            raise StepFailed(step, "the operator exited:\n" + operator.log()[-2000:])
        if time.monotonic() > deadline:
            raise StepFailed(step, f"not seen within {timeout:g} s")
        time.sleep(0.2)


@dataclass
class SeedScenario:
    """The incident, played against a running operator in `namespace`."""

    kube: Cluster
    namespace: str
    ids: SeedIds
    operator: RunningOperator
    step_timeout: float = 20.0
    passed: list[str] = field(default_factory=list)

    def run(self) -> None:
        """Every step in order; StepFailed at the first one that does not happen."""
        self.wait("operator started")
        self.deploy()
        self.wait("labels corrected")
        self.wait("binding Ready")
        self.start_model_pod()
        self.wait("running digest read")
        self.wait("run params corrected")
        self.opt_out()
        self.wait("binding deleted on opt-out")
        self.deploy_llm()
        self.wait("LLMInferenceService labelled")

    def deploy(self) -> None:
        """Create the seed's InferenceService, wrongly labelled, as its owner would."""
        INFERENCE_SERVICES.create(
            self.kube.api_client, self.namespace, seed_inference_service(self.namespace, self.ids)
        )

    def deploy_llm(self) -> None:
        """Create an LLMInferenceService deploying the seed's registered image."""
        LLM_INFERENCE_SERVICES.create(
            self.kube.api_client,
            self.namespace,
            llm_inference_service(LLM_NAME, self.namespace, SEED_DEPLOYED_URI),
        )

    def start_model_pod(self) -> None:
        """A predictor pod of the InferenceService, its ModelCar running, as KServe and a
        kubelet would leave it (an admin writes it: no kubelet runs here)."""
        start_model_pod(self.kube, self.namespace, ISVC_NAME, DEPLOYED_IMAGE, RUNNING_DIGEST)

    def opt_out(self) -> None:
        """Remove the opt-in annotation from the InferenceService."""
        INFERENCE_SERVICES.merge_patch(
            self.kube.api_client,
            self.namespace,
            ISVC_NAME,
            {"metadata": {"annotations": {"registry-sync.io/enabled": None}}},
        )

    def wait(self, step: str) -> None:
        """Until `step` (one of STEPS) is seen; StepFailed when it is not."""
        conditions: dict[str, Callable[[], bool]] = {
            "operator started": self._started,
            "labels corrected": self._labels_corrected,
            "binding Ready": self._binding_ready,
            "running digest read": self._running_digest_read,
            "run params corrected": self._run_params_corrected,
            "binding deleted on opt-out": self._binding_deleted,
            "LLMInferenceService labelled": self._llm_labelled,
        }
        self._step(step, conditions[step])

    def labels_corrected_event(self) -> dict[str, Any] | None:
        """The Event announcing the label correction, if the operator could post it."""
        events = self.kube.core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.name={ISVC_NAME}"
        )
        for event in events.items:
            if event.reason == "LabelsCorrected":
                return {"reason": event.reason, "message": event.message}
        return None

    # Steps ---------------------------------------------------------------------------

    def _step(self, name: str, condition_: Callable[[], bool]) -> None:
        wait_for_step(self.operator, name, condition_, self.step_timeout)
        self.passed.append(name)

    def _started(self) -> bool:
        return READY_LINE in self.operator.log()

    def _labels_corrected(self) -> bool:
        stored = INFERENCE_SERVICES.get(self.kube.api_client, self.namespace, ISVC_NAME)
        labels = stored["metadata"].get("labels", {})
        return (labels.get(MODEL_ID), labels.get(VERSION_ID)) == (
            self.ids.small_model,
            self.ids.small_version,
        )

    def _binding_ready(self) -> bool:
        return binding_ready(self.kube.api_client, self.namespace)

    def _running_digest_read(self) -> bool:
        binding = binding_or_none(self.kube.api_client, self.namespace, ISVC_NAME)
        return bool(binding and binding.get("status", {}).get("runningDigest") == RUNNING_DIGEST)

    def _run_params_corrected(self) -> bool:
        # A dry run goes through the admission chain, webhook included, and stores nothing.
        run = seed_pipeline_run(self.namespace)
        try:
            stored = PIPELINE_RUNS.create(self.kube.api_client, self.namespace, run, dry_run=True)
        except ApiException as error:
            # Denied (fail closed) while the operator does not know the binding: look again.
            message = json.loads(error.body or "{}").get("message", "")
            if error.status in (400, 403, 500) and message:
                return False
            raise
        params = params_of(stored)
        return (params.get("model_name"), params.get("version_name")) == (
            SMALL_MODEL,
            SMALL_VERSION,
        )

    def _llm_labelled(self) -> bool:
        stored = LLM_INFERENCE_SERVICES.get(self.kube.api_client, self.namespace, LLM_NAME)
        labels = stored["metadata"].get("labels", {})
        return (labels.get(MODEL_ID), labels.get(VERSION_ID)) == (
            self.ids.small_model,
            self.ids.small_version,
        )

    def _binding_deleted(self) -> bool:
        return binding_or_none(self.kube.api_client, self.namespace, ISVC_NAME) is None
