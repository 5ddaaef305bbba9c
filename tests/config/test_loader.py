from pathlib import Path

import pytest

from risk_manager.config.loader import (
    CONFIG_ENV,
    ConfigError,
    default_config_dir,
    load_config_dir,
    resolve_api_key,
)
from risk_manager.config.models import FIRM_RULE_IDS, RULE_MODELS, RiskConfig
from config_test_helpers import column_of, edit_text, line_of


def problems_of(config_dir: Path):
    with pytest.raises(ConfigError) as info:
        load_config_dir(config_dir)
    return info.value.problems


def test_examples_validate_and_match_spec_defaults(config_dir):
    loaded = load_config_dir(config_dir)
    expected = RiskConfig.model_validate(
        {"rules": {**{name: {} for name in RULE_MODELS if name not in FIRM_RULE_IDS},  # firm: left out
                   "daily_realized_profit": {"enabled": False}}}
    )
    assert loaded.risk == expected
    assert loaded.risk.rules.trade_management.enabled is False
    assert loaded.accounts.accounts[0].name == "PRAC-V2-123456-12345678"
    assert loaded.state_dir == config_dir / "state"
    assert loaded.log_dir == config_dir / "logs"
    assert loaded.warnings == ()


def test_negative_limit_names_file_line_column_field_and_hint(config_dir):
    risk = config_dir / "risk_config.yaml"
    edit_text(risk, "    limit: 5\n", "    limit: -1\n")
    [problem] = problems_of(config_dir)
    assert (problem.file, problem.line, problem.column) == ("risk_config.yaml", line_of(risk, "limit: -1"), 5)
    assert problem.field == "rules.max_contracts.limit"
    assert "greater than or equal to 0" in problem.message
    assert problem.hint and "enabled: false" in problem.hint
    assert str(problem).startswith(f"risk_config.yaml:{problem.line}:5: rules.max_contracts.limit: Input should")


def test_typo_in_key_suggests_the_right_one(config_dir):
    risk = config_dir / "risk_config.yaml"
    edit_text(risk, "    loss_limit: 500\n", "    los_limit: 500\n")
    [problem] = problems_of(config_dir)
    assert problem.field == "rules.daily_realized_loss.los_limit"
    assert problem.line == line_of(risk, "los_limit")
    assert problem.hint == "did you mean 'loss_limit'?"
    assert problem.message == "unknown setting 'los_limit'"


def test_unknown_rule_suggests_a_rule(config_dir):
    risk = config_dir / "risk_config.yaml"
    edit_text(risk, "  max_contracts:\n", "  max_contract:\n")
    problems = problems_of(config_dir)
    unknown = [p for p in problems if p.field == "rules.max_contract"]
    assert unknown and unknown[0].hint == "did you mean 'max_contracts'?"
    assert unknown[0].message == "unknown rule 'max_contract'"
    assert unknown[0].line == line_of(risk, "max_contract:")


def test_error_inside_flow_mapping_and_list_item(config_dir):
    risk = config_dir / "risk_config.yaml"
    edit_text(risk, "{loss_amount: -200, cooldown_seconds: 900}", "{loss_amount: 200, cooldown_seconds: 900}")
    edit_text(risk, "limits: {MNQ: 2,", "limits: {MNQ: two,")
    problems = {p.field: p for p in problems_of(config_dir)}
    tier = problems["rules.cooldown_after_loss.tiers[1].loss_amount"]
    assert tier.line == line_of(risk, "loss_amount: 200")
    assert "-100" in tier.hint
    limit = problems["rules.max_contracts_per_instrument.limits.MNQ"]
    assert limit.line == line_of(risk, "MNQ: two")
    assert limit.column == column_of(risk, "MNQ: two")


def test_unquoted_time_and_bad_timezone(config_dir):
    risk = config_dir / "risk_config.yaml"
    edit_text(risk, 'reset_time: "17:00"', "reset_time: 1700")
    edit_text(risk, "timezone: America/Chicago\n\npnl", "timezone: America/Chicag\n\npnl")
    problems = {p.field: p for p in problems_of(config_dir)}
    assert "quotes" in problems["trading_day.reset_time"].hint
    assert "unknown timezone" in problems["trading_day.timezone"].message


def test_yaml_syntax_error_names_file_and_line(config_dir):
    risk = config_dir / "risk_config.yaml"
    edit_text(risk, "    per_hour: 10\n", "    per_hour: [10\n")
    [problem] = problems_of(config_dir)
    assert problem.file == "risk_config.yaml" and problem.line is not None
    assert problem.message.startswith("YAML syntax error")
    assert abs(problem.line - line_of(risk, "per_hour: [10")) <= 1


def test_duplicate_key_is_an_error(config_dir):
    risk = config_dir / "risk_config.yaml"
    edit_text(risk, "    limit: 5\n", "    limit: 5\n    limit: 6\n")
    [problem] = problems_of(config_dir)
    assert "duplicate key" in problem.message and problem.line == line_of(risk, "limit: 6")


