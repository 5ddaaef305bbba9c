import shutil

from typer.testing import CliRunner

from config_test_helpers import edit_text, line_of
from risk_manager.cli import app
from risk_manager.config.loader import CONFIG_ENV

runner = CliRunner()


def test_validate_ok(config_dir):
    result = runner.invoke(app, ["config", "validate", "--config", str(config_dir)], env={"PROJECTX_API_KEY": "k"})
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"OK: {config_dir}: 1 account(s) guarded")
    from risk_manager.config.models import RULE_MODELS

    assert f"11 of {len(RULE_MODELS)} rules enabled" in result.stdout  # firm guards: left out
    assert "warning" not in result.output


def test_validate_ok_warns_about_missing_api_key(config_dir):
    result = runner.invoke(app, ["config", "validate", "--config", str(config_dir)], env={"PROJECTX_API_KEY": None})
    assert result.exit_code == 0
    assert "warning: no API key found" in result.stdout and "PROJECTX_API_KEY" in result.stdout


def test_validate_bad_dir_lists_every_problem(config_dir):
    risk = config_dir / "risk_config.yaml"
    edit_text(risk, "    limit: 5\n", "    limit: -1\n")
    edit_text(risk, "    per_hour: 10\n", "    per_hour: ten\n")
    edit_text(config_dir / "accounts.yaml", "enabled: true", "enabled: yes please")
    result = runner.invoke(app, ["config", "validate", "--config", str(config_dir)])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    limit_line = line_of(risk, "limit: -1")
    assert lines[0].startswith(
        f"risk_config.yaml:{limit_line}:5: rules.max_contracts.limit: Input should be greater than or equal to 0 (hint: "
    )
    assert lines[1].startswith(f"risk_config.yaml:{line_of(risk, 'per_hour: ten')}:5: rules.trade_frequency_limit.per_hour:")
    assert lines[2].startswith("accounts.yaml:") and "accounts[0].enabled" in lines[2]
    assert lines[3] == f"3 problems: invalid configuration in {config_dir}"
    assert "OK" not in result.stdout


def test_validate_syntax_error_and_missing_file(config_dir, tmp_path_factory):
    edit_text(config_dir / "risk_config.yaml", "rules:\n", "rules:\n  - oops: [\n")
    result = runner.invoke(app, ["config", "validate", "--config", str(config_dir)])
    assert result.exit_code == 1 and "risk_config.yaml:" in result.stderr and "YAML syntax error" in result.stderr
    empty = tmp_path_factory.mktemp("empty")
    shutil.copy(config_dir / "accounts.yaml", empty / "accounts.yaml")
    result = runner.invoke(app, ["config", "validate", "--config", str(empty)])
    assert result.exit_code == 1 and "risk_config.yaml: file not found" in result.stderr


def test_validate_uses_env_config_dir(config_dir):
    result = runner.invoke(app, ["config", "validate"], env={CONFIG_ENV: str(config_dir), "PROJECTX_API_KEY": "k"})
    assert result.exit_code == 0 and result.stdout.startswith(f"OK: {config_dir}")
