"""R15 consistency_guard: today's net profit at or above the most that keeps today within
`max_day_share` of the total profit → flatten and lock until the reset (the trader keeps the day
and the evaluation stays consistent).

total = max(profit before today + today, profit_target); allowed = max_day_share × total.
The profit before today is the day's starting balance minus `starting_balance` when that is
set, else the net P&L of the days the guard recorded (engine/firm.py) plus `profit_before`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from risk_manager.engine.actions import Action
from risk_manager.engine.context import RuleContext
from risk_manager.engine.rules._common import cents, cents_at_or_above, lockout_and_flatten, money
from risk_manager.engine.rules.r03_daily_realized_loss import triggered_by
from risk_manager.engine.rules.r16_scaling_plan import day_start_balance
from risk_manager.engine.state import AccountState
from risk_manager.events import Event

if TYPE_CHECKING:
    from risk_manager.config.firm_models import ConsistencyGuard


@dataclass(frozen=True, slots=True)
class Consistency:
    before: float  # profit before today
    today: float
    total: float  # max(before + today, profit_target)
    allowed: float  # the most today may make


def today_net(state: AccountState, include_unrealized: bool) -> float:
    """Net (fees included) whatever the account's pnl_basis: the firm judges the balance."""
    value = state.realized_net
    return value + state.unrealized_total if include_unrealized else value


def profit_before_today(cfg: ConsistencyGuard, state: AccountState) -> float | None:
    if cfg.starting_balance is not None:
        start = day_start_balance(state)
        return None if start is None else start - cfg.starting_balance
    return state.firm.profit_before_today + cfg.profit_before


def consistency_of(cfg: ConsistencyGuard, state: AccountState) -> Consistency | None:
    before = profit_before_today(cfg, state)
    if before is None:
        return None
    share, target = cfg.max_day_share, cfg.profit_target
    if share is None or target is None:  # the model requires both when the rule is enabled
        raise ValueError("consistency_guard needs max_day_share and profit_target")
    today = today_net(state, cfg.include_unrealized)
    total = max(before + today, target)
    return Consistency(before, today, total, share * total)


def evaluate(event: Event | None, state: AccountState, ctx: RuleContext, now: datetime) -> list[Action]:
    cfg = ctx.config
    if not cfg.enabled or not triggered_by(event, state, cfg.include_unrealized):
        return []
    c = consistency_of(cfg, state)
    if c is None or c.today <= 0 or not cents_at_or_above(c.today, cents(c.allowed)):
        return []
    reason = (
        f"Consistency: today {money(cents(c.today))} >= {money(c.allowed)} "
        f"({cfg.max_day_share:.0%} of total profit {money(c.total)}); locked until the daily reset"
    )
    return lockout_and_flatten(ctx, state.account_id, reason, now)
