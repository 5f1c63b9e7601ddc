"""`registry-sync audit -n NS [-o table|json]`, also `kubectl registry_sync audit` / `oc ...`.

Read-only: it lists the namespace's InferenceServices and PipelineRuns (and, with the
digest check on, its model pods), reads the registry with GETs (and the OCI registries with
HEADs), judges them (`audit.verdicts`) and prints the report. Exit codes:
0 no mismatches, 1 mismatches found, 2 the audit could not be made (the reason on stderr,
and as an `error` document with `-o json`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from registry_sync.audit.inputs import AuditImpossible, read_audit_inputs
from registry_sync.audit.report import (
    error_document,
    render_json,
    render_table,
    report_document,
)
from registry_sync.audit.settings import AuditSettingsError, load_audit_settings
from registry_sync.audit.verdicts import audit_namespace
from registry_sync.controller.kube_calls import KubeConfigError, default_namespace

F = TypeVar("F", bound=Callable[..., Any])

EXIT_CLEAN = 0
EXIT_MISMATCHES = 1
EXIT_CANNOT_AUDIT = 2


class _CannotAudit(click.ClickException):
    """Exit 2 with the reason; the JSON error document goes to stdout first when asked for."""

    exit_code = EXIT_CANNOT_AUDIT

    def __init__(self, message: str) -> None:
        super().__init__(message)

    def format_message(self) -> str:
        return f"could not audit: {self.message}"


def _setting_option(name: str, help_text: str) -> Callable[[F], F]:
    flag = "--" + name.replace("_", "-")
    return click.option(flag, name, default=None, help=help_text)


@click.command("audit")
@click.option(
    "-n",
    "--namespace",
    "namespace",
    default=None,
    help="Namespace to audit [REGISTRY_SYNC_NAMESPACE, else the kubeconfig context's].",
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table for people, json for machines (schema: docs/audit.md).",
)
@click.option(
    "--kubeconfig",
    default=None,
    help="Kubeconfig file [KUBECONFIG, else ~/.kube/config].",
)
@_setting_option("registry_url", "Model Registry REST URL, e.g. https://registry:8443.")
@_setting_option("registry_name", "Registry name expected in the <prefix>/name label (optional).")
@_setting_option("token_file", "Bearer token file for the registry.")
@_setting_option("ca_file", "CA bundle to verify the registry's TLS certificate.")
@_setting_option("label_prefix", "Label prefix [modelregistry.opendatahub.io].")
@_setting_option(
    "param_names", "PipelineRun param names [vllm_model_name,model_name,version_name]."
)
@_setting_option(
    "digest_check",
    "Compare the image digest pods run with the registry's: off | report | enforce [report].",
)
@_setting_option("pull_secret", "Secret (dockerconfigjson) with OCI registry logins.")
@_setting_option("oci_ca_file", "CA bundle to verify OCI registries' TLS certificates.")
@_setting_option("oci_hosts", "Comma-separated OCI registry hosts that may be asked [*].")
def audit(namespace: str | None, output: str, kubeconfig: str | None, **given: Any) -> None:
    """Report what is deployed, what labels and params claim, what the registry says and
    which image digest the pods run.

    Changes nothing. Every setting also reads REGISTRY_SYNC_<FLAG>. Exit 0: no mismatches;
    1: mismatches found; 2: could not audit.
    """
    as_json = output == "json"
    try:
        settings = load_audit_settings(namespace=namespace, **given)
    except AuditSettingsError as error:
        _fail(str(error), namespace, as_json)
    if settings.registry_url is None:
        _fail(
            "setting --registry-url (REGISTRY_SYNC_REGISTRY_URL) is required: the Model "
            "Registry's REST URL",
            namespace,
            as_json,
        )
    target = settings.namespace or _context_namespace(kubeconfig, as_json)

    def progress(message: str) -> None:
        click.echo(f"registry-sync audit: {message}", err=True)

    try:
        inputs = asyncio.run(
            read_audit_inputs(
                target,
                registry_url=settings.registry_url,
                token_file=settings.token_file,
                ca_file=settings.ca_file,
                kubeconfig=kubeconfig,
                progress=progress,
                digests=settings,
            )
        )
    except AuditImpossible as error:
        _fail(str(error), target, as_json)
    if len(inputs.inference_services) + len(inputs.pipeline_runs) > 500:
        progress(
            f"judging {len(inputs.inference_services)} InferenceServices and "
            f"{len(inputs.pipeline_runs)} PipelineRuns…"
        )
    report = audit_namespace(
        target,
        inputs.inference_services,
        inputs.pipeline_runs,
        inputs.snapshot,
        inputs.records,
        keys=settings.label_keys,
        param_names=settings.parsed_param_names,
        registry_name=settings.registry_name,
        now_ms=inputs.read_at_ms,
        notes=inputs.notes,
        digest_check=settings.digest_check,
        running=inputs.running,
    )
    if as_json:
        click.echo(
            render_json(report_document(report, registry_url=settings.registry_url)), nl=False
        )
    else:
        click.echo(render_table(report, registry_url=settings.registry_url), nl=False)
    raise click.exceptions.Exit(EXIT_CLEAN if report.clean else EXIT_MISMATCHES)


def _context_namespace(kubeconfig: str | None, as_json: bool) -> str:
    """The namespace of the kubeconfig's current context, as kubectl would use it."""
    try:
        return default_namespace(kubeconfig)
    except KubeConfigError as error:
        _fail(str(error), None, as_json)


def _fail(message: str, namespace: str | None, as_json: bool) -> NoReturn:
    if as_json:
        click.echo(render_json(error_document(namespace, message)), nl=False)
    raise _CannotAudit(message)


@click.group("kubectl-registry_sync")
def kubectl_plugin() -> None:
    """registry-sync as a kubectl/oc plugin: `kubectl registry_sync audit -n NS`."""


kubectl_plugin.add_command(audit)

if __name__ == "__main__":
    kubectl_plugin()
