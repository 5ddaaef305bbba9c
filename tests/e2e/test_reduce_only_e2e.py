"""Reduce-only end to end (docs/rules.md): real simulator, real daemon. R03 with a $300 limit, reduce-only
from 20 % ($60). MNQ: one point is $2 per contract."""

from __future__ import annotations

import pytest

from e2e.helpers import BUY, LIMIT, MNQ, SELL, get_status, wait_for

pytestmark = pytest.mark.e2e


async def _row(rig) -> dict:
    return (await get_status(rig.daemon.status_url))["accounts"][0]


async def test_reduce_only_cancels_adds_closes_growth_lets_a_close_pass(start_rig):
    rig = await start_rig({"daily_realized_loss": {"loss_limit": 300, "reduce_only_at": 0.2}})
    t = rig.trader
    await t.price(MNQ, 20_000.0)
    await t.place(rig.account, MNQ, BUY, 1)
    await rig.wait_quotes(MNQ)
    await t.price(MNQ, 19_965.0)  # −$70 open: past $60, far from $300

    async def reduce_only():
        row = await _row(rig)
        return row if row["reduce_only"] else None

    row = await wait_for(reduce_only, what="reduce-only in /status")
    [lock] = [lk for lk in row["locks"] if lk["rule"] == "R03:reduce_only"]
    assert lock["kind"] == "reduce_only" and lock["ends"] == "reset" and not row["locked"]

    add = await t.place(rig.account, MNQ, BUY, 1, type=LIMIT, limitPrice=19_000.0)
    close = await t.place(rig.account, MNQ, SELL, 1, type=LIMIT, limitPrice=20_100.0)

    async def only_the_close_left():
        ids = [o["id"] for o in await t.working_orders(rig.account)]
        return ids if ids == [close["orderId"]] else None

    await wait_for(only_the_close_left, what="the adding order cancelled, the close working")
    await t.place(rig.account, MNQ, BUY, 2)  # a fill that adds: brought back to 1

    async def back_to_one():
        held = await t.positions(rig.account)
        return held if held and held[0]["size"] == 1 else None

    await wait_for(back_to_one, what="the added contracts closed")
    audit = [r for r in rig.daemon.store.audit_rows(rig.account) if r.rule in ("reduce_only", "R03:reduce_only")]
    seen = {(r.rule, r.action, r.phase) for r in audit}
    assert {("R03:reduce_only", "setlock", "lock_set"), ("reduce_only", "cancel_order", "confirmed"),
            ("reduce_only", "partial_close", "confirmed")} <= seen
    assert add["orderId"] not in [o["id"] for o in await t.working_orders(rig.account)]
    assert rig.daemon.store.active_locks(rig.account)[0].kind.value == "reduce_only"
