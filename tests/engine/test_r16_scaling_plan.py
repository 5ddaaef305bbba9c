"""R16 scaling_plan: contracts allowed by the balance at the start of the trading day (docs/rules.md)."""

from __future__ import annotations

from datetime import timedelta

from engine.engine_helpers import (
    ACCT, ES, MNQ, T0, CancelOrder, ClosePosition, PartialClose, account, ct, engine, of, order, pos,
)
from risk_manager.config.models import RiskConfig
from risk_manager.engine.actions import Alert
from risk_manager.engine.policy import looser_changes

TIERS = [{"balance_at_least": 0, "max_contracts": 3}, {"balance_at_least": 51_500, "max_contracts": 5}]


def plan_engine(balance=51_000.0, **cfg):
    eng = engine({"scaling_plan": {"tiers": TIERS, **cfg}})
    eng.handle(account(True, balance=balance), T0)
    eng.day_trades_read(ACCT, T0)  # the day's trades are in: the day started at this balance
    return eng


def test_tier_crossing_applies_from_the_next_trading_day():
    eng = plan_engine()
    acts = eng.handle(pos(ES, 4, 6000.0), T0 + timedelta(seconds=1))
    [cut] = of(acts, PartialClose)
    assert (cut.contract_id, cut.size, cut.rule) == (ES, 1, "R16")
    assert "4 contracts held > 3 allowed at a day-start balance of $51,000.00" in cut.reason
    eng.handle(pos(ES, 3, 6000.0), T0 + timedelta(seconds=2))
    eng.enforcement_done(cut)  # the executor reports the reduction done
    # The balance crosses 51,500 during the day: still 3 today (judged on the day's start).
    eng.handle(account(True, balance=51_600.0), T0 + timedelta(minutes=5))
    [cut] = of(eng.handle(pos(ES, 4, 6000.0), T0 + timedelta(minutes=6)), PartialClose)
    eng.handle(pos(ES, 3, 6000.0), T0 + timedelta(minutes=7))
    eng.enforcement_done(cut)
    # The reset: the next day starts at 51,600 → 5 contracts.
    eng.tick(ct(2026, 8, 19, 17, 1))
    assert eng.snapshot(ACCT, ct(2026, 8, 20, 9))["firm"]["scaling_plan"]["allowed"] == 5
    assert eng.handle(pos(ES, 5, 6000.0), ct(2026, 8, 20, 9)) == []
    [cut] = of(eng.handle(pos(ES, 6, 6000.0), ct(2026, 8, 20, 9, 1)), PartialClose)
    assert cut.size == 1


def test_micros_count_by_weight():
    eng = plan_engine()
    assert eng.handle(pos(MNQ, 30, 20_000.0), T0 + timedelta(seconds=1)) == []  # 30 × 0.1 = 3
    [cut] = of(eng.handle(pos(MNQ, 31, 20_000.0), T0 + timedelta(seconds=2)), PartialClose)
    assert cut.size == 1
    row = next(r for r in eng.snapshot(ACCT, T0)["rules"] if r["name"] == "scaling_plan")
    assert row["rule"] == "R16" and row["value"] == 3.1 and row["limit"] == 3


def test_orders_that_would_exceed_the_allowance_are_cancelled_closing_ones_pass():
    eng = plan_engine()
    eng.handle(pos(ES, 3, 6000.0), T0)
    [cancel] = of(eng.handle(order(11, ES, otype=1, side=0, size=1, limit=5990.0), T0), CancelOrder)
    assert cancel.order_id == 11 and "4 contracts if order 11 filled" in cancel.reason
    assert eng.handle(order(12, ES, otype=1, side=1, size=2, limit=6010.0), T0) == []  # closes 2
    assert eng.handle(order(13, ES, otype=4, side=1, size=3, stop=5990.0), T0) == []  # its stop
    # A sell of 5 against long 3 would leave short 2: 3 + 2 = 5 > 3.
    assert of(eng.handle(order(14, ES, otype=1, side=1, size=5, limit=6010.0), T0), CancelOrder)
    assert of(eng.handle(order(15, MNQ, otype=1, side=0, size=1, limit=19_000.0), T0), CancelOrder)


def test_below_every_tier_nothing_is_allowed_and_alert_mode():
    eng = plan_engine(balance=40_000.0, tiers=[{"balance_at_least": 45_000, "max_contracts": 2}])
    assert of(eng.handle(pos(ES, 1, 6000.0), T0 + timedelta(seconds=1)), ClosePosition)
    alert = plan_engine(mode="alert")
    acts = alert.handle(pos(ES, 4, 6000.0), T0 + timedelta(seconds=1))
    assert [type(a) for a in acts] == [Alert] and acts[0].reason.startswith("[alert only] Scaling plan")


def test_day_start_without_a_reset_seen_is_balance_minus_realized_once_read():
    from engine.engine_helpers import trade

    eng = engine({"scaling_plan": {"tiers": TIERS}})
    eng.handle(trade(1, ES, 700.0, ts=T0, fees=2.0), T0)
    eng.handle(account(True, balance=51_698.0), T0)  # started the day at 51,000
    assert eng.handle(pos(ES, 4, 6000.0), T0) == []  # no day start known yet: not judged
    eng.day_trades_read(ACCT, T0)
    assert of(eng.handle(pos(ES, 4, 6000.0), T0 + timedelta(seconds=1)), PartialClose)


def test_loosening_the_plan_waits_for_the_reset():
    def cfg(tiers, **kw):
        return RiskConfig.model_validate({"rules": {"scaling_plan": {"tiers": tiers, **kw}}})

    more = [{"balance_at_least": 0, "max_contracts": 3}, {"balance_at_least": 51_000, "max_contracts": 5}]
    assert [c.key for c in looser_changes(cfg(TIERS), cfg(more))] == ["tiers"]
    assert looser_changes(cfg(more), cfg(TIERS)) == []
    assert [c.key for c in looser_changes(cfg(TIERS), cfg(TIERS, micro_weight=0.05))] == ["micro_weight"]
