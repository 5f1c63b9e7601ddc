"""`registry-sync verify-run` and `registry-sync publish`: the commands the shipped Tekton
Tasks run (tekton/), usable from a laptop too (a kubeconfig instead of the pod's service
account).

Exit codes, as DESIGN's: 0 done (verified; published, or nothing new to publish), 1 refused
(the names, the version or the binding disagree; nothing written), 2 could not (bad input,
the cluster or the registry could not be read). The verdict goes to stdout, refusals and
errors to stderr, each on one line that says what to do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from registry_sync.controller.kube_calls import KubeConfigError, default_namespace
from registry_sync.domain.metadata import VERSION_ANNOTATION
from registry_sync.domain.pipeline_run import annotations_of
from registry_sync.domain.publication import (
    Publication,
    Refused,
    Verified,
    plan_publication,
    verify_run,
)
from registry_sync.domain.run_figures import Figure, ResultsFormatError
from registry_sync.pipeline_tasks.registry_side import (
    apply_publication,
    read_stored_artifacts,
    read_version,
)
from registry_sync.pipeline_tasks.results_files import (
    read_guidellm_figures,
    read_lm_eval_figures,
)
from registry_sync.pipeline_tasks.run_inputs import (
    CannotCheck,
    RunAndBinding,
    read_run_and_binding,
)
from registry_sync.pipeline_tasks.settings import (
    PipelineTaskSettings,
    PipelineTaskSettingsError,
    load_pipeline_task_settings,
)
from registry_sync.registry.client import RegistryClient
from registry_sync.registry.errors import RegistryError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_DONE = 0
EXIT_REFUSED = 1
EXIT_COULD_NOT = 2


class _CouldNot(click.ClickException):
    exit_code = EXIT_COULD_NOT

    def __init__(self, command: str, message: str) -> None:
        super().__init__(message)
        self.command = command

    def format_message(self) -> str:
        return f"could not {self.command}: {self.message}"


def _refuse(command: str, refused: Refused) -> NoReturn:
    click.echo(f"registry-sync {command}: refused ({refused.reason}): {refused.message}", err=True)
    raise click.exceptions.Exit(EXIT_REFUSED)


def _setting_option(name: str, help_text: str) -> Callable[[F], F]:
    return click.option("--" + name.replace("_", "-"), name, default=None, help=help_text)


def _run_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options both commands take: which run, the cluster, the registry, the names."""
    for option in reversed(
        (
            click.option(
                "-n",
                "--namespace",
                "namespace",
                default=None,
                help="The run's namespace [REGISTRY_SYNC_NAMESPACE, else the kubeconfig "
                "context's, else the pod's].",
            ),
            click.option("--run", "run_name", required=True, help="The PipelineRun's name."),
            click.option(
                "--kubeconfig",
                default=None,
                help="Kubeconfig file [in a pod: its service account].",
            ),
            _setting_option("registry_url", "Model Registry REST URL, e.g. https://registry:8443."),
            _setting_option("token_file", "Bearer token file for the registry."),
            _setting_option("ca_file", "CA bundle to verify the registry's TLS certificate."),
            _setting_option("label_prefix", "Label prefix [modelregistry.opendatahub.io]."),
            _setting_option(
                "param_names", "PipelineRun param names [vllm_model_name,model_name,version_name]."
            ),
        )
    ):
        command = option(command)
    return command


def _settings(command: str, namespace: str | None, given: dict[str, Any]) -> PipelineTaskSettings:
    try:
        return load_pipeline_task_settings(namespace=namespace, **given)
    except PipelineTaskSettingsError as error:
        raise _CouldNot(command, str(error)) from None


def _namespace(command: str, settings: PipelineTaskSettings, kubeconfig: str | None) -> str:
    if settings.namespace is not None:
        return settings.namespace
    try:
        return default_namespace(kubeconfig)
    except KubeConfigError as error:
        raise _CouldNot(command, str(error)) from None


def _registry(command: str, settings: PipelineTaskSettings) -> RegistryClient:
    if settings.registry_url is None:
        raise _CouldNot(
            command,
            "setting --registry-url (REGISTRY_SYNC_REGISTRY_URL) is required: the Model "
            "Registry's REST URL",
        )
    try:
        return RegistryClient(
            settings.registry_url, token_file=settings.token_file, ca_file=settings.ca_file
        )
    except ValueError as error:
        raise _CouldNot(
            command, f"cannot use the Model Registry at {settings.registry_url}: {error}"
        ) from None


@click.command("verify-run")
@_run_options
def verify_run_command(
    namespace: str | None, run_name: str, kubeconfig: str | None, **given: Any
) -> None:
    """Check, before its tests start, that a model-testing run will test and publish to the
    model version its deployment runs: its params are its Ready ModelBinding's, its
    inference_service_name param names the deployment its label names, and a version it was
    admitted for is still the one deployed. With --registry-url, the registry's version of
    that id must also have those names.

    Changes nothing. Exit 0: verified; 1: the run must not go on; 2: could not check.
    """
    command = "verify-run"
    settings = _settings(command, namespace, given)
    target = _namespace(command, settings, kubeconfig)
    verdict = asyncio.run(_verify(command, settings, target, run_name, kubeconfig))
    click.echo(
        f"PipelineRun {target}/{verdict.run} verified: it tests {verdict.inference_service}, "
        f"serving {verdict.served_name} = {verdict.model_name} / {verdict.version_name} "
        f"(model version {verdict.version_id})"
    )


