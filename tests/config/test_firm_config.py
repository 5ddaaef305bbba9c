"""Config of the firm-account guards (docs/rules.md): examples validate, problems name file/line/field."""

from __future__ import annotations

import pytest
from ruamel.yaml import YAML

from config_test_helpers import line_of
from risk_manager.config.loader import ConfigError, example_text, load_config_dir
from risk_manager.config.models import RiskConfig

FIRM_EXAMPLES = ["firm_evaluation.yaml", "firm_funded.yaml"]


@pytest.mark.parametrize("name", FIRM_EXAMPLES)
def test_firm_examples_validate_and_say_check_the_rulebook(name):
    text = example_text(name)
    cfg = RiskConfig.model_validate(YAML(typ="safe").load(text))
    assert cfg.rules.max_loss_floor.enabled
    assert (cfg.rules.consistency_guard.enabled, cfg.rules.scaling_plan.enabled) == (
        (True, False) if "evaluation" in name else (False, True))
    # Every amount is marked as the firm's to set, not ours.
    for line in text.splitlines():
        key, _, value = line.partition(":")
        personal = key.strip() in ("buffer", "reduce_only_at") or key.strip().startswith("#")
        if value.split("#")[0].strip().replace(".", "").isdigit() and not personal:
            assert "check your firm's current rulebook" in line, line


def test_firm_rules_are_off_unless_present():
    rules = RiskConfig.model_validate({}).rules
    assert not (rules.max_loss_floor.enabled or rules.consistency_guard.enabled or rules.scaling_plan.enabled)


def test_funded_example_scaling_plan():
    plan = RiskConfig.model_validate(YAML(typ="safe").load(example_text("firm_funded.yaml"))).rules.scaling_plan
    assert [plan.allowance(b) for b in (50_000, 51_500, 51_999, 52_000)] == [2, 3, 3, 5]


def _problems(config_dir):
    with pytest.raises(ConfigError) as info:
        load_config_dir(config_dir)
    return info.value.problems


def test_enabled_floor_without_its_amounts_names_the_block(config_dir):
    risk = config_dir / "risk_config.yaml"
    risk.write_text(risk.read_text() + "  max_loss_floor:\n    buffer: 100\n")
    [problem] = _problems(config_dir)
    assert problem.file == "risk_config.yaml" and problem.field == "rules.max_loss_floor"
    assert problem.line == line_of(risk, "max_loss_floor:")
    assert "starting_balance and max_drawdown" in problem.message


def test_bad_trail_names_the_field(config_dir):
    risk = config_dir / "risk_config.yaml"
    risk.write_text(risk.read_text() + "  max_loss_floor:\n    starting_balance: 50000\n"
                    "    max_drawdown: 2000\n    trail: weekly\n")
    [problem] = _problems(config_dir)
    assert problem.field == "rules.max_loss_floor.trail" and problem.line == line_of(risk, "trail: weekly")


def test_scaling_plan_needs_tiers_and_names_a_bad_one(config_dir):
    risk = config_dir / "risk_config.yaml"
    base = risk.read_text()
    risk.write_text(base + "  scaling_plan:\n    micro_weight: 0.1\n")
    [problem] = _problems(config_dir)
    assert problem.field == "rules.scaling_plan" and "needs tiers" in problem.message
    risk.write_text(base + "  scaling_plan:\n    tiers:\n      - {balance_at_least: 0, max_contracts: 2}\n"
                    "      - {balance_at_least: 51500, max_contract: 3}\n")
    problem = next(p for p in _problems(config_dir) if p.field.endswith("max_contract"))
    assert problem.field == "rules.scaling_plan.tiers[1].max_contract"
    assert problem.line == line_of(risk, "max_contract: 3")
