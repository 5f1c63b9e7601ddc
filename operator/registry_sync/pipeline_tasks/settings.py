"""The settings of `registry-sync verify-run` and `publish`: `audit`'s registry and naming
settings (`RegistrySettings`, same flags and `REGISTRY_SYNC_<FLAG>` variables, so one
environment serves them all) and the bound on result files."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from registry_sync.controller.settings import RegistrySettings, SettingsError, load_settings_as
from registry_sync.domain.metadata import LabelKeys
from registry_sync.domain.params import ParamNames
from registry_sync.pipeline_tasks.results_files import DEFAULT_MAX_INPUT_MIB

PipelineTaskSettingsError = SettingsError


class PipelineTaskSettings(RegistrySettings):
    """What the commands of a model-testing pipeline's tasks read."""

    # A result file larger than this is refused unread (a sweep's report is a few MB).
    max_input_mib: int = Field(default=DEFAULT_MAX_INPUT_MIB, gt=0, le=16384)

    @property
    def label_keys(self) -> LabelKeys:
        return LabelKeys(self.label_prefix)

    @property
    def parsed_param_names(self) -> ParamNames:
        return ParamNames.parse(self.param_names)


def load_pipeline_task_settings(**given: Any) -> PipelineTaskSettings:
    """Settings from the flags given (None: not given) over the environment over defaults.

    Raises `PipelineTaskSettingsError` naming every wrong setting, its flag and its variable.
    """
    return load_settings_as(PipelineTaskSettings, **given)
