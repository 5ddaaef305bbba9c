"""The real daemon against the simulator's real-feed shapes: Trade/search newest first, the second
null-P&L trade record after a close, partial quotes that leave lastPrice stale, http hub URLs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import Rig
from e2e.helpers import BUY, MNQ, SELL, Trader, account_locks, get_status, wait_for, sim_net_realized
from risk_manager.events import EventKind
from risk_manager.sim import Simulator

pytestmark = pytest.mark.e2e


async def status_row(daemon: Any) -> dict[str, Any]:
    return (await get_status(daemon.status_url))["accounts"][0]


async def wait_realized(rig: Any, daemon: Any) -> dict[str, Any]:
    expected = await sim_net_realized(rig)

    async def matches() -> dict[str, Any] | None:
        row = await status_row(daemon)
        return row if abs(row["realized_pnl"] - expected) < 0.011 else None

    return await wait_for(matches, timeout=8.0, what=f"/status realized P&L == {expected}")


async def round_trip(rig: Any, entry: float, exit_: float) -> None:
    await rig.trader.price(MNQ, entry)
    await rig.trader.place(rig.account, MNQ, BUY, 1)
    await rig.trader.price(MNQ, exit_)
    await rig.trader.place(rig.account, MNQ, SELL, 1)


async def test_trades_read_newest_first_are_applied_in_time_order(rig):
    """+$400 then -$200: the day never went below zero, so R03 at $100 must not lock. Fed newest
    first (the order Trade/search answers in), the running total would pass -$200 and lock."""
    rig.configure({"daily_realized_loss": {"enabled": True, "loss_limit": 100, "include_unrealized": False}})
    await round_trip(rig, 20000.0, 20200.0)  # +$400 gross
    await round_trip(rig, 20200.0, 20100.0)  # -$200 gross
    rows = (await rig.trader._post("/api/Trade/search", {"accountId": rig.account,
                                                          "startTimestamp": "2020-01-01T00:00:00Z"}))["trades"]
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)  # newest first
    daemon = await rig.start_daemon()  # its start-up reconcile reads the day's trades from REST
    row = await wait_realized(rig, daemon)
    assert row["realized_pnl"] > 0
    assert account_locks(await get_status(daemon.status_url), rig.account) == []
    assert await rig.trader.positions(rig.account) == []


R06_R07 = {
    "trade_frequency_limit": {"per_minute": 2, "per_hour": 50, "per_session": 100},
    "cooldown_after_loss": {"tiers": [{"loss_amount": -20, "cooldown_seconds": 120}]},
}


async def close_with_second_record(tmp_path: Path, reemit: bool) -> dict[str, Any]:
    """One losing MNQ round trip (-$30) watched by the real daemon; what the daemon concluded."""
    sim = Simulator(accounts=1, speed=0.0, reemit_opening_trade=reemit)
    await sim.start()
    trader = Trader(sim.info()["api"])
    await trader.login()
    rig = Rig(sim, trader, tmp_path / ("on" if reemit else "off"))
    try:
        rig.configure(R06_R07)
        daemon = await rig.start_daemon()
        await round_trip(rig, 20000.0, 19985.0)
        await wait_for(lambda: _has_lock(daemon, "R07"), what="R07 cooldown")
        await wait_for(lambda: trader.flat(rig.account), what="flat")
        trade_pushes = [p["id"] for p in sim.push_log if p["target"] == "GatewayUserTrade"]

        async def all_trade_records_applied() -> bool:  # journaled = fed to the engine
            fed = [e for e in daemon.store.iter_events(account_id=rig.account)
                   if e.kind == EventKind.TRADE and e.source != "rest"]
            return len(fed) >= len(trade_pushes)

        await wait_for(all_trade_records_applied, what="every trade record reached the engine")
        row = await status_row(daemon)
        return {"pushes": trade_pushes, "realized": row["realized_pnl"], "trades_today": row["trades_today"],
                "locks": sorted(lock["rule"] for lock in row["locks"])}
    finally:
        await rig.stop_daemon()
        await trader.close()
        await sim.stop()


async def _has_lock(daemon: Any, rule: str) -> bool:
    return any(lock["rule"] == rule for lock in (await status_row(daemon))["locks"])


async def test_the_second_null_pnl_trade_record_of_a_close_is_counted_once(tmp_path):
    with_record = await close_with_second_record(tmp_path, reemit=True)
    without = await close_with_second_record(tmp_path, reemit=False)
    opening, closing, again = with_record["pushes"]  # the simulator did send the second record
    assert again == opening != closing and len(without["pushes"]) == 2
    assert with_record["realized"] == without["realized"] < -30.0  # -$30 and the fees
    assert with_record["trades_today"] == without["trades_today"] == 2  # R06 counts two executions
    assert with_record["locks"] == without["locks"] == ["R07"]  # one R07 cooldown, no R06


async def held_position_mark(daemon: Any) -> float | None:
    positions = (await status_row(daemon))["positions"]
    return positions[0]["mark"] if positions else None


async def move_book(rig: Any, bid: float, ask: float) -> None:
    """A quote with only bestBid/bestAsk, as most real quotes are (no print, lastPrice unchanged)."""
    rig.sim.engine.move_market(MNQ, bid, ask)
    rig.sim.publish()


async def test_a_book_that_moved_off_the_last_price_marks_from_the_mid(start_rig):
    """The last print was a moment ago (fresh by age), but the book has since moved 60 points
    away without a trade: the mark is the book's mid, so R04 closes the position now, not once
    the last print ages past max_quote_age_seconds."""
    rig = await start_rig({"daily_unrealized_loss": {"loss_limit": 100}})
    t = rig.trader
    await t.price(MNQ, 20000.0)
    await t.place(rig.account, MNQ, BUY, 1)
    await rig.wait_quotes(MNQ)
    await t.price(MNQ, 20000.25)  # a print the daemon sees (a quote carries lastPrice only when it changes)
    await wait_for(lambda: _mark_is(rig.daemon, 20000.25), what="marked at the last print")
    for step in range(1, 5):  # the bid drops 15 points a quote, no trades
        await move_book(rig, 20000.0 - 15 * step, 20000.0 - 15 * step + 0.25)
    await wait_for(lambda: t.flat(rig.account), timeout=3.0, what="R04 closed the position from the mid")
    closes = [r for r in await t.log() if r["path"].lower().endswith("/position/closecontract")]
    assert len(closes) == 1


async def test_the_default_market_marks_from_the_book_once_the_last_price_is_off(start_rig):
    """The simulator's own walk (default model, stepped by hand): when the book has moved off the
    last print, the daemon's mark is the mid of the simulator's book."""
    rig = await start_rig({})
    t = rig.trader
    await t.price(MNQ, 20000.0)
    await t.place(rig.account, MNQ, BUY, 1)
    await rig.wait_quotes(MNQ)
    market = rig.sim.engine.market(MNQ)
    checked = 0
    for _ in range(400):
        rig.sim.walker.step()
        if not market.bid <= market.last <= market.ask:
            mid = (market.bid + market.ask) / 2
            await wait_for(lambda: _mark_is(rig.daemon, mid), what=f"mark == mid {mid}")  # noqa: B023 - awaited here
            checked += 1
            if checked == 5:
                break
        await asyncio.sleep(0.005)
    assert checked == 5


async def _mark_is(daemon: Any, price: float) -> bool:
    mark = await held_position_mark(daemon)
    return mark is not None and abs(mark - price) < 1e-9
