"""The benchmarks' harness: a local control plane of their own, a seeded registry
stand-in, bulk object creation, a LIST+WATCH reader that timestamps every event, operator
processes and their memory and CPU, percentiles, and the machine facts every report carries.

The control plane and the operators' start-up are the test harness's
(`support.private_cluster`, `support.operator.RunningOperator`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, Final

import aiohttp
import click
from kubernetes.client.exceptions import ApiException

BENCH = Path(__file__).resolve().parent
REPOSITORY = BENCH.parent
RESULTS = BENCH / "results"  # where every benchmark writes its report by default
sys.path.insert(0, str(REPOSITORY / "tests"))


from registry_sync.demo.seed import ISVC_NAME, SeedIds, seed_inference_service  # noqa: E402
from registry_sync.devregistry.state_file import StateFile  # noqa: E402
from registry_sync.devregistry.store import RegistryStore  # noqa: E402
from registry_sync.domain import metadata  # noqa: E402
from support.bindings import binding_ready  # noqa: E402
from support.cluster import Cluster  # noqa: E402
from support.cluster_objects import INFERENCE_SERVICES, PIPELINE_RUNS  # noqa: E402
from support.operator import READY_LINE, RunningOperator, free_port  # noqa: E402
from support.private_cluster import private_cluster, why_no_control_plane  # noqa: E402

REGISTRY_NAME: Final = "bench-registry"
LABEL_PREFIX: Final = metadata.DEFAULT_LABEL_PREFIX
ENABLED_ANNOTATION: Final = metadata.ENABLED_ANNOTATION
TARGET_LABEL: Final = metadata.TARGET_LABEL
VERSIONS_PER_MODEL: Final = 10
ISVC_PATH: Final = metadata.INFERENCE_SERVICES.collection_path("{ns}")
BINDING_PATH: Final = metadata.MODEL_BINDINGS.collection_path("{ns}")
RUN_PATH: Final = metadata.PIPELINE_RUNS.collection_path("{ns}")
MERGE: Final = {"Content-Type": "application/merge-patch+json"}
BARE_READY_LINE: Final = "Activity 'load-table' succeeded"


class BenchError(click.ClickException):
    """The benchmark could not set up or measure; the message says what and where to look."""


@contextlib.contextmanager
def local_cluster() -> Iterator[Cluster]:
    """A local control plane with the project's test CRDs, the spec-immutable policy and a
    controller-manager, as the `kube` test fixture makes it; stopped (and its files
    removed) on exit, its files kept when the benchmark fails."""
    problem = why_no_control_plane()
    if problem is not None:
        raise BenchError(problem)
    with private_cluster("bench", spec_immutable_policy=True, controller_manager=True) as cluster:
        yield cluster


# -- the registry --------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What the registry says about one storage URI (ids as the stand-in assigned them)."""

    uri: str
    registered_model_id: str
    registered_model_name: str
    model_version_id: str
    model_version_name: str
    artifact_id: str

    def labels(self) -> dict[str, str]:
        return {
            f"{LABEL_PREFIX}/registered-model-id": self.registered_model_id,
            f"{LABEL_PREFIX}/model-version-id": self.model_version_id,
            f"{LABEL_PREFIX}/name": REGISTRY_NAME,
        }

    def table_entry(self) -> dict[str, str]:
        return {
            "registeredModelId": self.registered_model_id,
            "registeredModelName": self.registered_model_name,
            "modelVersionId": self.model_version_id,
            "modelVersionName": self.model_version_name,
            "artifactId": self.artifact_id,
        }


def bench_uri(number: int) -> str:
    return f"oci://quay.io/bench/model-{number // VERSIONS_PER_MODEL}:v{number}"


def seed_registry_file(path: Path, uris: Sequence[str]) -> dict[str, Answer]:
    """Write a stand-in state file registering every URI (one version and one artifact each,
    ten versions per registered model) and return the answers. Written in-process rather
    than through the REST API: thousands of REST creates would take minutes."""
    store = RegistryStore()
    answers: dict[str, Answer] = {}
    model: dict[str, Any] = {}
    for number, uri in enumerate(uris):
        if number % VERSIONS_PER_MODEL == 0:
            model = store.create_registered_model({"name": f"bench-model-{number // 10}"})
        version_name = f"v{number}"
        model_version = store.create_model_version(
            {"name": version_name, "registeredModelId": model["id"], "state": "LIVE"}
        )
        artifact, _ = store.add_version_artifact(
            model_version["id"],
            {"artifactType": "model-artifact", "name": f"artifact-{number}", "uri": uri},
        )
        answers[uri] = Answer(
            uri, model["id"], model["name"], model_version["id"], version_name, artifact["id"]
        )
    StateFile(path).save(store)
    return answers


