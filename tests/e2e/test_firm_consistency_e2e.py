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
