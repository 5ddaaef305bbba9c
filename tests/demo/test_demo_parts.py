"""The demo's config and timeline, without servers."""

from __future__ import annotations

from risk_manager.config.loader import load_config_dir
from risk_manager.demo.config import write_demo_config
from risk_manager.demo.timeline import StepResult, Timeline, format_step


def test_demo_config_is_valid_and_works_at_any_hour(tmp_path):
    write_demo_config(tmp_path, "http://127.0.0.1:5555", 26133730)
    config = load_config_dir(tmp_path)
    rules = config.risk.rules
    assert not rules.session_block_outside.enabled  # the demo must run at night and at weekends
    assert rules.max_contracts_per_instrument.limits == {"MNQ": 2}
    assert rules.daily_unrealized_loss.loss_limit == 100
    assert rules.no_stop_loss_grace.grace_period_seconds == 10
    assert rules.daily_realized_loss.loss_limit == 150
    assert config.accounts.gateway.api_url == "http://127.0.0.1:5555"
    assert config.accounts.gateway.user_hub_url == "ws://127.0.0.1:5555/hubs/user"
    assert config.accounts.daemon.status_api == "127.0.0.1:0"
    assert config.api_key({"PROJECTX_API_KEY": "sim-key"}) == "sim-key"


def test_a_missed_step_fails_the_summary():
    timeline = Timeline()
    timeline.add(StepResult(rule="R02 x", trigger="t", action="a", ok=True, reaction_ms=3.0))
    timeline.add(StepResult(rule="R08 y", trigger="t", action="a", ok=True, reaction_ms=900.0, timer_driven=True))
    assert timeline.all_ok and timeline.summary().startswith("PASS: 2 of 2")
    assert "max 3.0 ms" in timeline.summary()  # the timer-driven step is not a reaction time
    missed = timeline.add(StepResult(rule="R04 z", trigger="t", action="not observed: x", ok=False))
    assert not timeline.all_ok and timeline.summary().startswith("FAIL: 2 of 3")
    assert "MISS" in format_step(missed) and "— ms" in format_step(missed)
    assert not Timeline().all_ok