async def _verify(
    command: str,
    settings: PipelineTaskSettings,
    namespace: str,
    run_name: str,
    kubeconfig: str | None,
) -> Verified:
    try:
        read = await read_run_and_binding(namespace, run_name, kubeconfig)
    except CannotCheck as error:
        raise _CouldNot(command, str(error)) from None
    verdict = verify_run(read.run, read.binding, settings.parsed_param_names)
    if isinstance(verdict, Refused):
        _refuse(command, verdict)
    if settings.registry_url is None:
        return verdict
    async with _registry(command, settings) as registry:
        try:
            version = await read_version(registry, verdict.version_id)
        except RegistryError as error:
            raise _CouldNot(command, str(error)) from None
    if version is None or (version.model_name, version.name) != (
        verdict.model_name,
        verdict.version_name,
    ):
        said = (
            "holds no such version"
            if version is None
            else (f"calls it {version.model_name} / {version.name}")
        )
        _refuse(
            command,
            Refused(
                "NamesDisagree",
                f"the binding of {verdict.inference_service} names {verdict.model_name} / "
                f"{verdict.version_name} (model version {verdict.version_id}), but the "
                f"registry {said}: the binding is behind the registry; wait for the next "
                "refresh and run again.",
            ),
        )
    return verdict


@click.command("publish")
@_run_options
@click.option(
    "--guidellm",
    "guidellm_files",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A guidellm benchmark report (JSON), repeatable.",
)
@click.option(
    "--lm-eval",
    "lm_eval_files",
    multiple=True,
    type=click.Path(path_type=Path),
    help="An lm-eval results file (JSON), repeatable.",
)
@_setting_option("max_input_mib", "Refuse a result file larger than this many MiB [512].")
def publish_command(
    namespace: str | None,
    run_name: str,
    kubeconfig: str | None,
    guidellm_files: tuple[Path, ...],
    lm_eval_files: tuple[Path, ...],
    **given: Any,
) -> None:
    """Publish a model-testing run's figures as metric artifacts of the model version it was
    admitted for, and the run's own record as a doc artifact, after checking that its names,
    its stamp (registry-sync.io/model-version-id), its ModelBinding and the registry agree.

    Writes only what differs from what the version holds. Exit 0: published (or nothing
    new); 1: refused, nothing written; 2: could not (bad input, cluster or registry).
    """
    command = "publish"
    settings = _settings(command, namespace, given)
    if not guidellm_files and not lm_eval_files:
        raise _CouldNot(command, "nothing to publish: give --guidellm and/or --lm-eval files")
    figures = _read_figures(command, guidellm_files, lm_eval_files, settings.max_input_mib)
    target = _namespace(command, settings, kubeconfig)
    registry = _registry(command, settings)
    publication = asyncio.run(
        _publish(command, settings, registry, target, run_name, kubeconfig, figures)
    )
    click.echo(_published(f"{target}/{run_name}", publication))


def _read_figures(
    command: str, guidellm: tuple[Path, ...], lm_eval: tuple[Path, ...], max_input_mib: int
) -> tuple[Figure, ...]:
    """Every figure of every file, read before anything else: bad input writes nothing."""
    figures: list[Figure] = []
    try:
        for path in guidellm:
            figures.extend(read_guidellm_figures(path, max_input_mib))
        for path in lm_eval:
            figures.extend(read_lm_eval_figures(path, max_input_mib))
    except ResultsFormatError as error:
        raise _CouldNot(command, str(error)) from None
    names = [figure.name for figure in figures]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise _CouldNot(
            command,
            f"the files give figures {', '.join(twice[:5])} more than once: publish one "
            "report per load profile and one results file per task",
        )
    return tuple(figures)


async def _publish(
    command: str,
    settings: PipelineTaskSettings,
    registry: RegistryClient,
    namespace: str,
    run_name: str,
    kubeconfig: str | None,
    figures: tuple[Figure, ...],
) -> Publication:
    try:
        read = await read_run_and_binding(namespace, run_name, kubeconfig)
    except CannotCheck as error:
        raise _CouldNot(command, str(error)) from None
    async with registry:
        try:
            decided = await _decide(registry, read, figures, settings)
            if isinstance(decided, Refused):
                _refuse(command, decided)
            await apply_publication(registry, decided)
        except RegistryError as error:
            raise _CouldNot(command, str(error)) from None
    return decided


async def _decide(
    registry: RegistryClient,
    read: RunAndBinding,
    figures: tuple[Figure, ...],
    settings: PipelineTaskSettings,
) -> Publication | Refused:
    stamp = annotations_of(read.run).get(VERSION_ANNOTATION)
    version = await read_version(registry, stamp) if stamp else None
    metrics, records = await read_stored_artifacts(registry, version.id) if version else ((), ())
    return plan_publication(
        read.run,
        read.binding,
        version,
        figures,
        metrics,
        records,
        settings.parsed_param_names,
        read.running_digest,
    )


def _published(run: str, publication: Publication) -> str:
    version = (
        f"model version {publication.version_id} ({publication.model_name} / "
        f"{publication.version_name})"
    )
    kept = f"{len(publication.unchanged)} stored already"
    if publication.superseded:
        kept += f", {len(publication.superseded)} written over by a newer run since"
    if publication.writes_nothing:
        return f"PipelineRun {run}: nothing new to publish on {version} ({kept})"
    record = "" if publication.record is None else f"; its record: {publication.record.name}"
    return (
        f"PipelineRun {run}: published {len(publication.metrics)} figures on {version} "
        f"({kept}){record}"
    )
