"""An empty or truncated risk_config.yaml is refused (issue 12 item 4); turning every rule off
takes explicit `enabled: false` entries, and `config validate` warns about it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from risk_manager.cli import app
from risk_manager.config.loader import ConfigError, load_config_dir
from risk_manager.config.models import RULE_MODELS

runner = CliRunner()
RISK = "risk_config.yaml"

TRUNCATED = {
    "empty": "",
    "comments_only": "# nothing yet\n",
    "no_rules_section": 'trading_day: {reset_time: "17:00", timezone: America/Chicago}\npnl_basis: net\n',
    "rules_cut_off": 'trading_day: {reset_time: "17:00", timezone: America/Chicago}\nrules:\n',
    "rules_empty_mapping": "rules: {}\n",
}


@pytest.mark.parametrize("name", sorted(TRUNCATED))
def test_truncated_risk_file_is_refused_by_loader_and_validate(config_dir: Path, name: str):
    (config_dir / RISK).write_text(TRUNCATED[name])
    with pytest.raises(ConfigError) as info:
        load_config_dir(config_dir)
    [problem] = info.value.problems
    assert problem.file == RISK and "enabled: false" in (problem.hint or "")
    result = runner.invoke(app, ["config", "validate", "--config", str(config_dir)],
                           env={"PROJECTX_API_KEY": "k"})
    assert result.exit_code == 1, result.output
    assert "risk_config.yaml" in result.stderr and "OK:" not in result.stdout


def test_every_rule_off_needs_explicit_entries_and_validate_warns(config_dir: Path):
    (config_dir / RISK).write_text("rules:\n" + "".join(f"  {name}: {{enabled: false}}\n" for name in RULE_MODELS))
    loaded = load_config_dir(config_dir)
    assert not any(loaded.risk.rules.by_name(n).enabled for n in RULE_MODELS)
    result = runner.invoke(app, ["config", "validate", "--config", str(config_dir)],
                           env={"PROJECTX_API_KEY": "k"})
    assert result.exit_code == 0, result.output
    assert f"0 of {len(RULE_MODELS)} rules enabled" in result.stdout
    assert "warning: risk_config.yaml: no rule is enabled" in result.stdout
