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


async def test_replay_judges_account_groups_from_accounts_yaml(tmp_path):
    """A day recorded with no group, replayed after a group was configured: the group's shared
    daily loss fires in the replay as it would have in the daemon (docs/rules.md)."""
    import io

    from e2e.helpers import group_of_accounts, set_group
    from risk_manager.daemon.app import Daemon
    from risk_manager.daemon.replay import replay

    async with group_of_accounts(tmp_path, 3) as (sim, t, ids, root):
        daemon = Daemon(root, environ={"PROJECTX_API_KEY": "sim-key"}, configure_logging=False)
        await daemon.start()
        try:
            await t.price(MNQ, 20_000.0)
            for acct in ids:  # about -$61 each: -$184 together, none alone near -$150
                await t.place(acct, MNQ, BUY, 1)
            await t.price(MNQ, 19_970.0)
            for acct in ids:
                await t.place(acct, MNQ, SELL, 1)
            await asyncio.sleep(0.3)
        finally:
            await daemon.shutdown()
    set_group(root, ids, daily_loss_limit=150)
    out = io.StringIO()
    fired = replay(root / "state" / "risk_manager.db", root, out)
    text = out.getvalue()
    assert fired["group:copy"] >= 6, text  # a lock and a flatten for each of the three accounts
    for acct in ids:
        assert any(f"group:copy acct {acct}" in line and "lock lockout" in line for line in text.splitlines()), text
