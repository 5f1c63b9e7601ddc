"""Every Kopf trigger of the operator, in one place: which event calls which handler.

`build_kopf_registry` declares them for given settings in a registry of its own (never
Kopf's global default one: tests and benchmarks build several in one process). The
handlers are plain top-level functions in this package's other modules.
"""

from __future__ import annotations

import kopf

from registry_sync.controller.settings import OperatorSettings, WebhookMode
from registry_sync.domain.metadata import (
    INFERENCE_SERVICES,
    PIPELINE_RUNS,
    TARGET_LABEL,
    llm_inference_services,
)
from registry_sync.domain.running_image import INFERENCE_SERVICE_POD_LABEL
from registry_sync.handlers.inference_services import (
    inference_service_event,
    llm_inference_service_event,
)
from registry_sync.handlers.lifecycle import start, stop
from registry_sync.handlers.model_pods import model_pod_event
from registry_sync.handlers.pipeline_runs import pipeline_run_event, pipeline_run_params
from registry_sync.webhook.configuration import HANDLER_ID


def build_kopf_registry(
    settings: OperatorSettings, *, watch_pods: bool = False, llmisvc_version: str | None = None
) -> kopf.OperatorRegistry:
    """The handlers the operator runs with these settings: the webhook modes get the
    mutating handler, the no-webhook mode the PipelineRun watcher; `watch_pods` (the
    digest check, when the Role allows it) the model-pod watcher; `llmisvc_version` (the
    LLMInferenceService version the cluster serves, None without the CRD) the
    LLMInferenceService watcher."""
    registry = kopf.OperatorRegistry()
    # An own registry has none of Kopf's default login handlers: in a pod the service
    # account, elsewhere the kubeconfig, through the official client.
    kopf.on.login(id="login", registry=registry)(kopf.login_via_client)
    kopf.on.startup(id="start-services", registry=registry)(start)
    kopf.on.cleanup(id="stop-services", registry=registry)(stop)
    kopf.on.event(
        INFERENCE_SERVICES.group,
        INFERENCE_SERVICES.version,
        INFERENCE_SERVICES.plural,
        id="inference-service",
        registry=registry,
    )(inference_service_event)
    if llmisvc_version is not None:
        llmisvc = llm_inference_services(llmisvc_version)
        kopf.on.event(
            llmisvc.group,
            llmisvc.version,
            llmisvc.plural,
            id="llm-inference-service",
            registry=registry,
        )(llm_inference_service_event)
    if watch_pods:
        # The apiserver filters on the label too (lifecycle.configure_kopf): other pods
        # never reach the process.
        kopf.on.event(
            "",
            "v1",
            "pods",
            id="model-pod",
            labels={INFERENCE_SERVICE_POD_LABEL: kopf.PRESENT},
            registry=registry,
        )(model_pod_event)
    if settings.webhook is WebhookMode.OFF:
        kopf.on.event(
            PIPELINE_RUNS.group,
            PIPELINE_RUNS.version,
            PIPELINE_RUNS.plural,
            id="pipelinerun-guard",
            labels={TARGET_LABEL: kopf.PRESENT},
            registry=registry,
        )(pipeline_run_event)
    else:
        kopf.on.mutate(
            PIPELINE_RUNS.group,
            PIPELINE_RUNS.version,
            PIPELINE_RUNS.plural,
            id=HANDLER_ID,
            operations={"CREATE"},
            labels={TARGET_LABEL: kopf.PRESENT},
            side_effects=False,
            registry=registry,
        )(pipeline_run_params)
    return registry
