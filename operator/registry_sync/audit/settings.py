"""The settings of `registry-sync audit`: flags over `REGISTRY_SYNC_<FLAG>` variables over defaults.

The registry and naming settings are those of `registry-sync run` (`RegistrySettings`), with
the same names and variables, so one environment serves both. Validated once, every error
naming the flag and its variable.
"""

from __future__ import annotations

from typing import Any

from registry_sync.controller.settings import RegistrySettings, SettingsError, load_settings_as
from registry_sync.domain.metadata import LabelKeys
from registry_sync.domain.params import ParamNames

AuditSettingsError = SettingsError


class AuditSettings(RegistrySettings):
    """What `registry-sync audit` reads, and how it names things."""

    @property
    def label_keys(self) -> LabelKeys:
        return LabelKeys(self.label_prefix)

    @property
    def parsed_param_names(self) -> ParamNames:
        return ParamNames.parse(self.param_names)


def load_audit_settings(**given: Any) -> AuditSettings:
    """Settings from the flags given (None: not given) over the environment over defaults.

    Raises `AuditSettingsError` naming every wrong setting, its flag and its variable.
    """
    return load_settings_as(AuditSettings, **given)
