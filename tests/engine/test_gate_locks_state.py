"""Kill-switch gate, lock manager, account state, catalog, daily reset and policy."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from risk_manager.config.models import RULE_MODELS, RiskConfig
from risk_manager.engine.actions import (
    CancelOrder, ClearLock, ClosePosition, Flatten, Lock, LockEnd, LockKind,
)
from risk_manager.engine.catalog import ContractCatalog, ContractError, trader_symbol_from_name
from risk_manager.engine.policy import DIRECTIONS, looser_changes

from .engine_helpers import FIRM_AMOUNTS
from .engine_helpers import (
    ACCT, ES, FIXTURES, MNQ, T0, account, catalog, ct, engine, locks_set, of, order, pos, quote, trade,
)

ALL_RULES = {name: {"enabled": True} for name in RULE_MODELS} | FIRM_AMOUNTS


# -- kill switch ---------------------------------------------------------------------------------
@pytest.mark.parametrize("lock_kind", [LockKind.LOCKOUT, LockKind.COOLDOWN])
def test_kill_switch_cancels_orders_and_closes_positions_whatever_the_rules_say(lock_kind):
    e = engine(ALL_RULES)
    e.restore_locks([Lock(ACCT, "R07", lock_kind, "cooldown", LockEnd.TIME, T0 + timedelta(hours=1), T0)])
    out = e.handle(order(1, MNQ, otype=4, side=1, stop=1.0), T0)
    assert out == [CancelOrder(ACCT, 1, MNQ, "lock_gate", out[0].reason)]
    out = e.handle(pos(ES, 1, 6400.0), T0)
    assert out == [ClosePosition(ACCT, ES, "lock_gate", out[0].reason)]
    assert e.handle(pos(ES, 2, 6400.0), T0) == []  # grows, but that close is already in flight
    e.enforcement_done(out[0])
    assert of(e.handle(pos(ES, 3, 6400.0), T0), ClosePosition)  # grows again after the close failed
    assert e.handle(pos(ES, 1, 6400.0), T0) == []  # shrinking: nothing
    assert e.handle(order(1, MNQ, status=3), T0) == []  # terminal order: nothing


def test_gate_runs_before_rules_and_r10_still_sees_account_events():
    e = engine({"auth_loss_guard": {}, "max_contracts": {"limit": 0}})
    e.manual_lock(ACCT, None, "done for the day", "admin", T0)
    assert of(e.handle(pos(MNQ, 5, 1.0), T0), ClosePosition)[0].rule == "lock_gate"
    out = e.handle(account(False), T0)
    assert [l.rule for l in locks_set(out)] == ["R10"]
    assert [c.rule for c in of(e.handle(account(True), T0), ClearLock)] == ["R10"]
    assert e.locks.is_locked(ACCT)  # the manual lock remains


def test_manual_lock_unlock_and_needs_flatten():
    e = engine()
    e.handle(pos(MNQ, 1, 29500.0), T0)
    out = e.manual_lock(ACCT, None, "done for the day", "alice", T0)
    (lock,) = locks_set(out)
    assert lock.set_by == "alice" and lock.ends is LockEnd.RESET and lock.until == ct(2026, 8, 19, 17)
    assert of(out, Flatten)
    assert e.needs_flatten(ACCT)
    with pytest.raises(ValueError):
        e.manual_unlock(ACCT, " ", "alice")
    (cleared,) = e.manual_unlock(ACCT, "talked it through", "alice")
    assert cleared.cleared_by == "alice" and "talked it through" in cleared.reason
    assert not e.needs_flatten(ACCT)


def test_restored_lock_on_start_up_flattens_remaining_positions():
    e = engine()
    e.restore_locks([Lock(ACCT, "R03", LockKind.LOCKOUT, "loss", LockEnd.RESET, ct(2026, 8, 19, 17), T0)])
    rest = pos(MNQ, 2, 29500.0)
    e.handle(rest, T0)  # reconciliation sees the position (gate closes it too)
    e.inflight.done(f"close:{ACCT}:{MNQ}")
    assert e.needs_flatten(ACCT)
    assert e.startup_flatten(T0) == [Flatten(ACCT, "R03", "Account locked (R03: loss)")]


def test_expired_restored_locks_clear_on_first_tick():
    e = engine()
    e.restore_locks([Lock(ACCT, "R07", LockKind.COOLDOWN, "x", LockEnd.TIME, T0 - timedelta(seconds=1), T0)])
    assert [c.rule for c in of(e.tick(T0), ClearLock)] == ["R07"]


def test_no_two_concurrent_closes_flatten_narrows_to_free_items():
    e = engine({"daily_realized_loss": {"include_unrealized": False}, "max_contracts": {"limit": 2}})
    e.handle(pos(ES, 1, 6400.0, pid=2), T0)
    out = e.handle(pos(MNQ, 3, 29500.0), T0)  # R01 flattens: both positions
    assert of(out, Flatten) == [Flatten(ACCT, "R01", out[0].reason)]
    e.handle(order(7, MNQ), T0)
    out = e.handle(trade(1, MNQ, -600.0, ts=T0), T0)  # R03 flatten: positions already closing
    assert of(out, ClosePosition) == [] and of(out, Flatten) == []
    assert of(out, CancelOrder) == [CancelOrder(ACCT, 7, MNQ, "R03", out[-1].reason)]


# -- state ----------------------------------------------------------------------------------------
def test_realized_dedupes_excludes_voided_and_takes_back_a_later_void():
    e = engine()
    s = e.state(ACCT)
    e.handle(trade(1, MNQ, -50.0, fees=1.0, ts=T0), T0)
    e.handle(trade(1, MNQ, -50.0, fees=1.0, ts=T0), T0)
    e.handle(trade(2, MNQ, None, fees=1.0, ts=T0), T0)  # half-turn
    e.handle(trade(3, MNQ, 20.0, voided=True, ts=T0), T0)
    assert (s.realized_gross, s.realized_net) == (-50.0, -52.0)  # the half-turn's fee counts too
    e.handle(trade(1, MNQ, -50.0, fees=1.0, voided=True, ts=T0), T0)
    assert (s.realized_gross, s.realized_net, s.trades_today) == (0.0, -1.0, 1)


def test_mark_prefers_fresh_last_then_mid_and_flags_stale_and_unpriced():
    e = engine()
    s = e.state(ACCT)
    e.handle(pos(MNQ, 1, 29500.0), T0)
    snap = e.snapshot(ACCT, T0)
    assert snap["positions"][0]["priced"] is False and snap["unpriced_contracts"] == [MNQ]
    e.handle(quote(MNQ, bid=29510.0), T0)
    e.handle(quote(MNQ, ask=29511.0), T0)  # partial quotes merge
    assert e.market.mark(MNQ, T0, 10).price == 29510.5
    e.handle(quote(MNQ, last=29520.0), T0)
    assert e.market.mark(MNQ, T0 + timedelta(seconds=5), 10).price == 29520.0
    later = e.market.mark(MNQ, T0 + timedelta(seconds=11), 10)
    assert (later.price, later.stale, later.source) == (29510.5, True, "mid")
    assert s.refresh_unrealized(e.market, e.catalog, T0, 10) == 40.0


def test_day_rollover_resets_realized_and_session_counts_but_not_dedupe():
    e = engine()
    e.handle(trade(1, MNQ, -50.0, ts=T0), T0)
    after = ct(2026, 8, 19, 17, 0, 1)
    e.tick(after)
    s = e.state(ACCT)
    assert s.realized == 0.0 and s.trades_today == 0
    e.handle(trade(1, MNQ, -50.0, ts=T0), after)  # re-emitted old trade
    assert s.realized == 0.0


@pytest.mark.parametrize("day", [(2026, 3, 8), (2026, 11, 1)])
def test_dst_reset_happens_once_at_1700_local(day):
    e = engine()
    e.handle(trade(1, MNQ, -10.0, ts=ct(*day, 16, 0)), ct(*day, 16, 0))
    resets = []
    t = ct(*day, 15, 0)
    while t < ct(*day, 19, 0):
        before = e.trading_day
        e.tick(t)
        if before is not None and e.trading_day != before:
            resets.append(t)
        t += timedelta(minutes=1)
    assert resets == [ct(*day, 17, 0)]


# -- catalog --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,root", [("ESU6", "ES"), ("SR3Z5", "SR3"), ("6EU6", "6E"), ("M2KU6", "M2K"),
                                       ("MBTQ6", "MBT"), ("MNQU26", "MNQ"), ("E7U6", "E7")])
def test_trader_symbol_from_contract_name(name, root):
    assert trader_symbol_from_name(name) == root


def test_catalog_maps_both_ways_and_never_guesses_unknown_contracts():
    cat = catalog()
    assert cat.symbol_of("CON.F.US.EP.U26") == "ES" and cat.root_of("CON.F.US.EP.U26") == "EP"
    assert cat.symbol_for_root("ENQ") == "NQ" and cat.symbol_for_root("CLE") == "CL"
    assert cat.contract(MNQ).tick_value == 0.5
    assert cat.symbol_of("CON.F.US.EP.Z26") is None and cat.contract("CON.F.US.XX.Z26") is None
    assert cat.needs_lookup == {"CON.F.US.EP.Z26", "CON.F.US.XX.Z26"}
    bundled = ContractCatalog.bundled()
    assert len(bundled) == len(json.loads((FIXTURES / "contracts_available.json").read_text()))
    with pytest.raises(ContractError, match="contract #0: missing field 'tickSize'"):
        ContractCatalog.from_models([{"id": "X", "name": "ESU6", "tickValue": 1}])


def test_unknown_contract_position_is_skipped_and_flagged_not_breached():
    e = engine({"daily_unrealized_loss": {}, "max_contracts_per_instrument": {}})
    unknown = "CON.F.US.ZZZ.U26"
    assert e.handle(pos(unknown, 5, 10.0), T0) == []
    assert e.handle(quote(unknown, last=1.0), T0) == []
    assert unknown in e.catalog.needs_lookup and unknown in e.state(ACCT).unpriced


# -- snapshot -------------------------------------------------------------------------------------
def test_snapshot_has_what_the_status_api_needs():
    e = engine({"daily_realized_loss": {}, "no_stop_loss_grace": {}})
    e.handle(account(True), T0)
    e.handle(trade(1, MNQ, -100.0, ts=T0), T0)
    e.handle(pos(MNQ, 2, 29500.0), T0)
    e.handle(quote(MNQ, last=29510.0), T0)
    snap = e.snapshot(ACCT, T0 + timedelta(seconds=10))
    assert snap["realized_pnl"] == -100.0 and snap["unrealized_pnl"] == 40.0 and snap["total_pnl"] == -60.0
    assert snap["positions"][0]["stop_deadline_s"] == 20.0
    r03 = next(r for r in snap["rules"] if r["rule"] == "R03")
    assert (r03["value"], r03["limit"], r03["used_pct"]) == (-60.0, -500, 12.0)
    assert snap["trading_day"]["end"] == ct(2026, 8, 19, 17).isoformat()
    json.dumps(snap)


# -- policy ---------------------------------------------------------------------------------------
def _cfg(rules):
    return RiskConfig.model_validate({"rules": rules})


def test_direction_table_covers_every_rule_field():
    for name, model in RULE_MODELS.items():
        assert set(model.model_fields) <= set(DIRECTIONS[name]), name


def test_looser_and_tighter_changes():
    base = _cfg({"max_contracts": {"limit": 5}, "daily_realized_loss": {"loss_limit": 500},
                 "symbol_blocks": {"blocked_symbols": ["ES"]}, "cooldown_after_loss": {}})
    assert looser_changes(base, base) == []
    tighter = _cfg({"max_contracts": {"limit": 3}, "daily_realized_loss": {"loss_limit": 400},
                    "symbol_blocks": {"blocked_symbols": ["ES", "NQ"]}, "cooldown_after_loss": {},
                    "trade_frequency_limit": {}})
    assert looser_changes(base, tighter) == []
    looser = _cfg({"max_contracts": {"limit": 6}, "daily_realized_loss": {"enabled": False},
                   "symbol_blocks": {"blocked_symbols": []},
                   "cooldown_after_loss": {"tiers": [{"loss_amount": -100, "cooldown_seconds": 60}]}})
    keys = {(c.rule, c.key) for c in looser_changes(base, looser)}
    assert keys == {("max_contracts", "limit"), ("daily_realized_loss", "enabled"),
                    ("symbol_blocks", "blocked_symbols"), ("cooldown_after_loss", "tiers")}
    wider = _cfg({"max_contracts_per_instrument": {"limits": {"MNQ": 3}}, "session_block_outside":
                  {"sessions": {"default": {"start": "08:00"}}}})
    narrow = _cfg({"max_contracts_per_instrument": {"limits": {"MNQ": 2}}, "session_block_outside": {}})
    assert {c.rule for c in looser_changes(narrow, wider)} == {"max_contracts_per_instrument",
                                                              "session_block_outside"}
    assert looser_changes(wider, narrow) == []
    assert [c.rule for c in looser_changes(base, base.model_copy(update={"pnl_basis": "gross"}))] == ["pnl_basis"]
