"""The rules (R01–R13, then the firm-account guards of docs/rules.md), one module each: `evaluate(event, state, ctx, now) -> list[Action]`.

`event` None means "re-examine the state" (1 s tick, start-up, config change, lock expiry).
R07 listens to trades, orders and positions because any of them can complete an exit order (the
last trade, the order's end, the position flat or flipped), and to the tick for a partial exit
whose grace ran out.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from risk_manager.engine.actions import Action
from risk_manager.engine.context import RuleContext
from risk_manager.engine.rules import (
    r01_max_contracts,
    r02_max_contracts_per_instrument,
    r03_daily_realized_loss,
    r04_daily_unrealized_loss,
    r05_max_unrealized_profit,
    r06_trade_frequency_limit,
    r07_cooldown_after_loss,
    r08_no_stop_loss_grace,
    r09_session_block_outside,
    r10_auth_loss_guard,
    r11_symbol_blocks,
    r12_trade_management,
    r13_daily_realized_profit,
    r14_max_loss_floor,
    r15_consistency_guard,
    r16_scaling_plan,
)
from risk_manager.engine.state import AccountState
from risk_manager.events import Event, EventKind

Evaluate = Callable[[Event | None, AccountState, RuleContext, datetime], list[Action]]

#: config key → evaluate, in rule-id order (R01 … R13).
RULES: dict[str, Evaluate] = {
    "max_contracts": r01_max_contracts.evaluate,
    "max_contracts_per_instrument": r02_max_contracts_per_instrument.evaluate,
    "daily_realized_loss": r03_daily_realized_loss.evaluate,
    "daily_unrealized_loss": r04_daily_unrealized_loss.evaluate,
    "max_unrealized_profit": r05_max_unrealized_profit.evaluate,
    "trade_frequency_limit": r06_trade_frequency_limit.evaluate,
    "cooldown_after_loss": r07_cooldown_after_loss.evaluate,
    "no_stop_loss_grace": r08_no_stop_loss_grace.evaluate,
    "session_block_outside": r09_session_block_outside.evaluate,
    "auth_loss_guard": r10_auth_loss_guard.evaluate,
    "symbol_blocks": r11_symbol_blocks.evaluate,
    "trade_management": r12_trade_management.evaluate,
    "daily_realized_profit": r13_daily_realized_profit.evaluate,
    "max_loss_floor": r14_max_loss_floor.evaluate,
    "consistency_guard": r15_consistency_guard.evaluate,
    "scaling_plan": r16_scaling_plan.evaluate,
}

_MARKS = (EventKind.POSITION, EventKind.QUOTE, EventKind.MARKET_TRADE)

#: Which rules listen to which event kinds (docs/rules.md, each rule's "Trigger"); the engine only calls those.
TRIGGERS: dict[EventKind, tuple[str, ...]] = {
    EventKind.POSITION: (
        "max_contracts", "max_contracts_per_instrument", "daily_realized_loss",
        "daily_unrealized_loss", "max_unrealized_profit", "no_stop_loss_grace",
        "session_block_outside", "symbol_blocks", "trade_management", "daily_realized_profit",
        "cooldown_after_loss", "max_loss_floor", "scaling_plan", "consistency_guard",
    ),
    EventKind.ORDER: ("no_stop_loss_grace", "session_block_outside", "symbol_blocks", "cooldown_after_loss",
                      "scaling_plan"),
    EventKind.TRADE: (
        "daily_realized_loss", "trade_frequency_limit", "cooldown_after_loss", "daily_realized_profit",
        "consistency_guard",
    ),
    EventKind.ACCOUNT: ("auth_loss_guard",),
    EventKind.QUOTE: (
        "daily_realized_loss", "daily_unrealized_loss", "max_unrealized_profit",
        "trade_management", "daily_realized_profit", "max_loss_floor", "consistency_guard",
    ),
}
TRIGGERS[EventKind.MARKET_TRADE] = TRIGGERS[EventKind.QUOTE]
#: Rules that judge the balance: they run on account events too (after R10, locked or not).
ACCOUNT_RULES = ("max_loss_floor",)
#: Rules whose state check runs on the 1 s tick.
TICK_RULES = ("no_stop_loss_grace", "session_block_outside", "cooldown_after_loss")
#: Rules that re-examine the whole state (start-up, config change, lock expiry).
RECHECK_RULES = (
    "max_contracts", "max_contracts_per_instrument", "daily_realized_loss", "daily_unrealized_loss",
    "max_unrealized_profit", "session_block_outside", "auth_loss_guard", "symbol_blocks",
    "daily_realized_profit", "max_loss_floor", "scaling_plan", "consistency_guard",
)
#: Rules that set locks. They still run while the account is locked (the gate answers the event
#: first), so every breach records its own lock at once: an R03 breach during an R07 cooldown locks
#: until the reset now, and a later fill of an exit R07 acted on can escalate its cooldown. (R10 is
#: run by the engine on every account event anyway.)
LOCKING_RULES = frozenset({
    "daily_realized_loss", "trade_frequency_limit", "cooldown_after_loss", "session_block_outside",
    "symbol_blocks", "daily_realized_profit", "max_loss_floor", "consistency_guard",
})
