"""R14 max_loss_floor end to end: real simulator, real daemon (docs/rules.md).

The simulator's account starts at $50,000. MNQ: one point is $2 per contract.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from e2e.helpers import BUY, LIMIT, MNQ, account_locks, get_status, wait_for

pytestmark = pytest.mark.e2e
CHICAGO = ZoneInfo("America/Chicago")


async def _row(rig) -> dict:
    return next(a for a in (await get_status(rig.daemon.status_url))["accounts"] if a["id"] == rig.account)


async def _r14_lock(rig):
    return [lock for lock in account_locks(await get_status(rig.daemon.status_url), rig.account)
            if lock["rule"] == "R14"]


async def test_floor_breach_flattens_and_locks_over_the_wire(start_rig):
    # The platform shows the floor at $49,950 (a guard started late): the guard acts $0 above it.
    rig = await start_rig({"max_loss_floor": {"starting_balance": 50_000, "max_drawdown": 2_000,
                                              "floor_now": 49_950}})
    t = rig.trader
    row = await _row(rig)
    assert row["firm"]["max_loss_floor"]["floor"] == 49_950.0
    assert row["firm"]["max_loss_floor"]["distance"] == 50.0
    await t.price(MNQ, 20_000.0)
    await t.place(rig.account, MNQ, BUY, 1)
    await t.place(rig.account, MNQ, BUY, 1, type=LIMIT, limitPrice=19_000.0)
    await rig.wait_quotes(MNQ)
    await t.price(MNQ, 19_970.0)  # −$60 unrealized (+ fees): equity below $49,950

    [lock] = await wait_for(lambda: _r14_lock(rig), what="R14 lock in /status")
    assert lock["ends"] == "reset" and "Max loss floor" in lock["reason"]
    await wait_for(lambda: t.flat(rig.account), what="account flattened by R14")
    row = await _row(rig)
    assert row["locked"] and row["firm"]["max_loss_floor"]["distance"] < 0
    r14 = next(r for r in row["rules"] if r["rule"] == "R14")
    assert r14["used_pct"] >= 100 and r14["limit"] == 49_950.0
    audit = [(r.action, r.phase) for r in rig.daemon.store.audit_rows(rig.account) if r.rule == "R14"]
    assert any(phase == "lock_set" for _, phase in audit) and any(a == "flatten" for a, _ in audit)

    # Locked until the reset: a new order is cancelled at once.
    await t.place(rig.account, MNQ, BUY, 1, type=LIMIT, limitPrice=19_000.0)
    await wait_for(lambda: t.flat(rig.account), what="order cancelled while R14 locks")


async def test_floor_survives_restart_and_a_missed_reset_is_derived_from_the_rest_balance(rig):
    r14 = {"max_loss_floor": {"starting_balance": 50_000, "max_drawdown": 2_000, "buffer": 100}}
    with time_machine.travel(datetime(2026, 11, 18, 16, 59, 57, tzinfo=CHICAGO), tick=True) as tm:
        await rig.trader.account(rig.account, balance=51_000.0)
        rig.configure(r14)
        await rig.start_daemon()
        # First start, no trade today: the day before ended at the balance, $51,000.
        assert (await _row(rig))["firm"]["max_loss_floor"]["floor"] == 49_000.0
        await rig.trader.account(rig.account, balance=51_400.0)

        async def trailed():  # the 17:00 reset ends the day at $51,400: the floor follows
            view = (await _row(rig))["firm"]["max_loss_floor"]
            return view if view["floor"] == 49_400.0 else None

        await wait_for(trailed, timeout=8.0, what="floor raised at the daily reset")
        await rig.stop_daemon()

        # Down over the next reset, while the day ended at $51,600 (the broker knows, not we).
        await rig.trader.account(rig.account, balance=51_600.0)
        tm.move_to(datetime(2026, 11, 19, 17, 5, 0, tzinfo=CHICAGO))
        await rig.start_daemon()
        view = (await _row(rig))["firm"]["max_loss_floor"]
        assert view["high"] == 51_600.0 and view["floor"] == 49_600.0  # derived from the REST balance
        facts = {(day.isoformat(), field): value for _, day, field, value in rig.daemon.store.balance_history()}
        assert facts[("2026-11-17", "end_of_day")] == 51_000.0
        assert facts[("2026-11-18", "end_of_day")] == 51_400.0
        assert facts[("2026-11-19", "end_of_day")] == 51_600.0
        await rig.stop_daemon()

        await rig.start_daemon()  # and once more: the same floor from the store
        assert (await _row(rig))["firm"]["max_loss_floor"]["floor"] == 49_600.0
        t = rig.trader
        await t.price(MNQ, 20_000.0)
        await t.place(rig.account, MNQ, BUY, 1)
        await rig.wait_quotes(MNQ)
        await rig.trader.account(rig.account, balance=49_690.0)  # ≤ 49,600 + 100 buffer
        await wait_for(lambda: _r14_lock(rig), what="R14 lock after the restart")
        await wait_for(lambda: t.flat(rig.account), what="flattened")
