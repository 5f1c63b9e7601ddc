"""The settings of `registry-sync audit`: flags over `REGISTRY_SYNC_<FLAG>` variables over defaults.

The registry and naming settings are those of `registry-sync run`, with the same names and
variables, so one environment serves both. Validated once, every error naming the flag and
its variable.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from registry_sync.domain.binding import LabelKeys
from registry_sync.domain.params import DEFAULT_PARAM_NAMES_SETTING, InvalidParamNames, ParamNames
from registry_sync.registry.client import api_url_of

ENV_PREFIX: Final = "REGISTRY_SYNC_"

# A label prefix is a DNS subdomain (RFC 1123); a namespace is a DNS label.
_DNS_SUBDOMAIN: Final = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_DNS_LABEL: Final = re.compile(r"^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE: Final = re.compile(r"^(?=.{0,63}$)(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


class AuditSettingsError(ValueError):
    """A setting has a wrong value; the message names every wrong flag and its variable."""


class AuditSettings(BaseSettings):
    """What `registry-sync audit` reads, and how it names things."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    namespace: str | None = None
    registry_url: str | None = None
    registry_name: str | None = None
    token_file: Path | None = None
    ca_file: Path | None = None
    label_prefix: str = LabelKeys().prefix
    param_names: str = DEFAULT_PARAM_NAMES_SETTING

    @field_validator("namespace")
    @classmethod
    def _namespace_is_dns_label(cls, value: str | None) -> str | None:
        if value is not None and not _DNS_LABEL.match(value):
            raise ValueError(f"{value!r} is not a namespace name (a DNS label)")
        return value

    @field_validator("registry_url")
    @classmethod
    def _registry_url_is_http(cls, value: str | None) -> str | None:
        if value is not None:
            api_url_of(value)  # raises ValueError with the reason
        return value

    @field_validator("registry_name")
    @classmethod
    def _registry_name_is_label_value(cls, value: str | None) -> str | None:
        if value is not None and not _LABEL_VALUE.match(value):
            raise ValueError(
                f"{value!r} cannot be a label value (at most 63 characters: A-Z a-z 0-9 - _ .)"
            )
        return value

    @field_validator("label_prefix")
    @classmethod
    def _label_prefix_is_dns_subdomain(cls, value: str) -> str:
        if not _DNS_SUBDOMAIN.match(value):
            raise ValueError(
                f"{value!r} is not a label prefix (a DNS subdomain such as "
                "modelregistry.opendatahub.io)"
            )
        return value

    @field_validator("param_names")
    @classmethod
    def _param_names_parse(cls, value: str) -> str:
        try:
            ParamNames.parse(value)
        except InvalidParamNames as error:
            raise ValueError(str(error)) from None
        return value

    @field_validator("token_file", "ca_file")
    @classmethod
    def _file_is_readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{str(value)!r} is not a readable file")
        return value

    @property
    def label_keys(self) -> LabelKeys:
        return LabelKeys(self.label_prefix)

    @property
    def parsed_param_names(self) -> ParamNames:
        return ParamNames.parse(self.param_names)


def flag_of(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def env_of(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


def load_audit_settings(**given: Any) -> AuditSettings:
    """Settings from the flags given (None: not given) over the environment over defaults.

    Raises `AuditSettingsError` naming every wrong setting, its flag and its variable.
    """
    explicit = {name: value for name, value in given.items() if value is not None}
    try:
        return AuditSettings(**explicit)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            location = item.get("loc") or ()
            name = str(location[0]) if location else ""
            reason = str(item.get("msg", "invalid value")).removeprefix("Value error, ")
            if name in AuditSettings.model_fields:
                problems.append(f"setting {flag_of(name)} ({env_of(name)}): {reason}")
            else:
                problems.append(f"settings: {reason}")
        raise AuditSettingsError("invalid settings:\n  " + "\n  ".join(problems)) from None
