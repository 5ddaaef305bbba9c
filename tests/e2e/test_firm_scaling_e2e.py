"""R16 scaling_plan end to end: real simulator, real daemon (docs/rules.md). The account starts the day
at $50,000; MNQ is a micro (weight 0.1 by default)."""

from __future__ import annotations

import pytest

from e2e.helpers import BUY, LIMIT, MNQ, get_status, wait_for

pytestmark = pytest.mark.e2e


async def test_scaling_plan_reduces_at_once_and_cancels_an_order_over_the_allowance(start_rig):
    rig = await start_rig({"scaling_plan": {"tiers": [{"balance_at_least": 0, "max_contracts": 1},
                                                      {"balance_at_least": 55_000, "max_contracts": 3}]}})
    t = rig.trader
    status = await get_status(rig.daemon.status_url)
    view = status["accounts"][0]["firm"]["scaling_plan"]
    assert view["day_start_balance"] == 50_000.0 and view["allowed"] == 1
    await t.price(MNQ, 20_000.0)
    seq = await t.last_seq()
    await t.place(rig.account, MNQ, BUY, 15)  # 1.5 contracts > 1

    async def reduced():
        held = await t.positions(rig.account)
        return held if held and held[0]["size"] == 10 else None

    await wait_for(reduced, what="MNQ reduced to 10 (= 1 contract)")
    paths = [r["path"].lower() for r in await t.log(seq)]
    assert paths.count("/api/position/partialclosecontract") == 1

    placed = await t.place(rig.account, MNQ, BUY, 1, type=LIMIT, limitPrice=19_000.0)

    async def cancelled():
        return not await t.working_orders(rig.account)

    await wait_for(cancelled, what="the order over the allowance cancelled")
    audit = [r for r in rig.daemon.store.audit_rows(rig.account) if r.rule == "R16"]
    assert any("Scaling plan" in r.reason and str(placed["orderId"]) in r.reason for r in audit)
    assert (await t.positions(rig.account))[0]["size"] == 10  # the allowed position stays
    status = await get_status(rig.daemon.status_url)
    assert not status["accounts"][0]["locked"]  # R16 locks nothing
