"""The fast quote path decides exactly what the straightforward evaluation decides.

`ReferenceEngine` is the engine's evaluation before the quote path was optimized (every holder
prices the quote's contract itself; the rules are looked up by name and checked for `enabled` on
every event). Random streams with limits near the prices go through both engines side by side:
same actions, same positions' P&L, marks and peaks, after every event.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from risk_manager.config.models import RiskConfig
from risk_manager.engine.actions import Action
from risk_manager.engine.engine import _MARKET_KINDS, _NEEDS_MARKS, RiskEngine
from risk_manager.engine.gate import gate
from risk_manager.engine.rules import RULES, TRIGGERS
from risk_manager.engine.rules._common import cents, cents_at_or_above, cents_at_or_below
from risk_manager.engine.state import AccountState
from risk_manager.events import Event, EventKind

from .engine_helpers import ES, MNQ, T0, catalog, mtrade, order, pos, quote, trade


class ReferenceEngine(RiskEngine):
    """The per-account, per-rule evaluation the fast path replaced (kept as the test's oracle)."""

    def handle(self, event: Event, now: datetime) -> list[Action]:
        out = self._roll(now) if self.day_end is None or now >= self.day_end or now < self.day_start else []
        kind = event.kind
        if kind in _MARKET_KINDS:
            if not self.market.apply(event, now):
                return out
            holders = self._holders.get(event.contract_id or "")
            if holders:
                for acct in sorted(holders):
                    state = self.accounts[acct]
                    if not self.locks.is_locked(acct):
                        out += self._run_rules(event, state, now)
                    else:  # locked: only the lock-setting rules, on a freshly priced contract
                        state.refresh_contract(event.contract_id or "", self.market, self.catalog, now,
                                               self.config.max_quote_age_seconds)
                        out += self._locked_rules(event, state, now, refresh=False)
            return self._finish(out, now) if out else out
        acct = event.account_id
        if acct is None:
            return out
        state = self.state(acct)
        change = state.apply(event, now)
        state.last_change = change
        self._track(event, change, state)
        gated = gate(event, change, self.locks, self.catalog.symbol_of)
        if gated is not None:
            out += gated
            if kind is EventKind.ACCOUNT:
                out += self._account_event(event, state, now)
            elif kind is not EventKind.ORDER:
                out += self._locked_rules(event, state, now, refresh=kind in _NEEDS_MARKS)
            return self._finish(out, now)
        if kind is EventKind.ACCOUNT:
            out += self._account_event(event, state, now)
        else:
            out += self._run_rules(event, state, now)
        return self._finish(out, now) if out else out

    def _run_rules(self, event: Event, state: AccountState, now: datetime) -> list[Action]:
        ctx = self.contexts(state.account_id)
        max_age = ctx["max_contracts"].max_quote_age
        if event.kind in _MARKET_KINDS:
            state.refresh_contract(event.contract_id or "", self.market, self.catalog, now, max_age)
        elif event.kind in _NEEDS_MARKS:
            state.refresh_unrealized(self.market, self.catalog, now, max_age)
        out: list[Action] = []
        for name in TRIGGERS.get(event.kind, ()):
            rule_ctx = ctx[name]
            if rule_ctx.config.enabled:
                out += RULES[name](event, state, rule_ctx, now)
        return out


# --- the cent comparisons ----------------------------------------------------------------------
_money = st.floats(-1e7, 1e7, allow_nan=False)
_limits = st.one_of(_money, st.floats(allow_nan=False), st.sampled_from([0.0, 300.0, -500.0, 1e12, -1e12, 3e15]))


@given(value=st.one_of(_money, st.floats()), limit=_limits)
def test_cent_helpers_equal_rounding_then_comparing(value, limit):
    assert cents_at_or_below(value, limit) == (cents(value) <= limit)
    assert cents_at_or_above(value, limit) == (cents(value) >= limit)


@given(limit=_limits, milli=st.integers(-30, 30), ulps=st.integers(-3, 3))
def test_cent_helpers_exact_next_to_the_limit(limit, milli, ulps):
    """Values within a few thousandths (and float ulps) of the limit: the inclusive boundary."""
    value = limit + milli / 1000
    for _ in range(abs(ulps)):
        value = value + (abs(value) * 2.3e-16 or 5e-324) * (1 if ulps > 0 else -1)
    assert cents_at_or_below(value, limit) == (cents(value) <= limit)
    assert cents_at_or_above(value, limit) == (cents(value) >= limit)


def test_cent_boundaries_stay_inclusive():
    assert cents_at_or_below(-300.0, -300.0) and cents_at_or_below(-299.995, -300.0) is (round(-299.995, 2) <= -300)
    assert cents_at_or_below(-299.994, -300.0) is False
    assert cents_at_or_above(1000.0, 1000.0) and not cents_at_or_above(999.99, 1000.0)
    assert cents_at_or_above(999.996, 1000.0)


# --- the engine, side by side ---------------------------------------------------------------
ACCOUNTS = (101, 102, 103)
CONTRACTS = (MNQ, ES)
BASE = {MNQ: 29500.0, ES: 6400.0}
TICK = {MNQ: 0.25, ES: 0.25}


def _config(variant: int) -> RiskConfig:
    """Tight limits (a few ticks of MNQ/ES P&L) so breaches, boundaries and locks happen."""
    rules = {
        "daily_realized_loss": {"loss_limit": 40, "include_unrealized": variant != 1},
        "daily_unrealized_loss": {"loss_limit": 12.5, "scope": "total" if variant == 2 else "per_position"},
        "max_unrealized_profit": ({"mode": "breakeven", "breakeven_arm_ticks": 2} if variant == 1
                                  else {"profit_target": 25}),
        "daily_realized_profit": {"enabled": True, "target": 50, "include_unrealized": variant != 2},
        "trade_management": {"enabled": variant == 0, "auto_breakeven": {"profit_trigger_ticks": 4},
                             "trailing_stop": {"activation_ticks": 6, "trail_distance_ticks": 2}},
        "no_stop_loss_grace": {"enabled": False},
        "max_contracts": {"limit": 6},
    }
    if variant == 3:  # alert-only rules (nothing locks, every rule keeps evaluating)
        for name in ("daily_realized_loss", "daily_unrealized_loss", "daily_realized_profit"):
            rules[name]["mode"] = "alert"
        rules["max_unrealized_profit"]["action_mode"] = "alert"
    return RiskConfig.model_validate({"rules": rules, "max_quote_age_seconds": 5})


_steps = st.lists(
    st.one_of(
        st.tuples(st.just("pos"), st.sampled_from(ACCOUNTS), st.sampled_from(CONTRACTS), st.integers(0, 3),
                  st.booleans(), st.integers(-8, 8)),
        st.tuples(st.just("quote"), st.sampled_from(CONTRACTS), st.integers(-12, 12),
                  st.sampled_from(["last", "bid", "ask", "book", "all"])),
        st.tuples(st.just("mtrade"), st.sampled_from(CONTRACTS), st.integers(-12, 12)),
        st.tuples(st.just("trade"), st.sampled_from(ACCOUNTS), st.integers(1, 40), st.integers(-30, 30)),
        st.tuples(st.just("stop"), st.sampled_from(ACCOUNTS), st.sampled_from(CONTRACTS), st.integers(-20, 20)),
        st.tuples(st.just("config"), st.integers(0, 3)),
        st.tuples(st.just("wait"), st.sampled_from([0.001, 0.5, 4.9, 5.0, 6.0])),
    ),
    min_size=5,
    max_size=60,
)


def _event(step: tuple, now: datetime):
    kind = step[0]
    if kind == "pos":
        _, acct, cid, size, short, off = step
        return pos(cid, size, BASE[cid] + off * TICK[cid], short=short, acct=acct)
    if kind == "quote":
        _, cid, off, which = step
        price = BASE[cid] + off * TICK[cid]
        return quote(cid, last=price if which in ("last", "all") else None,
                     bid=price if which in ("bid", "book", "all") else None,
                     ask=price + TICK[cid] if which in ("ask", "book", "all") else None)
    if kind == "mtrade":
        return mtrade(step[1], BASE[step[1]] + step[2] * TICK[step[1]])
    if kind == "trade":
        _, acct, tid, pnl = step
        return trade(tid, MNQ, pnl * 1.25, ts=now, fees=0.37, acct=acct)
    _, acct, cid, off = step  # a working stop on the sell side
    return order(900 + CONTRACTS.index(cid), cid, otype=4, side=1, stop=BASE[cid] + off * TICK[cid], acct=acct)


def _positions(e: RiskEngine) -> dict:
    return {
        (acct, cid): (p.size, p.direction, p.unrealized, p.mark, p.stale, p.peak_ticks, p.managed_stop)
        for acct, s in sorted(e.accounts.items()) for cid, p in sorted(s.positions.items())
    } | {acct: (s.unrealized_total, s.realized, sorted(s.unpriced)) for acct, s in e.accounts.items()}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=_steps, variant=st.integers(0, 3))
