"""What the RBAC tests share: the install's Role with one verb taken out, and the check
that an operator holding that Role fails a scenario step with the apiserver's refusal."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from integration.install.installation import Rendered, Rule, role_rules, rule_verbs, without_verb
from integration.install.scenario import StepFailed
from support.operator import RunningOperator


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
