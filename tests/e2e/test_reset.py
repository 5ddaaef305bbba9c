"""Daily reset at 17:00 America/Chicago (time-machine): R03 clears, P&L restarts; a reset missed
while the daemon was stopped is applied exactly once at start-up."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from e2e.helpers import BUY, MNQ, R03_REALIZED, account_locks, get_status, lose_60, wait_for

pytestmark = pytest.mark.e2e

CHICAGO = ZoneInfo("America/Chicago")


async def _row(rig) -> dict:
    return (await get_status(rig.daemon.status_url))["accounts"][0]


async def test_daily_reset_clears_r03_and_pnl(rig):
    with time_machine.travel(datetime(2026, 11, 20, 16, 59, 56, tzinfo=CHICAGO), tick=True):
        rig.configure(R03_REALIZED)
        await rig.start_daemon()
        await lose_60(rig.trader, rig.account)

        async def locked():
            row = await _row(rig)
            return row if row["locks"] else None

        row = await wait_for(locked, what="R03 lock before the reset")
        assert row["realized_pnl"] < -50
        assert row["locks"][0]["until"] == "2026-11-20T23:00:00+00:00"

        async def reset():
            row = await _row(rig)
            return row if not row["locks"] and row["realized_pnl"] == 0 else None

        await wait_for(reset, timeout=8.0, what="lock cleared and P&L zero after 17:00 CT")
        # Trading is allowed again: a new position is not closed.
        await rig.trader.place(rig.account, MNQ, BUY, 1)
        await rig.trader.price(MNQ, 19971.0)
        assert await rig.trader.positions(rig.account)


async def test_missed_reset_is_applied_once_at_start(rig):
    with time_machine.travel(datetime(2026, 11, 20, 16, 50, 0, tzinfo=CHICAGO), tick=True) as traveller:
        rig.configure(R03_REALIZED)
        await rig.start_daemon()
        await lose_60(rig.trader, rig.account)
        await wait_for(lambda: _locked(rig), what="R03 lock")
        await rig.stop_daemon()

        traveller.move_to(datetime(2026, 11, 20, 17, 5, 0, tzinfo=CHICAGO))  # reset passed while down
        await rig.start_daemon()
        assert account_locks(await get_status(rig.daemon.status_url), rig.account) == []
        assert (await _row(rig))["realized_pnl"] == 0
        store = rig.daemon.store
        missed = [r for r in store.audit_rows(None, limit=1000) if r.action == "daily_reset"
                  and "missed" in r.reason]
        assert len(missed) == 1
        await rig.stop_daemon()

        await rig.start_daemon()  # a second start the same day applies nothing again
        missed = [r for r in rig.daemon.store.audit_rows(None, limit=1000) if r.action == "daily_reset"
                  and "missed" in r.reason]
        assert len(missed) == 1


async def _locked(rig):
    return account_locks(await get_status(rig.daemon.status_url), rig.account)
