"""The install's Role is sufficient and every verb in it is necessary.

The operator runs as the install's ServiceAccount (a TokenRequest token, nothing else):
with the shipped Role it plays the whole seed scenario; with any one verb taken out, a
step of the scenario fails or the operator reports the refusal. Events are the exception
by design: without them everything works and the operator says what it could not post.
The webhook configuration is cluster-scoped, so an admin registers it (as the manifests
would), pointing at the operator on loopback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from integration.install.conftest import SeededRegistry
from integration.install.installation import Rendered, role_rules, rule_verbs
from integration.install.rbac_support import (
    assert_a_step_fails_without,
    operator_as_service_account,
    rules_without,
)
from integration.install.scenario import STEPS, SeedScenario, permission_errors
from support.cluster import Cluster

pytestmark = pytest.mark.cluster

# Kopf LISTs before it WATCHes: without `watch`, the InferenceService can be handled
# once from that LIST before the refused WATCH reaches the log, so the refusal stops
# the scenario at whichever step is waiting when it is first seen.
_AFTER_THE_FIRST_LIST = ("labels corrected", "binding Ready", "running digest read",
                         "run params corrected", "binding deleted on opt-out")  # fmt: skip

# Each verb the shipped Role grants, and the scenario step(s) that fail without it.
NECESSARY = [
    ("serving.kserve.io/inferenceservices", "list", ("labels corrected",)),
    ("serving.kserve.io/inferenceservices", "watch", _AFTER_THE_FIRST_LIST),
    ("serving.kserve.io/inferenceservices", "patch", ("labels corrected",)),
    # Refused LIST or WATCH of LLMInferenceServices is logged as soon as Kopf starts them:
    # whichever step is waiting then fails.
    ("serving.kserve.io/llminferenceservices", "list", STEPS),
    ("serving.kserve.io/llminferenceservices", "watch", STEPS),
    ("serving.kserve.io/llminferenceservices", "patch", ("LLMInferenceService labelled",)),
    ("registry-sync.io/modelbindings", "list", ("operator started",)),
    ("registry-sync.io/modelbindings", "create", ("binding Ready",)),
    ("registry-sync.io/modelbindings", "delete", ("binding deleted on opt-out",)),
    ("registry-sync.io/modelbindings/status", "patch", ("binding Ready",)),
    # Asked once at start (an access review): without either, digests are not checked.
    ("core/pods", "list", ("operator started", "labels corrected", "binding Ready")),
    ("core/pods", "watch", ("operator started", "labels corrected", "binding Ready")),
    # Several replicas: without reading, creating or taking the Lease the operator never
    # writes (it answers the webhook from its book, as every follower does). It looks at the
    # Lease during start-up: the refusal is logged before or after the start-up line.
    ("coordination.k8s.io/leases", "create", ("operator started", "labels corrected")),
    ("coordination.k8s.io/leases", "get", ("operator started", "labels corrected")),
    ("coordination.k8s.io/leases", "patch", ("operator started", "labels corrected")),
]
BEST_EFFORT = [("core/events", "create")]


def test_the_shipped_role_is_exactly_what_the_tests_prove(openshift_install: Rendered) -> None:
    granted = [(resource, verb) for _, resource, verb in rule_verbs(role_rules(openshift_install))]

    assert sorted(granted) == sorted([(r, v) for r, v, _ in NECESSARY] + BEST_EFFORT)


def test_with_the_shipped_role_the_operator_plays_the_seed_scenario(
    kube: Cluster,
    namespace: str,
    seeded_registry: SeededRegistry,
    openshift_install: Rendered,
    tmp_path: Path,
) -> None:
    for operator in operator_as_service_account(
        kube, namespace, seeded_registry, openshift_install, None, tmp_path
    ):
        scenario = SeedScenario(kube, namespace, seeded_registry.ids, operator)
        scenario.run()

        assert scenario.passed == list(STEPS)
        assert scenario.labels_corrected_event() is not None
        assert permission_errors(operator.log(), events_too=True) == []


@pytest.mark.parametrize(
    ("resource", "verb", "failing_steps"),
    NECESSARY,
    ids=[f"{resource}-{verb}" for resource, verb, _ in NECESSARY],
)
def test_without_any_one_verb_a_step_fails_and_the_operator_reports_the_refusal(
    kube: Cluster,
    namespace: str,
    seeded_registry: SeededRegistry,
    openshift_install: Rendered,
    tmp_path: Path,
    resource: str,
    verb: str,
    failing_steps: tuple[str, ...],
) -> None:
    assert_a_step_fails_without(
        openshift_install,
        resource,
        verb,
        failing_steps,
        lambda rules: operator_as_service_account(
            kube, namespace, seeded_registry, openshift_install, rules, tmp_path
        ),
        lambda operator: SeedScenario(kube, namespace, seeded_registry.ids, operator).run(),
    )


def test_without_events_everything_works_and_the_operator_reports_what_it_could_not_post(
    kube: Cluster,
    namespace: str,
    seeded_registry: SeededRegistry,
    openshift_install: Rendered,
    tmp_path: Path,
) -> None:
    ((resource, verb),) = BEST_EFFORT
    rules = rules_without(openshift_install, resource, verb)
    for operator in operator_as_service_account(
        kube, namespace, seeded_registry, openshift_install, rules, tmp_path
    ):
        scenario = SeedScenario(kube, namespace, seeded_registry.ids, operator)
        scenario.run()

        assert scenario.passed == list(STEPS)
        assert scenario.labels_corrected_event() is None
        refused = permission_errors(operator.log(), events_too=True)
        assert any("could not post Event LabelsCorrected" in line for line in refused)
