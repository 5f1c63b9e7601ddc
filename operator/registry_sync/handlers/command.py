"""`registry-sync run`: the operator, Kopf embedded, watching one namespace."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import kopf
from kubernetes.config import ConfigException

from registry_sync.controller.kube_calls import KubeCallError, KubeObjects, load_api_client
from registry_sync.controller.log_format import configure_logging
from registry_sync.controller.settings import OperatorSettings, SettingsError, load_settings
from registry_sync.domain.digest_check import DigestCheck
from registry_sync.domain.metadata import LLM_INFERENCE_SERVICE_VERSIONS, llm_inference_services
from registry_sync.handlers.triggers import build_kopf_registry

log = logging.getLogger(__name__)

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class NamespaceUnknown(click.ClickException):
    pass


def operator_namespace(configured: str | None) -> str:
    """--namespace, else the pod's service-account namespace, else the kubeconfig context's."""
    if configured:
        return configured
    if SERVICE_ACCOUNT_NAMESPACE.is_file():
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    from kubernetes import config  # the kubeconfig reader; imported only when needed

    try:
        _, active = config.list_kube_config_contexts()  # type: ignore[no-untyped-call]
    except (config.ConfigException, OSError) as error:
        raise NamespaceUnknown(
            f"no --namespace given, not in a pod, and no kubeconfig context to read ({error})"
        ) from None
    namespace = (active or {}).get("context", {}).get("namespace")
    if not namespace:
        raise NamespaceUnknown(
            "no --namespace given, not in a pod, and the kubeconfig context names no namespace"
        )
    return str(namespace)


F = TypeVar("F", bound=Callable[..., Any])


def _setting_option(name: str, help_text: str, **kwargs: Any) -> Callable[[F], F]:
    flag = "--" + name.replace("_", "-")
    return click.option(flag, name, default=None, show_envvar=False, help=help_text, **kwargs)


@click.command("run")
@_setting_option("namespace", "Namespace to watch (one operator per namespace).")
@_setting_option("registry_url", "Model Registry REST URL, e.g. https://registry:8443.")
@_setting_option("registry_name", "Registry name for the <prefix>/name label.")
@_setting_option("token_file", "Bearer token file for the registry (re-read on change).")
@_setting_option("token_audience", "Audience the token must be for (JWT aud claim).")
@_setting_option("ca_file", "CA bundle to verify the registry's TLS certificate.")
@_setting_option("label_prefix", "Label prefix [modelregistry.opendatahub.io].")
@_setting_option("refresh_seconds", "Seconds between registry refreshes [30].", type=float)
@_setting_option(
    "refresh_timeout_seconds", "Seconds one registry refresh may take [120].", type=float
)
@_setting_option(
    "registry_stall_seconds",
    "Seconds a refresh may wait for the registry's next answer [10].",
    type=float,
)
@_setting_option(
    "param_names", "PipelineRun param names [vllm_model_name,model_name,version_name]."
)
@_setting_option("webhook", "url (local) | service (in a cluster) | off [url].")
@_setting_option("webhook_host", "Address the webhook listens on [127.0.0.1].")
@_setting_option("webhook_port", "Webhook port [9443].", type=int)
@_setting_option("webhook_cert_file", "Webhook serving certificate (PEM).")
@_setting_option("webhook_key_file", "Webhook serving key (PEM).")
@_setting_option("metrics_port", "Prometheus metrics port, 0 for none [8080].", type=int)
@_setting_option("health_port", "Liveness endpoint port, 0 for none [8081].", type=int)
@_setting_option("metrics_host", "Address the metrics endpoint listens on [0.0.0.0].")
@_setting_option("health_host", "Address the liveness endpoint listens on [0.0.0.0].")
@_setting_option("gitops_max_corrections", "Corrections before GitOpsConflict [3].", type=int)
@_setting_option("gitops_window_seconds", "Window for counting corrections [600].", type=float)
@_setting_option(
    "registry_owners", "Registered models' owner values that may claim deployments [any]."
)
@_setting_option(
    "allowed_name_pattern",
    "Regular expression every injected or recorded name must match [letters, digits, "
    "space and ._+-/:@, starting with a letter or digit].",
)
@_setting_option(
    "digest_check",
    "Compare the image digest pods run with the registry's: off | report | enforce [report].",
)
@_setting_option("pull_secret", "Secret (dockerconfigjson) with OCI registry logins.")
@_setting_option("oci_ca_file", "CA bundle to verify OCI registries' TLS certificates.")
@_setting_option("oci_hosts", "Comma-separated OCI registry hosts that may be asked [*].")
@_setting_option(
    "digest_ttl_seconds", "Seconds a looked-up tag's digest is trusted [600].", type=float
)
@_setting_option(
    "served_name_check",
    "Ask each predictor's /v1/models for the vLLM name: off | report | enforce [off].",
)
@_setting_option("predictor_ca_file", "CA bundle for predictors' TLS, added to the system's.")
@_setting_option("predictor_token_file", "Bearer token file for predictors (re-read on change).")
@_setting_option(
    "registry_records",
    "Keep the registry's InferenceService records on the resolved versions: off | on [off].",
)
@click.option("--verbose", "-v", is_flag=True, help="Debug logging.")
def run(verbose: bool, **given: Any) -> None:
    """Run the operator. Every flag can also be set as REGISTRY_SYNC_<FLAG>."""
    try:
        settings = load_settings(**given)
    except SettingsError as error:
        raise click.UsageError(str(error)) from None
    namespace = operator_namespace(settings.namespace)
    configure_logging(verbose)
    run_operator(settings, namespace)


def liveness_endpoint(settings: OperatorSettings) -> str | None:
    """The URL Kopf serves its liveness endpoint at, None when the health port is 0."""
    if not settings.health_port:
        return None
    host = settings.health_host
    host = f"[{host}]" if ":" in host else host  # an IPv6 address
    return f"http://{host}:{settings.health_port}/healthz"


def run_operator(settings: OperatorSettings, namespace: str) -> None:
    """Kopf embedded, in this thread, until SIGINT/SIGTERM."""
    watch_pods = settings.digest_check is not DigestCheck.OFF and pods_readable(namespace)
    llmisvc_version = served_llm_inference_service_version()
    kopf.run(
        registry=build_kopf_registry(
            settings, watch_pods=watch_pods, llmisvc_version=llmisvc_version
        ),
        namespaces=[namespace],
        standalone=True,
        liveness_endpoint=liveness_endpoint(settings),
        memo=kopf.Memo(
            operator_settings=settings,
            namespace=namespace,
            watch_pods=watch_pods,
            llmisvc_version=llmisvc_version,
        ),
    )


def served_llm_inference_service_version() -> str | None:
    """The LLMInferenceService version to watch: v1alpha2 where served, else v1alpha1;
    None where the cluster has no LLMInferenceService CRD.

    Asked once, before any watch starts: a watch on a resource the cluster does not serve
    would fail forever, and a missing CRD is an ordinary cluster (KServe without LLM
    serving), said once in the log.
    """
    try:
        kube = KubeObjects(load_api_client())
        version = next(
            (
                version
                for version in LLM_INFERENCE_SERVICE_VERSIONS
                if kube.serves(llm_inference_services(version))
            ),
            None,
        )
    except (KubeCallError, ConfigException) as error:
        log.warning(
            "could not ask whether LLMInferenceServices are served (%s); they are not watched",
            error,
        )
        return None
    if version is None:
        log.info(
            "the cluster serves no llminferenceservices.serving.kserve.io (KServe's "
            "LLMInferenceService CRD is not installed): only InferenceServices are watched"
        )
    else:
        log.info("watching LLMInferenceServices at serving.kserve.io/%s", version)
    return version


def pods_readable(namespace: str) -> bool:
    """Whether the operator's Role lets it list and watch pods (the digest check reads them).

    Asked once, before any watch starts: without the rule the check says `Forbidden` on
    every binding and the log says so once, instead of a watch failing forever.
    """
    try:
        kube = KubeObjects(load_api_client())
        refused = [verb for verb in ("list", "watch") if not kube.may(namespace, verb, "pods")]
    except (KubeCallError, ConfigException) as error:
        log.warning("could not ask whether pods may be read (%s); trying to watch them", error)
        return True
    if refused:
        # Worded as the apiserver words a refusal, so that it reads (and is found) as one.
        log.warning(
            'pods is forbidden: the operator cannot %s resource "pods" in namespace %s: '
            "image digests are not checked (DigestVerified says Forbidden); add the pods "
            "rule of manifests/base/role.yaml, or set --digest-check off",
            " or ".join(refused),
            namespace,
        )
    return not refused
