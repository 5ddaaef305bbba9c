"""`risk-manager replay`: a day recorded with no rules armed, replayed with R03 armed."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from e2e.helpers import BUY, MNQ, SELL, write_rules
from risk_manager.store import Store

pytestmark = pytest.mark.e2e


async def test_replay_shows_what_a_new_rule_would_have_done(rig):
    rig.configure({})
    await rig.start_daemon()
    t = rig.trader
    await t.price(MNQ, 20000.0)
    await t.place(rig.account, MNQ, BUY, 1)
    await t.price(MNQ, 19970.0)
    await t.place(rig.account, MNQ, SELL, 1)  # -$60: nothing armed, nothing happens
    await asyncio.sleep(0.3)
    await rig.stop_daemon()

    journal = rig.config_dir / "day.jsonl"
    with Store(rig.config_dir / "state" / "risk_manager.db") as store:
        assert store.export_journal(journal) > 0
    write_rules(rig.config_dir, {"daily_realized_loss": {"loss_limit": 50, "include_unrealized": False}})

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "risk_manager", "replay", str(journal), "--config", str(rig.config_dir),
        env={**os.environ}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode()
    assert proc.returncode == 0, err.decode()
    assert "R03" in text and "lock lockout" in text and "flatten" in text
    assert "replayed" in text.splitlines()[-1]


def test_replay_of_missing_file_exits_2(tmp_path):
    from risk_manager.daemon.replay import run_replay

    assert run_replay(tmp_path / "nope.jsonl", tmp_path) == 2
