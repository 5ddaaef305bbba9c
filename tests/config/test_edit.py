import os
from pathlib import Path

import pytest

from config_test_helpers import edit_text, line_of
from risk_manager.config.edit import (
    EditError,
    add_account,
    remove_account,
    set_account_enabled,
    set_rule_enabled,
    set_rule_value,
)
from risk_manager.config.loader import load_config_dir


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def changed_lines(before: str, after: str) -> list[tuple[str, str]]:
    a, b = before.splitlines(), after.splitlines()
    assert len(a) == len(b), "line count changed"
    return [(x, y) for x, y in zip(a, b) if x != y]


def test_set_value_changes_one_line_and_keeps_everything_else(config_dir):
    risk = config_dir / "risk_config.yaml"
    before = risk.read_text()
    result = set_rule_value(config_dir, "max_contracts", "limit", "3")
    after = risk.read_text()
    assert changed_lines(before, after) == [("    limit: 5", "    limit: 3")]
    assert result.changed and result.old == 5 and result.new == 3
    assert result.field == "rules.max_contracts.limit"
    assert result.backup == config_dir / "risk_config.yaml.bak"
    assert result.backup.read_text() == before
    assert load_config_dir(config_dir).risk.rules.max_contracts.limit == 3


def test_flow_mapping_and_nested_keys(config_dir):
    risk = config_dir / "risk_config.yaml"
    before = risk.read_text()
    set_rule_value(config_dir, "max_contracts_per_instrument", "limits.MNQ", "4")
    set_rule_value(config_dir, "trade_frequency_limit", "cooldown_seconds.per_minute", "120")
    set_rule_value(config_dir, "session_block_outside", "sessions.default.start", "09:00")
    after = risk.read_text()
    assert changed_lines(before, after) == [
        ("    limits: {MNQ: 2, NQ: 1, ES: 1, MES: 3}", "    limits: {MNQ: 4, NQ: 1, ES: 1, MES: 3}"),
        (
            "    cooldown_seconds: {per_minute: 60, per_hour: 1800}",
            "    cooldown_seconds: {per_minute: 120, per_hour: 1800}",
        ),
        ('        start: "08:30"', '        start: "09:00"'),
    ]
    rules = load_config_dir(config_dir).risk.rules
    assert rules.max_contracts_per_instrument.limits["MNQ"] == 4
    assert rules.trade_frequency_limit.cooldown_seconds.per_minute == 120
    assert rules.session_block_outside.sessions["default"].start == "09:00"


def test_new_symbol_and_list_values(config_dir):
    set_rule_value(config_dir, "max_contracts_per_instrument", "limits.RTY", "1")
    set_rule_value(config_dir, "symbol_blocks", "blocked_symbols", "[CL, GC]")
    set_rule_value(config_dir, "max_contracts_per_instrument", "unknown_symbol_action", "block")
    rules = load_config_dir(config_dir).risk.rules
    assert rules.max_contracts_per_instrument.limits["RTY"] == 1
    assert rules.symbol_blocks.blocked_symbols == ["CL", "GC"]
    text = (config_dir / "risk_config.yaml").read_text()
    assert "blocked_symbols: [CL, GC]" in text
    assert 'unknown_symbol_action: "block"' in text and "# or block, allow_unlimited" in text


@pytest.mark.parametrize(
    ("rule", "key", "value", "field", "words"),
    [
        ("max_contract", "limit", "3", "rules.max_contract", ["unknown rule", "did you mean 'max_contracts'"]),
        ("max_contracts", "limt", "3", "rules.max_contracts.limt", ["unknown setting", "did you mean 'limit'"]),
        ("trade_frequency_limit", "cooldown_seconds.per_minit", "3", None, ["unknown setting"]),
        ("max_contracts", "limit", "abc", "rules.max_contracts.limit", ["valid integer"]),
        ("max_contracts", "limit", "-1", "rules.max_contracts.limit", ["greater than or equal to 0"]),
        ("max_contracts", "count_type", "both", "rules.max_contracts.count_type", ["'net' or 'gross'"]),
        ("daily_realized_loss", "loss_limit", "[1, 2", None, ["cannot read value"]),
        ("session_block_outside", "sessions.default.start", "25:00", None, ["HH:MM"]),
        ("max_contracts", "enabled", "maybe", "rules.max_contracts.enabled", ["valid boolean"]),
    ],
)
def test_bad_edit_leaves_files_byte_identical(config_dir, rule, key, value, field, words):
    before = snapshot(config_dir)
    with pytest.raises(EditError) as info:
        set_rule_value(config_dir, rule, key, value)
    assert snapshot(config_dir) == before  # no change, no .bak, no temp file left behind
    text = str(info.value)
    for word in words:
        assert word in text
    if field:
        assert any(p.field == field for p in info.value.problems), info.value.problems


