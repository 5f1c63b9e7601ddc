"""The registry record keeper inside the reconciler (`--registry-records on`), against an
in-memory registry that answers as the real server does (names unique per environment:
409; no model change), and Kubernetes calls that record what was written."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Mapping
from typing import Any

from registry_sync.controller.binding_book import BindingBook
from registry_sync.controller.metrics import OperatorMetrics
from registry_sync.controller.reconciler import InferenceServiceReconciler, ReconcilerConfig
from registry_sync.controller.registry_records import RegistryRecordKeeper
from registry_sync.domain.binding import GitOpsPolicy
from registry_sync.domain.metadata import LabelKeys
from registry_sync.domain.registry_record import DEPLOYMENT_UID, RecordPolicy
from registry_sync.registry.errors import RegistryConflict, RegistryUnavailable
from registry_sync.registry.models import (
    DesiredState,
    InferenceServiceRecord,
    MetadataValue,
    Page,
    ServingEnvironmentRecord,
    custom_properties_json,
)
from support.snapshot_sources import SnapshotAtHand
from unit.domain.seed import NAMESPACE, seed_inference_service, seed_snapshot

KEYS = LabelKeys()
UID = "isvc-uid"
RECORD_NAME = f"mistral-24b-quantized/{UID}"


class InMemoryRegistry:
    """The registry client calls the keeper makes, kept in dicts; `down` fails them all."""

    def __init__(self) -> None:
        self._ids = itertools.count(100)
        self.environments: dict[str, ServingEnvironmentRecord] = {}
        self.records: dict[str, dict[str, Any]] = {}
        self.down = False
        self.writes = 0

    def _check(self) -> None:
        if self.down:
            raise RegistryUnavailable("registry down", method="GET", url="/x")

    def add_environment(self, name: str = NAMESPACE) -> str:
        environment_id = str(next(self._ids))
        self.environments[name] = ServingEnvironmentRecord.model_validate(
            {"id": environment_id, "name": name, "lastUpdateTimeSinceEpoch": "1"}
        )
        return environment_id

    def add_record(self, name: str, model: str, version: str | None, **more: Any) -> str:
        if not self.environments:
            self.add_environment()
        record_id = str(next(self._ids))
        self.records[record_id] = {
            "id": record_id,
            "name": name,
            "servingEnvironmentId": self.environments[NAMESPACE].id,
            "registeredModelId": model,
            "desiredState": "DEPLOYED",
            "lastUpdateTimeSinceEpoch": "1",
            "customProperties": {},
            **({"modelVersionId": version} if version else {}),
            **more,
        }
        return record_id

    def record(self, record_id: str) -> InferenceServiceRecord:
        return InferenceServiceRecord.model_validate(self.records[record_id])

    def named(self, name: str) -> InferenceServiceRecord | None:
        found = [r for r in self.records.values() if r["name"] == name]
        return InferenceServiceRecord.model_validate(found[0]) if found else None

    async def find_serving_environment(self, name: str) -> ServingEnvironmentRecord | None:
        self._check()
        return self.environments.get(name)

    async def create_serving_environment(self, name: str) -> ServingEnvironmentRecord:
        self._check()
        self.add_environment(name)
        return self.environments[name]

    async def inference_service_pages(
        self, serving_environment_id: str, *, page_size: int | None = None
    ) -> AsyncIterator[Page[InferenceServiceRecord]]:
        self._check()
        items = [
            InferenceServiceRecord.model_validate(r)
            for r in self.records.values()
            if r["servingEnvironmentId"] == serving_environment_id
        ]
        yield Page[InferenceServiceRecord](items=items)

    async def find_inference_service_record(
        self, name: str, serving_environment_id: str
    ) -> InferenceServiceRecord | None:
        self._check()
        return self.named(name)

    async def create_inference_service_record(
        self,
        *,
        name: str,
        serving_environment_id: str,
        registered_model_id: str,
        model_version_id: str,
        custom_properties: Mapping[str, MetadataValue] | None = None,
    ) -> InferenceServiceRecord:
        self._check()
        if self.named(name) is not None:
            raise RegistryConflict("taken", method="POST", url="/x", status=409)
        self.writes += 1
        record_id = self.add_record(
            name,
            registered_model_id,
            model_version_id,
            customProperties=custom_properties_json(custom_properties or {}),
        )
        return self.record(record_id)

    async def update_inference_service_record(
        self,
        record_id: str,
        *,
        model_version_id: str | None = None,
        desired_state: DesiredState | None = None,
        custom_properties: Mapping[str, MetadataValue] | None = None,
    ) -> InferenceServiceRecord:
        self._check()
        self.writes += 1
        stored = self.records[record_id]
        if model_version_id is not None:
            stored["modelVersionId"] = model_version_id
        if desired_state is not None:
            stored["desiredState"] = desired_state.value
        if custom_properties is not None:
            stored["customProperties"] = custom_properties_json(custom_properties)
        return self.record(record_id)


class Kube:
    """Kubernetes writes that succeed; the label patches made, in order."""

    def __init__(self) -> None:
        self.label_patches: list[Mapping[str, str | None]] = []
        self.status: Mapping[str, Any] | None = None
        self.events: list[str] = []

    def patch_labels(self, resource: Any, ref: Any, labels: Any, rv: Any) -> dict[str, Any]:
        self.label_patches.append(dict(labels))
        return {}

    def create_binding(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return {"metadata": {"uid": "binding-uid"}}

    def patch_binding_status(self, ref: Any, status: Mapping[str, Any]) -> dict[str, Any]:
        self.status = status
        return {}

    def delete_binding(self, ref: Any) -> None:
        pass

    def post_event(
        self, subject: Any, type_: str, reason: str, message: str, at_ms: int | None = None
    ) -> None:
        self.events.append(reason)

    def labels(self) -> dict[str, str]:
        """The labels the patches made, as the next watch event would show them."""
        return {k: v for patch in self.label_patches for k, v in patch.items() if v is not None}

    def condition(self, kind: str) -> Mapping[str, Any]:
        assert self.status is not None
        return next(c for c in self.status["conditions"] if c["type"] == kind)


class Clock:
    def __init__(self) -> None:
        self.now = 1_767_225_660.0

    def __call__(self) -> float:
        return self.now


def operator(registry: InMemoryRegistry, clock: Clock | None = None) -> tuple[Any, Kube]:
    kube = Kube()
    clock = clock or Clock()
    keeper = RegistryRecordKeeper(registry, NAMESPACE, KEYS, RecordPolicy(), clock)  # type: ignore[arg-type]
    config = ReconcilerConfig(NAMESPACE, KEYS, None, GitOpsPolicy())
    reconciler = InferenceServiceReconciler(
        config,
        kube,  # type: ignore[arg-type]
        SnapshotAtHand(seed_snapshot()),  # type: ignore[arg-type]
        BindingBook(),
        OperatorMetrics(),
        clock,
        records=keeper,
    )
    return reconciler, kube


def deployed(**labels: str) -> dict[str, Any]:
    body = seed_inference_service()
    body["metadata"].update(uid=UID, resourceVersion="1", generation=1)
    body["metadata"]["labels"] = {**body["metadata"].get("labels", {}), **labels}
    return body


async def test_a_missing_record_is_created_on_the_version_and_the_label_points_at_it() -> None:
    registry = InMemoryRegistry()
    reconciler, kube = operator(registry)

    await reconciler.on_inference_service("ADDED", deployed())

    record = registry.named(RECORD_NAME)
    assert record is not None
    assert (record.registered_model_id, record.model_version_id) == ("4", "5")
    assert kube.label_patches[-1][KEYS.inference_service_id] == record.id
    assert kube.condition("RegistryRecordInSync")["status"] == "True"
    assert "RegistryRecordCorrected" in kube.events


async def test_a_record_of_the_same_model_on_another_version_is_repointed() -> None:
    registry = InMemoryRegistry()
    record_id = registry.add_record(RECORD_NAME, "4", "6")
    reconciler, _ = operator(registry)

    await reconciler.on_inference_service(
        "ADDED", deployed(**{KEYS.inference_service_id: record_id})
    )

    record = registry.record(record_id)
    assert record.model_version_id == "5"
    assert record.custom_properties[DEPLOYMENT_UID].value == UID  # type: ignore[union-attr]
    assert len(registry.records) == 1


async def test_a_record_of_another_model_is_undeployed_replaced_and_the_label_moved() -> None:
    registry = InMemoryRegistry()
    old = registry.add_record(RECORD_NAME, "8", "9")
    reconciler, kube = operator(registry)

    await reconciler.on_inference_service("ADDED", deployed(**{KEYS.inference_service_id: old}))

    assert registry.record(old).desired_state is DesiredState.UNDEPLOYED
    new = registry.named(f"{RECORD_NAME}/model-4")
    assert new is not None and new.model_version_id == "5"
    assert kube.label_patches[-1][KEYS.inference_service_id] == new.id


async def test_a_deleted_deployment_has_its_record_undeployed() -> None:
    registry = InMemoryRegistry()
    reconciler, _ = operator(registry)
    await reconciler.on_inference_service("ADDED", deployed())

    await reconciler.on_inference_service("DELETED", deployed())

    record = registry.named(RECORD_NAME)
    assert record is not None and record.desired_state is DesiredState.UNDEPLOYED


async def test_an_opted_out_deployment_keeps_its_record() -> None:
    registry = InMemoryRegistry()
    reconciler, _ = operator(registry)
    await reconciler.on_inference_service("ADDED", deployed())
    body = deployed()
    body["metadata"]["annotations"].pop("registry-sync.io/enabled")

    await reconciler.on_inference_service("MODIFIED", body)

    record = registry.named(RECORD_NAME)
    assert record is not None and record.desired_state is DesiredState.DEPLOYED


async def test_the_sweep_undeploys_only_records_of_deployments_gone() -> None:
    registry = InMemoryRegistry()
    gone = registry.add_record("gone/g", "4", "5")
    registry.records[gone]["customProperties"][DEPLOYMENT_UID] = {
        "metadataType": "MetadataStringValue",
        "string_value": "gone-uid",
    }
    alive = registry.add_record("alive/a", "4", "5")
    registry.records[alive]["customProperties"][DEPLOYMENT_UID] = {
        "metadataType": "MetadataStringValue",
        "string_value": "alive-uid",
    }
    upstream = registry.add_record("other/o", "4", "5")
    keeper = RegistryRecordKeeper(registry, NAMESPACE, KEYS, RecordPolicy())  # type: ignore[arg-type]
    await keeper.refresh()

    await keeper.sweep(["alive-uid"])

    states = {rid: registry.record(rid).desired_state for rid in (gone, alive, upstream)}
    assert states == {
        gone: DesiredState.UNDEPLOYED,
        alive: DesiredState.DEPLOYED,
        upstream: DesiredState.DEPLOYED,
    }


async def test_a_registry_failure_becomes_the_condition_and_the_binding_stays_ready() -> None:
    registry = InMemoryRegistry()
    reconciler, kube = operator(registry)
    await reconciler.on_inference_service("ADDED", deployed())
    record = registry.named(RECORD_NAME)
    assert record is not None and reconciler._records is not None
    registry.records[record.id]["modelVersionId"] = "6"  # someone changes it back
    await reconciler._records.refresh()
    registry.down = True

    await reconciler.on_registry_refresh()

    assert kube.condition("RegistryRecordInSync")["reason"] == "RegistryRecordFailed"
    assert kube.condition("Ready")["status"] == "True"


async def test_a_record_changed_back_repeatedly_is_reported_and_left_alone() -> None:
    registry = InMemoryRegistry()
    clock = Clock()
    reconciler, kube = operator(registry, clock)
    await reconciler.on_inference_service("ADDED", deployed())
    await reconciler.on_inference_service("MODIFIED", deployed(**kube.labels()))
    record = registry.named(RECORD_NAME)
    assert record is not None
    keeper = reconciler._records
    assert keeper is not None

    for _ in range(3):
        registry.records[record.id]["modelVersionId"] = "6"  # another writer
        clock.now += 10
        await keeper.refresh()
        await reconciler.on_registry_refresh()

    assert registry.record(record.id).model_version_id == "6"
    assert kube.condition("RegistryRecordInSync")["reason"] == "RegistryRecordConflict"
    assert kube.condition("Ready")["status"] == "True"


async def test_audit_mode_writes_no_record() -> None:
    registry = InMemoryRegistry()
    registry.add_record(RECORD_NAME, "4", "6")
    reconciler, kube = operator(registry)
    body = deployed()
    body["metadata"]["annotations"]["registry-sync.io/mode"] = "audit"

    await reconciler.on_inference_service("ADDED", body)

    assert registry.writes == 0
    assert kube.condition("RegistryRecordInSync")["reason"] == "AuditMode"
