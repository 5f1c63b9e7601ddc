"""Small registries for tests: one line per model version."""

from __future__ import annotations

from dataclasses import dataclass

from registry_sync.domain.snapshot import (
    ModelArtifact,
    ModelVersion,
    RegisteredModel,
    RegistrySnapshot,
    State,
)


@dataclass(frozen=True)
class Version:
    """A model version with its model and artifact URIs (artifact ids are assigned in order)."""

    model_id: str
    model_name: str
    version_id: str
    version_name: str
    uris: tuple[str, ...]
    version_state: State = State.LIVE
    model_state: State = State.LIVE
    artifact_state: State | None = None


def registry_of(*versions: Version, taken_at_ms: int = 1_000_000) -> RegistrySnapshot:
    """A snapshot holding these versions, their models and their artifacts."""
    models: dict[str, RegisteredModel] = {}
    model_versions: dict[str, ModelVersion] = {}
    artifacts: list[ModelArtifact] = []
    for version in versions:
        models[version.model_id] = RegisteredModel(
            id=version.model_id, name=version.model_name, state=version.model_state
        )
        model_versions[version.version_id] = ModelVersion(
            id=version.version_id,
            name=version.version_name,
            registered_model_id=version.model_id,
            state=version.version_state,
        )
        for uri in version.uris:
            artifacts.append(
                ModelArtifact(
                    id=str(len(artifacts) + 1),
                    name=f"artifact-{len(artifacts) + 1}",
                    uri=uri,
                    model_version_id=version.version_id,
                    state=version.artifact_state,
                )
            )
    return RegistrySnapshot(
        models=models, versions=model_versions, artifacts=tuple(artifacts), taken_at_ms=taken_at_ms
    )
