"""Read-only account view for the status API (docs/status-api.md `accounts[]` entries)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from risk_manager.config.models import RULE_IDS
from risk_manager.engine.rules.r01_max_contracts import contract_count
from risk_manager.engine.rules.r02_max_contracts_per_instrument import holdings_by_symbol
from risk_manager.engine.rules.r06_trade_frequency_limit import counts
from risk_manager.engine.rules.r08_no_stop_loss_grace import deadline, stop_coverage
from risk_manager.engine.rules.r14_max_loss_floor import equity, floor_of, used_pct
from risk_manager.engine.rules import r15_consistency_guard, r16_scaling_plan
from risk_manager.events import OrderSide, OrderStatus, OrderType
from risk_manager.schedule.sessions import current_session_end, next_session_start

if TYPE_CHECKING:
    from risk_manager.engine.engine import RiskEngine


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt is not None else None


def _pct(value: float | None, limit: float | None) -> float | None:
    if value is None or not limit:
        return None
    return round(max(0.0, value / limit * 100.0), 1)


def account_snapshot(engine: RiskEngine, account_id: int, now: datetime) -> dict[str, Any]:
    state = engine.state(account_id)
    ctx = engine.contexts(account_id)
    cfg = engine.account_config(account_id)
    unrealized = state.refresh_unrealized(engine.market, engine.catalog, now, cfg.max_quote_age_seconds)
    r08 = ctx["no_stop_loss_grace"]
    positions = []
    for cid in sorted(state.positions):
        pos = state.positions[cid]
        covered = stop_coverage(state, pos) >= 1
        positions.append({
            "contract_id": cid,
            "symbol": engine.catalog.symbol_of(cid),
            "side": "long" if pos.direction > 0 else "short",
            "size": pos.size,
            "average_price": pos.average_price,
            "mark": pos.mark,
            "unrealized_pnl": None if pos.unrealized is None else round(pos.unrealized, 2),
            "stale": pos.stale,
            "priced": pos.unrealized is not None,
            "opened_at": _iso(pos.opened_at),
            "has_stop": covered,
            "stop_deadline_s": None if covered or not r08.config.enabled
            else max(0.0, (deadline(pos, r08) - now).total_seconds()),
        })
    orders = [
        {
            "id": o.id,
            "contract_id": o.contract_id,
            "symbol": engine.catalog.symbol_of(o.contract_id),
            "type": _enum_name(OrderType, o.type),
            "side": "buy" if o.side == OrderSide.BID else "sell",
            "size": o.size,
            "limit_price": o.limit_price,
            "stop_price": o.stop_price,
            "status": _enum_name(OrderStatus, o.status),
        }
        for o in (state.orders[k] for k in sorted(state.orders))
    ]
    locks = [
        {
            "rule": l.rule, "kind": l.kind.value, "reason": l.reason, "until": _iso(l.until),
            "remaining_s": l.remaining_s(now), "ends": l.ends.value, "symbol": l.symbol,
            "set_by": l.set_by,
        }
        for l in engine.locks.active(account_id)
    ]
    start, end = engine.timeline.day_bounds(now)
    # What the account waits for: the account-wide lock that ends last (a lockout until the reset
    # over a shorter cooldown); None when trading is allowed.
    longest = engine.locks.blocking_lock(account_id)
    return {
        "id": account_id,
        "name": state.name,
        "balance": state.balance,
        "can_trade": state.can_trade,
        "realized_pnl": round(state.realized, 2),
        "unrealized_pnl": round(unrealized, 2),
        "total_pnl": round(state.realized + unrealized, 2),
        "pnl_basis": state.pnl_basis,
        "trades_today": state.trades_today,
        "locked": engine.locks.is_locked(account_id),
        "reduce_only": engine.locks.reduce_only(account_id) is not None,
        "locks": locks,
        "longest_lock": None if longest is None else {
            "rule": longest.rule, "kind": longest.kind.value, "reason": longest.reason,
            "until": _iso(longest.until), "remaining_s": longest.remaining_s(now), "ends": longest.ends.value,
        },
        "positions": positions,
        "orders": orders,
        "unpriced_contracts": sorted(state.unpriced),
        "rules": rule_rows(engine, account_id, now),
        "firm": firm_view(engine, account_id),
        "trading_day": {"start": _iso(start), "end": _iso(end),
                        "reset_in_s": max(0.0, (end - now).total_seconds())},
    }


def firm_view(engine: RiskEngine, account_id: int) -> dict[str, Any]:
    """The firm-account guards' figures (docs/rules.md): for R14 the floor, the high, the trigger
    (floor + buffer), the equity and its distance to the trigger."""
    state = engine.state(account_id)
    out: dict[str, Any] = {}
    r14 = engine.contexts(account_id)["max_loss_floor"].config
    if r14.enabled:
        fl = floor_of(r14, state.firm)
        eq = equity(state)
        out["max_loss_floor"] = {
            "floor": round(fl.floor, 2), "high": round(fl.high, 2), "trigger": round(fl.trigger, 2),
            "buffer": r14.buffer, "trail": r14.trail, "equity": None if eq is None else round(eq, 2),
            "distance": None if eq is None else round(eq - fl.trigger, 2),
            "used_pct": None if eq is None else used_pct(fl, eq),
        }
    r15 = engine.contexts(account_id)["consistency_guard"].config
    if r15.enabled:
        cons = r15_consistency_guard.consistency_of(r15, state)
        out["consistency_guard"] = None if cons is None else {
            "profit_before_today": round(cons.before, 2), "today": round(cons.today, 2),
            "total": round(cons.total, 2), "allowed_today": round(cons.allowed, 2),
            "days": {d.isoformat(): v for d, v in sorted(state.firm.day_pnl.items())},
        }
    r16 = engine.contexts(account_id)["scaling_plan"]
    if r16.config.enabled:
        plan = r16_scaling_plan.allowance(state, r16)
        out["scaling_plan"] = {
            "day_start_balance": None if plan is None else round(plan[0], 2),
            "allowed": None if plan is None else plan[1],
            "held": r16_scaling_plan.held(state, r16),
        }
    return out


def _enum_name(enum_type: Callable[[int], enum.Enum], value: int) -> str:
    try:
        return enum_type(value).name.lower()
    except ValueError:
        return str(value)


def rule_rows(engine: RiskEngine, account_id: int, now: datetime) -> list[dict[str, Any]]:
    """Each rule's current value against its limit (`used_pct` 0–100+)."""
    state = engine.state(account_id)
    ctx = engine.contexts(account_id)
    rows = []
    for name, rc in ctx.items():
        c = rc.config
        value: Any = None
        limit: Any = None
        used: float | None = None
        if name == "max_contracts":
            value, limit = round(contract_count(state, rc), 2), c.limit
            used = _pct(value, limit)
        elif name == "max_contracts_per_instrument":
            worst: tuple[float, int, int | None, str] | None = None
            for symbol, held in holdings_by_symbol(state, rc).items():
                lim = c.limit_for(symbol)
                size = sum(s for _, s in held)
                pct = 100.0 if lim == 0 else ((_pct(size, lim) or 0.0) if lim is not None else 0.0)  # (a float: lim > 0)
                if worst is None or pct > worst[0]:
                    worst = (pct, size, lim, symbol)
            if worst is not None:
                used, value, limit = worst[0], {"symbol": worst[3], "size": worst[1]}, worst[2]
            else:  # flat: the per-instrument limits themselves
                value, limit, used = 0, dict(c.limits), 0.0
        elif name in ("daily_realized_loss", "daily_realized_profit"):
            value = round(state.realized + (state.unrealized_total if c.include_unrealized else 0.0), 2)
            if name == "daily_realized_loss":
                limit = -c.loss_limit
                used = _pct(-value, c.loss_limit)
            else:
                limit = c.target
                used = _pct(value, c.target)
        elif name == "daily_unrealized_loss":
            if c.scope == "total":
                value = round(state.unrealized_total, 2)
            else:
                priced = [p.unrealized for p in state.positions.values() if p.unrealized is not None]
                value = round(min(priced), 2) if priced else None
            limit = -c.loss_limit
            used = _pct(-value if value is not None else None, c.loss_limit)
        elif name == "max_unrealized_profit":
            priced = [p.unrealized for p in state.positions.values() if p.unrealized is not None]
            value = round(max(priced), 2) if priced else None
            if c.mode == "profit_target":
                limit = c.profit_target
                used = _pct(value, c.profit_target)
        elif name == "trade_frequency_limit":
            minute, hour, session = counts(state, now)
            value = {"minute": minute, "hour": hour, "session": session}
            limit = {"minute": c.per_minute, "hour": c.per_hour, "session": c.per_session}
            # (floats: the per_* limits are >= 1)
            used = max(_pct(minute, c.per_minute) or 0.0, _pct(hour, c.per_hour) or 0.0,
                       _pct(session, c.per_session) or 0.0)
        elif name == "cooldown_after_loss":
            # The tiers are the limit (a losing exit of at least `loss` → `cooldown_s`), flat or not.
            limit = [{"loss": t.loss_amount, "cooldown_s": t.cooldown_seconds} for t in c.tiers]
        elif name == "no_stop_loss_grace":
            value = sum(1 for p in state.positions.values() if stop_coverage(state, p) < 1)
            limit = 0
        elif name == "session_block_outside":
            status = engine.timeline.session_status(now, c.session_for(None), c.respect_holidays)
            value = "open" if status.open else "closed"
        elif name == "auth_loss_guard":
            value = state.can_trade
        elif name == "symbol_blocks":
            value = list(c.blocked_symbols)
        elif name == "max_loss_floor" and c.enabled:
            # value: equity (balance + open unrealized); limit: where the guard acts.
            fl = floor_of(c, state.firm)
            limit = round(fl.trigger, 2)
            eq = equity(state)
            if eq is not None:
                value, used = round(eq, 2), used_pct(fl, eq)
        elif name == "consistency_guard" and c.enabled:
            cons = r15_consistency_guard.consistency_of(c, state)
            if cons is not None:
                value, limit = round(cons.today, 2), round(cons.allowed, 2)
                used = _pct(value, limit)
        elif name == "scaling_plan" and c.enabled:
            value = r16_scaling_plan.held(state, rc)
            plan = r16_scaling_plan.allowance(state, rc)
            if plan is not None:
                limit = plan[1]
                used = 100.0 if limit == 0 and value > 0 else _pct(value, limit)
        rows.append({
            "rule": RULE_IDS[name], "name": name, "enabled": c.enabled,
            "mode": getattr(c, "action_mode", None) or c.mode,
            "value": value, "limit": limit, "used_pct": used, "pending": None,
        })
    return rows


def market_session(engine: RiskEngine, now: datetime) -> dict[str, Any]:
    """The market session from the R09 window and the holiday calendar, whether or not R09 is on."""
    c = engine.config.rules.session_block_outside
    session = c.session_for(None)
    status = engine.timeline.session_status(now, session, c.respect_holidays)
    next_close: datetime | None
    if status.open:
        next_close = status.boundary
        next_open = next_session_start(now, session, engine.calendar, c.respect_holidays)
    else:
        next_open = status.boundary
        next_close = current_session_end(next_open, session, engine.calendar, c.respect_holidays)
    cal = engine.calendar
    day = now.astimezone(ZoneInfo(cal.timezone)).date() if cal is not None else None
    early = cal.early_close(day) if day is not None else None
    return {
        "open": status.open, "next_open": _iso(next_open), "next_close": _iso(next_close),
        "holiday": cal.holiday_name(day) if day is not None and cal.is_holiday(day) else None,
        "early_close": early.strftime("%H:%M") if early is not None else None,
        "window": f"{session.start}–{session.end} {session.timezone}",
        "r09_enabled": c.enabled,
    }
