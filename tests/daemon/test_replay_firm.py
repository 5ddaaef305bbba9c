"""`risk-manager replay` judges R14 on the balance history the daemon had (read-only from the main
database): the floor trails the earlier end-of-day high, not the starting balance."""

from __future__ import annotations

import dataclasses
import io
from datetime import timedelta

from e2e.helpers import write_config
from engine.engine_helpers import ACCT, account, ct
from risk_manager.daemon.replay import replay
from risk_manager.engine.firm import BalanceRecord
from risk_manager.store import Store

R14 = {"max_loss_floor": {"starting_balance": 50_000, "max_drawdown": 2_000, "buffer": 300,
                          "trail": "end_of_day"}}


def _day(tmp_path, *, history: bool):
    root = write_config(tmp_path / "cfg", "http://127.0.0.1:9", [ACCT], R14)
    noon = ct(2026, 8, 20, 12)  # Thursday; Wednesday ended at 51,500: floor 49,500 (+300 buffer)
    with Store(root / "state" / "risk_manager.db") as store:
        if history:
            store.save_engine_records([BalanceRecord(ACCT, noon.date() - timedelta(days=1), "end_of_day",
                                                     51_500.0, noon - timedelta(hours=20))])
        for minutes, balance in ((0, 50_200.0), (5, 49_700.0)):  # 49,700 <= 49,800
            store.append_event(dataclasses.replace(account(True, balance=balance),
                                                   received_at=noon + timedelta(minutes=minutes)))
    out = io.StringIO()
    fired = replay(root / "state" / "risk_manager.db", root, out)
    return fired, out.getvalue()


def test_replay_trails_the_floor_from_the_recorded_end_of_day_high(tmp_path):
    fired, text = _day(tmp_path, history=True)
    assert "balance history: 1 facts" in text, text
    assert fired["R14"] >= 1 and "lock lockout" in text, text


def test_without_history_the_floor_is_the_starting_balance_less_the_drawdown(tmp_path):
    fired, text = _day(tmp_path, history=False)
    assert fired["R14"] == 0, text  # 49,700 is far above 48,000 + 300
