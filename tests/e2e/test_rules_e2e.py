"""One end-to-end test per rule: real simulator, real daemon, a trader on the gateway REST.

Prices: MNQ tick 0.25 = $0.50, so one point is $2 per contract; MES one point is $5.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from e2e.helpers import BUY, LIMIT, MES, MNQ, SELL, STOP, account_locks, get_status, wait_for

pytestmark = pytest.mark.e2e


async def _locks(rig):
    return account_locks(await get_status(rig.daemon.status_url), rig.account)


async def _paths(trader, seq):
    return [r["path"].lower() for r in await trader.log(seq)]


async def _wait_flat(rig, what="account flat", timeout=5.0):
    async def flat():
        return await rig.trader.flat(rig.account)

    await wait_for(flat, timeout=timeout, what=what)


async def _wait_lock(rig, rule, timeout=5.0):
    async def has():
        return [lock for lock in await _locks(rig) if lock["rule"] == rule]

    return (await wait_for(has, timeout=timeout, what=f"{rule} lock in /status"))[0]


async def test_r01_max_contracts_closes_all(start_rig):
    rig = await start_rig({"max_contracts": {"limit": 2}})
    t = rig.trader
    await t.price(MNQ, 20000.0)
    await t.price(MES, 6000.0)
    await t.place(rig.account, MNQ, BUY, 2)
    seq = await t.last_seq()
    await t.place(rig.account, MES, BUY, 1)  # 3 contracts > 2
    await _wait_flat(rig)
    assert sum(p.endswith("/position/closecontract") for p in await _paths(t, seq)) == 2
    assert await _locks(rig) == []


async def test_r02_per_instrument_reduces_to_limit(start_rig):
    rig = await start_rig({"max_contracts_per_instrument": {"limits": {"MNQ": 1}}})
    t = rig.trader
    await t.price(MNQ, 20000.0)
    seq = await t.last_seq()
    await t.place(rig.account, MNQ, BUY, 3)

    async def reduced():
        positions = await t.positions(rig.account)
        return positions and positions[0]["size"] == 1

    await wait_for(reduced, what="MNQ reduced to 1")
    log = await t.log(seq)
    partial = [r for r in log if r["path"].lower().endswith("/position/partialclosecontract")]
    assert partial and partial[0]["body"]["size"] == 2


async def test_r03_unrealized_loss_included_flattens_and_locks(start_rig):
    rig = await start_rig({"daily_realized_loss": {"loss_limit": 50, "include_unrealized": True}})
    t = rig.trader
    await t.price(MNQ, 20000.0)
    await t.place(rig.account, MNQ, BUY, 1)
    await t.place(rig.account, MNQ, BUY, 1, type=LIMIT, limitPrice=19000.0)
    await rig.wait_quotes(MNQ)
    await t.price(MNQ, 19970.0)  # open P&L -$60
    lock = await _wait_lock(rig, "R03")
    assert lock["kind"] == "lockout" and lock["ends"] == "reset"
    await _wait_flat(rig)


async def test_r04_unrealized_loss_per_position_closes_it(start_rig):
    rig = await start_rig({"daily_unrealized_loss": {"loss_limit": 20}})
    t = rig.trader
    await t.price(MNQ, 20000.0)
    await t.price(MES, 6000.0)
    await t.place(rig.account, MNQ, BUY, 1)
    await t.place(rig.account, MES, BUY, 1)
    seq = await t.last_seq()
    await rig.wait_quotes(MNQ, MES)
    await t.price(MNQ, 19985.0)  # MNQ -$30; MES untouched

    async def mnq_closed():
        return [p["contractId"] for p in await t.positions(rig.account)] == [MES]

    await wait_for(mnq_closed, what="MNQ closed, MES kept")
    closes = [r for r in await t.log(seq) if r["path"].lower().endswith("/position/closecontract")]
    assert [r["body"]["contractId"] for r in closes] == [MNQ]
    assert await _locks(rig) == []


async def test_r05_profit_target_closes_position(start_rig):
    rig = await start_rig({"max_unrealized_profit": {"profit_target": 20}})
    t = rig.trader
    await t.price(MNQ, 20000.0)
    await t.place(rig.account, MNQ, SELL, 1)
    await rig.wait_quotes(MNQ)
    await t.price(MNQ, 19985.0)  # short +$30
    await _wait_flat(rig)


async def test_r06_trade_frequency_cooldown(start_rig):
    rig = await start_rig({"trade_frequency_limit": {"per_minute": 2, "per_hour": 50, "per_session": 100}})
    t = rig.trader
    await t.price(MNQ, 20000.0)
    for _ in range(3):
        await t.place(rig.account, MNQ, BUY, 1)
    lock = await _wait_lock(rig, "R06")
    assert lock["kind"] == "cooldown" and 0 < lock["remaining_s"] <= 60
    await _wait_flat(rig)


async def test_r07_cooldown_after_loss(start_rig):
    rig = await start_rig({"cooldown_after_loss": {
        "tiers": [{"loss_amount": -20, "cooldown_seconds": 120}]}})
    t = rig.trader
    await t.price(MNQ, 20000.0)
    await t.place(rig.account, MNQ, BUY, 1)
    await t.price(MNQ, 19985.0)
    await t.place(rig.account, MNQ, SELL, 1)  # -$30 realized
    lock = await _wait_lock(rig, "R07")
    assert lock["kind"] == "cooldown" and 100 < lock["remaining_s"] <= 120
    await t.place(rig.account, MNQ, BUY, 1)  # the kill switch holds during the cooldown
    await _wait_flat(rig)


async def test_r08_no_stop_loss_closed_after_grace(start_rig):
    rig = await start_rig({"no_stop_loss_grace": {"grace_period_seconds": 1}})
    t = rig.trader
    await t.price(MNQ, 20000.0)
    await t.price(MES, 6000.0)
    await t.place(rig.account, MNQ, BUY, 1)
    await t.place(rig.account, MES, BUY, 1)
    await t.place(rig.account, MES, SELL, 1, type=STOP, stopPrice=5990.0)  # MES is protected

    async def mnq_closed():
        return [p["contractId"] for p in await t.positions(rig.account)] == [MES]

    await wait_for(mnq_closed, timeout=6.0, what="unprotected MNQ closed after the grace period")


async def test_r09_outside_session_flattens_and_locks(start_rig):
    now = datetime.now(UTC)
    start, end = now + timedelta(hours=2), now + timedelta(hours=3)
    session = {"start": start.strftime("%H:%M"), "end": end.strftime("%H:%M"), "timezone": "UTC",
               "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}
    rig = await start_rig({"session_block_outside": {"sessions": {"default": session},
                                                     "respect_holidays": False}})
    t = rig.trader
    await t.price(MNQ, 20000.0)
    await t.place(rig.account, MNQ, BUY, 1)
    lock = await _wait_lock(rig, "R09")
    assert lock["ends"] == "session_start"
    await _wait_flat(rig)


async def test_r10_can_trade_false_flattens_and_locks_until_true(start_rig):
    rig = await start_rig({"auth_loss_guard": {"enabled": True}})
    t = rig.trader
    await t.price(MNQ, 20000.0)
    await t.place(rig.account, MNQ, BUY, 1)
    await t.account(rig.account, canTrade=False)
    lock = await _wait_lock(rig, "R10")
    assert lock["ends"] == "can_trade"
    await _wait_flat(rig)
    await t.account(rig.account, canTrade=True)

    async def cleared():
        return not [lock for lock in await _locks(rig) if lock["rule"] == "R10"]

    await wait_for(cleared, what="R10 lock cleared when canTrade is true again")


async def test_r11_symbol_block_cancels_and_closes_that_symbol_only(start_rig):
    rig = await start_rig({"symbol_blocks": {"blocked_symbols": ["MES"]}})
    t = rig.trader
    await t.price(MNQ, 20000.0)
    await t.price(MES, 6000.0)
    await t.place(rig.account, MNQ, BUY, 1)
    await t.place(rig.account, MES, BUY, 1)
    await t.place(rig.account, MES, BUY, 1, type=LIMIT, limitPrice=5900.0)

    async def only_mnq():
        positions = [p["contractId"] for p in await t.positions(rig.account)]
        orders = await t.working_orders(rig.account)
        return positions == [MNQ] and not orders

    await wait_for(only_mnq, what="MES closed and cancelled, MNQ kept")


async def test_r12_auto_breakeven_places_a_stop(start_rig):
    rig = await start_rig({"trade_management": {
        "enabled": True,
        "auto_breakeven": {"enabled": True, "profit_trigger_ticks": 4, "offset_ticks": 0},
        "trailing_stop": {"enabled": False}}})
    t = rig.trader
    await t.price(MNQ, 20000.0)
    await t.place(rig.account, MNQ, BUY, 1)
    await rig.wait_quotes(MNQ)
    await t.price(MNQ, 20002.0)  # +8 ticks

    async def stop_at_breakeven():
        return [o for o in await t.working_orders(rig.account)
                if o["type"] == STOP and o["side"] == SELL and o["stopPrice"] == 20000.0]

    await wait_for(stop_at_breakeven, what="breakeven stop placed")


async def test_r13_daily_profit_target_flattens_and_locks(start_rig):
    rig = await start_rig({"daily_realized_profit": {"enabled": True, "target": 20,
                                                     "include_unrealized": False}})
    t = rig.trader
    await t.price(MNQ, 20000.0)
    await t.place(rig.account, MNQ, BUY, 1)
    await t.price(MNQ, 20015.0)
    await t.place(rig.account, MNQ, SELL, 1)  # +$30 gross
    lock = await _wait_lock(rig, "R13")
    assert lock["ends"] == "reset"
    await t.place(rig.account, MNQ, BUY, 1)
    await _wait_flat(rig)