def test_validation_error_names_line_in_file(config_dir):
    with pytest.raises(EditError) as info:
        set_rule_value(config_dir, "max_contracts", "limit", "-2")
    [problem] = info.value.problems
    assert problem.file == "risk_config.yaml"
    assert problem.line == line_of(config_dir / "risk_config.yaml", "    limit: 5")


def test_creating_an_absent_rule_block_keeps_it_disabled(config_dir):
    risk = config_dir / "risk_config.yaml"
    text = risk.read_text()
    risk.write_text(text[: text.index("  # R13")])
    result = set_rule_value(config_dir, "daily_realized_profit", "target", "750")
    rule = load_config_dir(config_dir).risk.rules.daily_realized_profit
    assert rule.target == 750 and rule.enabled is False
    assert "disabled" in result.message
    set_rule_enabled(config_dir, "daily_realized_profit", True)
    assert load_config_dir(config_dir).risk.rules.daily_realized_profit.enabled is True


def test_enable_absent_block_and_file_without_rules(config_dir):
    (config_dir / "risk_config.yaml").write_text("# my rules\npnl_basis: gross\n")
    set_rule_enabled(config_dir, "auth_loss_guard", True)
    text = (config_dir / "risk_config.yaml").read_text()
    assert text.startswith("# my rules\npnl_basis: gross\nrules:\n  auth_loss_guard:\n    enabled: true\n")
    assert load_config_dir(config_dir).risk.rules.auth_loss_guard.enabled


def test_enable_disable_and_noop(config_dir):
    result = set_rule_enabled(config_dir, "no_stop_loss_grace", False)
    assert result.changed and result.old is True and result.new is False
    assert load_config_dir(config_dir).risk.rules.no_stop_loss_grace.enabled is False
    bak = (config_dir / "risk_config.yaml.bak").read_bytes()
    again = set_rule_enabled(config_dir, "no_stop_loss_grace", False)
    assert not again.changed and again.backup is None
    assert (config_dir / "risk_config.yaml.bak").read_bytes() == bak


def test_file_mode_is_kept(config_dir):
    risk = config_dir / "risk_config.yaml"
    os.chmod(risk, 0o640)
    set_rule_value(config_dir, "max_contracts", "limit", "4")
    assert risk.stat().st_mode & 0o777 == 0o640


def test_edit_refused_on_broken_yaml(config_dir):
    risk = config_dir / "risk_config.yaml"
    edit_text(risk, "    per_hour: 10\n", "    per_hour: [10\n")
    before = snapshot(config_dir)
    with pytest.raises(EditError) as info:
        set_rule_value(config_dir, "max_contracts", "limit", "4")
    assert snapshot(config_dir) == before
    assert "YAML syntax error" in str(info.value)


def test_edit_that_breaks_an_account_override_is_rejected(config_dir):
    edit_text(
        config_dir / "accounts.yaml",
        "    overrides: {}\n",
        "    overrides: {max_contracts_per_instrument: {limits: {MNQ: 1}}}\n",
    )
    load_config_dir(config_dir)
    # Overrides merge into the rules; a rules edit cannot break them, but a broken override is named.
    edit_text(config_dir / "accounts.yaml", "{limits: {MNQ: 1}}", "{limits: {MNQ: -1}}")
    before = snapshot(config_dir)
    with pytest.raises(EditError) as info:
        set_rule_value(config_dir, "max_contracts", "limit", "4")
    assert snapshot(config_dir) == before
    assert info.value.problems[0].file == "accounts.yaml"


def test_add_and_remove_accounts_keep_comments(config_dir):
    accounts = config_dir / "accounts.yaml"
    before = accounts.read_text()
    add_account(config_dir, id=4242)
    add_account(config_dir, name="PRAC-V2-999", enabled=False)
    loaded = load_config_dir(config_dir)
    assert [(a.name, a.id, a.enabled) for a in loaded.accounts.accounts] == [
        ("PRAC-V2-123456-12345678", None, True),
        (None, 4242, True),
        ("PRAC-V2-999", None, False),
    ]
    text = accounts.read_text()
    assert "# The API key is never written here." in text and "# - id: 12345678" in text
    set_account_enabled(config_dir, "4242", False)
    assert load_config_dir(config_dir).accounts.accounts[1].enabled is False
    remove_account(config_dir, "4242")
    remove_account(config_dir, "PRAC-V2-999")
    assert accounts.read_text() == before


def test_account_edit_errors_leave_file_untouched(config_dir):
    before = snapshot(config_dir)
    with pytest.raises(EditError, match="already listed"):
        add_account(config_dir, name="PRAC-V2-123456-12345678")
    with pytest.raises(EditError, match="no account"):
        remove_account(config_dir, "PRAC-NOPE")
    with pytest.raises(EditError, match="name or an id"):
        add_account(config_dir)
    assert snapshot(config_dir) == before


def test_add_account_to_file_without_accounts(config_dir):
    accounts = config_dir / "accounts.yaml"
    accounts.write_text("gateway:\n  username: me\n")
    add_account(config_dir, name="A1")
    assert load_config_dir(config_dir).accounts.accounts[0].name == "A1"
