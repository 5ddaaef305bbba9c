"""R14 max_loss_floor: the firm's trailing maximum-loss floor, mirrored with a personal buffer.

floor = min(stop_trailing_at, high − max_drawdown), where high is the highest end-of-day balance
(`trail: end_of_day`) or the highest equity seen (`trail: intraday`), never below
`starting_balance`; `floor_now` (what the platform shows) is a lower bound of the floor. The floor
only ever rises, since the high does. Breach: balance + open unrealized ≤ floor + buffer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from risk_manager.engine.actions import Action
from risk_manager.engine.context import RuleContext
from risk_manager.engine import reduce_only
from risk_manager.engine.rules._common import cents, cents_at_or_below, finish, lockout_and_flatten, money
from risk_manager.engine.state import AccountState
from risk_manager.events import Event, EventKind

if TYPE_CHECKING:
    from risk_manager.config.firm_models import MaxLossFloor
    from risk_manager.engine.firm import FirmState


@dataclass(frozen=True, slots=True)
class Floor:
    high: float
    floor: float
    #: Where the guard acts: floor + buffer.
    trigger: float
    #: The equity level max_drawdown above the floor (the "room" runs from here to the trigger).
    top: float


def floor_of(cfg: MaxLossFloor, firm: FirmState) -> Floor:
    """The floor for the account's balance history `firm` (engine/firm.py)."""
    high, drawdown = cfg.starting_balance, cfg.max_drawdown
    if high is None or drawdown is None:  # the model requires both when the rule is enabled
        raise ValueError("max_loss_floor needs starting_balance and max_drawdown")
    eod = firm.high_end_of_day
    if eod is not None and eod > high:
        high = eod
    if cfg.trail == "intraday" and firm.high_equity is not None and firm.high_equity > high:
        high = firm.high_equity
    floor = high - drawdown
    if cfg.floor_now is not None and cfg.floor_now > floor:
        floor = cfg.floor_now
    if cfg.stop_trailing_at is not None and floor > cfg.stop_trailing_at:
        floor = cfg.stop_trailing_at
    return Floor(high, floor, floor + cfg.buffer, floor + drawdown)


def equity(state: AccountState) -> float | None:
    """Balance + open unrealized (priced positions); None before the balance is known."""
    if state.balance is None:
        return None
    return state.balance + state.unrealized_total


def room_used(fl: Floor, value: float) -> float:
    """Share (0–1+) of the room (top → trigger) already lost, 0 when at or above the top."""
    room = fl.top - fl.trigger
    if room <= 0:
        return 1.0 if value <= fl.trigger else 0.0
    return max(0.0, (fl.top - value) / room)


def used_pct(fl: Floor, value: float) -> float:
    return round(room_used(fl, value) * 100.0, 1)


def evaluate(event: Event | None, state: AccountState, ctx: RuleContext, now: datetime) -> list[Action]:
    cfg = ctx.config
    if not cfg.enabled or (event is not None and event.kind is EventKind.ORDER):
        return []
    value = equity(state)
    if value is None:
        return []
    firm = state.firm
    if cfg.trail == "intraday" and not state.unpriced:  # an unpriced position is no high
        firm.see_equity(value)
    fl = floor_of(cfg, firm)
    if not cents_at_or_below(value, fl.trigger):
        ro = cfg.reduce_only_at
        if ro is not None and round(room_used(fl, value), 9) >= ro:
            reason = (f"Max loss floor: {used_pct(fl, value):g}% of the room to "
                      f"{money(fl.trigger)} used (equity {money(cents(value))})")
            return finish(ctx, state.account_id, reduce_only.start(ctx, state, reason, now), reason)
        return []
    reason = (
        f"Max loss floor: equity {money(cents(value))} <= {money(fl.trigger)} (floor {money(fl.floor)}"
        f" + buffer {money(cfg.buffer)}; high {money(fl.high)}); locked until the daily reset"
    )
    return lockout_and_flatten(ctx, state.account_id, reason, now)
