"""`registry-sync demo`: the incident registry-sync was built for, played on a local control
plane with the registry stand-in, before and after the operator runs (what `make demo` runs).

It starts etcd and kube-apiserver (built by `make control-plane`), the Model Registry
stand-in and the operator as child processes, shows everything through kubectl as a user
would, and stops every process it started when it ends, fails or is interrupted.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import click
import yaml

from registry_sync.demo.results import write_results
from registry_sync.demo.seed import (
    COMPARISON_MODEL,
    COMPARISON_URI,
    COMPARISON_VERSION,
    DEPLOYED_URI,
    ISVC_NAME,
    MISTRAL_MODEL,
    ONE_GPU_URI,
    ONE_GPU_VERSION,
    OPTIMIZED_URI,
    OPTIMIZED_VERSION,
    RUN_NAME,
    SMALL_MODEL,
    SMALL_VERSION,
    SeedIds,
    register_seed,
    seed_inference_service,
    seed_pipeline_run,
)
from registry_sync.demo.stand_in_crds import inference_service_crd, pipeline_run_crd
from registry_sync.local_control_plane import (
    ChildProcess,
    ControlPlaneBinaries,
    ControlPlaneStartError,
    LocalControlPlane,
    control_plane_binaries,
    free_loopback_port,
    spawn_child,
)
from registry_sync.registry.client import RegistryClient
from registry_sync.registry.models import DesiredState, InferenceServiceRecord

NAMESPACE = "private-ai-demo"
REGISTRY_NAME = "demo-registry"
PREFIX = "modelregistry.opendatahub.io"
LABEL_COLUMNS = [f"{PREFIX}/registered-model-id", f"{PREFIX}/model-version-id", f"{PREFIX}/name"]
OPERATOR_READY_LINE = "Activity 'start-services' succeeded"
LISTENING_PREFIX = "listening on "
STEPS = 12


class DemoError(RuntimeError):
    """A demo step did not happen; the message says which and where the logs are."""


@contextmanager
def _stopping_on_termination() -> Iterator[None]:
    """SIGTERM and SIGHUP end the demo like Ctrl-C does: through its clean-up."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@click.command("demo")
@click.option("--keep-files", is_flag=True, help="Keep the demo's folder (logs) after it ends.")
def demo(keep_files: bool) -> None:
    """Reproduce the wrong-model incident on a local cluster and let registry-sync correct it.

    Run from the repository (`make demo` builds what it needs first).
    """
    try:
        binaries = control_plane_binaries(Path.cwd())
    except ControlPlaneStartError as error:
        raise click.ClickException(str(error)) from None
    problem = binaries.problem()
    if problem is not None:
        raise click.ClickException(problem)
    folder = Path(tempfile.mkdtemp(prefix="registry-sync-demo-"))
    cluster = LocalControlPlane(binaries, folder, name="demo")
    story = Demo(binaries, folder, cluster, Progress())
    failed = True
    try:
        with _stopping_on_termination():
            story.play()
        failed = False
    except (ControlPlaneStartError, DemoError) as error:
        raise click.ClickException(f"{error}\nlogs: {folder}") from None
    finally:
        story.shut_down(keep=keep_files or failed)


@dataclass
class Progress:
    """Numbered headings, one per demo step."""

    done: int = 0

    def step(self, title: str, detail: str = "") -> None:
        self.done += 1
        click.echo()
        click.secho(f"==> [{self.done}/{STEPS}] {title}", bold=True)
        if detail:
            click.echo(f"    {detail}")


def note(text: str) -> None:
    click.echo(f"    {text}")


