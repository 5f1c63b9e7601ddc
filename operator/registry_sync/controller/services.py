"""Everything the handlers use, built once at start-up and closed at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from registry_sync.controller.binding_book import BindingBook
from registry_sync.controller.event_queue import EventQueue
from registry_sync.controller.kube_calls import KubeCallError, KubeObjects, load_api_client
from registry_sync.controller.leadership import Leadership, default_identity
from registry_sync.controller.metrics import OperatorMetrics
from registry_sync.controller.pipeline_run_admission import PipelineRunAdmission
from registry_sync.controller.pipeline_run_guard import PipelineRunGuard
from registry_sync.controller.pod_book import PodBook
from registry_sync.controller.reconciler import (
    InferenceServiceReconciler,
    ReconcilerConfig,
    RunningPods,
)
from registry_sync.controller.registered_digests import ArtifactDigests
from registry_sync.controller.registry_records import RegistryRecordKeeper
from registry_sync.controller.served_name_probe import ServedNameProbe
from registry_sync.controller.settings import OperatorSettings, RegistryRecords
from registry_sync.domain.binding import GitOpsPolicy
from registry_sync.domain.digest_check import DigestCheck, DigestReason
from registry_sync.domain.lease import LeaseTimings
from registry_sync.domain.metadata import LabelKeys, llm_inference_services
from registry_sync.domain.params import ParamNames
from registry_sync.domain.reference_index import RegistryOwners
from registry_sync.domain.registry_record import RecordPolicy
from registry_sync.domain.running_image import INFERENCE_SERVICE_POD_LABEL
from registry_sync.domain.safe_names import NamePolicy
from registry_sync.domain.served_names import ServedNameCheck
from registry_sync.registry.client import RegistryClient
from registry_sync.registry.errors import RegistryError
from registry_sync.registry.snapshot_source import RegistrySnapshotSource

log = logging.getLogger(__name__)

STALE_AFTER_REFRESHES = 3
STARTUP_DIGEST_WAIT_S = 1.0


@dataclass
class Services:
    settings: OperatorSettings
    namespace: str
    registry_client: RegistryClient
    source: RegistrySnapshotSource
    book: BindingBook
    metrics: OperatorMetrics
    reconciler: InferenceServiceReconciler
    admission: PipelineRunAdmission
    guard: PipelineRunGuard
    leadership: Leadership
    digests: ArtifactDigests | None = None
    served_names: ServedNameProbe | None = None
    refresher: asyncio.Task[None] | None = None
    lookups: asyncio.Task[None] | None = None  # the round of digest lookups under way
    records: RegistryRecordKeeper | None = None  # --registry-records on
    sweep: asyncio.Task[None] | None = None  # records of deployments deleted while down
    leading: asyncio.Task[None] | None = None  # the Lease loop
    events: EventQueue | None = None
    posting: asyncio.Task[None] | None = None  # the task posting the queued Events

    async def close(self) -> None:
        await self.stop_writing()
        for task in (self.refresher, self.lookups, self.sweep, self.posting):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.registry_client.aclose()
        if self.digests is not None:
            await self.digests.aclose()
        if self.served_names is not None:
            await self.served_names.aclose()

    async def stop_writing(self) -> None:
        """Stop the Lease loop, post the Events queued (briefly) and hand the Lease over
        (writes in flight finish first)."""
        if self.leading is not None:
            self.leading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.leading
            self.leading = None
        if self.events is not None:
            await self.events.drain()
        await self.leadership.release()

    async def refresh_digests(self) -> None:
        """Look up the digests due after a registry refresh (nothing when the check is off)."""
        if self.digests is not None:
            await self.digests.refresh(self.reconciler.registry_index())


async def start_services(
    settings: OperatorSettings,
    namespace: str,
    *,
    watch_pods: bool = False,
    llmisvc_version: str | None = None,
) -> Services:
    """Build the services, read the registry once (and the digests its artifacts name) and
    the existing bindings and model pods, start refreshing. `llmisvc_version`: the
    LLMInferenceService version watched (None: not watched)."""
    metrics = OperatorMetrics()
    client = RegistryClient(
        settings.registry_url,
        token_file=settings.token_file,
        token_audience=settings.token_audience,
        ca_file=settings.ca_file,
        observers=(metrics.observe_registry_request,),
    )
    source = RegistrySnapshotSource(
        client,
        refresh_timeout_s=settings.refresh_timeout_seconds,
        stall_timeout_s=settings.registry_stall_seconds,
        max_age_s=snapshot_max_age_s(settings),
    )
    book = BindingBook()
    api_client = await asyncio.to_thread(load_api_client)
    leadership = Leadership(
        api_client,
        namespace,
        settings.leader_identity or default_identity(),
        LeaseTimings.for_duration(settings.lease_duration_seconds),
    )
    # One look at the Lease before anything is decided: a replica alone (or restarted under
    # its own name) writes from its first event on.
    await leadership.step()
    kube = KubeObjects(api_client, gate=leadership)
    events = EventQueue(kube)
    checking = settings.digest_check is not DigestCheck.OFF
    digests = ArtifactDigests.from_settings(settings, kube, namespace) if checking else None
    served_names = (
        ServedNameProbe(
            ca_file=settings.predictor_ca_file, token_file=settings.predictor_token_file
        )
        if settings.served_name_check is not ServedNameCheck.OFF
        else None
    )
    pods = await _running_pods(kube, namespace, watch_pods, checking)
    records = (
        RegistryRecordKeeper(
            client,
            namespace,
            LabelKeys(settings.label_prefix),
            RecordPolicy(
                max_corrections=settings.gitops_max_corrections,
                window_ms=int(settings.gitops_window_seconds * 1000),
            ),
            gate=leadership,
        )
        if settings.registry_records is RegistryRecords.ON
        else None
    )
    reconciler = InferenceServiceReconciler(
        ReconcilerConfig(
            namespace=namespace,
            keys=LabelKeys(settings.label_prefix),
            registry_name=settings.registry_name,
            gitops=GitOpsPolicy(
                max_corrections=settings.gitops_max_corrections,
                window_ms=int(settings.gitops_window_seconds * 1000),
            ),
            names=NamePolicy(settings.allowed_name_pattern),
            owners=RegistryOwners.parse(settings.registry_owners),
            digest_check=settings.digest_check,
            served_name_check=settings.served_name_check,
            llm_inference_services=(
                llm_inference_services(llmisvc_version) if llmisvc_version else None
            ),
        ),
        kube,
        source,
        book,
        metrics,
        pods=pods,
        digests=digests,
        served_names=served_names,
        records=records,
        gate=leadership,
        events=events,
    )
    metrics.watch_bindings(lambda: [entry.ready_reason for entry in book])
    metrics.watch_checks(lambda: [reason for entry in book for reason in entry.check_reasons])
    metrics.watch_snapshot_age(source.age_s)
    metrics.watch_leader(leadership.may_write)
    if settings.metrics_port:
        metrics.serve(settings.metrics_port, settings.metrics_host)
    admission = PipelineRunAdmission(book, ParamNames.parse(settings.param_names), metrics)
    guard = PipelineRunGuard(admission, kube, book, gate=leadership)
    services = Services(
        settings,
        namespace,
        client,
        source,
        book,
        metrics,
        reconciler,
        admission,
        guard,
        leadership,
        digests,
        served_names,
        records=records,
        events=events,
        posting=asyncio.create_task(events.run_forever(), name="events"),
    )
    leadership.when_gained(reconciler.on_take_over)
    leadership.when_gained(guard.catch_up)
    try:
        await source.refresh()
    except RegistryError as error:
        log.warning("registry not reachable at start-up; bindings wait for it: %s", error)
    if records is not None:
        await records.refresh()
        keeper = records

        async def sweep_as_the_writer() -> None:
            # Whichever replica becomes the writer (at start or at a take-over) marks the
            # records of deployments deleted while no writer watched.
            services.sweep = asyncio.create_task(
                _sweep_records(keeper, kube, namespace), name="registry-records-sweep"
            )

        leadership.when_gained(sweep_as_the_writer)
        if leadership.may_write():  # the writer already, from the first look at the Lease
            await sweep_as_the_writer()
    # The first digest lookups run beside the rest of the start-up; the first decisions wait
    # for them only briefly (a binding says "not looked up yet" meanwhile, quietly), and are
    # made again as soon as they are done.
    first_lookups = asyncio.create_task(_look_up_digests(services), name="digest-lookups")
    services.lookups = first_lookups
    await reconciler.load_existing_bindings()
    # Every mode: /readyz waits for the InferenceServices present at start (the no-webhook
    # guard waits for them too).
    await reconciler.expect_existing_inference_services()
    done, _ = await asyncio.wait({first_lookups}, timeout=STARTUP_DIGEST_WAIT_S)
    if not done:
        log.info("image digests still being looked up after %gs", STARTUP_DIGEST_WAIT_S)
    services.refresher = asyncio.create_task(
        refresh_forever(services, first_lookups), name="registry-refresh"
    )
    services.leading = asyncio.create_task(_lead_forever(leadership), name="leadership")
    return services


async def _lead_forever(leadership: Leadership) -> None:
    await asyncio.sleep(leadership.timings.renew_s if leadership.may_write() else 0)
    await leadership.run_forever()


async def refresh_forever(services: Services, lookups: asyncio.Task[None] | None = None) -> None:
    """The one registry refresher: its cost does not grow with the number of objects.

    Digest lookups run beside it, one round at a time (`lookups`: the round still running,
    the first one at start): a slow or unreachable OCI registry never delays the Model
    Registry's refresh. A round that ends has the bindings decided again."""
    interval = services.settings.refresh_seconds
    while True:
        await asyncio.sleep(interval)
        try:
            await services.source.refresh()
        except RegistryError as error:
            log.warning("registry refresh failed, answering from data %s old: %s",
                        _age(services.source.age_s()), error)  # fmt: skip
        except Exception:  # the source turns failures into RegistryError: the last line
            log.exception("registry refresh failed unexpectedly")
        if services.records is not None:
            try:
                await services.records.refresh()  # a registry error is kept as the standing
            except Exception:
                log.exception("reading the registry's InferenceService records failed")
        if services.digests is not None and (lookups is None or lookups.done()):
            lookups = asyncio.create_task(_look_up_digests(services), name="digest-lookups")
            services.lookups = lookups
        try:
            await services.reconciler.on_registry_refresh()
        except Exception:  # one bad object must not stop the refresher
            log.exception("re-resolving after a registry refresh failed")


