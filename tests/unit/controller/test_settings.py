"""The settings of `registry-sync run`: flags over `REGISTRY_SYNC_<FLAG>` variables over defaults.

Specification: DESIGN.md, "Interfaces". Every setting is validated at start, and every error
names both the flag and the environment variable, so a person can fix whichever they set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from registry_sync.audit.settings import load_audit_settings
from registry_sync.controller.settings import SettingsError, WebhookMode, load_settings
from registry_sync.handlers.command import run

ENV_PREFIX = "REGISTRY_SYNC_"
# The one setting of `run` without a default.
REGISTRY_URL = "https://mr.example:8443"


@pytest.fixture(autouse=True)
def no_settings_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from the defaults and a registry URL, whatever the shell running the
    tests exports."""
    for variable in os.environ:
        if variable.startswith(ENV_PREFIX):
            monkeypatch.delenv(variable)
    monkeypatch.setenv("REGISTRY_SYNC_REGISTRY_URL", REGISTRY_URL)


def settings_error(**given: Any) -> str:
    with pytest.raises(SettingsError) as raised:
        load_settings(**given)
    return str(raised.value)


def a_file(directory: Path, name: str) -> Path:
    path = directory / name
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return path


# Defaults --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "default"),
    [
        ("namespace", None),
        ("registry_name", None),
        ("token_file", None),
        ("token_audience", None),
        ("ca_file", None),
        ("label_prefix", "modelregistry.opendatahub.io"),
        ("refresh_seconds", 30),
        ("param_names", "vllm_model_name,model_name,version_name"),
        ("webhook", WebhookMode.URL),
        ("webhook_port", 9443),
        ("webhook_cert_file", None),
        ("webhook_key_file", None),
        ("metrics_port", 8080),
        ("health_port", 8081),
        ("gitops_max_corrections", 3),
        ("gitops_window_seconds", 600),
    ],
)
def test_defaults_are_the_documented_ones(field: str, default: object) -> None:
    assert getattr(load_settings(), field) == default


def test_the_registry_url_is_required_naming_its_flag_and_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REGISTRY_SYNC_REGISTRY_URL")

    assert (
        "setting --registry-url (REGISTRY_SYNC_REGISTRY_URL) is required: "
        "the Model Registry's REST URL"
    ) in settings_error()


def test_a_missing_registry_url_is_reported_with_the_other_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REGISTRY_SYNC_REGISTRY_URL")

    message = settings_error(namespace="Bad_NS")

    assert "--namespace (REGISTRY_SYNC_NAMESPACE)" in message
    assert "--registry-url (REGISTRY_SYNC_REGISTRY_URL) is required" in message


def test_run_without_a_registry_url_stops_with_a_usage_error_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REGISTRY_SYNC_REGISTRY_URL")

    result = CliRunner().invoke(run, ["--namespace", "demo"])

    assert result.exit_code == 2
    assert "--registry-url (REGISTRY_SYNC_REGISTRY_URL) is required" in result.stderr


def test_audit_settings_leave_the_registry_url_to_the_audit_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REGISTRY_SYNC_REGISTRY_URL")

    assert load_audit_settings().registry_url is None


def test_the_webhook_mode_is_spelled_as_on_the_command_line() -> None:
    assert [mode.value for mode in WebhookMode] == ["url", "service", "off"]


# Where values come from -----------------------------------------------------------------------


# (variable, value, setting, value read; None: the variable's text itself)
FROM_ENVIRONMENT = [
    ("REGISTRY_SYNC_NAMESPACE", "private-ai-demo", "namespace", "private-ai-demo"),
    ("REGISTRY_SYNC_REGISTRY_URL", "https://mr.example:8443", "registry_url", None),
    ("REGISTRY_SYNC_REGISTRY_NAME", "private-ai", "registry_name", "private-ai"),
    ("REGISTRY_SYNC_LABEL_PREFIX", "modelregistry.kubeflow.org", "label_prefix", None),
    ("REGISTRY_SYNC_REFRESH_SECONDS", "12.5", "refresh_seconds", 12.5),
    ("REGISTRY_SYNC_PARAM_NAMES", "served,model,version", "param_names", None),
    ("REGISTRY_SYNC_WEBHOOK", "off", "webhook", WebhookMode.OFF),
    ("REGISTRY_SYNC_WEBHOOK_HOST", "0.0.0.0", "webhook_host", None),
    ("REGISTRY_SYNC_WEBHOOK_PORT", "10443", "webhook_port", 10443),
    ("REGISTRY_SYNC_METRICS_PORT", "9090", "metrics_port", 9090),
    ("REGISTRY_SYNC_HEALTH_PORT", "9091", "health_port", 9091),
    ("REGISTRY_SYNC_GITOPS_MAX_CORRECTIONS", "5", "gitops_max_corrections", 5),
    ("REGISTRY_SYNC_GITOPS_WINDOW_SECONDS", "60", "gitops_window_seconds", 60),
]


