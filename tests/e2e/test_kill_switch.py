"""R03 locks the account; the kill switch then cancels every order and closes every position."""

from __future__ import annotations

import pytest

from e2e.helpers import BUY, LIMIT, MNQ, R03_REALIZED, account_locks, get_status, lose_60, wait_for

pytestmark = pytest.mark.e2e


async def test_r03_locks_then_kill_switch_cancels_and_closes(start_rig):
    rig = await start_rig(R03_REALIZED)
    trader, account = rig.trader, rig.account
    await lose_60(trader, account)  # -30 points = -$60 realized on one MNQ

    async def locked():
        return account_locks(await get_status(rig.daemon.status_url), account)

    locks = await wait_for(locked, what="R03 lock in /status")
    assert locks[0]["rule"] == "R03" and locks[0]["kind"] == "lockout"

    # A resting limit order placed while locked is cancelled.
    seq = await trader.last_seq()
    placed = await trader.place(account, MNQ, BUY, 1, type=LIMIT, limitPrice=19000.0)
    assert placed["success"], placed
    await wait_for(lambda: _no_working(trader, account), what="limit order cancelled")
    log = await trader.log(seq)
    place = next(r for r in log if r["path"].lower().endswith("/order/place"))
    cancel = next(r for r in log if r["path"].lower().endswith("/order/cancel"))
    assert cancel["body"]["orderId"] == placed["orderId"]
    print(f"\nkill switch: place → cancel at the gateway {(cancel['t_ns'] - place['t_ns']) / 1e6:.2f} ms")

    # A market order's position is closed.
    seq = await trader.last_seq()
    await trader.place(account, MNQ, BUY, 2)
    await wait_for(lambda: _flat(trader, account), what="position closed")
    log = await trader.log(seq)
    place = next(r for r in log if r["path"].lower().endswith("/order/place"))
    close = next(r for r in log if r["path"].lower().endswith("/position/closecontract"))
    print(f"kill switch: market order → close at the gateway {(close['t_ns'] - place['t_ns']) / 1e6:.2f} ms")

    # The audit log holds the enforcement with its timings.
    rows = rig.daemon.store.audit_rows(account)
    confirmed = [r for r in rows if r.phase == "confirmed"]
    calls = [r for r in confirmed if r.action in ("cancel_order", "close_position")]
    assert {r.action for r in calls} == {"cancel_order", "close_position"}
    # (a cancel racing the market order's own fill is "reconciled": the order was already done)
    for action in ("cancel_order", "close_position"):
        assert any(r.event_received_ns and r.decided_ns and r.sent_ns and r.response_ns and r.confirmed_ns
                   for r in calls if r.action == action), action


async def _no_working(trader, account):
    return not await trader.working_orders(account)


async def _flat(trader, account):
    return await trader.flat(account)
