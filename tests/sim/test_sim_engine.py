"""Matching engine, without network: fills, netting, P&L arithmetic, brackets, error codes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from risk_manager.clock import ManualClock
from risk_manager.sim.catalog import load_catalog
from risk_manager.sim.engine import BRACKET_MODE_MESSAGE, MatchingEngine
from risk_manager.sim.models import BracketSpec

MNQ = "CON.F.US.MNQ.U26"
MYM = "CON.F.US.MYM.U26"
CATALOG = load_catalog()


def make_engine(**kw) -> tuple[MatchingEngine, int]:
    engine = MatchingEngine(CATALOG, ManualClock(datetime(2026, 8, 19, 14, 0, tzinfo=UTC)), **kw)
    account = engine.add_account(balance=150_000.0)
    return engine, account.id


def shape(events) -> list[tuple]:
    out = []
    for e in events:
        d = e.data
        extra = d.get("status", d.get("size"))
        out.append((e.target.removeprefix("GatewayUser"), e.action, extra))
    return out


def test_market_entry_event_order_and_fees() -> None:
    engine, acct = make_engine()
    engine.set_price(MNQ, 29539.0)
    engine.drain_user()
    result = engine.place(acct, MNQ, 2, 0, 1)
    assert result.success and result.order_id > 2**31
    events = engine.drain_user()
    assert shape(events) == [
        ("Order", 1, 6), ("Trade", 0, 1), ("Order", 1, 2), ("Position", 1, 1), ("Account", 1, None), ("Account", 1, None),
    ]
    trade = events[1].data
    assert "profitAndLoss" not in trade  # opening half-turn: key absent on the stream
    assert trade["price"] == 29539.0 and trade["fees"] == 0.37 and trade["commissions"] == 0.25
    assert trade["id"] > 2**31
    assert events[-1].data["balance"] == 150_000.0 - 0.62


def test_close_is_action_2_with_entry_average_and_gross_pnl() -> None:
    engine, acct = make_engine(fees={MYM: (0.37, 0.25)})
    engine.set_price(MYM, 49909)
    engine.place(acct, MYM, 2, 0, 15)
    engine.set_price(MYM, 49983)
    engine.drain_user()
    assert engine.close_contract(acct, MYM).success
    events = engine.drain_user()
    # The closing trade, then the opening half-turn once more (pnl null, entry price: reference §6.7).
    assert shape(events)[:5] == [("Order", 1, 6), ("Trade", 0, 15), ("Order", 1, 2), ("Trade", 0, 15),
                                 ("Position", 2, 0)]
    closing = events[1].data
    assert closing["profitAndLoss"] == 555.0  # 74 points x $0.50 x 15 (reference §9.1)
    assert closing["fees"] == 5.55 and closing["commissions"] == 3.75
    again = events[3].data
    assert "profitAndLoss" not in again and again["price"] == 49909 and again["id"] == engine.trades[0].id
    position = events[4].data
    assert position["type"] == 0 and position["size"] == 0 and position["averagePrice"] == 49909
    # balance: open -9.30, close +555 - 9.30
    assert engine.accounts[acct].balance == round(150_000 - 9.30 + 555 - 9.30, 2)
    assert engine.open_positions(acct) == []


def test_scale_in_averages_and_reversal_gets_new_position_id() -> None:
    engine, acct = make_engine()
    engine.set_price(MNQ, 100.0)
    engine.place(acct, MNQ, 2, 0, 1)
    engine.set_price(MNQ, 101.0)
    engine.place(acct, MNQ, 2, 0, 1)
    (pos,) = engine.open_positions(acct)
    assert pos.net == 2 and pos.average_price == 100.5
    first_id = pos.id
    engine.drain_user()
    engine.place(acct, MNQ, 2, 1, 3)  # sell 3: close 2, open short 1
    events = engine.drain_user()
    positions = [e for e in events if e.target == "GatewayUserPosition"]
    assert [(p.action, p.data["id"] == first_id, p.data["size"]) for p in positions] == [(2, True, 0), (1, False, 1)]
    trades = [e.data for e in events if e.target == "GatewayUserTrade"]
    # close 2, open short 1, then (before the size-0 position) the closed one's opening half-turn again
    assert [t["size"] for t in trades] == [2, 1, 1]
    assert trades[0]["profitAndLoss"] == pytest.approx(0.5 / 0.25 * 0.5 * 2)
    assert "profitAndLoss" not in trades[1] and trades[1]["id"] == engine.trades[-1].id
    assert trades[2]["id"] == engine.trades[0].id and "profitAndLoss" not in trades[2]


def test_bracket_lifecycle_auto_oco() -> None:
    engine, acct = make_engine()
    engine.set_price(MNQ, 29500.0)
    engine.drain_user()
    result = engine.place(acct, MNQ, 2, 0, 1, custom_tag="e1", stop_loss=BracketSpec(-8, 4),
                          take_profit=BracketSpec(12, 1))
    events = engine.drain_user()
    orders = [e.data for e in events if e.target == "GatewayUserOrder"]
    sl, entry, tp = orders[0], orders[1], orders[2]
    assert (sl["status"], entry["status"], tp["status"]) == (8, 6, 8)
    assert sl["customTag"] == "e1-SL" and tp["customTag"] == "e1-TP"
    assert sl["parentOrderId"] == tp["parentOrderId"] == result.order_id
    assert tp["linkedOrderId"] == sl["id"] and "linkedOrderId" not in sl
    assert "stopPrice" not in sl and "limitPrice" not in tp  # no prices while suspended
    assert sl["creationTimestamp"] == entry["creationTimestamp"] == tp["creationTimestamp"]
    activated = orders[-2:]
    assert [(o["id"], o["status"]) for o in activated] == [(tp["id"], 1), (sl["id"], 1)]
    assert activated[0]["limitPrice"] == 29503.0 and activated[1]["stopPrice"] == 29498.0
    # searchOpen shows the working children now; before the fill they were hidden
    assert {o.id for o in engine.open_orders(acct)} == {sl["id"], tp["id"]}
    engine.set_price(MNQ, 29497.75)  # through the stop
    events = engine.drain_user()
    statuses = [(e.data["id"], e.data["status"]) for e in events if e.target == "GatewayUserOrder"]
    assert (sl["id"], 2) in statuses and (tp["id"], 3) in statuses
    assert engine.open_positions(acct) == [] and engine.open_orders(acct) == []


def test_suspended_children_hidden_until_parent_fills_and_die_with_it() -> None:
    engine, acct = make_engine()
    engine.set_price(MNQ, 29500.0)
    result = engine.place(acct, MNQ, 1, 0, 1, limit_price=29490.0, stop_loss=BracketSpec(-8, 4),
                          take_profit=BracketSpec(12, 1))
    assert [o.id for o in engine.open_orders(acct)] == [result.order_id]
    assert len(engine.orders_between(acct, datetime(2026, 1, 1, tzinfo=UTC), None)) == 1
    assert engine.cancel(acct, result.order_id).success
    assert all(o.status == 3 for o in engine.orders.values())


def test_position_brackets_mode_rejects_with_order_id() -> None:
    engine, acct = make_engine()
    engine.set_account(acct, auto_oco=False)
    engine.drain_user()
    result = engine.place(acct, MNQ, 2, 0, 1, stop_loss=BracketSpec(-8, 4))
    assert (result.code, result.message) == (2, BRACKET_MODE_MESSAGE) and result.order_id is not None
    assert shape(engine.drain_user()) == [("Order", 1, 6), ("Order", 1, 5)]


def test_error_codes() -> None:
    engine, acct = make_engine()
    assert engine.place(999, MNQ, 2, 0, 1).code == 1
    assert engine.place(acct, "CON.F.US.NOPE.Z26", 2, 0, 1).code == 8
    assert engine.place(acct, MNQ, 2, 0, 0).code == 2
    assert engine.place(acct, MNQ, 1, 0, 1, limit_price=29500.1).code == 2
    assert engine.place(acct, MNQ, 5, 1, 1).message == "Trail Distance not set."
    assert engine.close_contract(acct, MNQ).code == 2
    assert engine.close_contract(acct, "CON.F.US.NOPE.Z26").code == 3
    assert engine.partial_close(acct, MNQ, 1).code == 2
    engine.place(acct, MNQ, 2, 0, 2)
    assert engine.partial_close(acct, MNQ, 3).code == 5
    assert engine.partial_close(acct, MNQ, 0).code == 5
    assert engine.partial_close(acct, MNQ, 1).success
    assert engine.open_positions(acct)[0].net == 1
    assert engine.cancel(acct, 1).code == 2
    assert engine.modify(acct, 1, size=2).code == 2
    engine.set_account(acct, can_trade=False)
    rejected = engine.place(acct, MNQ, 2, 0, 1)
    assert rejected.code == 2 and rejected.order_id is not None
    assert engine.close_contract(acct, MNQ).success  # closing stays possible when trading is disabled


def test_stop_limit_and_trailing_orders_trigger_on_price() -> None:
    engine, acct = make_engine()
    engine.set_price(MNQ, 100.0)
    buy_limit = engine.place(acct, MNQ, 1, 0, 1, limit_price=99.0).order_id
    sell_stop = engine.place(acct, MNQ, 4, 1, 1, stop_price=98.0).order_id
    trail = engine.place(acct, MNQ, 5, 1, 1, trail_price=99.0).order_id  # 4 ticks below the market
    assert engine.orders[trail].stop_price == 99.0
    engine.set_price(MNQ, 102.0)  # trails up
    assert engine.orders[trail].stop_price == 101.0
    engine.set_price(MNQ, 99.0)  # hits the trailing stop (fills at 99) and the buy limit (fills at 99)
    assert engine.orders[trail].status == 2 and engine.orders[buy_limit].status == 2
    assert engine.orders[buy_limit].filled_price == 99.0
    assert engine.orders[sell_stop].status == 1
    engine.set_price(MNQ, 97.5)
    assert engine.orders[sell_stop].status == 2 and engine.orders[sell_stop].filled_price == 97.5


def test_modify_moves_a_leg_and_can_make_it_marketable() -> None:
    engine, acct = make_engine()
    engine.set_price(MNQ, 100.0)
    oid = engine.place(acct, MNQ, 1, 1, 1, limit_price=105.0).order_id
    assert engine.modify(acct, oid, limit_price=104.0).success
    assert engine.orders[oid].limit_price == 104.0 and engine.orders[oid].status == 1
    assert engine.modify(acct, oid, stop_price=99.0).code == 3
    assert engine.modify(acct, oid, limit_price=99.0).success  # now marketable: fills at the last price
    assert engine.orders[oid].status == 2 and engine.orders[oid].filled_price == 100.0
    assert engine.modify(acct, oid, size=2).code == 3
    assert engine.cancel(acct, oid).code == 3


# ---------------------------------------------------------------------- property test

contracts = st.sampled_from([MNQ, MYM, "CON.F.US.EP.U26", "CON.F.US.USA.U26"])
steps = st.lists(
    st.one_of(
        st.tuples(st.just("price"), contracts, st.integers(-40, 40)),
        st.tuples(st.just("order"), contracts, st.sampled_from([1, 2, 4, 5]), st.integers(0, 1),
                  st.integers(1, 5), st.integers(-20, 20), st.booleans()),
        st.tuples(st.just("close"), contracts),
        st.tuples(st.just("partial"), contracts, st.integers(1, 4)),
        st.tuples(st.just("cancel_oldest"),),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps)
def test_positions_and_balance_follow_fills(ops) -> None:
    engine, acct = make_engine()
    start = engine.accounts[acct].balance
    for op in ops:
        if op[0] == "price":
            contract = CATALOG[op[1]]
            engine.set_price(op[1], contract.base_price() + op[2] * contract.tick_size)
        elif op[0] == "order":
            _, cid, kind, side, size, offset, bracket = op
            tick = CATALOG[cid].tick_size
            last = engine.market(cid).last
            level = last + offset * tick
            brackets = {}
            if bracket and kind in (1, 2):
                sign = 1 if side == 0 else -1
                brackets = {"stop_loss": BracketSpec(-sign * 6, 4), "take_profit": BracketSpec(sign * 6, 1)}
            engine.place(acct, cid, kind, side, size, limit_price=level if kind == 1 else None,
                         stop_price=level if kind == 4 else None, trail_price=level if kind == 5 else None, **brackets)
        elif op[0] == "close":
            engine.close_contract(acct, op[1])
        elif op[0] == "partial":
            engine.partial_close(acct, op[1], op[2])
        else:
            working = engine.open_orders(acct)
            if working:
                engine.cancel(acct, working[0].id)
        engine.drain_user()
        engine.drain_market()

    for cid in {t.contract_id for t in engine.trades}:
        fills = sum(t.signed_size for t in engine.trades if t.contract_id == cid)
        position = engine.positions.get((acct, cid))
        assert (position.net if position else 0) == fills
    expected = start + sum((t.profit_and_loss or 0) - t.fees - t.commissions for t in engine.trades)
    assert engine.accounts[acct].balance == pytest.approx(expected, abs=1e-6)
    for position in engine.positions.values():
        assert position.net != 0
    assert all(o.status in (1, 2, 3, 5, 8) for o in engine.orders.values())


def test_an_account_update_can_leave_can_trade_out_and_the_account_keeps_its_flag() -> None:
    """As some live GatewayUserAccount updates do (the guard must keep the last value it saw)."""
    engine, acct = make_engine()
    engine.set_account(acct, can_trade=False)
    engine.drain_user()
    engine.set_account(acct, omit_can_trade=True)
    (event,) = engine.drain_user()
    assert event.target == "GatewayUserAccount" and "canTrade" not in event.data
    assert engine.accounts[acct].can_trade is False
    assert engine.accounts[acct].to_wire()["canTrade"] is False  # REST still tells it