def test_missing_rule_block_is_disabled_with_defaults(config_dir):
    risk = config_dir / "risk_config.yaml"
    text = risk.read_text()
    start = text.index("  # R04")
    end = text.index("  # R05")
    risk.write_text(text[:start] + text[end:])
    rule = load_config_dir(config_dir).risk.rules.daily_unrealized_loss
    assert rule.enabled is False and rule.loss_limit == 300


def test_missing_file_and_missing_dir(config_dir, tmp_path):
    (config_dir / "risk_config.yaml").unlink()
    [problem] = problems_of(config_dir)
    assert problem.file == "risk_config.yaml" and "file not found" in problem.message and problem.hint
    [problem] = problems_of(tmp_path / "nope")
    assert "config directory not found" in problem.message and CONFIG_ENV in problem.hint


def test_top_level_not_a_mapping(config_dir):
    (config_dir / "accounts.yaml").write_text("- just\n- a list\n")
    [problem] = problems_of(config_dir)
    assert problem.file == "accounts.yaml" and "mapping" in problem.message


def test_accounts_errors_with_lines(config_dir):
    accounts = config_dir / "accounts.yaml"
    edit_text(accounts, "  username: your-topstepx-username\n", "  api_key: abc123\n")
    edit_text(accounts, "status_api: 127.0.0.1:8765", "status_api: 0.0.0.0:8765")
    problems = {p.field: p for p in problems_of(config_dir)}
    assert problems["gateway.username"].message == "Field required"
    assert problems["gateway.username"].line == line_of(accounts, "gateway:")
    assert "api_key_env" in problems["gateway.api_key"].hint
    assert "abc123" not in str(problems["gateway.api_key"])
    assert problems["daemon.status_api"].line == line_of(accounts, "0.0.0.0")


def test_account_without_name_or_id_and_duplicates(config_dir):
    accounts = config_dir / "accounts.yaml"
    edit_text(
        accounts,
        "  # - id: 12345678\n",
        "  - {enabled: false}\n  - {name: PRAC-V2-123456-12345678}\n",
    )
    problems = problems_of(config_dir)
    by_field = {p.field: p for p in problems}
    assert "accounts[1]" in by_field and "name" in by_field["accounts[1]"].message
    assert by_field["accounts[1]"].line == line_of(accounts, "{enabled: false}")


def test_duplicate_accounts(config_dir):
    accounts = config_dir / "accounts.yaml"
    edit_text(accounts, "  # - id: 12345678\n", "  - name: PRAC-V2-123456-12345678\n")
    [problem] = problems_of(config_dir)
    assert problem.field == "accounts[1].name" and "twice" in problem.message
    entries = [n for n, line in enumerate(accounts.read_text().splitlines(), 1) if "- name: PRAC" in line]
    assert problem.line == entries[1]


def test_override_errors_point_into_accounts_yaml(config_dir):
    accounts = config_dir / "accounts.yaml"
    edit_text(accounts, "    overrides: {}\n", "    overrides:\n      max_contracts: {limit: -3}\n")
    [problem] = problems_of(config_dir)
    assert problem.file == "accounts.yaml"
    assert problem.field == "accounts[0].overrides.max_contracts.limit"
    assert problem.line == line_of(accounts, "limit: -3")


def test_valid_override_applies(config_dir):
    accounts = config_dir / "accounts.yaml"
    edit_text(accounts, "    overrides: {}\n", "    overrides: {max_contracts: {limit: 2}}\n")
    loaded = load_config_dir(config_dir)
    assert loaded.risk_for(loaded.accounts.accounts[0]).rules.max_contracts.limit == 2
    assert loaded.risk.rules.max_contracts.limit == 5


def test_problems_of_both_files_reported_together(config_dir):
    edit_text(config_dir / "risk_config.yaml", "    limit: 5\n", "    limit: -1\n")
    edit_text(config_dir / "accounts.yaml", "  username: your-topstepx-username\n", "")
    files = {p.file for p in problems_of(config_dir)}
    assert files == {"risk_config.yaml", "accounts.yaml"}


def test_absolute_state_dir(config_dir, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("state")
    edit_text(config_dir / "accounts.yaml", "state_dir: state", f"state_dir: {elsewhere}")
    assert load_config_dir(config_dir).state_dir == elsewhere


def test_default_config_dir(monkeypatch, tmp_path):
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path))
    assert default_config_dir() == tmp_path
    monkeypatch.delenv(CONFIG_ENV)
    assert default_config_dir() == Path("/etc/risk-manager")


def test_api_key_from_env(config_dir):
    loaded = load_config_dir(config_dir)
    assert loaded.api_key({"PROJECTX_API_KEY": "k-123"}) == "k-123"
    with pytest.raises(ConfigError) as info:
        resolve_api_key(loaded.accounts, loaded.state_dir, {})
    assert "PROJECTX_API_KEY" in str(info.value)
