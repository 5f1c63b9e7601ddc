"""Test-wide settings shared by every tier."""

import os

import pytest
from hypothesis import HealthCheck, settings

# CI shares two cores with a control plane: no per-example deadlines there, and enough
# examples that the properties mean something.
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=2000,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

pytest_plugins = [
    "support.cluster",
    "support.devregistry",
    "support.oci_registry",
    "support.official_client",
    "support.operator",
]

# A tier that CI requires must really have run: a selection that passes no test of it
# (everything skipped, deselected, or not collected) fails the session. Tier (marker) ->
# the variable that requires it; one variable may require several tiers, each on its own.
_REQUIRED_TIERS = {
    "cluster": "REGISTRY_SYNC_REQUIRE_CLUSTER",
    "upstream": "REGISTRY_SYNC_REQUIRE_UPSTREAM",
    # The OCI registry is built from upstream Go modules, so CI's upstream switch requires it.
    "oci_registry": "REGISTRY_SYNC_REQUIRE_UPSTREAM",
    # So is the official client, installed from the package index into its own venv.
    "official_client": "REGISTRY_SYNC_REQUIRE_UPSTREAM",
}
_passed_in_tier: dict[str, int] = dict.fromkeys(_REQUIRED_TIERS, 0)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.passed:
        for tier in _REQUIRED_TIERS:
            if tier in report.keywords:
                _passed_in_tier[tier] += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if session.config.option.collectonly:
        return
    missing = [
        f"{tier} (required by {variable}=1)"
        for tier, variable in _REQUIRED_TIERS.items()
        if os.environ.get(variable) == "1" and _passed_in_tier[tier] == 0
    ]
    if missing:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"required test tier(s) ran no passing test: {', '.join(missing)}", red=True
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
