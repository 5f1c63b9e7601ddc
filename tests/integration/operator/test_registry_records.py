"""The registry's InferenceService records (`--registry-records on`), on the real apiserver
and the registry stand-in: repointed within their model, replaced across models with the
`<prefix>/inference-service-id` label moved, undeployed when their InferenceService is
deleted, even while the operator was down; and nothing written with the setting off."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from kubernetes.client.exceptions import ApiException

from registry_sync.demo.seed import ISVC_NAME, SeedIds, seed_inference_service
from registry_sync.registry.client import RegistryClient
from registry_sync.registry.models import DesiredState, InferenceServiceRecord
from support.bindings import binding_or_none, condition, wait_for_ready
from support.cluster import Cluster
from support.cluster_objects import INFERENCE_SERVICES
from support.devregistry import RunningRegistry
from support.operator import RunningOperator, start_operator

pytestmark = pytest.mark.cluster

RECORD_ID = "modelregistry.opendatahub.io/inference-service-id"
RECORDS_ON = ["--registry-records", "on", "--refresh-seconds", "1"]
T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T | None]], description: str) -> T:
    """`probe()` once it returns something truthy (polled every 0.2 s, for 30 s)."""
    deadline = time.monotonic() + 30.0
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"{description} not true within 30 s (last: {last!r})")


@pytest.fixture
def records_operator(
    kube: Cluster, namespace: str, dev_registry: RunningRegistry, tmp_path: Path
) -> Iterator[RunningOperator]:
    """The operator with `--registry-records on`, not started yet."""
    with start_operator(
        kube, namespace, dev_registry.url, tmp_path / "operator.log", extra_args=RECORDS_ON,
        wait=False,
    ) as running:  # fmt: skip
        running.stop()  # `wait=False` launched it: tests start it when their scene is set
        yield running


def create_isvc(kube: Cluster, namespace: str, seed: SeedIds, **labels: str) -> str:
    """The seed InferenceService (its wrong labels, plus `labels`); its uid."""
    body = seed_inference_service(namespace, seed)
    body["metadata"]["labels"].update(labels)
    created = INFERENCE_SERVICES.create(kube.api_client, namespace, body)
    return str(created["metadata"]["uid"])


def isvc_labels(kube: Cluster, namespace: str) -> dict[str, str]:
    found = INFERENCE_SERVICES.get(kube.api_client, namespace, ISVC_NAME)
    return dict(found["metadata"].get("labels", {}))


def isvc_gone(kube: Cluster, namespace: str) -> bool:
    try:
        INFERENCE_SERVICES.get(kube.api_client, namespace, ISVC_NAME)
    except ApiException as error:
        if error.status == 404:
            return True
        raise
    return False


async def environment_of(client: RegistryClient, namespace: str) -> str:
    environment = await client.find_serving_environment(namespace)
    if environment is None:
        environment = await client.create_serving_environment(namespace)
    return environment.id


async def record_named(
    client: RegistryClient, namespace: str, name: str
) -> InferenceServiceRecord | None:
    environment = await client.find_serving_environment(namespace)
    if environment is None:
        return None
    return await client.find_inference_service_record(name, environment.id)


async def test_a_record_of_the_same_model_on_another_version_is_repointed(
    kube: Cluster,
    namespace: str,
    seed: SeedIds,
    registry_client: RegistryClient,
    records_operator: RunningOperator,
) -> None:
    older = await registry_client.create_model_version(seed.small_model, "older")
    uid = create_isvc(kube, namespace, seed)
    # What the Model Registry's own controller made, and the label it wrote back.
    stale = await registry_client.create_inference_service_record(
        name=f"{ISVC_NAME}/{uid}",
        serving_environment_id=await environment_of(registry_client, namespace),
        registered_model_id=seed.small_model,
        model_version_id=older.id,
    )
    INFERENCE_SERVICES.merge_patch(
        kube.api_client, namespace, ISVC_NAME, {"metadata": {"labels": {RECORD_ID: stale.id}}}
    )

    records_operator.start()

    async def repointed() -> InferenceServiceRecord | None:
        found = await registry_client.get_inference_service_record(stale.id)
        return found if found.model_version_id == seed.small_version else None

    await eventually(repointed, "the record points at the deployed version")
    binding = wait_for_ready(kube, namespace, "True", "Resolved")
    assert isvc_labels(kube, namespace)[RECORD_ID] == stale.id
    in_sync = kube.wait_for(
        lambda: condition(binding_or_none(kube.api_client, namespace, ISVC_NAME),
                          "RegistryRecordInSync"),
        description="RegistryRecordInSync written",
    )  # fmt: skip
    assert in_sync["status"] == "True", binding


async def test_a_record_of_another_model_is_undeployed_and_replaced_and_the_label_moved(
    kube: Cluster,
    namespace: str,
    seed: SeedIds,
    registry_client: RegistryClient,
    records_operator: RunningOperator,
) -> None:
    uid = create_isvc(kube, namespace, seed)
    # The upstream controller followed the wrong labels: model 8, version 9.
    wrong = await registry_client.create_inference_service_record(
        name=f"{ISVC_NAME}/{uid}",
        serving_environment_id=await environment_of(registry_client, namespace),
        registered_model_id=seed.mistral_model,
        model_version_id=seed.optimized_version,
    )
    INFERENCE_SERVICES.merge_patch(
        kube.api_client, namespace, ISVC_NAME, {"metadata": {"labels": {RECORD_ID: wrong.id}}}
    )

    records_operator.start()

    replacement_name = f"{ISVC_NAME}/{uid}/model-{seed.small_model}"
    replacement = await eventually(
        lambda: record_named(registry_client, namespace, replacement_name),
        "the replacement record",
    )
    assert (replacement.registered_model_id, replacement.model_version_id) == (
        seed.small_model,
        seed.small_version,
    )
    assert replacement.desired_state is DesiredState.DEPLOYED
    old = await registry_client.get_inference_service_record(wrong.id)
    assert old.desired_state is DesiredState.UNDEPLOYED
    kube.wait_for(
        lambda: isvc_labels(kube, namespace).get(RECORD_ID) == replacement.id,
        description="the label names the replacement",
    )


async def test_a_deleted_inference_service_has_its_record_undeployed(
    kube: Cluster,
    namespace: str,
    seed: SeedIds,
    registry_client: RegistryClient,
    records_operator: RunningOperator,
) -> None:
    records_operator.start()
    uid = create_isvc(kube, namespace, seed)
    created = await eventually(
        lambda: record_named(registry_client, namespace, f"{ISVC_NAME}/{uid}"), "a record"
    )
    assert created.model_version_id == seed.small_version

    INFERENCE_SERVICES.delete(kube.api_client, namespace, ISVC_NAME)

    async def undeployed() -> bool:
        found = await registry_client.get_inference_service_record(created.id)
        return found.desired_state is DesiredState.UNDEPLOYED

    await eventually(undeployed, "the record marked UNDEPLOYED")


async def test_a_deletion_missed_while_the_operator_was_down_is_caught_up_at_start(
    kube: Cluster,
    namespace: str,
    seed: SeedIds,
    registry_client: RegistryClient,
    records_operator: RunningOperator,
) -> None:
    records_operator.start()
    uid = create_isvc(kube, namespace, seed)
    created = await eventually(
        lambda: record_named(registry_client, namespace, f"{ISVC_NAME}/{uid}"), "a record"
    )
    records_operator.stop()
    INFERENCE_SERVICES.delete(kube.api_client, namespace, ISVC_NAME)
    kube.wait_for(lambda: isvc_gone(kube, namespace), description="the InferenceService gone")
    still = await registry_client.get_inference_service_record(created.id)
    assert still.desired_state is DesiredState.DEPLOYED

    records_operator.start()

    async def undeployed() -> bool:
        found = await registry_client.get_inference_service_record(created.id)
        return found.desired_state is DesiredState.UNDEPLOYED

    await eventually(undeployed, "the record marked UNDEPLOYED after the restart")


async def test_with_the_setting_off_no_record_is_written(
    kube: Cluster,
    namespace: str,
    seed: SeedIds,
    registry_client: RegistryClient,
    operator: RunningOperator,
) -> None:
    create_isvc(kube, namespace, seed)

    binding = wait_for_ready(kube, namespace, "True", "Resolved")

    assert await registry_client.find_serving_environment(namespace) is None
    assert condition(binding, "RegistryRecordInSync") is None
    assert RECORD_ID not in isvc_labels(kube, namespace)