def write_table(path: Path, answers: Mapping[str, Answer]) -> None:
    """The bare operator's fixed table, URI → answer."""
    path.write_text(json.dumps({uri: a.table_entry() for uri, a in answers.items()}))


# -- objects -------------------------------------------------------------------------------


def inference_service(namespace: str, name: str, uri: str) -> dict[str, Any]:
    """An opted-in InferenceService deploying `uri`, its labels wrong (as in the incident)."""
    return {
        "apiVersion": metadata.INFERENCE_SERVICES.api_version,
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {ENABLED_ANNOTATION: "true"},
            "labels": stale_labels(),
        },
        "spec": {
            "predictor": {
                "model": {
                    "modelFormat": {"name": "vLLM"},
                    "runtime": "vllm-cuda-runtime",
                    "storageUri": uri,
                }
            }
        },
    }


def stale_labels() -> dict[str, str | None]:
    """Labels no registry answer matches: every operator run has to correct them all."""
    return {
        f"{LABEL_PREFIX}/registered-model-id": "0",
        f"{LABEL_PREFIX}/model-version-id": "0",
        f"{LABEL_PREFIX}/name": None,
    }


async def run_concurrently(jobs: Sequence[Callable[[], Awaitable[None]]], concurrency: int) -> None:
    """Run the jobs, at most `concurrency` at a time; the first failure is raised."""
    slots = asyncio.Semaphore(concurrency)

    async def one(job: Callable[[], Awaitable[None]]) -> None:
        async with slots:
            await job()

    await asyncio.gather(*(one(job) for job in jobs))


async def request(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    body: Any = None,
    *,
    headers: Mapping[str, str] | None = None,
    ok: Sequence[int] = (200, 201),
    attempts: int = 5,
) -> Any:
    """One API request, retried on 429/5xx and connection errors (a busy 2-core machine)."""
    for attempt in range(attempts):
        try:
            async with session.request(
                method,
                url,
                data=None if body is None else json.dumps(body).encode(),
                headers=headers or {"Content-Type": "application/json"},
            ) as response:
                text = await response.text()
                if response.status in ok:
                    return json.loads(text) if text else None
                if response.status not in (429, 500, 502, 503, 504) or attempt == attempts - 1:
                    raise BenchError(f"{method} {url}: HTTP {response.status} {text[:300]}")
        except (aiohttp.ClientError, TimeoutError) as error:
            if attempt == attempts - 1:
                raise BenchError(f"{method} {url}: {error}") from None
        await asyncio.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def api_session(cluster: Cluster, limit: int = 64) -> aiohttp.ClientSession:
    control_plane = cluster.control_plane
    assert control_plane is not None
    connector = aiohttp.TCPConnector(ssl=control_plane.admin_ssl_context(), limit=limit)
    return aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=120, sock_read=None)
    )


async def create_inference_services(
    cluster: Cluster, namespace: str, names_and_uris: Sequence[tuple[str, str]], concurrency: int
) -> None:
    """Create an opted-in InferenceService (`inference_service`) per (name, storage URI),
    at most `concurrency` requests at a time."""
    url = cluster.server + ISVC_PATH.format(ns=namespace)
    async with api_session(cluster) as session:

        def job(name: str, uri: str) -> Callable[[], Awaitable[Any]]:
            body = inference_service(namespace, name, uri)
            return lambda: request(session, "POST", url, body)

        await run_concurrently([job(name, uri) for name, uri in names_and_uris], concurrency)


async def count_objects(session: aiohttp.ClientSession, server: str, path: str) -> int:
    """How many objects a LIST returns (metadata only)."""
    answer = await request(
        session,
        "GET",
        f"{server}{path}",
        headers={"Accept": "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"},
    )
    return len(answer.get("items") or [])


