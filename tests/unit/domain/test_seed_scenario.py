"""The incident of DESIGN.md, end to end through the domain core.

The deployed image is model 4 / version 5; the labels said version 9, and the test run
published to model 8 / version 10. The core must find model 4 / version 5, the vLLM name,
and correct the run's params, recording what they were.
"""

from __future__ import annotations

from registry_sync.domain.answer import Outcome
from registry_sync.domain.inference_service import StorageUri, read_deployed_model
from registry_sync.domain.params import ModelNames, ParamChange, plan_params
from registry_sync.domain.reference_index import ReferenceIndex
from registry_sync.domain.references import parse_storage_uri
from registry_sync.domain.resolution import resolve
from unit.domain.seed import (
    DEPLOYED_URI,
    seed_inference_service,
    seed_pipeline_run_params,
    seed_snapshot,
)


def test_the_deployed_uri_is_read_from_the_inference_service() -> None:
    deployed = read_deployed_model(seed_inference_service())
    assert deployed.storage == StorageUri(DEPLOYED_URI, "spec.predictor.model.storageUri")


def test_vllm_serves_it_under_the_inference_service_name() -> None:
    assert read_deployed_model(seed_inference_service()).served_name.name == "mistral-24b-quantized"


def test_the_deployed_uri_resolves_to_model_4_version_5() -> None:
    answer = resolve(DEPLOYED_URI, seed_snapshot(), snapshot_current=True, now_ms=0)
    assert answer.outcome is Outcome.RESOLVED
    assert (answer.registered_model_id, answer.registered_model_name) == (
        "4",
        "Mistral-Small-24B-Instruct",
    )
    assert (answer.model_version_id, answer.model_version_name) == ("5", "quantized-w4a16-2501")


def test_the_look_alike_versions_of_model_8_are_not_candidates() -> None:
    index = ReferenceIndex.from_snapshot(seed_snapshot())
    found = index.matching(parse_storage_uri(DEPLOYED_URI))
    assert [entry.version.name for entry in found] == ["quantized-w4a16-2501"]


def test_the_unrelated_model_is_not_a_candidate() -> None:
    index = ReferenceIndex.from_snapshot(seed_snapshot())
    assert all(
        entry.model.name != "Comparison-Test"
        for entry in index.matching(parse_storage_uri(DEPLOYED_URI))
    )
    assert index.skipped == ()


def test_pinning_the_label_version_9_is_a_mismatch() -> None:
    answer = resolve(DEPLOYED_URI, seed_snapshot(), snapshot_current=True, now_ms=0, pin="9")
    assert answer.outcome is Outcome.PIN_MISMATCH
    assert "model Mistral-24B-Instruct version quantized-optimized-test" in answer.message


def test_the_run_params_are_corrected_with_both_originals_recorded() -> None:
    deployed = read_deployed_model(seed_inference_service())
    answer = resolve(deployed.storage, seed_snapshot(), snapshot_current=True, now_ms=0)
    assert deployed.served_name.name is not None
    assert answer.registered_model_name is not None
    assert answer.model_version_name is not None
    plan = plan_params(
        seed_pipeline_run_params(),
        ModelNames(
            served_name=deployed.served_name.name,
            model_name=answer.registered_model_name,
            version_name=answer.model_version_name,
        ),
    )
    assert plan.params == [
        {"name": "inference_service_name", "value": "mistral-24b-quantized"},
        {"name": "model_name", "value": "Mistral-Small-24B-Instruct"},
        {"name": "version_name", "value": "quantized-w4a16-2501"},
        {"name": "benchmark_profile", "value": "sweep"},
        {"name": "vllm_model_name", "value": "mistral-24b-quantized"},
    ]
    assert plan.changes == (
        ParamChange("vllm_model_name", None, "mistral-24b-quantized"),
        ParamChange("model_name", "Mistral-24B-Instruct", "Mistral-Small-24B-Instruct"),
        ParamChange("version_name", "24b-w4a16-1gpu", "quantized-w4a16-2501"),
    )