def test_fast_quote_path_decides_like_the_reference(steps, variant):
    assume(any(s[0] in ("quote", "mtrade") for s in steps))
    fast, ref = RiskEngine(_config(variant), catalog()), ReferenceEngine(_config(variant), catalog())
    now = T0
    # Every account starts holding both contracts (one short), so quotes have holders to price.
    opening = [("quote", cid, 0, "all") for cid in CONTRACTS]
    opening += [("pos", acct, cid, 1, (acct + i) % 2 == 0, 0) for acct in ACCOUNTS for i, cid in enumerate(CONTRACTS)]
    for step in opening + steps:
        if step[0] == "wait":
            now += timedelta(seconds=step[1])
            for e in (fast, ref):
                e.tick(now)
            continue
        now += timedelta(milliseconds=7)
        if step[0] == "config":
            assert fast.update_config(_config(step[1]), now) == ref.update_config(_config(step[1]), now)
            continue
        event = _event(step, now)
        assert fast.handle(event, now) == ref.handle(event, now), step
        assert _positions(fast) == _positions(ref), step
        assert {a: fast.locks.is_locked(a) for a in ACCOUNTS} == {a: ref.locks.is_locked(a) for a in ACCOUNTS}


def test_config_change_rebuilds_the_rules_a_quote_runs():
    """The per-account rule plan is rebuilt when the config changes: a rule enabled later acts on
    the next quote, one disabled later no longer does."""
    r05_off = RiskConfig.model_validate({"rules": {"max_unrealized_profit": {"enabled": False}}})
    r05_on = RiskConfig.model_validate({"rules": {"max_unrealized_profit": {"profit_target": 25}}})
    e = RiskEngine(r05_off, catalog())
    e.handle(pos(MNQ, 1, BASE[MNQ], acct=101), T0)
    assert e.handle(quote(MNQ, last=BASE[MNQ] + 60 * TICK[MNQ]), T0) == []  # +$30, R05 off
    assert e.handle(quote(MNQ, last=BASE[MNQ] + 20 * TICK[MNQ]), T0) == []
    assert e.update_config(r05_on, T0) == []  # +$10: below the target
    out = e.handle(quote(MNQ, last=BASE[MNQ] + 50 * TICK[MNQ]), T0 + timedelta(seconds=1))
    assert [(a.rule, a.reason) for a in out] == [("R05", "Profit target on MNQ long 1: $25.00 >= $25.00")]
    assert e.enforcement_done(out[0])
    e.update_config(r05_off, T0 + timedelta(seconds=2))
    assert e.handle(quote(MNQ, last=BASE[MNQ] + 62 * TICK[MNQ]), T0 + timedelta(seconds=3)) == []
