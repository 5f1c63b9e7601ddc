"""Operator settings: every `registry-sync run` flag, also readable as `REGISTRY_SYNC_<FLAG>`.

Read once at start and validated there: a wrong value stops the operator with a message
that names the flag and the environment variable, before anything touches the cluster.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from registry_sync.domain.digest_check import DigestCheck
from registry_sync.domain.params import InvalidParamNames, ParamNames
from registry_sync.domain.reference_index import RegistryOwners
from registry_sync.domain.safe_names import (
    DEFAULT_ALLOWED_NAME_PATTERN,
    InvalidNamePattern,
    NamePolicy,
)
from registry_sync.domain.served_names import ServedNameCheck
from registry_sync.oci.hosts import HostPatternError, HostPatterns
from registry_sync.registry.bearer_token import may_carry_a_token
from registry_sync.registry.transport import api_url_of

ENV_PREFIX = "REGISTRY_SYNC_"

# A label prefix is a DNS subdomain (RFC 1123), at most 253 characters.
_DNS_SUBDOMAIN = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
# A Kubernetes namespace is a DNS label.
_DNS_LABEL = re.compile(r"^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Label values: at most 63 characters, alphanumeric at both ends.
_LABEL_VALUE = re.compile(r"^(?=.{0,63}$)(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


class WebhookMode(StrEnum):
    """How PipelineRuns are corrected: see README "Configuration"."""

    URL = "url"  # local runs: the operator serves HTTPS and registers its own configuration
    SERVICE = "service"  # in a cluster: the configuration ships in the manifests
    OFF = "off"  # no webhook: pending runs are replaced, running ones cancelled


class RegistryRecords(StrEnum):
    """Whether the registry's InferenceService records are kept pointing at the resolved
    versions (README "Configuration"); `on` needs a registry token allowed to write."""

    OFF = "off"
    ON = "on"


class SettingsError(ValueError):
    """A setting has a wrong value; the message names the flag and the variable."""


def _readable_file(value: Path | None) -> Path | None:
    if value is not None and not value.is_file():
        raise ValueError(f"{str(value)!r} is not a readable file")
    return value


class RegistrySettings(BaseSettings):
    """The settings `registry-sync run` and `registry-sync audit` share: one environment
    serves both."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    namespace: str | None = None
    registry_url: str | None = None
    registry_name: str | None = None
    token_file: Path | None = None
    ca_file: Path | None = None
    label_prefix: str = "modelregistry.opendatahub.io"
    param_names: str = "vllm_model_name,model_name,version_name"
    # The digest check (README "Truth from what runs").
    digest_check: DigestCheck = DigestCheck.REPORT
    # A Secret of the namespace (dockerconfigjson or dockercfg) with OCI registry logins.
    pull_secret: str | None = None
    oci_ca_file: Path | None = None
    oci_hosts: str = "*"
    digest_ttl_seconds: float = Field(default=600.0, gt=0, le=86400)

    @field_validator("oci_hosts")
    @classmethod
    def _oci_hosts_are_patterns(cls, value: str) -> str:
        try:
            HostPatterns.parse(value)
        except HostPatternError as error:
            raise ValueError(str(error)) from None
        return value

    @field_validator("pull_secret")
    @classmethod
    def _pull_secret_is_an_object_name(cls, value: str | None) -> str | None:
        if value is not None and not _DNS_SUBDOMAIN.match(value):
            raise ValueError(f"{value!r} is not a Secret name (a DNS subdomain)")
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace_is_dns_label(cls, value: str | None) -> str | None:
        if value is not None and not _DNS_LABEL.match(value):
            raise ValueError(f"{value!r} is not a valid namespace name (a DNS label)")
        return value

    @field_validator("registry_url")
    @classmethod
    def _registry_url_is_http(cls, value: str | None) -> str | None:
        if value is None:
            return None
        api_url_of(value)  # raises ValueError naming what is wrong
        return value.rstrip("/")

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
                f"{value!r} is not a label prefix "
                "(a DNS subdomain such as modelregistry.opendatahub.io)"
            )
        return value

    @field_validator("param_names")
    @classmethod
    def _param_names_are_three_names(cls, value: str) -> str:
        try:
            ParamNames.parse(value)
        except InvalidParamNames as error:
            raise ValueError(str(error)) from None
        return value

    @field_validator("token_file", "ca_file", "oci_ca_file")
    @classmethod
    def _file_is_readable(cls, value: Path | None) -> Path | None:
        return _readable_file(value)

    @field_validator("token_file")
    @classmethod
    def _token_goes_over_tls(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        # A field validator reported with the others; registry_url comes before it.
        url = info.data.get("registry_url")
        if value is not None and url is not None and not may_carry_a_token(url):
            host = urlsplit(url).hostname
            raise ValueError(
                "a bearer token is never sent over plain HTTP (only to localhost), and "
                f"--registry-url (REGISTRY_SYNC_REGISTRY_URL) is http://{host}/...: give the "
                "registry's https:// URL (with --ca-file if its certificate is not publicly "
                "trusted), or no token file for a registry that needs none"
            )
        return value


class OperatorSettings(RegistrySettings):
    """The settings of `registry-sync run` (defaults as documented in README)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    # Without it the operator has nothing to do: refused here, with the other wrong settings.
    # (`audit` reads the same field, optional there: it reports a missing one itself.)
    registry_url: str = Field(description="the Model Registry's REST URL")

    # The audience the token in token_file must be for (docs/install.md, "Security").
    token_audience: str | None = None
    refresh_seconds: float = Field(default=30.0, gt=0, le=86400)
    # A whole registry refresh; one request gives up after 25 s.
    refresh_timeout_seconds: float = Field(default=120.0, gt=0, le=86400)
    # A refresh the registry gives no answer for this long fails (a hang is noticed by then).
    registry_stall_seconds: float = Field(default=10.0, gt=0, le=86400)
    webhook: WebhookMode = WebhookMode.URL
    webhook_host: str = "127.0.0.1"
    webhook_port: int = Field(default=9443, ge=1, le=65535)
    webhook_cert_file: Path | None = None
    # Validated even when not given: the pairing rules below live in its validator.
    webhook_key_file: Path | None = Field(default=None, validate_default=True)
    metrics_port: int = Field(default=8080, ge=0, le=65535)
    health_port: int = Field(default=8081, ge=0, le=65535)
    # Where the metrics and liveness endpoints listen (every interface unless told).
    metrics_host: str = Field(default="0.0.0.0", min_length=1)
    health_host: str = Field(default="0.0.0.0", min_length=1)
    gitops_max_corrections: int = Field(default=3, ge=1)
    gitops_window_seconds: float = Field(default=600.0, gt=0)
    # The allow-list of names injected or recorded (docs/install.md, "Security").
    allowed_name_pattern: str = DEFAULT_ALLOWED_NAME_PATTERN

    @field_validator("allowed_name_pattern")
    @classmethod
    def _allowed_name_pattern_compiles(cls, value: str) -> str:
        try:
            NamePolicy(value)
        except InvalidNamePattern as error:
            raise ValueError(str(error)) from None
        return value

    # Registered models' `owner` values that may claim this namespace's deployments; None: any.
    registry_owners: str | None = None

    # The registry's InferenceService records (README "How it behaves", "Registry records").
    registry_records: RegistryRecords = RegistryRecords.OFF

    # Asking each predictor's /v1/models whether vLLM serves the injected name (README
    # "Configuration"); the token and CA are the predictors', never the registry's.
    served_name_check: ServedNameCheck = ServedNameCheck.OFF
    predictor_ca_file: Path | None = None
    predictor_token_file: Path | None = None

    @field_validator("predictor_ca_file", "predictor_token_file")
    @classmethod
    def _predictor_file_is_readable(cls, value: Path | None) -> Path | None:
        return _readable_file(value)

    @field_validator("token_audience")
    @classmethod
    def _audience_checks_a_token_file(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if not value.strip() or any(character.isspace() for character in value):
            raise ValueError(
                f"{value!r} is not an audience (one value without spaces, e.g. model-registry)"
            )
        if info.data.get("token_file") is None and "token_file" in info.data:
            raise ValueError(
                "it checks the token that --token-file (REGISTRY_SYNC_TOKEN_FILE) holds, and "
                "no token file is given: give one, or leave the audience unset"
            )
        return value

    @field_validator("registry_owners")
    @classmethod
    def _registry_owners_are_a_list(cls, value: str | None) -> str | None:
        RegistryOwners.parse(value)  # raises ValueError naming what is wrong
        return value

    @field_validator("webhook_cert_file")
    @classmethod
    def _webhook_cert_is_readable(cls, value: Path | None) -> Path | None:
        return _readable_file(value)

    @field_validator("webhook_key_file")
    @classmethod
    def _webhook_files_come_in_pairs(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        # A field validator (not a model validator) so that this is reported together with
        # every other wrong setting; the fields before this one are in `info.data`.
        cert_given = info.data.get("webhook_cert_file") is not None
        cert_failed = "webhook_cert_file" not in info.data
        if not cert_failed and cert_given != (value is not None):
            raise ValueError(
                "--webhook-cert-file (REGISTRY_SYNC_WEBHOOK_CERT_FILE) and --webhook-key-file "
                "(REGISTRY_SYNC_WEBHOOK_KEY_FILE) go together: give both or neither"
            )
        if info.data.get("webhook") is WebhookMode.SERVICE and value is None and not cert_failed:
            raise ValueError(
                "--webhook service needs --webhook-cert-file (REGISTRY_SYNC_WEBHOOK_CERT_FILE) "
                "and --webhook-key-file (REGISTRY_SYNC_WEBHOOK_KEY_FILE): the mounted serving "
                "certificate"
            )
        return _readable_file(value)


def flag_of(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def env_of(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


SettingsT = TypeVar("SettingsT", bound=RegistrySettings)


def load_settings(**given: Any) -> OperatorSettings:
    """Settings from explicit values (flags) over `REGISTRY_SYNC_*` variables over defaults.

    Values given as None count as not given. Raises `SettingsError` naming every wrong setting.
    """
    return load_settings_as(OperatorSettings, **given)


def load_settings_as(kind: type[SettingsT], **given: Any) -> SettingsT:
    """`load_settings` for any of the settings classes."""
    explicit = {name: value for name, value in given.items() if value is not None}
    try:
        return kind(**explicit)
    except ValidationError as error:
        raise SettingsError(describe_validation_error(error, kind)) from None


def describe_validation_error(error: ValidationError, kind: type[RegistrySettings]) -> str:
    problems = []
    for item in error.errors():
        location = item.get("loc") or ()
        field_name = str(location[0]) if location else ""
        reason = str(item.get("msg", "invalid value")).removeprefix("Value error, ")
        if field_name in kind.model_fields and item.get("type") == "missing":
            needed = kind.model_fields[field_name].description
            problems.append(
                f"setting {flag_of(field_name)} ({env_of(field_name)}) is required"
                + (f": {needed}" if needed else "")
            )
        elif field_name in kind.model_fields:
            problems.append(f"setting {flag_of(field_name)} ({env_of(field_name)}): {reason}")
        elif item.get("type") == "extra_forbidden":
            problems.append(f"unknown setting {field_name!r}")
        else:
            problems.append(f"settings: {reason}")
    return "invalid settings:\n  " + "\n  ".join(problems)