# -- LIST + WATCH ---------------------------------------------------------------------------


OnEvent = Callable[[str, Mapping[str, Any], float], None]
# A watch lasts as long as the server keeps it (timeoutSeconds); only silence ends it early.
WATCH_TIMEOUT: Final = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=900)


async def list_and_watch(
    session: aiohttp.ClientSession,
    server: str,
    path: str,
    on_event: OnEvent,
    listed: asyncio.Event | None = None,
) -> None:
    """LIST `path`, then WATCH it from that resource version until cancelled, calling
    `on_event(type, object, monotonic arrival time)` for every listed object ("ADDED") and
    every event. Relists after a 410 Gone."""
    while True:
        answer = await request(session, "GET", f"{server}{path}")
        now = time.monotonic()
        for item in answer.get("items", []):
            on_event("ADDED", item, now)
        resource_version = answer["metadata"]["resourceVersion"]
        if listed is not None:
            listed.set()
        while True:
            params = {
                "watch": "1",
                "resourceVersion": resource_version,
                "allowWatchBookmarks": "true",
                "timeoutSeconds": "600",
            }
            gone = False
            try:
                async with session.get(
                    f"{server}{path}", params=params, timeout=WATCH_TIMEOUT
                ) as response:
                    if response.status == 410:
                        break
                    if response.status != 200:
                        raise BenchError(f"WATCH {path}: HTTP {response.status}")
                    async for line in response.content:
                        arrived = time.monotonic()
                        if not line.strip():
                            continue
                        event = json.loads(line)
                        kind, obj = event.get("type"), event.get("object", {})
                        if kind == "ERROR":
                            gone = obj.get("code") == 410
                            break
                        resource_version = obj.get("metadata", {}).get(
                            "resourceVersion", resource_version
                        )
                        if kind != "BOOKMARK":
                            on_event(kind, obj, arrived)
            except (aiohttp.ClientError, TimeoutError):
                # A dropped watch is resumed from the last resource version seen: no event
                # is lost, and a measurement never stalls on a dead connection.
                await asyncio.sleep(0.2)
                continue
            if gone:
                break


def labels_match(obj: Mapping[str, Any], expected: Mapping[str, str]) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in expected.items())


def binding_ready_for(obj: Mapping[str, Any], answer: Answer) -> bool:
    """The binding is Ready and names the answer's version for the answer's URI."""
    status = obj.get("status") or {}
    if status.get("modelVersionId") != answer.model_version_id:
        return False
    if status.get("storageUri") != answer.uri:
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


@dataclass
class ConvergenceTracker:
    """Which InferenceServices have the expected labels and a Ready binding naming the
    expected version, from watch events; `done` is set when all have both."""

    expected: dict[str, Answer]
    labels_ok: set[str] = field(default_factory=set)
    bindings_ok: set[str] = field(default_factory=set)
    first_ready_at: float | None = None
    done_at: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def on_inference_service(self, kind: str, obj: Mapping[str, Any], at: float) -> None:
        name = obj.get("metadata", {}).get("name", "")
        answer = self.expected.get(name)
        if answer is None:
            return
        if kind != "DELETED" and labels_match(obj, answer.labels()):
            self.labels_ok.add(name)
        else:
            self.labels_ok.discard(name)
        self._check(at)

    def on_binding(self, kind: str, obj: Mapping[str, Any], at: float) -> None:
        name = obj.get("metadata", {}).get("name", "")
        answer = self.expected.get(name)
        if answer is None:
            return
        if kind != "DELETED" and binding_ready_for(obj, answer):
            self.bindings_ok.add(name)
            if self.first_ready_at is None:
                self.first_ready_at = at
        else:
            self.bindings_ok.discard(name)
        self._check(at)

    def converged(self, name: str) -> bool:
        return name in self.labels_ok and name in self.bindings_ok

    def _check(self, at: float) -> None:
        self.changed.set()
        everything = len(self.expected)
        if len(self.labels_ok) == everything and len(self.bindings_ok) == everything:
            if not self.done.is_set():
                self.done_at = at
                self.done.set()
        else:
            self.done.clear()
            self.done_at = None


# -- operator processes ------------------------------------------------------------------


