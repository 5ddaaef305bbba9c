"""R01/R02 reduce by what is still excess once the guard's own reductions under way have filled,
and a standing breach whose action was dropped because its position was busy is looked at again
when that enforcement ends (docs/rules.md). Found by the model checker (seed 6109 of the long run):
a trader's buy 3 filling 2 + 1 under an R02 limit of 1 drew three reductions, 1 + 2 + 1, while
the first still worked — the guard sold 4 and turned the trader short; later an R02 breach met an
R05 close in flight, was dropped, and the close failed: the account stayed over its limit."""

from __future__ import annotations

from datetime import timedelta

from engine.engine_helpers import ACCT, MNQ, NQ, T0, engine, of, order, pos
from risk_manager.engine.actions import ClosePosition, PartialClose

MARKET, SELL, BUY = 2, 1, 0
PENDING, FILLED = 6, 2
R02 = {"max_contracts_per_instrument": {"enabled": True, "limits": {"NQ": 1, "MNQ": 10},
                                        "enforcement": "reduce_to_limit"}}
R01 = {"max_contracts": {"enabled": True, "limit": 2, "count_type": "gross", "close_all": False}}
MS = timedelta(milliseconds=1)


def _sizes(actions) -> list[int]:
    return [a.size for a in of(actions, PartialClose)]


def test_a_second_reduction_counts_the_first_still_working_issue_seed_6109():
    eng = engine(R02)
    (first,) = of(eng.handle(pos(NQ, 2, 29551.0), T0), PartialClose)  # 2 > 1: reduce by 1
    assert first.size == 1
    eng.expect_own_close(ACCT, NQ, T0, 1)
    eng.enforcement_done(first)  # the call returned; its order has not filled yet
    # The trader's last lot fills before the guard's order is even seen: its claim counts.
    assert _sizes(eng.handle(pos(NQ, 3, 29551.0), T0 + 2 * MS)) == [1]  # 3 - 1 under way - 1
    eng.expect_own_close(ACCT, NQ, T0 + 2 * MS, 1)
    eng.handle(order(154, NQ, status=PENDING, otype=MARKET, side=SELL, size=1), T0 + 3 * MS)
    eng.handle(order(155, NQ, status=PENDING, otype=MARKET, side=SELL, size=1), T0 + 4 * MS)
    own = eng.state(ACCT).own_orders
    assert 154 in own and 155 in own
    eng.enforcement_done(PartialClose(ACCT, NQ, 1, "R02", ""))
    # The first reduction fills: 2 held, one lot still coming off — nothing more to do.
    eng.handle(order(154, NQ, status=FILLED, otype=MARKET, side=SELL, size=1), T0 + 5 * MS)
    assert of(eng.handle(pos(NQ, 2, 29551.0), T0 + 5 * MS), PartialClose) == []
    eng.handle(order(155, NQ, status=FILLED, otype=MARKET, side=SELL, size=1), T0 + 6 * MS)
    assert eng.handle(pos(NQ, 1, 29551.0), T0 + 6 * MS) == []


def test_a_close_the_broker_did_not_act_on_is_no_reduction_under_way():
    eng = engine(R02)
    (first,) = of(eng.handle(pos(NQ, 2, 29551.0), T0), PartialClose)
    eng.expect_own_close(ACCT, NQ, T0, 1)
    eng.withdraw_own_close(ACCT, NQ, 1)  # refused, or every attempt failed
    eng.enforcement_done(first)
    assert _sizes(eng.handle(pos(NQ, 3, 29551.0), T0 + MS)) == [2]


def test_r01_reduces_only_what_is_not_already_coming_off():
    eng = engine(R01)
    (first,) = of(eng.handle(pos(MNQ, 4, 20000.0), T0), PartialClose)  # 4 > 2: reduce by 2
    assert first.size == 2
    eng.expect_own_close(ACCT, MNQ, T0, 2)
    eng.enforcement_done(first)
    (second,) = of(eng.handle(pos(MNQ, 5, 20000.0), T0 + MS), PartialClose)
    assert second.size == 1 and "3 once the reductions under way fill" in second.reason


def test_a_breach_dropped_while_its_position_was_busy_is_looked_at_again():
    eng = engine({**R02, "max_unrealized_profit": {"enabled": True, "mode": "profit_target",
                                                   "profit_target": 80}})
    eng.handle(pos(NQ, 1, 29551.0, short=True), T0)
    close = ClosePosition(ACCT, NQ, "R05", "profit target")
    assert eng.inflight.admit([close], eng.accounts, T0) == [close]  # R05's close at work
    # The trader sells more meanwhile: R02's reduction is dropped, the position being closed.
    assert of(eng.handle(pos(NQ, 3, 29548.0, short=True), T0 + MS), PartialClose) == []
    eng.enforcement_done(close)  # the close failed (the position kept changing under it)
    (cut,) = of(eng.follow_ups(ACCT, T0 + 10 * MS), PartialClose)
    assert cut.size == 2
    assert eng.follow_ups(ACCT, T0 + 11 * MS) == []  # once


def test_a_failed_enforcement_has_the_standing_rules_look_again():
    # Seed 7111: R02's close met the trader's buy still filling over a thin book and failed; a
    # later R02 close was merged into it by the executor (one close of a position at a time) and
    # failed with it. Nothing else came: the account stayed over its limit.
    eng = engine({"max_contracts_per_instrument": {"enabled": True, "limits": {"MNQ": 2},
                                                   "enforcement": "close_all"}})
    (close,) = of(eng.handle(pos(MNQ, 3, 20000.0), T0), ClosePosition)
    eng.enforcement_done(close)
    assert eng.follow_ups(ACCT, T0 + MS) == []  # it worked: nothing owed
    (again,) = of(eng.handle(pos(MNQ, 3, 20000.0), T0 + 2 * MS), ClosePosition)
    eng.enforcement_done(again)
    assert of(eng.follow_ups(ACCT, T0 + 3 * MS, failed=True), ClosePosition)
