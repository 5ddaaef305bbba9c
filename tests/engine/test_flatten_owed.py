"""A flatten that meets a reduction still working on a position is narrowed around it (never two
closes of one position at once) — and the position is still owed: once nothing of the account is
in flight, the flatten goes out again (docs/rules.md). Found by the model checker (seed 2194 of the
long run: an R01 reduction in flight when an R06 burst locked the account; the rest of the
position stayed open until the lock guard's sweep)."""

from __future__ import annotations

from datetime import timedelta

from engine.engine_helpers import ACCT, MNQ, T0, engine, of, pos, trade
from risk_manager.engine.actions import ClosePosition, Flatten, PartialClose

RULES = {"max_contracts": {"enabled": True, "limit": 4, "count_type": "gross", "close_all": False},
         "daily_realized_loss": {"enabled": True, "loss_limit": 100, "include_unrealized": False}}
ENQ = "CON.F.US.ENQ.U26"


def test_a_flatten_narrowed_around_a_reduction_is_owed_until_nothing_is_in_flight():
    eng = engine(RULES)
    eng.handle(pos(ENQ, 1, 21000.0, pid=2), T0)
    (cut,) = of(eng.handle(pos(MNQ, 4, 20000.0), T0), PartialClose)  # 5 contracts > 4: reduce MNQ by 1
    locked = eng.handle(trade(900, MNQ, -150.0, ts=T0), T0 + timedelta(milliseconds=5))  # R03 locks
    assert of(locked, Flatten) == []  # narrowed: MNQ is being reduced, ENQ is closed on its own
    (close_enq,) = of(locked, ClosePosition)
    assert close_enq.contract_id == ENQ

    eng.enforcement_done(cut)
    assert eng.follow_ups(ACCT, T0 + timedelta(milliseconds=20)) == []  # ENQ's close still working
    eng.enforcement_done(close_enq)
    eng.handle(pos(ENQ, 0, 21000.0, pid=2), T0 + timedelta(milliseconds=25))
    eng.handle(pos(MNQ, 3, 20000.0), T0 + timedelta(milliseconds=25))  # the reduction filled
    (owed,) = of(eng.follow_ups(ACCT, T0 + timedelta(milliseconds=30)), Flatten)
    assert owed.rule == "R03"
    assert eng.follow_ups(ACCT, T0 + timedelta(milliseconds=31)) == []  # owed once


def test_nothing_is_owed_when_the_account_ends_flat_or_unlocked():
    eng = engine(RULES)
    eng.handle(pos(ENQ, 1, 21000.0, pid=2), T0)
    (cut,) = of(eng.handle(pos(MNQ, 4, 20000.0), T0), PartialClose)
    (close_enq,) = of(eng.handle(trade(900, MNQ, -150.0, ts=T0), T0), ClosePosition)
    for done in (cut, close_enq):
        eng.enforcement_done(done)
    eng.handle(pos(ENQ, 0, 21000.0, pid=2), T0)
    eng.handle(pos(MNQ, 0, 20000.0), T0)  # the trader closed the rest himself meanwhile
    assert eng.follow_ups(ACCT, T0 + timedelta(seconds=1)) == []