def deploy_seed_inference_service(cluster: Cluster, namespace: str, ids: SeedIds) -> None:
    """Create the seed InferenceService and wait until its binding is Ready."""
    INFERENCE_SERVICES.create(cluster.api_client, namespace, seed_inference_service(namespace, ids))
    cluster.wait_for(
        lambda: binding_ready(cluster.api_client, namespace),
        timeout=60,
        description=f"binding {namespace}/{ISVC_NAME} Ready",
    )


class RegistrySyncProcess:
    """`registry-sync run` at INFO level (as deployed), started without waiting, so that its
    cold start is measured from the moment the process is launched."""

    def __init__(
        self,
        cluster: Cluster,
        namespace: str,
        registry_url: str,
        log_path: Path,
        webhook: bool,
        extra_args: Sequence[str] = (),
    ) -> None:
        extra = ["--registry-name", REGISTRY_NAME, *extra_args]
        if not webhook:
            extra += ["--webhook", "off"]
        self.operator = RunningOperator(
            cluster, namespace, registry_url, log_path, extra, {}, verbose=False
        )
        self.cluster = cluster
        self.namespace = namespace
        self.log_path = log_path
        self.ready_line = READY_LINE

    def start(self) -> int:
        self.operator.start(wait=False)
        assert self.operator.process is not None
        return self.operator.process.pid

    def stop(self) -> None:
        self.operator.stop()
        with contextlib.suppress(ApiException):
            self.cluster.admission.delete_mutating_webhook_configuration(
                f"registry-sync-{self.namespace}"
            )

    @property
    def returncode(self) -> int | None:
        process = self.operator.process
        return None if process is None else process.poll()


class LoggedProcess:
    """A process under measurement: started in a session of its own (`start_logged`), its
    output appended to `log_path`, stopped with its children. A subclass names its command
    and environment (`launch`) and the log line that says it has started (`ready_line`)."""

    ready_line: str

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def launch(self) -> tuple[list[str], dict[str, str]]:
        raise NotImplementedError

    def start(self) -> int:
        command, environment = self.launch()
        self.process = start_logged(command, environment, self.log_path)
        return self.process.pid

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            stop_process_group(process)

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()


class BareProcess(LoggedProcess):
    """`bench/bare_operator.py` for one namespace and answer table; with `source`, another
    checkout's bare operator, run on that checkout's package."""

    ready_line = BARE_READY_LINE

    def __init__(
        self,
        cluster: Cluster,
        namespace: str,
        table: Path,
        log_path: Path,
        source: Path | None = None,
    ) -> None:
        super().__init__(log_path)
        self.cluster = cluster
        self.namespace = namespace
        self.table = table
        self.source = source

    def launch(self) -> tuple[list[str], dict[str, str]]:
        script = (self.source / "bench" if self.source else BENCH) / "bare_operator.py"
        command = [
            sys.executable, str(script),
            "--namespace", self.namespace,
            "--table", str(self.table),
            "--registry-name", REGISTRY_NAME,
        ]  # fmt: skip
        environment = self.cluster.env()
        if self.source is not None:
            environment["PYTHONPATH"] = str(self.source / "operator")
        return command, environment


@dataclass
class MemorySamples:
    """VmRSS samples (MiB, with monotonic times) and the last VmHWM (peak RSS) seen."""

    samples: list[tuple[float, float]] = field(default_factory=list)
    peak_mib: float = 0.0

    def steady_mib(self, since: float) -> float:
        """Median VmRSS of the samples taken after `since`."""
        values = sorted(v for t, v in self.samples if t >= since)
        return values[len(values) // 2] if values else float("nan")


def read_memory(pid: int) -> tuple[float, float] | None:
    """(VmRSS, VmHWM) of a live process in MiB, from /proc/PID/status."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = {}
    for line in text.splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, value = line.split(":", 1)
            fields[key] = int(value.split()[0]) / 1024
    if "VmRSS" not in fields:
        return None
    return fields["VmRSS"], fields.get("VmHWM", fields["VmRSS"])


async def sample_memory(pid: int, into: MemorySamples, every_s: float = 0.25) -> None:
    while True:
        found = read_memory(pid)
        if found is not None:
            into.samples.append((time.monotonic(), found[0]))
            into.peak_mib = max(into.peak_mib, found[1])
        await asyncio.sleep(every_s)


def start_logged(
    command: Sequence[str], env: Mapping[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    """`command` started in a session of its own (`stop_process_group` stops it and its
    children), its output appended to `log_path`."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(command),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            start_new_session=True,
        )


