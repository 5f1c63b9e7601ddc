"""What the RBAC tests share: the operator running as the install's ServiceAccount, the
install's Role with one verb taken out, and the check that an operator holding that Role
fails a scenario step with the apiserver's refusal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from integration.install.conftest import SeededRegistry
from integration.install.installation import (
    Rendered,
    Rule,
    operator_kubeconfig,
    role_rules,
    rule_verbs,
    without_verb,
)
from integration.install.scenario import (
    StepFailed,
    register_webhook_as_admin,
    service_mode_args,
    webhook_certificate,
)
from support.cluster import Cluster
from support.operator import RunningOperator, free_port, start_operator


def operator_as_service_account(
    kube: Cluster,
    namespace: str,
    registry: SeededRegistry,
    rendered: Rendered,
    rules: list[Rule] | None,
    tmp_path: Path,
    *,
    webhook: bool = True,
) -> Iterator[RunningOperator]:
    """The operator holding only the install's ServiceAccount token (its Role's rules
    replaced by `rules` unless None), not waited for: the scenario's first step is its start.

    With `webhook`, it serves the webhook as the Deployment does, and an admin registers
    the webhook configuration pointing at it; otherwise it runs with `--webhook off`, as
    the no-webhook overlay's Deployment does.
    """
    kubeconfig = operator_kubeconfig(
        kube, namespace, rendered, rules, tmp_path / "service-account.kubeconfig"
    )
    port: int | None = None
    extra_args = ["--webhook", "off", "--refresh-seconds", "1"]
    if webhook:
        certificate = webhook_certificate(tmp_path / "certs")
        port = free_port()
        register_webhook_as_admin(kube, namespace, port, certificate)
        extra_args = service_mode_args(certificate)
    with start_operator(
        kube,
        namespace,
        registry.url,
        tmp_path / "operator.log",
        extra_args=extra_args,
        kubeconfig=kubeconfig,
        webhook_port=port,
        wait=False,
    ) as operator:
        yield operator


def rules_without(rendered: Rendered, resource: str, verb: str) -> list[Rule]:
    """The rendered Role's rules with `verb` taken off `resource` (granted by one rule)."""
    rules = role_rules(rendered)
    (index,) = [i for i, r, v in rule_verbs(rules) if (r, v) == (resource, verb)]
    return without_verb(rules, index, verb)


def assert_a_step_fails_without(
    rendered: Rendered,
    resource: str,
    verb: str,
    failing_steps: tuple[str, ...],
    operator_holding: Callable[[list[Rule]], Iterator[RunningOperator]],
    play: Callable[[RunningOperator], None],
) -> None:
    """With `verb` taken off `resource`, playing the scenario against the operator that
    `operator_holding(rules)` yields fails at one of `failing_steps`, quoting the refusal."""
    for operator in operator_holding(rules_without(rendered, resource, verb)):
        with pytest.raises(StepFailed) as failed:
            play(operator)

        assert failed.value.step in failing_steps, str(failed.value)
        group_resource = resource.split("/", 1)[1]
        # Explicit message: pytest rewrites asserts in test modules only, not here.
        assert f'cannot {verb} resource "{group_resource}"' in str(failed.value), str(failed.value)
