"""The dashboard and `risk-manager status` lead with the lock the account waits for: the longest."""

from __future__ import annotations

from risk_manager.ui.dashboard_model import DashboardModel
from risk_manager.ui.status_cmd import render_status

R07 = {"rule": "R07", "kind": "cooldown", "reason": "Loss of -$240.00", "until": "2026-11-21T15:40:00+00:00",
       "remaining_s": 600.0, "ends": "time", "symbol": None}
R03 = {"rule": "R03", "kind": "lockout", "reason": "Daily loss limit", "until": "2026-11-21T23:00:00+00:00",
       "remaining_s": 27000.0, "ends": "reset", "symbol": None}
R11 = {"rule": "R11:ES", "kind": "symbol", "reason": "ES is a blocked symbol", "until": None,
       "remaining_s": None, "ends": "symbol_unlisted", "symbol": "ES"}


def _model(*locks: dict) -> DashboardModel:
    model = DashboardModel()
    model.apply_status({"accounts": [{"id": 1, "locks": list(locks)}]}, now=100.0)
    model.selected = 1
    return model


def test_longest_lock_is_the_lockout_until_reset_over_a_shorter_cooldown():
    model = _model(R07, R03, R11)
    assert model.longest_lock(now=100.0).data["rule"] == "R03"  # a symbol lock never decides
    assert model.longest_lock(now=100.0, aid=1).remaining("remaining_s", 160.0) == 26940.0
    assert _model(R11).longest_lock(now=100.0).data["rule"] == "R11:ES"  # alone, it is shown
    r10 = dict(R03, rule="R10", until=None, remaining_s=None, ends="can_trade")
    assert _model(R03, r10).longest_lock(now=100.0).data["rule"] == "R10"  # open-ended outlasts all
    assert _model().longest_lock(now=100.0) is None


def test_status_text_says_until_when_and_which_rule():
    doc = {"timezone": "America/Chicago", "accounts": [
        {"id": 7, "name": "PRAC-7", "balance": 49_000.0, "total_pnl": -700.0, "locks": [R07, R03],
         "longest_lock": R03}]}
    text = render_status(doc, "http://127.0.0.1:8765")
    head = next(line for line in text.splitlines() if "PRAC-7" in line)
    assert "LOCKED until Sat 17:00:00 CST" in head and head.endswith("(R03)")
