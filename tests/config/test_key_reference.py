"""An API key pasted into `api_key_env` (or `api_key_secret`) is a config error that never repeats
the value (issue 12 item 7): not in `config validate`, not on the daemon's console or in its log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from config_test_helpers import edit_text
from risk_manager.cli import app

runner = CliRunner()
KEY = "ApiKeySECRET-9f8Qz2LmX7vB4nT1wR6yK3pH5sD0aE"
KEY_ALNUM = "Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0Lm"  # a key made only of letters and digits


@pytest.mark.parametrize("field,value", [("api_key_env", KEY), ("api_key_env", KEY_ALNUM),
                                         ("api_key_secret", KEY_ALNUM)])
def test_validate_refuses_a_key_in_a_reference_without_echoing_it(config_dir: Path, field: str, value: str):
    accounts = config_dir / "accounts.yaml"
    if field == "api_key_env":
        edit_text(accounts, "api_key_env: PROJECTX_API_KEY", f"api_key_env: {value}")
    else:
        edit_text(accounts, "  # api_key_secret: projectx-api-key\n", f"  api_key_secret: {value}\n")
    result = runner.invoke(app, ["config", "validate", "--config", str(config_dir)], env={"PROJECTX_API_KEY": "k"})
    assert result.exit_code == 1, result.output
    assert f"gateway.{field}" in result.stderr
    assert value not in result.output and value[:12] not in result.output


def test_names_of_variables_and_secrets_still_pass(config_dir: Path):
    accounts = config_dir / "accounts.yaml"
    edit_text(accounts, "api_key_env: PROJECTX_API_KEY", "api_key_env: MY_TOPSTEP_KEY_2")
    edit_text(accounts, "  # api_key_secret: projectx-api-key\n", "  api_key_secret: projectx-api-key\n")
    result = runner.invoke(app, ["config", "validate", "--config", str(config_dir)], env={"MY_TOPSTEP_KEY_2": "k"})
    assert result.exit_code == 0, result.output


def test_daemon_refuses_to_start_and_never_prints_or_logs_the_key(config_dir: Path):
    edit_text(config_dir / "accounts.yaml", "api_key_env: PROJECTX_API_KEY", f"api_key_env: {KEY}")
    edit_text(config_dir / "accounts.yaml", "127.0.0.1:8765", "127.0.0.1:0")
    env = {k: v for k, v in os.environ.items() if k != "PROJECTX_API_KEY"}
    proc = subprocess.run([sys.executable, "-m", "risk_manager", "run", "--config", str(config_dir)],
                          env=env, capture_output=True, text=True, timeout=120)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output  # a config error
    assert "gateway.api_key_env" in output
    logs = "".join(p.read_text(errors="replace") for p in (config_dir / "logs").glob("*")) \
        if (config_dir / "logs").is_dir() else ""
    for text in (output, logs):
        assert KEY not in text and KEY[:12] not in text
