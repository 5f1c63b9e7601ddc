"""The registry's InferenceService record of a deployment: found as the Model Registry's
own controller finds it, repointed within its model, replaced across models, never
fought over, and undeployed only when its deployment is gone."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_sync.domain.inference_service import read_inference_service
from registry_sync.domain.metadata import LabelKeys
from registry_sync.domain.reconcile import (
    BindingRules,
    Decided,
    Known,
    RegistryView,
    reconcile_step,
)
from registry_sync.domain.reference_index import ReferenceIndex
from registry_sync.domain.registry_record import (
    CONDITION_TYPE,
    Create,
    DeploymentRef,
    EnvironmentRecords,
    RecordCorrections,
    RecordPlan,
    RecordPolicy,
    RecordReason,
    RecordStanding,
    RegistryRecord,
    Repoint,
    Undeploy,
    WantedVersion,
    decide_record,
    foreseen,
    owner_of_record,
    records_to_undeploy,
    standing_of,
)
from unit.domain.seed import SNAPSHOT_TAKEN_AT_MS, seed_inference_service, seed_snapshot

UID = "0b5c4a1e-uid"
DEPLOYMENT = DeploymentRef("mistral", UID, None)
WANTED = WantedVersion("4", "5", "model Small version w4a16 (id 5)")
POLICY = RecordPolicy(max_corrections=3, window_ms=600_000)


def record(
    record_id: str,
    name: str,
    model: str = "4",
    version: str | None = "5",
    *,
    deployed: bool = True,
    marked_for: str | None = None,
) -> RegistryRecord:
    return RegistryRecord(record_id, name, model, version, deployed, marked_for)


def by_id(*records: RegistryRecord) -> EnvironmentRecords:
    return EnvironmentRecords.of(records)


def plan_for(
    records: EnvironmentRecords,
    deployment: DeploymentRef = DEPLOYMENT,
    *,
    corrections: RecordCorrections | None = None,
    now_ms: int = 1_000_000,
    may_write: bool = True,
) -> RecordPlan:
    return decide_record(
        deployment,
        WANTED,
        records,
        corrections=corrections or RecordCorrections(),
        policy=POLICY,
        now_ms=now_ms,
        may_write=may_write,
        environment="demo",
    )


def test_no_record_creates_one_under_the_upstream_controllers_name() -> None:
    plan = plan_for(by_id())

    assert plan.writes == (Create(f"mistral/{UID}", "4", "5"),)
    assert plan.reason is RecordReason.MATCHES


def test_a_record_on_the_right_version_is_left_alone() -> None:
    plan = plan_for(by_id(record("8", f"mistral/{UID}")))

    assert plan.writes == ()
    assert standing_of(plan).status == "True"
    assert standing_of(plan).record_id == "8"


@pytest.mark.parametrize(
    "found",
    [
        pytest.param(record("8", f"mistral/{UID}", version="9"), id="other-version"),
        pytest.param(record("8", f"mistral/{UID}", version=None), id="no-version"),
        pytest.param(record("8", f"mistral/{UID}", deployed=False), id="undeployed"),
        pytest.param(record("8", "mistral", marked_for="an-earlier-uid"), id="an-earlier-one"),
    ],
)
def test_a_record_of_the_same_model_is_repointed_and_marked_deployed(found: RegistryRecord) -> None:
    plan = plan_for(by_id(found))

    assert plan.writes == (Repoint(found, "5", deploy=not found.deployed),)
    assert standing_of(plan).record_id == "8"


def test_a_record_of_another_model_is_undeployed_and_replaced_under_a_free_name() -> None:
    wrong = record("8", f"mistral/{UID}", model="6", version="7")

    plan = plan_for(by_id(wrong))

    assert plan.writes == (Create(f"mistral/{UID}/model-4", "4", "5"), Undeploy(wrong))
    assert standing_of(plan, created_id="12").record_id == "12"


def test_a_retry_finds_the_replacement_it_made_instead_of_making_another() -> None:
    wrong = record("8", f"mistral/{UID}", model="6", version="7", deployed=False)
    replacement = record("12", f"mistral/{UID}/model-4")
    labelled = DeploymentRef("mistral", UID, "8")  # the label patch did not happen

    plan = plan_for(by_id(wrong, replacement), labelled)

    assert plan.writes == ()
    assert standing_of(plan).record_id == "12"


def test_the_label_is_followed_first_and_a_duplicate_is_undeployed() -> None:
    labelled = record("20", "made-by-hand")
    named = record("8", f"mistral/{UID}", version="9")

    plan = plan_for(by_id(labelled, named), DeploymentRef("mistral", UID, "20"))

    assert plan.record == labelled
    assert plan.writes == (Undeploy(named),)


def test_a_plain_name_record_of_another_model_is_undeployed() -> None:
    plain = record("3", "mistral", model="6")

    plan = plan_for(by_id(plain))

    assert plan.writes == (Create(f"mistral/{UID}", "4", "5"), Undeploy(plain))


def test_a_record_naming_a_label_id_of_another_environment_is_not_touched() -> None:
    plan = plan_for(by_id(), DeploymentRef("mistral", UID, "999"))

    assert plan.writes == (Create(f"mistral/{UID}", "4", "5"),)


def test_both_names_taken_by_other_models_is_a_conflict_without_writes() -> None:
    taken = by_id(
        record("8", f"mistral/{UID}", model="6"),
        record("9", f"mistral/{UID}/model-4", model="7"),
    )

    plan = plan_for(taken)

    assert plan.writes == ()
    assert plan.reason is RecordReason.CONFLICT
    assert "taken by record 9" in plan.message


def test_audit_mode_writes_nothing_and_says_what_is_due() -> None:
    plan = plan_for(by_id(record("8", f"mistral/{UID}", version="9")), may_write=False)

    standing = standing_of(plan)
    assert plan.writes == ()
    assert (standing.status, standing.reason) == ("False", RecordReason.AUDIT_MODE)
    assert "point record" in standing.message


def test_a_record_changed_back_repeatedly_becomes_a_conflict_and_is_left_alone() -> None:
    changed_back = by_id(record("8", f"mistral/{UID}", version="9"))
    corrections = RecordCorrections()
    for minute in range(3):
        plan = plan_for(changed_back, corrections=corrections, now_ms=minute * 60_000)
        assert plan.writes
        corrections = plan.corrections

    plan = plan_for(changed_back, corrections=corrections, now_ms=4 * 60_000)

    assert plan.writes == ()
    assert standing_of(plan).reason == RecordReason.CONFLICT
    assert standing_of(plan).as_check().blocker is None  # never blocks Ready


def test_a_conflict_ends_when_the_window_passes() -> None:
    stopped = RecordCorrections((0, 1, 2), stopped=True, version="5")

    plan = plan_for(by_id(record("8", f"mistral/{UID}", version="9")), corrections=stopped,
                    now_ms=POLICY.window_ms + 10)  # fmt: skip

    assert plan.writes


def test_a_new_answer_starts_the_count_afresh() -> None:
    stopped = RecordCorrections((0, 1, 2), stopped=True, version="3")

    plan = plan_for(by_id(record("8", f"mistral/{UID}", version="9")), corrections=stopped)

    assert plan.writes


def test_a_due_write_is_foreseen_as_out_of_sync() -> None:
    plan = plan_for(by_id())

    assert foreseen(plan).reason == RecordReason.OUT_OF_SYNC
    assert standing_of(plan, created_id="12").reason == RecordReason.MATCHES


def test_a_failed_write_says_what_failed() -> None:
    standing = standing_of(plan_for(by_id()), error="registry answered 503")

    assert (standing.status, standing.reason) == ("False", RecordReason.FAILED)
    assert "503" in standing.message
    assert standing.as_check().announce


def test_only_marked_records_of_deployments_gone_are_undeployed() -> None:
    ours_gone = record("1", "a/gone", marked_for="gone")
    ours_alive = record("2", "b/alive", marked_for="alive")
    ours_already = record("3", "c/gone", marked_for="gone", deployed=False)
    upstream = record("4", "d/gone")

    found = records_to_undeploy([ours_gone, ours_alive, ours_already, upstream], ["alive"])

    assert found == (ours_gone,)


def test_the_audit_finds_a_records_deployment_as_the_operator_does() -> None:
    one = DeploymentRef("one", "u1", "7")
    two = DeploymentRef("two", "u2", None)
    three = DeploymentRef("three", "u3", None)
    deployments = [one, two, three]

    assert owner_of_record(record("7", "anything"), deployments) == one
    assert owner_of_record(record("8", "two/u2"), deployments) == two
    assert owner_of_record(record("9", "two/u2/model-4"), deployments) == two
    assert owner_of_record(record("10", "three"), deployments) == three
    assert owner_of_record(record("11", "four"), deployments) is None


def test_the_core_adds_the_condition_and_the_label_without_blocking_ready() -> None:
    keys = LabelKeys()
    registry = RegistryView(ReferenceIndex.from_snapshot(seed_snapshot()), current=True)
    standing = RecordStanding("False", RecordReason.FAILED, "down", record_id="12")

    step = reconcile_step(
        read_inference_service(seed_inference_service(), keys),
        Known(),
        registry,
        BindingRules(keys),
        SNAPSHOT_TAKEN_AT_MS + 60_000,
        record=standing,
    )

    assert isinstance(step, Decided)
    conditions = {c["type"]: c for c in step.decision.status["conditions"]}
    assert conditions[CONDITION_TYPE]["reason"] == RecordReason.FAILED
    assert step.decision.ready
    assert (step.decision.label_patch or {})[keys.inference_service_id] == "12"


ids = st.sampled_from(["1", "2", "3", "4", "5"])
names = st.sampled_from(["mistral", f"mistral/{UID}", f"mistral/{UID}/model-4", "other"])
records_strategy = st.lists(
    st.builds(
        RegistryRecord,
        id=ids,
        name=names,
        registered_model_id=ids,
        model_version_id=st.none() | ids,
        deployed=st.booleans(),
        marked_for=st.none() | st.sampled_from([UID, "other"]),
    )
).map(EnvironmentRecords.of)


@given(
    records=records_strategy,
    label=st.none() | ids,
    times=st.lists(st.integers(0, 2_000_000), max_size=5),
    may_write=st.booleans(),
)
def test_the_decision_never_raises_and_never_repoints_across_models(
    records: EnvironmentRecords, label: str | None, times: list[int], may_write: bool
) -> None:
    plan = plan_for(
        records,
        DeploymentRef("mistral", UID, label),
        corrections=RecordCorrections(tuple(times), version="5"),
        may_write=may_write,
    )

    for write in plan.writes:
        if isinstance(write, Repoint):
            assert write.record.registered_model_id == WANTED.registered_model_id
        if isinstance(write, Create):
            assert write.name not in records.by_name
    if not may_write:
        assert plan.writes == ()
    if plan.writes:
        assert standing_of(plan, created_id="99").status == "True"
