"""Test-wide settings shared by every tier."""

import os

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

pytest_plugins = ["support.cluster", "support.devregistry", "support.operator"]
