"""The real daemon against the simulator's real-feed shapes: Trade/search newest first, the second
null-P&L trade record after a close, partial quotes that leave lastPrice stale, http hub URLs."""

from __future__ import annotations

from typing import Any

import pytest

from e2e.helpers import BUY, MNQ, SELL, account_locks, get_status, wait_for

pytestmark = pytest.mark.e2e


async def sim_realized(rig: Any) -> float:
    """Σ(profitAndLoss − fees − commissions) over the account's closing trades (the daemon's net basis)."""
    trades = [t for t in (await rig.trader.state())["trades"]
              if t["accountId"] == rig.account and t.get("profitAndLoss") is not None]
    return round(sum(t["profitAndLoss"] - t["fees"] - t.get("commissions", 0.0) for t in trades), 2)


async def status_row(daemon: Any) -> dict[str, Any]:
    return (await get_status(daemon.status_url))["accounts"][0]


async def wait_realized(rig: Any, daemon: Any) -> dict[str, Any]:
    expected = await sim_realized(rig)

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
