"""The served-name check's settings: `--served-name-check`, `--predictor-ca-file`,
`--predictor-token-file`, each also `REGISTRY_SYNC_<FLAG>`.

Specification: DESIGN.md "Truth from what runs" (Served name) and "Interfaces".
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from registry_sync.controller.settings import SettingsError, load_settings
from registry_sync.domain.served_names import ServedNameCheck
from registry_sync.handlers.command import run

ENV_PREFIX = "REGISTRY_SYNC_"


@pytest.fixture(autouse=True)
def no_settings_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in os.environ:
        if variable.startswith(ENV_PREFIX):
            monkeypatch.delenv(variable)
    monkeypatch.setenv("REGISTRY_SYNC_REGISTRY_URL", "https://mr.example:8443")


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    path = tmp_path / "predictor-ca.crt"
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return path


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "predictor-token"
    path.write_text("sha256~predictor")
    return path


def settings_error(**given: object) -> str:
    with pytest.raises(SettingsError) as raised:
        load_settings(**given)
    return str(raised.value)


def test_the_check_is_off_without_predictor_files_by_default() -> None:
    settings = load_settings()

    assert settings.served_name_check is ServedNameCheck.OFF
    assert (settings.predictor_ca_file, settings.predictor_token_file) == (None, None)


@pytest.mark.parametrize("mode", ["off", "report", "enforce"])
def test_each_mode_is_read_from_its_variable(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    monkeypatch.setenv("REGISTRY_SYNC_SERVED_NAME_CHECK", mode)

    assert load_settings().served_name_check is ServedNameCheck(mode)


def test_the_predictor_files_are_read_from_their_variables(
    monkeypatch: pytest.MonkeyPatch, ca_file: Path, token_file: Path
) -> None:
    monkeypatch.setenv("REGISTRY_SYNC_PREDICTOR_CA_FILE", str(ca_file))
    monkeypatch.setenv("REGISTRY_SYNC_PREDICTOR_TOKEN_FILE", str(token_file))

    settings = load_settings()

    assert (settings.predictor_ca_file, settings.predictor_token_file) == (ca_file, token_file)


def test_the_flags_beat_the_variables(
    monkeypatch: pytest.MonkeyPatch, ca_file: Path, token_file: Path
) -> None:
    monkeypatch.setenv("REGISTRY_SYNC_SERVED_NAME_CHECK", "report")
    flags = [
        "--served-name-check",
        "enforce",
        "--predictor-ca-file",
        str(ca_file),
        "--predictor-token-file",
        str(token_file),
    ]
    context = run.make_context("run", flags)
    given = {name: value for name, value in context.params.items() if name != "verbose"}

    settings = load_settings(**given)

    assert settings.served_name_check is ServedNameCheck.ENFORCE
    assert (settings.predictor_ca_file, settings.predictor_token_file) == (ca_file, token_file)


def test_run_help_lists_the_three_flags() -> None:
    shown = CliRunner().invoke(run, ["--help"]).output

    for flag in ("--served-name-check", "--predictor-ca-file", "--predictor-token-file"):
        assert flag in shown


@pytest.mark.parametrize("mode", ["on", "ENFORCE", "audit", ""])
def test_an_unknown_mode_is_an_error_naming_the_flag_the_variable_and_the_modes(
    mode: str,
) -> None:
    message = settings_error(served_name_check=mode)

    assert "setting --served-name-check (REGISTRY_SYNC_SERVED_NAME_CHECK): " in message
    assert "'off', 'report' or 'enforce'" in message


@pytest.mark.parametrize(
    ("field", "flag_and_variable"),
    [
        ("predictor_ca_file", "--predictor-ca-file (REGISTRY_SYNC_PREDICTOR_CA_FILE)"),
        ("predictor_token_file", "--predictor-token-file (REGISTRY_SYNC_PREDICTOR_TOKEN_FILE)"),
    ],
)
@pytest.mark.parametrize("name", ["absent", "."])
def test_a_predictor_file_that_cannot_be_read_is_an_error_naming_it(
    tmp_path: Path, field: str, flag_and_variable: str, name: str
) -> None:
    message = settings_error(**{field: tmp_path / name})

    assert f"setting {flag_and_variable}: " in message
    assert "is not a readable file" in message


def test_the_registry_token_is_not_the_predictor_token(token_file: Path) -> None:
    # Two settings, two secrets: the registry's token never goes to a predictor.
    settings = load_settings(token_file=token_file)

    assert settings.predictor_token_file is None
