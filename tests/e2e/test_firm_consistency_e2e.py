"""R15 consistency_guard end to end: real simulator, real daemon (docs/rules.md).

A $110 profit target with a 50 % best-day share: today may make $55. One MNQ round trip of +30
points is +$60 before fees."""

from __future__ import annotations

import pytest

from e2e.helpers import BUY, LIMIT, MNQ, SELL, account_locks, get_status, wait_for

pytestmark = pytest.mark.e2e


async def test_consistency_locks_the_day_at_the_allowed_share(start_rig):
    rig = await start_rig({"consistency_guard": {"max_day_share": 0.5, "profit_target": 110,
                                                 "include_unrealized": False}})
    t = rig.trader
    await t.price(MNQ, 20_000.0)
    await t.place(rig.account, MNQ, BUY, 1)
    await t.price(MNQ, 20_030.0)
    await t.place(rig.account, MNQ, SELL, 1)  # +$60 − fees ≥ $55

    async def r15_lock():
        return [lk for lk in account_locks(await get_status(rig.daemon.status_url), rig.account)
                if lk["rule"] == "R15"]

    [lock] = await wait_for(r15_lock, what="R15 lock in /status")
    assert lock["ends"] == "reset" and "Consistency" in lock["reason"]
    row = (await get_status(rig.daemon.status_url))["accounts"][0]
    view = row["firm"]["consistency_guard"]
    assert view["allowed_today"] == 55.0 and view["today"] >= 55.0
    assert any(r.rule == "R15" and r.phase == "lock_set" for r in rig.daemon.store.audit_rows(rig.account))

    await t.place(rig.account, MNQ, BUY, 1, type=LIMIT, limitPrice=19_000.0)
    await wait_for(lambda: t.flat(rig.account), what="order cancelled while R15 locks")

    await rig.stop_daemon()  # the lock and the day's figures survive a restart
    await rig.start_daemon()
    assert await r15_lock()
    assert (await get_status(rig.daemon.status_url))["accounts"][0]["firm"]["consistency_guard"]["today"] >= 55.0


async def test_first_start_rebuilds_the_days_before_today_from_trade_history(rig):
    """No day recorded yet: the daemon reads Trade/search of the past 30 days in the background,
    the per-day figures reach /status and the store, and the next start does not read again."""
    from datetime import UTC, datetime, timedelta

    import aiohttp

    now = datetime.now(UTC)
    noon = now - timedelta(days=3)  # some earlier trading day (a weekend is only a date here)
    trades = [{"accountId": rig.account, "contractId": MNQ, "at": noon.isoformat(),
               "profitAndLoss": 600.0, "fees": 0.74},
              {"accountId": rig.account, "contractId": MNQ, "at": (noon - timedelta(days=5)).isoformat(),
               "profitAndLoss": -100.0, "commissions": 0.5}]
    async with aiohttp.ClientSession() as http, http.post(f"{rig.api}/sim/trades", json={"trades": trades}) as r:
        assert r.status == 200, await r.text()
    rig.configure({"consistency_guard": {"max_day_share": 0.5, "profit_target": 1_000}})
    await rig.start_daemon()

    async def rebuilt():
        view = (await get_status(rig.daemon.status_url))["accounts"][0]["firm"]["consistency_guard"]
        return view if view["days"] else None

    view = await wait_for(rebuilt, what="R15 days rebuilt from Trade/search")
    assert view["profit_before_today"] == round(599.26 - 100.5, 2) and len(view["days"]) == 2
    stored = [v for _, _, f, v in rig.daemon.store.balance_history(rig.account) if f == "net_pnl"]
    assert sorted(stored) == [-100.5, 599.26]

    await rig.stop_daemon()
    seq = max((r["seq"] for r in rig.sim.request_log), default=0)
    await rig.start_daemon()
    view = (await get_status(rig.daemon.status_url))["accounts"][0]["firm"]["consistency_guard"]
    assert view["profit_before_today"] == round(599.26 - 100.5, 2)
    day_start = datetime.fromisoformat(
        (await get_status(rig.daemon.status_url))["accounts"][0]["trading_day"]["start"])
    for row in rig.sim.request_log:
        if row["seq"] > seq and row["path"].lower() == "/api/trade/search":
            start = datetime.fromisoformat(row["body"]["startTimestamp"].replace("Z", "+00:00"))
            assert start >= day_start - timedelta(seconds=1), row  # today's only
