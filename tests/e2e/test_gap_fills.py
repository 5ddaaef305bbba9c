"""Fills made while the daemon is not subscribed to the user hub still count (realized P&L).

The start-up flatten of a locked account runs before the hubs are subscribed, so its closing fill
never arrives on the stream; the reconcile after subscribing (or after a late first connection)
must read it from Trade/search. A fill made while the hub is down must be read by the blind poll.
Each test holds the user hub down at the simulator until the fill has happened, so the race is
reproduced every time, then compares /status realized P&L with the simulator's own trades.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from e2e.conftest import ENV
from e2e.helpers import BUY, MNQ, R03_REALIZED, SELL, account_locks, get_status, lose_60, wait_for, sim_net_realized
from risk_manager.daemon.app import Daemon
from risk_manager.events import EventKind

pytestmark = pytest.mark.e2e

HUB_DOWN_MS = 60_000  # "down until the test clears the fault"


async def closing_trades(rig: Any) -> int:
    return sum(1 for t in (await rig.trader.state())["trades"]
               if t["accountId"] == rig.account and t.get("profitAndLoss") is not None)


async def wait_realized_matches(rig: Any, daemon: Daemon) -> dict[str, Any]:
    expected = await sim_net_realized(rig)

    async def matches() -> dict[str, Any] | None:
        row = (await get_status(daemon.status_url))["accounts"][0]  # type: ignore[arg-type]
        return row if abs(row["realized_pnl"] - expected) < 0.011 else None

    try:
        return await wait_for(matches, timeout=5.0, what=f"/status realized P&L == {expected}")
    except AssertionError:
        row = (await get_status(daemon.status_url))["accounts"][0]  # type: ignore[arg-type]
        raise AssertionError(f"/status realized {row['realized_pnl']} != simulator {expected}") from None


async def locked_with_position_while_stopped(rig: Any) -> None:
    """Run 1 breaches R03 and stops; while it is stopped the trader opens a losing position."""
    rig.configure(R03_REALIZED)
    daemon = await rig.start_daemon()
    await lose_60(rig.trader, rig.account)

    async def locked() -> Any:
        return account_locks(await get_status(daemon.status_url), rig.account)

    await wait_for(locked, what="R03 lock")
    await rig.stop_daemon()
    await rig.trader.price(MNQ, 20000.0)
    await rig.trader.place(rig.account, MNQ, BUY, 1)
    await rig.trader.price(MNQ, 19950.0)
    assert await rig.trader.positions(rig.account)


async def test_startup_flatten_before_subscribe_counts_its_closing_fill(rig):
    await locked_with_position_while_stopped(rig)
    before = await closing_trades(rig)
    await rig.trader.fault("drop_user_hub", down_ms=HUB_DOWN_MS)
    daemon = Daemon(rig.config_dir, environ=ENV, configure_logging=False)
    starting = asyncio.ensure_future(daemon.start())
    try:
        # Start-up flattens while it is still waiting for the (refused) user hub.
        await wait_for(lambda: rig.trader.flat(rig.account), timeout=8.0, what="start-up flatten")
        assert await closing_trades(rig) == before + 1
        assert not daemon.user_hub.connected, "the flatten must fill before the subscription"
        await rig.trader.fault("clear")
        await asyncio.wait_for(asyncio.shield(starting), 15.0)
    finally:
        rig.daemon = daemon
        if not starting.done():
            starting.cancel()
    assert daemon.user_hub.connected
    row = await wait_realized_matches(rig, daemon)
    assert row["realized_pnl"] < -150.0  # -$60 round trip and the -$100 (+fees) start-up close
    assert any(lock["rule"] == "R03" for lock in row["locks"])


async def test_first_connect_after_startup_gave_up_waiting_reads_the_fill(rig):
    await locked_with_position_while_stopped(rig)
    await rig.trader.fault("drop_user_hub", down_ms=HUB_DOWN_MS)
    daemon = await rig.start_daemon(hub_connect_wait_s=0.2)
    assert not daemon.user_hub.connected  # ready without the hub, polling REST
    await wait_for(lambda: rig.trader.flat(rig.account), timeout=8.0, what="start-up flatten")
    await rig.trader.fault("clear")
    await wait_for(lambda: _connected(daemon), timeout=15.0, what="user hub connected")
    await wait_realized_matches(rig, daemon)


async def test_fill_while_hub_down_counted_by_blind_poll_and_trips_r03(start_rig):
    rig = await start_rig(R03_REALIZED)
    t = rig.trader
    await t.price(MNQ, 20000.0)
    await t.place(rig.account, MNQ, BUY, 1)
    await wait_for(lambda: _holds(rig), what="daemon saw the position")
    await t.fault("drop_user_hub", down_ms=HUB_DOWN_MS)
    await wait_for(lambda: _disconnected(rig.daemon), what="daemon sees the user hub down")
    await t.price(MNQ, 19970.0)
    await t.place(rig.account, MNQ, SELL, 1)  # -$60 realized while blind

    async def locked() -> Any:
        return account_locks(await get_status(rig.daemon.status_url), rig.account)

    await wait_for(locked, timeout=5.0, what="R03 lock from the blind poll's trades")
    assert not rig.daemon.user_hub.connected
    await wait_realized_matches(rig, rig.daemon)
    # Later polls re-read the same trades but journal each of them once only.
    polls = rig.daemon.counters["polls"]
    await wait_for(lambda: _polled_since(rig.daemon, polls + 2), what="a complete further blind poll")
    journaled = [e.data.id for e in rig.daemon.store.iter_events(account_id=rig.account)
                 if e.kind == EventKind.TRADE and e.source == "rest"]
    assert journaled and len(journaled) == len(set(journaled)), journaled
    await t.fault("clear")
    await wait_for(lambda: _connected(rig.daemon), timeout=15.0, what="user hub back")
    await wait_realized_matches(rig, rig.daemon)  # the reconnect re-reads it without double counting


async def _connected(daemon: Daemon) -> bool:
    return daemon.user_hub.connected


async def _disconnected(daemon: Daemon) -> bool:
    return not daemon.user_hub.connected


async def _polled_since(daemon: Daemon, count: int) -> bool:
    return daemon.counters["polls"] >= count


async def _holds(rig: Any) -> bool:
    return bool(rig.daemon.engine.state(rig.account).positions)
