"""The registry's InferenceService records of one serving environment, read with GETs only.

The registry keeps its own record of what is deployed where: a serving environment per
namespace (same name) holding InferenceService records (same name as the deployment) that
point at a registered model and, usually, a model version. Serving environments are
filtered by name here, client-side: the real server's filtering is not relied on. Each
record says whether it is DEPLOYED (the audit skips UNDEPLOYED ones).
"""

from __future__ import annotations

from registry_sync.audit.findings import RegistryInferenceServiceRecord
from registry_sync.registry.client import RegistryClient
from registry_sync.registry.models import DesiredState


async def read_inference_service_records(
    client: RegistryClient, namespace: str
) -> tuple[RegistryInferenceServiceRecord, ...]:
    """The InferenceService records of the serving environment named `namespace`.

    Empty when the registry has no such serving environment. Raises the client's
    `RegistryError`s; a response of the wrong shape is a `RegistryProtocolError`.
    """
    environments = [
        environment
        async for page in client.serving_environment_pages()
        for environment in page.items
        if environment.name == namespace
    ]
    records: list[RegistryInferenceServiceRecord] = []
    for environment in environments:
        async for page in client.inference_service_pages(environment.id):
            records.extend(
                RegistryInferenceServiceRecord(
                    id=item.id,
                    name=item.name,
                    serving_environment_id=item.serving_environment_id,
                    registered_model_id=item.registered_model_id,
                    model_version_id=item.model_version_id or None,
                    deployed=item.desired_state is not DesiredState.UNDEPLOYED,
                )
                for item in page.items
            )
    return tuple(records)