@pytest.mark.parametrize(
    ("variable", "value", "field", "expected"),
    [pytest.param(*row, id=row[0]) for row in FROM_ENVIRONMENT],
)
def test_each_setting_is_read_from_its_environment_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str, expected: object
) -> None:
    monkeypatch.setenv(variable, value)
    assert getattr(load_settings(), field) == (value if expected is None else expected)


def test_file_settings_are_read_from_their_environment_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    files = {name: a_file(tmp_path, name) for name in ("token", "ca", "tls.crt", "tls.key")}
    monkeypatch.setenv("REGISTRY_SYNC_TOKEN_FILE", str(files["token"]))
    monkeypatch.setenv("REGISTRY_SYNC_CA_FILE", str(files["ca"]))
    monkeypatch.setenv("REGISTRY_SYNC_WEBHOOK_CERT_FILE", str(files["tls.crt"]))
    monkeypatch.setenv("REGISTRY_SYNC_WEBHOOK_KEY_FILE", str(files["tls.key"]))
    settings = load_settings()
    assert (
        settings.token_file,
        settings.ca_file,
        settings.webhook_cert_file,
        settings.webhook_key_file,
    ) == (files["token"], files["ca"], files["tls.crt"], files["tls.key"])


def test_an_explicit_value_beats_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_SYNC_REFRESH_SECONDS", "12")
    assert load_settings(refresh_seconds=45).refresh_seconds == 45


def test_an_explicit_none_counts_as_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_SYNC_NAMESPACE", "from-env")
    assert load_settings(namespace=None).namespace == "from-env"


# What the kubelet injects into every pod of the namespace for the Services
# `registry-sync-webhook` and `registry-sync-metrics` (service links), shaped like settings.
SERVICE_LINK_VARIABLES = {
    "REGISTRY_SYNC_WEBHOOK_SERVICE_HOST": "172.30.0.10",
    "REGISTRY_SYNC_WEBHOOK_SERVICE_PORT": "443",
    "REGISTRY_SYNC_WEBHOOK_PORT": "tcp://172.30.0.10:443",
    "REGISTRY_SYNC_WEBHOOK_PORT_443_TCP_ADDR": "172.30.0.10",
    "REGISTRY_SYNC_METRICS_SERVICE_HOST": "172.30.0.11",
    "REGISTRY_SYNC_METRICS_PORT": "tcp://172.30.0.11:8080",
}