@dataclass
class Demo:
    binaries: ControlPlaneBinaries
    folder: Path
    cluster: LocalControlPlane
    progress: Progress
    # The demo's own processes (registry stand-in, operator); the cluster has its own.
    children: list[ChildProcess] = field(default_factory=list)

    def play(self) -> None:
        """Every step, printed as it happens; DemoError or ControlPlaneStartError on a failure."""
        heading = self.progress.step
        heading("Starting a local control plane", "etcd + kube-apiserver, on loopback")
        self.cluster.start()
        seconds = self.cluster.startup.apiserver_ready
        note(f"kube-apiserver ready at {self.cluster.server} after {seconds:.1f} s")

        heading(
            "Installing the CRDs",
            "ModelBinding (crds/modelbinding.yaml); InferenceService and PipelineRun stand-ins "
            "(no KServe or Tekton runs here)",
        )
        self._install_crds()
        self.kubectl("create", "namespace", NAMESPACE)
        note(f"namespace {NAMESPACE} created")

        heading("Starting the Model Registry stand-in", "registry-sync dev-registry --port 0")
        registry_url = self._start_registry()
        note(f"listening on {registry_url}")
        ids = asyncio.run(_register(registry_url))
        self._show_registry(ids)
        record = asyncio.run(_record_as_found(registry_url, ids))
        note(
            f"the registry's own record of the deployment (serving environment {NAMESPACE}): "
            f"{record.name} -> model {record.registered_model_id} version "
            f"{record.model_version_id} ({ONE_GPU_VERSION})"
        )

        heading(
            "Deploying the InferenceService as its team did",
            f"labels: model {ids.small_model} ({SMALL_MODEL}) with version "
            f"{ids.optimized_version} ({OPTIMIZED_VERSION}, a version of {MISTRAL_MODEL})",
        )
        self.kubectl_apply(seed_inference_service(NAMESPACE, ids))
        self.show("get", "inferenceservice", ISVC_NAME, "-n", NAMESPACE, *_label_columns())

        heading(
            "Auditing the namespace, before registry-sync runs",
            "registry-sync audit: read-only, exit 1 when it finds mismatches",
        )
        self._audit(registry_url, expected_exit=1)

        heading(
            "Starting registry-sync",
            f"registry-sync run --namespace {NAMESPACE} --registry-url {registry_url} "
            f"--registry-name {REGISTRY_NAME} --registry-records on",
        )
        operator = self._start_operator(registry_url)
        self._wait_for(
            "the ModelBinding to be Ready",
            lambda: self._ready_status() == "True",
            operator,
        )
        note("the labels now name what is deployed:")
        self.show("get", "inferenceservice", ISVC_NAME, "-n", NAMESPACE, *_label_columns())
        note("and the binding says what a model-testing run will be given:")
        self.show("get", "modelbindings", "-n", NAMESPACE)

        run = seed_pipeline_run(NAMESPACE)
        heading(
            "Starting the model-testing PipelineRun as the team did",
            "params as submitted: " + _params_text(run["spec"]["params"]),
        )
        self._wait_for("the admission webhook to answer", lambda: self._admits(run), operator)
        self.kubectl("create", "-f", "-", stdin=json.dumps(run))
        note("params as the apiserver stored them:")
        self.show(
            "get", "pipelinerun", RUN_NAME, "-n", NAMESPACE, "-o",
            'jsonpath={range .spec.params[*]}{.name}={.value}{"\\n"}{end}',
        )  # fmt: skip
        note("the values registry-sync replaced, kept on the run:")
        self.show(
            "get", "pipelinerun", RUN_NAME, "-n", NAMESPACE, "-o",
            'jsonpath={.metadata.annotations.registry-sync\\.io/original-params}{"\\n"}',
        )  # fmt: skip

        heading(
            "The run's publish step, run here as its pipeline would run it",
            "registry-sync publish: a guidellm report and lm-eval results (small files in those "
            "tools' formats, written by the demo)",
        )
        report, results = write_results(self.folder)
        self._registry_sync(
            "publish", "-n", NAMESPACE, "--run", RUN_NAME, "--registry-url", registry_url,
            "--guidellm", str(report), "--lm-eval", str(results), expected_exit=0,
        )  # fmt: skip

        heading(
            "Reading the registry back",
            "the results are on the version deployed, nothing on the one the run first named; "
            "the registry's record of the deployment names the version deployed",
        )
        asyncio.run(_show_results(registry_url, ids))
        asyncio.run(_show_record(registry_url, ids))

        heading("Auditing again", "registry-sync audit: exit 0, nothing left to correct")
        self._audit(registry_url, expected_exit=0)

        heading(
            "What changed",
            f"labels: version {ids.optimized_version} -> {ids.small_version}; the registry's "
            f"record: version {ids.one_gpu_version} -> {ids.small_version}; the run's results "
            f"are on {SMALL_MODEL} / {SMALL_VERSION}, not {MISTRAL_MODEL} / {ONE_GPU_VERSION}",
        )

    # Cluster ---------------------------------------------------------------------------

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        command = [
            str(self.binaries.kubectl),
            f"--kubeconfig={self.cluster.kubeconfig}",
            f"--cache-dir={self.folder / 'kubectl-cache'}",
            *args,
        ]
        result = subprocess.run(
            command, input=stdin, capture_output=True, text=True, timeout=120, check=False
        )
        if check and result.returncode != 0:
            raise DemoError(f"`kubectl {shlex.join(args)}` failed: {result.stderr.strip()}")
        return result.stdout if result.returncode == 0 else result.stderr

    def show(self, *args: str) -> None:
        """Run kubectl and print the command and its output, as a user would see them."""
        click.secho(f"    $ kubectl {shlex.join(args)}", dim=True)
        for line in self.kubectl(*args).rstrip("\n").splitlines():
            click.echo(f"    {line}")

    def kubectl_apply(self, document: dict[str, Any]) -> None:
        click.secho("    $ kubectl apply -f -   # the manifest below", dim=True)
        text = yaml.safe_dump(document, sort_keys=False)
        for line in text.rstrip("\n").splitlines():
            click.echo(f"      {line}")
        self.kubectl("apply", "-f", "-", stdin=text)

    def _install_crds(self) -> None:
        crds = [inference_service_crd(), pipeline_run_crd()]
        binding_crd = Path.cwd() / "crds" / "modelbinding.yaml"
        if not binding_crd.is_file():
            raise DemoError(f"{binding_crd} not found: run the demo from the repository root")
        crds += [doc for doc in yaml.safe_load_all(binding_crd.read_text()) if doc]
        self.kubectl("apply", "-f", "-", stdin="\n---\n".join(json.dumps(crd) for crd in crds))
        names = [f"crd/{crd['metadata']['name']}" for crd in crds]
        self.kubectl("wait", "--for=condition=Established", "--timeout=60s", *names)
        note(", ".join(crd["metadata"]["name"] for crd in crds))

    def _ready_status(self) -> str:
        return self.kubectl(
            "get", "modelbinding", ISVC_NAME, "-n", NAMESPACE, "-o",
            'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
            check=False,
        ).strip()  # fmt: skip

    def _admits(self, run: dict[str, Any]) -> bool:
        """Whether a dry run of `run` gets through the admission chain (the webhook is up)."""
        command = [
            str(self.binaries.kubectl),
            f"--kubeconfig={self.cluster.kubeconfig}",
            "create", "--dry-run=server", "-o", "name", "-f", "-",
        ]  # fmt: skip
        done = subprocess.run(
            command, input=json.dumps(run), capture_output=True, text=True, timeout=30, check=False
        )
        return done.returncode == 0

    def _audit(self, registry_url: str, expected_exit: int) -> None:
        self._registry_sync(
            "audit", "-n", NAMESPACE, "--registry-url", registry_url, "--digest-check", "off",
            expected_exit=expected_exit,
        )  # fmt: skip

    def _registry_sync(self, *args: str, expected_exit: int) -> None:
        """Run `registry-sync ARGS` as a user would, print it and its output; DemoError
        unless it exits with `expected_exit`."""
        click.secho(f"    $ registry-sync {shlex.join(args)}", dim=True)
        done = subprocess.run(
            [sys.executable, "-m", "registry_sync.cli", *args],
            env={**os.environ, "KUBECONFIG": str(self.cluster.kubeconfig)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        for line in (done.stdout + done.stderr).rstrip("\n").splitlines():
            click.echo(f"    {line}")
        click.secho(f"    (exit {done.returncode})", dim=True)
        if done.returncode != expected_exit:
            raise DemoError(
                f"`registry-sync {args[0]}` exited with {done.returncode}, not {expected_exit}"
            )

    # Processes -------------------------------------------------------------------------

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> ChildProcess:
        child = spawn_child(name, command, self.folder / f"{name}.log", env=env)
        self.children.append(child)
        return child

    def shut_down(self, *, keep: bool) -> None:
        """Stop every process the demo started, newest first; remove the folder unless `keep`."""
        started = [child.process for child in self.children + self.cluster.children]
        self.progress.step("Shutting down", "operator, registry stand-in, kube-apiserver, etcd")
        while self.children:
            self.children.pop().stop()
        self.cluster.stop()
        left = [process.pid for process in started if process.poll() is None]
        if left:
            click.echo(f"    processes still running: {left}", err=True)
        else:
            click.echo(f"    all {len(started)} processes stopped")
        if keep:
            click.echo(f"    files kept in {self.folder}")
        else:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _start_registry(self) -> str:
        child = self._spawn(
            "dev-registry",
            [sys.executable, "-m", "registry_sync.cli", "dev-registry", "--port", "0"],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        found: list[str] = []

        def listening() -> bool:
            for line in child.log_file.read_text(errors="replace").splitlines():
                if line.startswith(LISTENING_PREFIX):
                    found.append(line[len(LISTENING_PREFIX) :].strip())
                    return True
            return False

        self._wait_for("the registry stand-in to listen", listening, child)
        return found[0]

    def _show_registry(self, ids: SeedIds) -> None:
        note("registered through the REST API (ids assigned by the registry):")
        entries = [
            (ids.small_model, SMALL_MODEL, ids.small_version, SMALL_VERSION, DEPLOYED_URI),
            (ids.comparison_model, COMPARISON_MODEL, ids.comparison_version, COMPARISON_VERSION,
             COMPARISON_URI),
            (ids.mistral_model, MISTRAL_MODEL, ids.optimized_version, OPTIMIZED_VERSION,
             OPTIMIZED_URI),
            (ids.mistral_model, MISTRAL_MODEL, ids.one_gpu_version, ONE_GPU_VERSION, ONE_GPU_URI),
        ]  # fmt: skip
        rows = [("model", "version", "artifact URI")] + [
            (f"{model_id} {model}", f"{version_id} {version}", uri)
            for model_id, model, version_id, version, uri in entries
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(2)]
        for model, version, uri in rows:
            note(f"  {model:<{widths[0]}}  {version:<{widths[1]}}  {uri}")

    def _start_operator(self, registry_url: str) -> ChildProcess:
        command = [
            sys.executable, "-m", "registry_sync.cli", "run",
            "--namespace", NAMESPACE,
            "--registry-url", registry_url,
            "--registry-name", REGISTRY_NAME,
            "--registry-records", "on",
            "--refresh-seconds", "5",
            "--webhook-port", str(free_loopback_port()),
            "--metrics-port", "0",
            "--health-port", "0",
        ]  # fmt: skip
        environment = {**os.environ, "KUBECONFIG": str(self.cluster.kubeconfig)}
        child = self._spawn("operator", command, environment)
        self._wait_for(
            "the operator to start",
            lambda: OPERATOR_READY_LINE in child.log_file.read_text(errors="replace"),
            child,
        )
        note(f"running (pid {child.process.pid}); its log: {child.log_file}")
        return child

    def _wait_for(
        self, what: str, condition: Callable[[], bool], child: ChildProcess, timeout: float = 60
    ) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if child.process.poll() is not None:
                raise DemoError(
                    f"waiting for {what}: {child.name} exited with code "
                    f"{child.process.returncode} (log: {child.log_file})"
                )
            if time.monotonic() > deadline:
                raise DemoError(f"{what}: not within {timeout:g} s (log: {child.log_file})")
            time.sleep(0.25)


async def _register(url: str) -> SeedIds:
    async with RegistryClient(url) as registry:
        return await register_seed(registry)


async def _show_results(url: str, ids: SeedIds) -> None:
    """The metric artifacts of the version tested and of the one the run first named."""
    async with RegistryClient(url) as registry:
        for model, version, version_id in (
            (SMALL_MODEL, SMALL_VERSION, ids.small_version),
            (MISTRAL_MODEL, ONE_GPU_VERSION, ids.one_gpu_version),
        ):
            metrics = await registry.list_version_metrics(version_id)
            records = await registry.list_version_doc_artifacts(version_id)
            note(f"{model} / {version} (version {version_id}): {len(metrics)} metrics")
            shown = [m for m in metrics if m.name in _SHOWN_METRICS]
            for metric in sorted(shown, key=lambda m: _SHOWN_METRICS.index(m.name)):
                note(f"  {metric.name:<40} {metric.value:g}")
            for record in records:
                note(f"  its run's record: {record.name}")


# A few of the figures, enough to see they are the run's.
_SHOWN_METRICS = ["ttft_p90@rate=2", "itl_p90@rate=2", "requests_per_second@rate=4",
                  "lm_eval.arc_easy.acc", "lm_eval.gsm8k.exact_match.strict-match"]  # fmt: skip


async def _record_as_found(url: str, ids: SeedIds) -> InferenceServiceRecord:
    """The registry's record of the deployment as the incident found it: under the deployed
    model, but on a version of the other Mistral model."""
    async with RegistryClient(url) as registry:
        environment = await registry.create_serving_environment(NAMESPACE)
        return await registry.create_inference_service_record(
            name=ISVC_NAME,
            serving_environment_id=environment.id,
            registered_model_id=ids.small_model,
            model_version_id=ids.one_gpu_version,
        )


async def _show_record(url: str, ids: SeedIds) -> None:
    """The deployment's live records in the namespace's serving environment."""
    async with RegistryClient(url) as registry:
        environment = await registry.find_serving_environment(NAMESPACE)
        if environment is None:
            raise DemoError(f"the registry has no serving environment {NAMESPACE}")
        records = [
            record
            async for page in registry.inference_service_pages(environment.id)
            for record in page.items
            if record.desired_state != DesiredState.UNDEPLOYED
        ]
    names = {ids.small_version: SMALL_VERSION, ids.one_gpu_version: ONE_GPU_VERSION}
    for record in records:
        version = names.get(record.model_version_id or "", "?")
        note(
            f"the registry's record {record.name}: model {record.registered_model_id} version "
            f"{record.model_version_id} ({version})"
        )


def _label_columns() -> list[str]:
    return [argument for label in LABEL_COLUMNS for argument in ("-L", label)]


def _params_text(params: list[dict[str, Any]]) -> str:
    return ", ".join(f"{param['name']}={param['value']}" for param in params)
