"""The guard knows its own orders, and a restart never re-fires an event rule (docs/rules.md; docs/operations.md, start-up step 4).

Real simulator + real daemon in-process + real SQLite:
- the lock gate never cancels the guard's own closing order (closeContract returns no order id,
  so the guard binds the order the server creates); the history tells a refused cancel from an
  ok one; the own order ids survive a restart;
- R06 counts the trader's executions only, not the guard's R02 reductions;
- a losing trade whose R07 cooldown has ended does not flatten the trader's new position (and its
  stop) or set a new cooldown when the daemon restarts or the user hub reconnects.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from e2e.helpers import (
    BUY,
    MNQ,
    R03_REALIZED,
    SELL,
    STOP,
    account_locks,
    get_status,
    lose_60,
    wait_for,
)

pytestmark = pytest.mark.e2e


def _is(path: str, suffix: str) -> bool:
    return path.lower().endswith(suffix.lower())


async def _locked(rig: Any) -> list[dict[str, Any]]:
    return account_locks(await get_status(rig.daemon.status_url), rig.account)


async def test_gate_never_cancels_the_guards_own_close_and_history_is_truthful(start_rig):
    rig = await start_rig(R03_REALIZED)
    trader, account = rig.trader, rig.account
    await lose_60(trader, account)
    await wait_for(lambda: _locked(rig), what="R03 lock")
    await wait_for(lambda: trader.flat(account), what="flat after the R03 flatten")
    await asyncio.sleep(0.3)  # let the lock's flatten finish its rounds
    seq = await trader.last_seq()

    # While locked the trader buys 2: the gate closes the position (closeContract).
    placed = await trader.place(account, MNQ, BUY, 2)
    assert placed["success"], placed
    await wait_for(lambda: trader.flat(account), what="position closed by the kill switch")
    await asyncio.sleep(0.5)  # any cancel of the close order would have been sent by now
    log = await trader.log(seq)
    assert any(_is(r["path"], "/api/Position/closeContract") for r in log)
    close_orders = [o for o in (await trader.state())["orders"]
                    if o["accountId"] == account and o["id"] != placed["orderId"]
                    and o["contractId"] == MNQ and o["type"] == 2 and o["side"] == SELL
                    and o["id"] > placed["orderId"]]
    assert close_orders, "the simulator's close order"
    cancels = [r["body"]["orderId"] for r in log if _is(r["path"], "/api/Order/cancel")]
    # Only the trader's own market order may be cancelled (it filled at once: refused).
    assert set(cancels) <= {placed["orderId"]}, (cancels, close_orders)

    daemon = rig.daemon
    own = daemon.engine.state(account).own_orders
    assert all(o["id"] in own for o in close_orders)
    persisted = {oid for _, oid, kind in daemon.store.own_orders() if kind == "close"}
    assert {o["id"] for o in close_orders} <= persisted

    # The history says what happened: a cancel that reached an already filled order was refused.
    status = {o["id"]: o["status"] for o in (await trader.state())["orders"]}[placed["orderId"]]
    history = (await get_status(daemon.status_url))["enforcement"]
    gate_cancels = [h for h in history if h["action"] == "cancel_order"]
    expected = "refused" if status == 2 else "ok"
    assert gate_cancels and all(h["outcome"] == expected for h in gate_cancels), (status, gate_cancels)
    failed_cancels = [r for r in daemon.store.audit_rows(account)
                      if r.phase == "call_failed" and r.detail.get("call") == "cancel"
                      and r.detail.get("order_id") != placed["orderId"]]
    assert failed_cancels == []

    # After a restart the close orders are still known as the guard's.
    await rig.stop_daemon()
    daemon = await rig.start_daemon()
    own = daemon.engine.state(account).own_orders
    assert all(o["id"] in own for o in close_orders)


R02_AND_R06 = {
    "max_contracts_per_instrument": {"enabled": True, "limits": {"MNQ": 1}},
    "trade_frequency_limit": {"enabled": True, "per_minute": 3, "per_hour": 100, "per_session": 100},
}


async def test_r06_does_not_count_the_guards_own_reductions(start_rig):
    rig = await start_rig(R02_AND_R06)
    trader, account = rig.trader, rig.account
    await trader.price(MNQ, 20000.0)
    seq = await trader.last_seq()
    for n, size in enumerate((2, 1), start=1):  # two trader orders, each reduced by R02
        await trader.place(account, MNQ, BUY, size)

        async def reduced(n: int = n) -> bool:
            return sum(_is(r["path"], "/api/Position/partialCloseContract")
                       for r in await trader.log(seq)) >= n

        await wait_for(reduced, what=f"R02 reduction {n}")
    await asyncio.sleep(0.3)
    assert await _locked(rig) == [], "R06 counted the guard's own closes as trader trades"
    positions = await trader.positions(account)
    assert positions and positions[0]["size"] == 1, "R06 flattened the trader"
    state = rig.daemon.engine.state(account)
    assert state.trades_today == 4  # every fill is still in the day's bookkeeping
    assert state.trader_trades_today == 2


def _r07(cooldown_s: int) -> dict[str, Any]:
    return {"cooldown_after_loss": {"enabled": True, "flatten_on_trigger": True,
                                    "tiers": [{"loss_amount": -50, "cooldown_seconds": cooldown_s}]}}


async def _new_position_with_stop(rig: Any) -> int:
    trader, account = rig.trader, rig.account
    await trader.price(MNQ, 20000.0)
    assert (await trader.place(account, MNQ, BUY, 1))["success"]
    stop = await trader.place(account, MNQ, SELL, 1, type=STOP, stopPrice=19900.0)
    assert stop["success"], stop
    return stop["orderId"]


async def _untouched(rig: Any, stop_id: int, seq: int) -> None:
    trader, account = rig.trader, rig.account
    await asyncio.sleep(1.0)  # reconcile and recheck have run by now
    positions = await trader.positions(account)
    assert positions and positions[0]["size"] == 1, positions
    assert stop_id in {o["id"] for o in await trader.working_orders(account)}
    mutations = [r["path"] for r in await trader.log(seq)
                 if any(_is(r["path"], p) for p in ("/api/Order/cancel", "/api/Position/closeContract",
                                                    "/api/Position/partialCloseContract"))]
    assert mutations == []
    assert await _locked(rig) == []


@pytest.mark.parametrize("ended_by", ["expiry", "admin_unlock"])
async def test_restart_and_reconnect_never_refire_r07_on_a_handled_trade(start_rig, ended_by):
    rig = await start_rig(_r07(1 if ended_by == "expiry" else 600))
    trader, account = rig.trader, rig.account
    await lose_60(trader, account)  # -$60 (net of fees) <= -$50: the cooldown
    locks = await wait_for(lambda: _locked(rig), what="R07 cooldown")
    assert locks[0]["rule"] == "R07"
    if ended_by == "admin_unlock":
        await rig.daemon.admin_unlock(account, "talked it through", "admin", None)
    await wait_for(lambda: _no_locks(rig), timeout=5.0, what=f"cooldown ended ({ended_by})")
    stop_id = await _new_position_with_stop(rig)
    await asyncio.sleep(0.3)

    # Restart: the losing trade is re-read from Trade/search, rebuilds P&L, acts no more.
    realized = (await get_status(rig.daemon.status_url))["accounts"][0]["realized_pnl"]
    await rig.stop_daemon()
    seq = await trader.last_seq()
    daemon = await rig.start_daemon()
    await _untouched(rig, stop_id, seq)
    assert (await get_status(daemon.status_url))["accounts"][0]["realized_pnl"] == realized
    handled = {tid for _, tid in daemon.store.handled_trade_ids(daemon.engine.trading_day)}
    assert len(handled) == 3  # the two fills of lose_60 and the new opening fill

    # A user-hub reconnect reconciles again: still nothing.
    seq = await trader.last_seq()
    reconciles = daemon.counters["reconciles"]
    await trader.fault("drop_user_hub")
    await wait_for(lambda: _reconciled_since(daemon, reconciles), timeout=10.0,
                   what="reconcile after the hub reconnect")
    await _untouched(rig, stop_id, seq)


async def _no_locks(rig: Any) -> bool:
    return await _locked(rig) == []


async def _reconciled_since(daemon: Any, count: int) -> bool:
    return daemon.counters["reconciles"] > count and daemon.user_hub.connected


async def test_upgrade_restart_does_not_refire_r07_on_a_trade_the_old_daemon_handled(start_rig):
    # An older daemon kept no trades_seen: its journal tells what it handled.
    import sqlite3

    rig = await start_rig(_r07(1))
    trader, account = rig.trader, rig.account
    await lose_60(trader, account)
    await wait_for(lambda: _locked(rig), what="R07 cooldown")
    await wait_for(lambda: _no_locks(rig), timeout=5.0, what="cooldown ended")
    stop_id = await _new_position_with_stop(rig)
    await asyncio.sleep(0.3)
    await rig.stop_daemon()
    db = sqlite3.connect(rig.config_dir / "state" / "risk_manager.db")
    with db:
        db.execute("DELETE FROM trades_seen")
        db.execute("DELETE FROM meta WHERE key = 'handled_trades_recorded_since'")
    db.close()
    seq = await trader.last_seq()
    await rig.start_daemon()
    await _untouched(rig, stop_id, seq)