def wait_until_mutating(
    cluster: Cluster,
    namespace: str,
    run_body: Callable[[], Mapping[str, Any]],
    check: Callable[[Mapping[str, Any]], str | None],
    process: subprocess.Popen[bytes],
    log_path: Path,
    *,
    who: str,
    timeout: float,
    started: Callable[[], bool] = lambda: True,
    poll_s: float = 0.2,
) -> None:
    """Until a dry-run create of `run_body()` in `namespace` comes back as `check` wants it
    (None: no problem), once `started()`; BenchError when `process` exits or time runs out."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"{who} exited with {process.returncode}:\n" + log_tail(log_path))
        if started():
            try:
                stored = PIPELINE_RUNS.create(
                    cluster.api_client, namespace, dict(run_body()), dry_run=True
                )
            except ApiException as error:  # its webhook not registered or not answering yet
                last = str(error.body or error)[:300]
            else:
                problem = check(stored)
                if problem is None:
                    return
                last = problem
        time.sleep(poll_s)
    raise BenchError(
        f"{who} never mutated a run in {namespace} within {timeout:g} s (last: {last}); "
        f"its log:\n{log_tail(log_path)}"
    )


def stop_process_group(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM to the process's group (started with `start_new_session`), SIGKILL after
    `timeout` seconds; returns once it has exited."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout)


def log_tail(path: Path, characters: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-characters:]
    except FileNotFoundError:
        return f"({path} does not exist)"


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wait_for_line(path: Path, line: str, is_dead: Callable[[], bool]) -> float:
    """The monotonic time `line` first appears in the log at `path` (read incrementally)."""
    offset = 0
    tail = ""
    while True:
        with contextlib.suppress(FileNotFoundError):
            with path.open("r", errors="replace") as log:
                log.seek(offset)
                chunk = log.read()
                offset = log.tell()
            if line in tail + chunk:
                return time.monotonic()
            tail = (tail + chunk)[-len(line) :]
        if is_dead():
            raise BenchError(f"the operator exited before it was ready; see {path}")
        await asyncio.sleep(0.05)


# -- statistics and reports --------------------------------------------------------------


def quantile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default) of sorted values."""
    if not ordered:
        return float("nan")
    position = q * (len(ordered) - 1)
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or "unknown CPU"."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def machine_facts() -> dict[str, Any]:
    memory_kib = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    return {
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "kopf": version("kopf"),
    }


def machine_line(facts: Mapping[str, Any]) -> str:
    return (
        f"{facts['cores']} cores ({facts['cpu']}), {facts['memory_gib']} GiB, {facts['system']}, "
        f"Python {facts['python']}, Kopf {facts['kopf']}; the control plane, the registry "
        "stand-in, the operator under test and this client share the same cores"
    )


def run_lines(meta: Mapping[str, Any], facts: Mapping[str, Any], load_note: str) -> list[str]:
    """A report's command, run and load average paragraphs; `load_note` ends the last."""
    return [
        f"Command (from the repository root): `{meta['command']}`",
        "",
        f"Run: {meta['date']}, {meta['wall_s']:.0f} s wall time in all. Machine: "
        f"{machine_line(facts)}.",
        "",
        f"Load average (1 / 5 / 15 min): {load_line(meta['load_start'])} at start, "
        f"{load_line(meta['load_end'])} at end ({load_note}).",
        "",
    ]


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def load_line(values: Sequence[float]) -> str:
    """A load average (1 / 5 / 15 min) as a report shows it."""
    return " / ".join(f"{v:.2f}" for v in values)


def command_line(script: str) -> str:
    arguments = " ".join(shlex.quote(a) for a in sys.argv[1:])
    return f".venv/bin/python bench/{script} {arguments}".strip()


@contextlib.contextmanager
def timer() -> Iterator[Callable[[], float]]:
    started = time.monotonic()
    yield lambda: time.monotonic() - started


__all__ = ["free_port"]