def test_service_link_variables_are_overridden_by_the_port_flags(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable, value in SERVICE_LINK_VARIABLES.items():
        monkeypatch.setenv(variable, value)
    settings = load_settings(webhook_port=9443, metrics_port=8080)
    assert (settings.webhook_port, settings.metrics_port) == (9443, 8080)


def test_the_registry_url_loses_its_trailing_slash() -> None:
    assert load_settings(registry_url="https://mr.example:8443/").registry_url == (
        "https://mr.example:8443"
    )


def test_service_mode_with_a_certificate_and_key_is_accepted(tmp_path: Path) -> None:
    settings = load_settings(
        webhook="service",
        webhook_cert_file=a_file(tmp_path, "tls.crt"),
        webhook_key_file=a_file(tmp_path, "tls.key"),
    )
    assert settings.webhook is WebhookMode.SERVICE


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.refresh_seconds = 1


# Invalid values: each error names the flag and the variable -----------------------------------

# (setting, value, what the message says, test id)
INVALID_VALUES = [
    ("registry_url", "ftp://mr.example", "is not an http(s) URL", "registry-url-ftp"),
    ("registry_url", "mr.example:8443", "is not an http(s) URL", "registry-url-no-scheme"),
    ("registry_url", "https://", "is not an http(s) URL", "registry-url-no-host"),
    ("registry_url", "https://mr.example/?x=1", "must not carry a query", "registry-url-query"),
    ("registry_url", "https://mr.example/#top", "query or fragment", "registry-url-fragment"),
    ("namespace", "Private_AI", "is not a valid namespace name", "namespace-underscore"),
    ("namespace", "n" * 64, "is not a valid namespace name", "namespace-too-long"),
    ("namespace", "-demo", "is not a valid namespace name", "namespace-leading-dash"),
    ("registry_name", "my registry", "cannot be a label value", "registry-name-space"),
    ("label_prefix", "ModelRegistry.io", "is not a label prefix", "label-prefix-upper-case"),
    ("label_prefix", "modelregistry.io/", "is not a label prefix", "label-prefix-slash"),
    ("label_prefix", "", "is not a label prefix", "label-prefix-empty"),
    ("refresh_seconds", 0, "greater than 0", "refresh-zero"),
    ("refresh_seconds", -5, "greater than 0", "refresh-negative"),
    ("refresh_seconds", "soon", "valid number", "refresh-not-a-number"),
    ("param_names", "a,b", "must be three comma-separated names", "param-names-two"),
    ("param_names", "a,1b,c", "not a valid Tekton param name", "param-names-invalid-name"),
    ("param_names", "a,b,a", "must be three different names", "param-names-duplicate"),
    ("webhook_port", 0, "greater than or equal to 1", "webhook-port-zero"),
    ("webhook_port", 65536, "less than or equal to 65535", "webhook-port-too-big"),
    ("metrics_port", -1, "greater than or equal to 0", "metrics-port-negative"),
    ("health_port", 70000, "less than or equal to 65535", "health-port-too-big"),
    ("webhook", "managed", "'url', 'service' or 'off'", "webhook-mode-unknown"),
    ("gitops_max_corrections", 0, "greater than or equal to 1", "gitops-corrections-zero"),
    ("gitops_window_seconds", 0, "greater than 0", "gitops-window-zero"),
]


def message_names_the_setting(message: str, field: str) -> bool:
    flag = "--" + field.replace("_", "-")
    return f"setting {flag} ({ENV_PREFIX}{field.upper()}): " in message


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [pytest.param(field, value, reason, id=id_) for field, value, reason, id_ in INVALID_VALUES],
)
def test_an_invalid_value_is_an_error_naming_the_flag_and_the_variable(
    field: str, value: object, reason: str
) -> None:
    message = settings_error(**{field: value})
    assert message_names_the_setting(message, field)
    assert reason in message


@pytest.mark.parametrize(
    ("field", "path"),
    [
        pytest.param("token_file", "missing-token", id="token-file-missing"),
        pytest.param("token_file", ".", id="token-file-a-directory"),
        pytest.param("ca_file", "missing-ca.crt", id="ca-file-missing"),
    ],
)
def test_a_file_that_cannot_be_read_is_an_error_naming_the_flag_and_the_variable(
    tmp_path: Path, field: str, path: str
) -> None:
    message = settings_error(**{field: tmp_path / path})
    assert message_names_the_setting(message, field)
    assert "is not a readable file" in message


def test_a_missing_webhook_certificate_is_an_error_naming_its_flag(tmp_path: Path) -> None:
    message = settings_error(
        webhook_cert_file=tmp_path / "tls.crt", webhook_key_file=a_file(tmp_path, "tls.key")
    )
    assert message_names_the_setting(message, "webhook_cert_file")


def test_an_invalid_environment_value_is_an_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REGISTRY_SYNC_WEBHOOK_PORT", "70000")
    message = settings_error()
    assert "setting --webhook-port (REGISTRY_SYNC_WEBHOOK_PORT): " in message


def test_several_invalid_values_are_reported_together() -> None:
    message = settings_error(namespace="Bad_NS", refresh_seconds=0, webhook="managed")
    assert "--namespace (REGISTRY_SYNC_NAMESPACE)" in message
    assert "--refresh-seconds (REGISTRY_SYNC_REFRESH_SECONDS)" in message
    assert "--webhook (REGISTRY_SYNC_WEBHOOK)" in message


def test_an_unknown_setting_is_an_error_naming_it() -> None:
    assert "unknown setting 'registry'" in settings_error(registry="https://mr.example")


def test_a_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


# Settings that go together ---------------------------------------------------------------------


def test_a_certificate_without_a_key_is_an_error_naming_both_flags(tmp_path: Path) -> None:
    message = settings_error(webhook_cert_file=a_file(tmp_path, "tls.crt"))
    assert "go together" in message
    assert "--webhook-cert-file" in message
    assert "--webhook-key-file" in message


def test_a_key_without_a_certificate_is_an_error_naming_both_flags(tmp_path: Path) -> None:
    message = settings_error(webhook_key_file=a_file(tmp_path, "tls.key"))
    assert "go together" in message
    assert "--webhook-cert-file" in message
    assert "--webhook-key-file" in message


def test_service_mode_without_a_certificate_is_an_error_naming_the_flags() -> None:
    message = settings_error(webhook="service")
    assert "--webhook service needs --webhook-cert-file" in message
    assert "--webhook-key-file" in message


