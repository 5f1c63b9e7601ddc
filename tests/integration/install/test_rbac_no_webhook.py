"""The no-webhook install's Role is sufficient for `--webhook off`, and every PipelineRun
verb it adds is necessary.

The operator runs as the install's ServiceAccount (a TokenRequest token, nothing else) with
the webhook off, as the no-webhook overlay's Deployment runs it. With the overlay's Role it
replaces a pending seed run by a corrected copy and cancels the original; with any one
PipelineRun verb taken out, a step fails or the operator reports the refusal. The verbs the
overlay shares with the base Role are proven by test_rbac.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from integration.install.conftest import SeededRegistry
from integration.install.installation import (
    BASE,
    OVERLAYS,
    Rendered,
    render,
    role_rules,
    rule_verbs,
)
from integration.install.rbac_support import (
    assert_a_step_fails_without,
    operator_as_service_account,
)
from integration.install.scenario import permission_errors, wait_for_step
from registry_sync.demo.seed import (
    RUN_NAME,
    SMALL_MODEL,
    SMALL_VERSION,
    seed_inference_service,
    seed_pipeline_run,
)
from registry_sync.domain.replacement import replacement_name
from support.bindings import binding_ready
from support.cluster import Cluster
from support.cluster_objects import INFERENCE_SERVICES, PIPELINE_RUNS, params_of
from support.operator import READY_LINE, RunningOperator

pytestmark = pytest.mark.cluster

RUNS = "tekton.dev/pipelineruns"
STEPS = ("operator started", "binding Ready", "pending run replaced")
# Kopf lists before it watches; a refusal of either is seen at whichever step is waiting.
_ANY_STEP = STEPS

# Each PipelineRun verb the overlay adds, and the step(s) that fail without it.
NECESSARY = [
    (RUNS, "list", _ANY_STEP),
    (RUNS, "watch", _ANY_STEP),
    (RUNS, "create", ("pending run replaced",)),
    (RUNS, "patch", ("pending run replaced",)),
]


@pytest.fixture
def no_webhook_install(kube: Cluster, namespace: str, tmp_path: Path) -> Rendered:
    return render(kube, OVERLAYS / "no-webhook", namespace, tmp_path)


@dataclass
class PendingRunScenario:
    """The seed InferenceService deployed, then the incident's run created pending."""

    kube: Cluster
    namespace: str
    operator: RunningOperator
    step_timeout: float = 30.0
    passed: list[str] = field(default_factory=list)

    def run(self, registry: SeededRegistry) -> None:
        """Every step in order; StepFailed at the first one that does not happen."""
        self._step("operator started", lambda: READY_LINE in self.operator.log())
        INFERENCE_SERVICES.create(
            self.kube.api_client,
            self.namespace,
            seed_inference_service(self.namespace, registry.ids),
        )
        self._step("binding Ready", self._binding_ready)
        pending = seed_pipeline_run(self.namespace)
        pending["spec"]["status"] = "PipelineRunPending"
        PIPELINE_RUNS.create(self.kube.api_client, self.namespace, pending)
        self._step("pending run replaced", self._replaced)

    def replaced_event(self) -> bool:
        events = self.kube.core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.name={RUN_NAME}"
        )
        return any(event.reason == "Replaced" for event in events.items)

    def _step(self, name: str, condition_: Callable[[], bool]) -> None:
        wait_for_step(self.operator, name, condition_, self.step_timeout)
        self.passed.append(name)

    def _binding_ready(self) -> bool:
        return binding_ready(self.kube.api_client, self.namespace)

    def _replaced(self) -> bool:
        original = self._run_or_none(RUN_NAME)
        copy = self._run_or_none(replacement_name(RUN_NAME))
        if original is None or copy is None:
            return False
        params = params_of(copy)
        return original["spec"].get("status") == "Cancelled" and (
            params.get("model_name"),
            params.get("version_name"),
        ) == (SMALL_MODEL, SMALL_VERSION)

    def _run_or_none(self, name: str) -> dict[str, Any] | None:
        try:
            return PIPELINE_RUNS.get(self.kube.api_client, self.namespace, name)
        except ApiException as error:
            if error.status == 404:
                return None
            raise


def test_the_overlay_adds_exactly_the_pipeline_run_verbs_the_tests_prove(
    kube: Cluster, namespace: str, tmp_path: Path, no_webhook_install: Rendered
) -> None:
    base = rule_verbs(render(kube, BASE, namespace, tmp_path).one("Role")["rules"])
    added = [
        (resource, verb)
        for _, resource, verb in rule_verbs(role_rules(no_webhook_install))
        if (resource, verb) not in {(r, v) for _, r, v in base}
    ]

    assert sorted(added) == sorted((resource, verb) for resource, verb, _ in NECESSARY)


def test_with_the_overlay_role_a_pending_run_is_replaced_by_a_corrected_copy(
    kube: Cluster,
    namespace: str,
    seeded_registry: SeededRegistry,
    no_webhook_install: Rendered,
    tmp_path: Path,
) -> None:
    for operator in operator_as_service_account(
        kube, namespace, seeded_registry, no_webhook_install, None, tmp_path, webhook=False
    ):
        scenario = PendingRunScenario(kube, namespace, operator)
        scenario.run(seeded_registry)

        assert scenario.passed == list(STEPS)
        assert permission_errors(operator.log(), events_too=True) == []
        kube.wait_for(scenario.replaced_event, timeout=30, description="Replaced Event")


@pytest.mark.parametrize(
    ("resource", "verb", "failing_steps"),
    NECESSARY,
    ids=[f"{resource}-{verb}" for resource, verb, _ in NECESSARY],
)
def test_without_any_one_pipeline_run_verb_a_step_fails_and_the_refusal_is_reported(
    kube: Cluster,
    namespace: str,
    seeded_registry: SeededRegistry,
    no_webhook_install: Rendered,
    tmp_path: Path,
    resource: str,
    verb: str,
    failing_steps: tuple[str, ...],
) -> None:
    assert_a_step_fails_without(
        no_webhook_install,
        resource,
        verb,
        failing_steps,
        lambda rules: operator_as_service_account(
            kube, namespace, seeded_registry, no_webhook_install, rules, tmp_path, webhook=False
        ),
        lambda operator: PendingRunScenario(kube, namespace, operator).run(seeded_registry),
    )
