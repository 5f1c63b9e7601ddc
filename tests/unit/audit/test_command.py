"""`registry-sync audit` before it reads anything: settings, exit code 2, the kubectl plugin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from registry_sync.audit.command import audit, kubectl_plugin
from registry_sync.audit.settings import AuditSettingsError, load_audit_settings
from registry_sync.cli import main

REGISTRY = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def no_ambient_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No REGISTRY_SYNC_* or kubeconfig from the machine running the tests."""
    for variable in (
        "NAMESPACE",
        "REGISTRY_URL",
        "REGISTRY_NAME",
        "TOKEN_FILE",
        "CA_FILE",
        "LABEL_PREFIX",
        "PARAM_NAMES",
        "DIGEST_CHECK",
        "PULL_SECRET",
        "OCI_CA_FILE",
        "OCI_HOSTS",
    ):
        monkeypatch.delenv(f"REGISTRY_SYNC_{variable}", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(audit, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_without_a_registry_url_it_cannot_audit() -> None:
    code, _, stderr = run("-n", "demo")

    assert code == 2
    assert "--registry-url (REGISTRY_SYNC_REGISTRY_URL) is required" in stderr


def test_a_wrong_setting_is_named_with_its_flag_and_variable() -> None:
    code, _, stderr = run("-n", "demo", "--registry-url", REGISTRY, "--param-names", "a,b")

    assert code == 2
    assert "setting --param-names (REGISTRY_SYNC_PARAM_NAMES)" in stderr


def test_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_SYNC_LABEL_PREFIX", "Not A Prefix")

    code, _, stderr = run("-n", "demo", "--registry-url", REGISTRY)

    assert code == 2
    assert "setting --label-prefix (REGISTRY_SYNC_LABEL_PREFIX)" in stderr


def test_flags_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_SYNC_REGISTRY_URL", "http://from-env:1")
    monkeypatch.setenv("REGISTRY_SYNC_NAMESPACE", "from-env")

    settings = load_audit_settings(namespace="from-flag", registry_url=None)

    assert (settings.namespace, settings.registry_url) == ("from-flag", "http://from-env:1")


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("namespace", "Not_A_Namespace"),
        ("registry_url", "ftp://registry"),
        ("registry_name", "no spaces allowed"),
        ("token_file", "/no/such/token"),
        ("label_prefix", "UPPER.case"),
        ("param_names", "a,a,b"),
        ("digest_check", "sometimes"),
        ("pull_secret", "Not A Secret"),
        ("oci_ca_file", "/no/such/ca.pem"),
        ("oci_hosts", "quay.io/path"),
    ],
)
def test_each_setting_is_validated(setting: str, value: str) -> None:
    with pytest.raises(AuditSettingsError, match=f"--{setting.replace('_', '-')}"):
        load_audit_settings(**{setting: value})


def test_an_unreadable_kubeconfig_cannot_be_audited(tmp_path: Path) -> None:
    code, _, stderr = run(
        "-n", "demo", "--registry-url", REGISTRY, "--kubeconfig", str(tmp_path / "missing")
    )

    assert code == 2
    assert "cannot load a Kubernetes configuration" in stderr


def test_without_a_namespace_it_takes_the_kubeconfig_contexts(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )

    code, _, stderr = run("--registry-url", REGISTRY, "--kubeconfig", str(kubeconfig))

    assert code == 2
    assert "current context names no namespace" in stderr


def test_with_json_output_the_reason_is_also_a_json_document() -> None:
    code, stdout, _ = run("-n", "demo", "-o", "json")

    assert code == 2
    assert json.loads(stdout) == {
        "schemaVersion": 1,
        "namespace": "demo",
        "error": "setting --registry-url (REGISTRY_SYNC_REGISTRY_URL) is required: the Model "
        "Registry's REST URL",
    }


def test_the_kubectl_plugin_offers_the_audit_command() -> None:
    result = CliRunner().invoke(
        kubectl_plugin, ["audit", "--help"], prog_name="kubectl-registry_sync"
    )

    assert result.exit_code == 0
    assert "Usage: kubectl-registry_sync audit" in result.stdout


def test_registry_sync_offers_the_audit_command() -> None:
    result = CliRunner().invoke(main, ["audit", "--help"], prog_name="registry-sync")

    assert result.exit_code == 0
    assert "Usage: registry-sync audit" in result.stdout


def test_the_digest_check_settings_are_those_of_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_SYNC_DIGEST_CHECK", "enforce")

    settings = load_audit_settings(pull_secret="model-images", oci_hosts="quay.io")
    default = load_audit_settings(digest_check="report")

    assert (settings.digest_check, settings.pull_secret, settings.oci_hosts) == (
        "enforce",
        "model-images",
        "quay.io",
    )
    assert (default.digest_check, default.oci_hosts) == ("report", "*")


def test_the_digest_check_flags_are_offered() -> None:
    result = CliRunner().invoke(audit, ["--help"])

    for flag in ("--digest-check", "--pull-secret", "--oci-ca-file", "--oci-hosts"):
        assert flag in result.stdout
