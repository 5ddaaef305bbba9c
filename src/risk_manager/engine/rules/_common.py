"""Helpers shared by the rule modules: money formatting, alert mode, lock building."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta

from risk_manager.engine.actions import (
    Action,
    Alert,
    ClosePosition,
    Flatten,
    Lock,
    LockEnd,
    LockKind,
    PartialClose,
    SetLock,
)
from risk_manager.engine.context import RuleContext
from risk_manager.engine.state import AccountState, PositionState
from risk_manager.events import Event

SIDE_NAME = {1: "long", -1: "short"}


def money(value: float) -> str:
    """-512.4 → '-$512.40'; 1020 → '$1,020.00'."""
    cents = round(value, 2)
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents):,.2f}"


def cents(value: float) -> float:
    """Money is compared at cent precision so float noise never decides a breach."""
    return round(value, 2)


# `round(v, 2)` is within half a cent of v (and the float error of `limit ± 0.01` is far below a
# cent for limits under 10^12), so a value more than a cent clear of such a limit rounds to the
# same side of it. The quote path compares most values far from their limits: those skip the
# (comparatively slow) rounding; values near a limit get exactly the `cents()` comparison.
_CLEAR = 0.01
_EXACT_LIMIT = 1e12


def cents_at_or_below(value: float, limit: float) -> bool:
    """`cents(value) <= limit`, exactly."""
    if value > limit + _CLEAR and -_EXACT_LIMIT < limit < _EXACT_LIMIT:
        return False
    return round(value, 2) <= limit


def cents_at_or_above(value: float, limit: float) -> bool:
    """`cents(value) >= limit`, exactly."""
    if value < limit - _CLEAR and -_EXACT_LIMIT < limit < _EXACT_LIMIT:
        return False
    return round(value, 2) >= limit


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds % 3600 == 0 and seconds >= 3600:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0 and seconds >= 60:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def symbol_label(ctx: RuleContext, contract_id: str) -> str:
    return ctx.catalog.symbol_of(contract_id) or contract_id


def position_label(ctx: RuleContext, pos: PositionState) -> str:
    """'MNQ long 2': how reasons name a position."""
    return f"{symbol_label(ctx, pos.contract_id)} {SIDE_NAME[pos.direction]} {pos.size}"


def positions_to_check(event: Event | None, state: AccountState) -> list[PositionState]:
    """The event's own position (if open), or on the tick (`event` None) every open position in
    contract order, so per-position rules look at the same set in the same order."""
    if event is not None:
        pos = state.positions.get(event.contract_id or "")
        return [pos] if pos is not None else []
    return [state.positions[c] for c in sorted(state.positions)]


def weight(ctx: RuleContext, contract_id: str) -> float:
    """What one contract counts towards a contract limit: a micro counts `micro_weight`."""
    return ctx.config.micro_weight if ctx.catalog.is_micro(contract_id) else 1.0


def size_to_count(sizes: dict[str, int] | None, contract_id: str, pos: PositionState) -> int:
    """`pos`'s size, or what `sizes` (`AccountState.unreduced`) says is left of it."""
    return pos.size if sizes is None else sizes.get(contract_id, 0)


def reduce_largest_first(ctx: RuleContext, account_id: int, positions: Iterable[tuple[str, PositionState]],
                         excess: float, reason: str, sizes: dict[str, int] | None = None) -> list[Action]:
    """Close or partial-close the largest (weighted) positions first, ties in contract order,
    until `excess` weighted contracts are gone. `sizes`: what may still be taken off each
    (a position's size less the guard's reductions under way)."""
    actions: list[Action] = []
    for cid, pos in sorted(positions, key=lambda kv: (-size_to_count(sizes, *kv) * weight(ctx, kv[0]), kv[0])):
        if excess <= 1e-9:
            break
        w = weight(ctx, cid)
        cut = min(size_to_count(sizes, cid, pos), math.ceil(round(excess / w, 6)))
        if cut <= 0:
            continue
        why = f"{reason}: reducing {symbol_label(ctx, cid)} by {cut}"
        if cut >= pos.size:
            actions.append(ClosePosition(account_id, cid, ctx.rule_id, why))
        else:
            actions.append(PartialClose(account_id, cid, cut, ctx.rule_id, why))
        excess -= cut * w
    return actions


def finish(ctx: RuleContext, account_id: int, actions: list[Action], reason: str) -> list[Action]:
    """Enforce mode: the actions. Alert mode: one Alert saying what would have happened."""
    if not actions:
        return []
    if ctx.alert_only:
        return [Alert(account_id, ctx.rule_id, f"[alert only] {reason}", "warning", tuple(actions))]
    return actions


def lockout_until_reset(ctx: RuleContext, account_id: int, reason: str, now: datetime) -> SetLock:
    until = ctx.next_reset(now)
    return SetLock(Lock(account_id, ctx.rule_id, LockKind.LOCKOUT, reason, LockEnd.RESET, until, now))


def cooldown(ctx: RuleContext, account_id: int, reason: str, seconds: float, now: datetime) -> SetLock:
    until = now + timedelta(seconds=seconds)
    return SetLock(Lock(account_id, ctx.rule_id, LockKind.COOLDOWN, reason, LockEnd.TIME, until, now))


def flatten(ctx: RuleContext, account_id: int, reason: str) -> Flatten:
    return Flatten(account_id, ctx.rule_id, reason)


def close_position(ctx: RuleContext, account_id: int, contract_id: str, reason: str) -> ClosePosition:
    return ClosePosition(account_id, contract_id, ctx.rule_id, reason)


def lockout_and_flatten(ctx: RuleContext, account_id: int, reason: str, now: datetime) -> list[Action]:
    """Lock the account until the daily reset and flatten it (or, in alert mode, say so)."""
    actions: list[Action] = [lockout_until_reset(ctx, account_id, reason, now), flatten(ctx, account_id, reason)]
    return finish(ctx, account_id, actions, reason)


def day_pnl(state: AccountState, include_unrealized: bool) -> float:
    """Realized today, plus open unrealized (priced positions only) when asked."""
    value = state.realized
    if include_unrealized:
        value += state.unrealized_total
    return value