def test_a_certificate_without_a_key_names_their_variables_too(tmp_path: Path) -> None:
    message = settings_error(webhook_cert_file=a_file(tmp_path, "tls.crt"))
    assert "REGISTRY_SYNC_WEBHOOK_CERT_FILE" in message
    assert "REGISTRY_SYNC_WEBHOOK_KEY_FILE" in message


def test_service_mode_without_a_certificate_names_the_variables_too() -> None:
    message = settings_error(webhook="service")
    assert "REGISTRY_SYNC_WEBHOOK_CERT_FILE" in message
    assert "REGISTRY_SYNC_WEBHOOK_KEY_FILE" in message


def test_an_error_across_settings_is_reported_with_the_other_errors() -> None:
    message = settings_error(namespace="Bad_NS", webhook="service")
    assert "--namespace" in message
    assert "--webhook service needs --webhook-cert-file" in message


# The registry token never travels in clear ---------------------------------------------------

# Settings `run` and `audit` share (RegistrySettings): both refuse it.
LOADERS = [pytest.param(load_settings, id="run"), pytest.param(load_audit_settings, id="audit")]


@pytest.mark.parametrize("load", LOADERS)
@pytest.mark.parametrize(
    "url",
    [
        "http://model-registry-service.kubeflow.svc:8080",
        "http://10.0.0.7:8080",
        "http://localhost.example.com",
        "HTTP://mr.example",
    ],
)
def test_a_token_file_with_a_plain_http_registry_url_is_refused_naming_both_settings(
    tmp_path: Path, load: Any, url: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        load(registry_url=url, token_file=a_file(tmp_path, "token"))

    message = str(raised.value)
    assert message_names_the_setting(message, "token_file")
    assert "--registry-url (REGISTRY_SYNC_REGISTRY_URL)" in message
    assert "plain HTTP" in message


@pytest.mark.parametrize("load", LOADERS)
def test_a_token_over_http_is_refused_when_both_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, load: Any
) -> None:
    monkeypatch.setenv("REGISTRY_SYNC_REGISTRY_URL", "http://mr.example:8080")
    monkeypatch.setenv("REGISTRY_SYNC_TOKEN_FILE", str(a_file(tmp_path, "token")))

    with pytest.raises(SettingsError, match=r"--token-file .*plain HTTP"):
        load()


def test_the_refusal_does_not_show_credentials_of_the_url(tmp_path: Path) -> None:
    message = settings_error(
        registry_url="http://user:pa55word@mr.example:8080", token_file=a_file(tmp_path, "t")
    )
    assert "pa55word" not in message


@pytest.mark.parametrize("load", LOADERS)
@pytest.mark.parametrize(
    "url",
    [
        "https://mr.example:8443",
        # Loopback never leaves the host: a sidecar in the pod, the test servers.
        "http://127.0.0.1:8080",
        "http://127.3.4.5:8080",
        "http://[::1]:8080",
        "http://localhost:8080",
    ],
)
def test_a_token_file_is_accepted_over_https_or_to_loopback(
    tmp_path: Path, load: Any, url: str
) -> None:
    token = a_file(tmp_path, "token")
    assert load(registry_url=url, token_file=token).token_file == token


@pytest.mark.parametrize("load", LOADERS)
def test_a_plain_http_registry_without_a_token_is_accepted(load: Any) -> None:
    url = "http://model-registry-service.kubeflow.svc:8080"
    assert load(registry_url=url).registry_url == url


# The token's audience -------------------------------------------------------------------------


def test_the_token_audience_is_read_from_its_flag_and_its_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token = a_file(tmp_path, "token")
    monkeypatch.setenv("REGISTRY_SYNC_TOKEN_AUDIENCE", "from-env")
    flags = ["--token-file", str(token), "--token-audience", "from-flag"]
    context = run.make_context("run", flags)

    assert load_settings(token_file=token).token_audience == "from-env"
    given = {name: value for name, value in context.params.items() if name != "verbose"}
    assert load_settings(**given).token_audience == "from-flag"


def test_a_token_audience_without_a_token_file_is_an_error_naming_both() -> None:
    message = settings_error(token_audience="model-registry")
    assert message_names_the_setting(message, "token_audience")
    assert "--token-file (REGISTRY_SYNC_TOKEN_FILE)" in message


@pytest.mark.parametrize("audience", ["", "  ", "model registry"])
def test_a_token_audience_must_be_one_value_without_spaces(tmp_path: Path, audience: str) -> None:
    message = settings_error(token_file=a_file(tmp_path, "token"), token_audience=audience)
    assert message_names_the_setting(message, "token_audience")
    assert "is not an audience" in message