async def _sweep_records(records: RegistryRecordKeeper, kube: KubeObjects, namespace: str) -> None:
    """At start: mark UNDEPLOYED the registry records of InferenceServices deleted while no
    operator watched. The InferenceServices are listed after the records were read."""
    try:
        items = await asyncio.to_thread(kube.list_inference_service_metadata, namespace)
    except KubeCallError as error:
        log.warning("%s; registry records of deleted deployments are left for now", error)
        return
    uids = [
        item["metadata"].get("uid", "") for item in items if isinstance(item.get("metadata"), dict)
    ]
    try:
        await records.sweep(uids)
    except Exception:  # best effort: never stop the operator
        log.exception("marking registry records of deleted deployments failed unexpectedly")


async def _look_up_digests(services: Services) -> None:
    """One round of digest lookups, then the bindings whose digest news changed anything."""
    try:
        await services.refresh_digests()
        await services.reconciler.on_registry_refresh()
    except Exception:  # lookups return failures as values: the last line
        log.exception("looking up image digests failed unexpectedly")


async def _running_pods(
    kube: KubeObjects, namespace: str, watch_pods: bool, checking: bool
) -> RunningPods:
    """Where what runs is read: the pod book, filled by one LIST now and the watch later;
    or why pods cannot be read."""
    if not checking:
        return RunningPods()
    if not watch_pods:
        return RunningPods(
            problem=(
                DigestReason.FORBIDDEN,
                "the operator's Role does not allow list and watch on pods in this namespace",
            )
        )
    book = PodBook()

    def fill() -> None:  # in a thread, before any handler runs: nothing else reads the book
        for page in kube.model_pod_pages(namespace, INFERENCE_SERVICE_POD_LABEL):
            book.fill(page)

    try:
        await asyncio.to_thread(fill)
    except KubeCallError as error:
        log.warning("%s; model pods are learned from the watch", error)
    return RunningPods(book)


def snapshot_max_age_s(settings: OperatorSettings) -> float:
    """How old registry data may be and still be current: a few refresh periods, and the
    time one refresh may take. Older, it is answered from as `RegistryUnavailable`."""
    return STALE_AFTER_REFRESHES * settings.refresh_seconds + settings.refresh_timeout_seconds


def _age(seconds: float | None) -> str:
    return "unknown" if seconds is None else f"{seconds:.0f}s"
