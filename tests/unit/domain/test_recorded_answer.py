"""Reading back the answer a ModelBinding status records (what a restarted operator knows).

Specification: DESIGN.md, "Resolution", `RegistryUnavailable`: keep the last known answer.
A restarted operator has nothing in memory; the answer it wrote into the ModelBinding's
status is the last known one. Statuses here are the ones `decide_binding` writes.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_sync.domain.answer import Outcome, Resolution
from registry_sync.domain.binding import CorrectionHistory, GitOpsPolicy, decide_binding
from registry_sync.domain.inference_service import read_inference_service
from registry_sync.domain.metadata import LabelKeys
from registry_sync.domain.model_binding import recorded_answer
from registry_sync.domain.resolution import resolve
from registry_sync.domain.snapshot import RegistrySnapshot
from unit.domain.seed import SNAPSHOT_TAKEN_AT_MS, seed_inference_service, seed_snapshot
from unit.domain.strategies import JSON_SCALARS, json_values

NOW_MS = SNAPSHOT_TAKEN_AT_MS + 60_000
KEYS = LabelKeys()
FACTS = read_inference_service(seed_inference_service(), KEYS)


def written_status(registry: RegistrySnapshot | None, previous: Resolution | None = None) -> Any:
    """The status the operator writes for the seed InferenceService against `registry`."""
    resolution = resolve(
        FACTS.deployed.storage,
        registry,
        snapshot_current=registry is not None,
        now_ms=NOW_MS,
        previous=previous,
    )
    decision = decide_binding(
        FACTS,
        resolution,
        keys=KEYS,
        registry_name="demo-registry",
        history=CorrectionHistory(),
        policy=GitOpsPolicy(),
        previous_status=None,
        now_ms=NOW_MS,
    )
    return copy.deepcopy(dict(decision.status))


def outage_after_restart(status: Mapping[str, Any] | None) -> Resolution:
    """What a restarted operator resolves while the registry cannot be reached."""
    return resolve(
        FACTS.deployed.storage,
        None,
        snapshot_current=False,
        now_ms=NOW_MS + 3_600_000,
        previous=recorded_answer(status),
    )


def test_a_resolved_status_is_kept_through_an_outage_after_a_restart() -> None:
    status = written_status(seed_snapshot())

    kept = outage_after_restart(status)

    assert kept.outcome is Outcome.REGISTRY_UNAVAILABLE
    assert kept.has_answer
    assert (kept.registered_model_id, kept.model_version_id) == ("4", "5")
    assert (kept.registered_model_name, kept.model_version_name) == (
        "Mistral-Small-24B-Instruct",
        "quantized-w4a16-2501",
    )
    assert kept.snapshot_taken_at_ms == SNAPSHOT_TAKEN_AT_MS  # its age stays honest
    assert "1h" in kept.message


def test_an_answer_kept_once_is_kept_again_after_another_restart() -> None:
    status = written_status(None, previous=recorded_answer(written_status(seed_snapshot())))

    kept = outage_after_restart(status)

    assert kept.has_answer and kept.model_version_id == "5"
    assert kept.snapshot_taken_at_ms == SNAPSHOT_TAKEN_AT_MS


def test_an_answer_for_another_storage_uri_is_not_kept() -> None:
    status = written_status(seed_snapshot())
    status["storageUri"] = "oci://quay.io/adrina/private-ai:mistral-quantized-optimized-test"

    assert not outage_after_restart(status).has_answer


@pytest.mark.parametrize(
    "change",
    [
        {"outcome": "NotRegistered"},
        {"outcome": "Ambiguous"},
        {"outcome": "SomethingNew"},
        {"modelVersionId": None},
        {"registeredModelName": ""},
        {"storageUri": "not a uri"},
        {"storageUri": None},
    ],
    ids=lambda change: ",".join(f"{k}={v}" for k, v in change.items()),
)
def test_a_status_that_names_no_whole_answer_gives_none(change: dict[str, Any]) -> None:
    status = {**written_status(seed_snapshot()), **change}

    assert recorded_answer(status) is None
    assert not outage_after_restart(status).has_answer


def test_a_status_of_a_registry_never_reached_gives_none() -> None:
    assert recorded_answer(written_status(None)) is None


STATUS = written_status(seed_snapshot())


@given(json_values())
def test_anything_gives_none_or_a_whole_answer_and_never_raises(status: object) -> None:
    answer = recorded_answer(status)

    assert answer is None or answer.has_answer


# Shallow values: what matters is which fields are damaged, not how deep the damage goes.
DAMAGE = st.one_of(JSON_SCALARS, st.lists(JSON_SCALARS, max_size=2))


@given(st.dictionaries(st.sampled_from(sorted(STATUS)), DAMAGE, max_size=4))
def test_a_damaged_status_gives_none_or_a_whole_answer_and_never_raises(
    damage: dict[str, Any],
) -> None:
    answer = recorded_answer({**STATUS, **damage})

    assert answer is None or answer.has_answer
