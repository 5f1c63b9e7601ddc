"""What `verify-run` and `publish` read from and write to the Model Registry: the version a
run names, the artifacts that version holds, and the writes a `Publication` lists.

Every failure is the client's `RegistryError` (the commands exit 2 on it); a version the
registry does not hold is an answer (None), refused by the decision.
"""

from __future__ import annotations

from collections.abc import Mapping

from registry_sync.domain.publication import (
    Publication,
    RegisteredVersion,
    StoredMetric,
    StoredRecord,
)
from registry_sync.registry.client import RegistryClient
from registry_sync.registry.errors import RegistryNotFound
from registry_sync.registry.models import MetadataStringValue, MetadataValue


async def read_version(client: RegistryClient, version_id: str) -> RegisteredVersion | None:
    """The version `version_id` with its model's name; None when the registry holds no such
    version (or the id cannot be one: a stamp set by hand)."""
    try:
        version = await client.get_model_version(version_id)
        model = await client.get_registered_model(version.registered_model_id)
    except RegistryNotFound:
        return None
    except ValueError:  # not a decimal id: no version has it
        return None
    return RegisteredVersion(version.id, version.name, model.name)


async def read_stored_artifacts(
    client: RegistryClient, version_id: str
) -> tuple[tuple[StoredMetric, ...], tuple[StoredRecord, ...]]:
    """The metric and doc artifacts `version_id` holds now, as the decision reads them."""
    metrics = await client.list_version_metrics(version_id)
    documents = await client.list_version_doc_artifacts(version_id)
    return (
        tuple(
            StoredMetric(
                id=metric.id,
                name=metric.name,
                value=metric.value,
                timestamp_ms=metric.timestamp_ms,
                run=_string(metric.custom_properties, "run"),
                run_uid=_string(metric.custom_properties, "run_uid"),
            )
            for metric in metrics
        ),
        tuple(
            StoredRecord(
                id=document.id,
                name=document.name,
                properties={
                    key: value.string_value
                    for key, value in document.custom_properties.items()
                    if isinstance(value, MetadataStringValue)
                },
            )
            for document in documents
        ),
    )


async def apply_publication(client: RegistryClient, publication: Publication) -> None:
    """Write the metrics, then the run's record: a record on the version says its run was
    published whole (a publication cut short is finished by publishing again)."""
    for metric in publication.metrics:
        await client.upsert_metric(
            publication.version_id,
            name=metric.name,
            value=metric.value,
            timestamp_ms=metric.timestamp_ms,
            # One measurement per run; the official Python client reads no metric without it.
            step=0,
            custom_properties=_strings(metric.properties),
        )
    record = publication.record
    if record is None:
        return
    if record.existing_id is None:
        await client.create_doc_artifact(
            publication.version_id,
            name=record.name,
            description=record.description,
            custom_properties=_strings(record.properties),
        )
    else:
        await client.update_doc_artifact(
            record.existing_id,
            description=record.description,
            custom_properties=_strings(record.properties),
        )


def _string(properties: Mapping[str, object], key: str) -> str | None:
    value = properties.get(key)
    return value.string_value if isinstance(value, MetadataStringValue) else None


def _strings(properties: Mapping[str, str]) -> dict[str, MetadataValue]:
    return {key: MetadataStringValue(string_value=value) for key, value in properties.items()}
