"""Tighten now, loosen at the next reset (docs/rules.md): which config changes loosen a limit.

`looser_changes(old, new)` lists every change that makes a rule less strict (or disables it); those
wait for the next daily reset unless the admin applies them `--now`. Everything else applies at once.
Each rule field has an explicit direction below; a field missing from the table counts as looser
(safe default: an unknown change waits), and a test checks the table covers every model field.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable
from typing import Any

from risk_manager.config.models import RULE_MODELS, MaxContractsPerInstrument, RiskConfig

# Direction helpers: f(old, new) -> True when new is looser.
Direction = Callable[[Any, Any], bool]
UP: Direction = lambda o, n: n > o  # noqa: E731  a bigger number is looser (limits, targets, grace)
DOWN: Direction = lambda o, n: n < o  # noqa: E731  a smaller number is looser (cooldowns, weights, offsets)
TRUE_TO_FALSE: Direction = lambda o, n: bool(o) and not bool(n)  # noqa: E731  switching a protection off
ANY: Direction = lambda o, n: o != n  # noqa: E731  no clear order: any change waits for the reset
NEVER: Direction = lambda o, n: False  # noqa: E731  no effect on strictness
ENFORCE_TO_ALERT: Direction = lambda o, n: o == "enforce" and n == "alert"  # noqa: E731


def _gross_to_net(o: str, n: str) -> bool:
    return o == "gross" and n == "net"  # |Σ| ≤ Σ|·|


def _close_all_to_reduce(o: str, n: str) -> bool:
    return o == "close_all" and n == "reduce_to_limit"


def _tiers_looser(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> bool:
    """Looser when some loss now gets a shorter cooldown (or none)."""
    def cooldown(tiers: list[dict[str, Any]], loss: float) -> int:
        return max((t["cooldown_seconds"] for t in tiers if loss <= t["loss_amount"]), default=0)

    points = {t["loss_amount"] for t in old} | {t["loss_amount"] for t in new}
    return any(cooldown(new, p) < cooldown(old, p) for p in points)


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def _window_within(new: dict[str, Any], old: dict[str, Any]) -> bool:
    """True when every minute of `new` lies inside `old` (same timezone, same-day windows)."""
    if new["timezone"] != old["timezone"] or not set(new["days"]) <= set(old["days"]):
        return False
    ns, ne, os_, oe = (_minutes(new["start"]), _minutes(new["end"]),
                       _minutes(old["start"]), _minutes(old["end"]))
    if ne <= ns or oe <= os_:  # crossing midnight: only identical windows are "not looser"
        return (ns, ne) == (os_, oe)
    return os_ <= ns and ne <= oe


def _sessions_looser(old: dict[str, Any], new: dict[str, Any]) -> bool:
    for key in set(old) | set(new):
        o = old.get(key, old["default"])
        n = new.get(key, new["default"])
        if not _window_within(n, o):
            return True
    return False


def _limits_looser(old_block: dict[str, Any], new_block: dict[str, Any]) -> bool:
    """R02: any symbol whose effective limit grows (unlisted symbols via unknown_symbol_action)."""
    o = MaxContractsPerInstrument.model_validate(old_block)
    n = MaxContractsPerInstrument.model_validate(new_block)
    inf = float("inf")
    for symbol in set(o.limits) | set(n.limits) | {"\x00unlisted"}:
        ol, nl = o.limit_for(symbol), n.limit_for(symbol)
        if (inf if nl is None else nl) > (inf if ol is None else ol):
            return True
    return False


def _be_looser(o: dict[str, Any], n: dict[str, Any]) -> bool:
    return (TRUE_TO_FALSE(o["enabled"], n["enabled"]) or UP(o["profit_trigger_ticks"], n["profit_trigger_ticks"])
            or DOWN(o["offset_ticks"], n["offset_ticks"]))


def _trail_looser(o: dict[str, Any], n: dict[str, Any]) -> bool:
    return (TRUE_TO_FALSE(o["enabled"], n["enabled"]) or UP(o["activation_ticks"], n["activation_ticks"])
            or UP(o["trail_distance_ticks"], n["trail_distance_ticks"]))


def _cooldowns_looser(o: dict[str, Any], n: dict[str, Any]) -> bool:
    return DOWN(o["per_minute"], n["per_minute"]) or DOWN(o["per_hour"], n["per_hour"])


def _scaling_looser(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> bool:
    """R16: looser when some balance is allowed more contracts than before."""
    from risk_manager.config.firm_models import ScalingPlan

    o, n = ScalingPlan(tiers=old), ScalingPlan(tiers=new)
    points = {t["balance_at_least"] for t in old} | {t["balance_at_least"] for t in new}
    return any(n.allowance(p) > o.allowance(p) for p in points)


def _later_or_gone(o: Any, n: Any) -> bool:
    """`reduce_only_at`: loosens when it goes or starts at a larger share."""
    return o is not None and (n is None or n > o)


def _lower_or_new_cap(o: Any, n: Any) -> bool:
    """A cap (R14 stop_trailing_at) loosens when it appears or comes down."""
    return n is not None and (o is None or n < o)


def _lower_or_gone(o: Any, n: Any) -> bool:
    """A bound (R14 starting_balance, floor_now) loosens when it comes down or goes."""
    return o is not None and (n is None or n < o)


_COMMON: dict[str, Direction] = {"enabled": TRUE_TO_FALSE, "mode": ENFORCE_TO_ALERT}

#: rule → field → direction (True when the change loosens).
DIRECTIONS: dict[str, dict[str, Direction]] = {
    "max_contracts": {**_COMMON, "limit": UP, "count_type": _gross_to_net, "close_all": TRUE_TO_FALSE,
                      "micro_weight": DOWN},
    "max_contracts_per_instrument": {**_COMMON, "limits": NEVER, "unknown_symbol_action": NEVER,
                                     "enforcement": _close_all_to_reduce},  # limits: see _limits_looser
    "daily_realized_loss": {**_COMMON, "loss_limit": UP, "include_unrealized": TRUE_TO_FALSE,
                            "reduce_only_at": _later_or_gone},
    "daily_unrealized_loss": {**_COMMON, "loss_limit": UP, "scope": ANY,
                              "reduce_only_at": _later_or_gone},
    "max_unrealized_profit": {"enabled": TRUE_TO_FALSE, "action_mode": ENFORCE_TO_ALERT, "mode": ANY,
                              "profit_target": UP, "breakeven_arm_ticks": UP},
    "trade_frequency_limit": {**_COMMON, "per_minute": UP, "per_hour": UP, "per_session": UP,
                              "cooldown_seconds": _cooldowns_looser, "flatten_on_trigger": TRUE_TO_FALSE},
    "cooldown_after_loss": {**_COMMON, "tiers": _tiers_looser, "flatten_on_trigger": TRUE_TO_FALSE,
                            "partial_exit_grace_seconds": UP},
    "no_stop_loss_grace": {**_COMMON, "grace_period_seconds": UP},
    "session_block_outside": {**_COMMON, "sessions": _sessions_looser, "respect_holidays": TRUE_TO_FALSE,
                              "close_positions_at_session_end": TRUE_TO_FALSE},
    "auth_loss_guard": dict(_COMMON),
    "symbol_blocks": {**_COMMON, "blocked_symbols": lambda o, n: bool(set(o) - set(n)),
                      "close_existing": TRUE_TO_FALSE},
    "trade_management": {**_COMMON, "auto_breakeven": _be_looser, "trailing_stop": _trail_looser},
    "daily_realized_profit": {**_COMMON, "target": UP, "include_unrealized": TRUE_TO_FALSE},
    # R14: a lower high or a lower/absent floor is looser; intraday highs are >= end-of-day ones.
    "max_loss_floor": {**_COMMON, "starting_balance": _lower_or_gone, "max_drawdown": UP,
                       "trail": lambda o, n: o == "intraday" and n == "end_of_day",
                       "stop_trailing_at": _lower_or_new_cap, "buffer": DOWN,
                       "floor_now": _lower_or_gone, "reduce_only_at": _later_or_gone},
    "scaling_plan": {**_COMMON, "tiers": _scaling_looser, "micro_weight": DOWN},
    # R15: a bigger share or target allows a bigger day; a lower starting balance or more profit
    # before counts more profit; no history-independent order between the two sources.
    "consistency_guard": {**_COMMON, "max_day_share": UP, "profit_target": UP,
                          "include_unrealized": TRUE_TO_FALSE, "starting_balance": ANY,
                          "profit_before": UP, "history_days": NEVER},
}

#: Top-level fields: gross ≥ net so switching to gross makes losses look smaller.
TOP_DIRECTIONS: dict[str, Direction] = {
    "pnl_basis": lambda o, n: o == "net" and n == "gross",
    "trading_day": ANY,
    "max_quote_age_seconds": NEVER,
}


@dataclass(frozen=True, slots=True)
class Change:
    rule: str  # config key of the rule ("max_contracts") or a top-level field name
    key: str  # field within the rule ("" for top-level fields)
    old: Any
    new: Any


def looser_changes(old: RiskConfig, new: RiskConfig) -> list[Change]:
    """Every change from `old` to `new` that loosens a limit or disables a rule."""
    out: list[Change] = []
    o_all, n_all = old.model_dump(mode="json"), new.model_dump(mode="json")
    for field, direction in TOP_DIRECTIONS.items():
        if o_all[field] != n_all[field] and direction(o_all[field], n_all[field]):
            out.append(Change(field, "", o_all[field], n_all[field]))
    for rule in RULE_MODELS:
        o, n = o_all["rules"][rule], n_all["rules"][rule]
        if not o["enabled"]:
            continue  # a rule that was off cannot get looser; turning it on is tightening
        table = DIRECTIONS.get(rule, {})
        for key in sorted(set(o) | set(n)):
            if o.get(key) == n.get(key):
                continue
            direction = table.get(key, ANY)
            if direction(o.get(key), n.get(key)):
                out.append(Change(rule, key, o.get(key), n.get(key)))
        if rule == "max_contracts_per_instrument" and _limits_looser(o, n):
            changed = "limits" if o["limits"] != n["limits"] else "unknown_symbol_action"
            out.append(Change(rule, changed, o[changed], n[changed]))
    return out


def tighter_or_neutral(old: RiskConfig, new: RiskConfig) -> bool:
    return not looser_changes(old, new)


__all__ = ["Change", "DIRECTIONS", "looser_changes", "tighter_or_neutral"]


# -- account groups (accounts.yaml `groups`) ------------------------------------------------------
def _limit_looser(o: Any, n: Any) -> bool:
    """A group limit loosens when it goes or rises; one that appears tightens."""
    return o is not None and (n is None or n > o)


#: field → direction. Members: any change waits (a member's profit can offset another's loss,
#: and one taken out no longer counts), like fields with no clear order.
GROUP_DIRECTIONS: dict[str, Direction] = {
    "mode": ENFORCE_TO_ALERT, "daily_loss_limit": _limit_looser, "include_unrealized": TRUE_TO_FALSE,
    "reduce_only_at": _later_or_gone, "max_contracts": _limit_looser, "micro_weight": DOWN,
    "accounts": lambda o, n: [str(a).casefold() for a in o] != [str(a).casefold() for a in n],
}


def looser_group_changes(old: Any, new: Any) -> list[Change]:
    """Every change of account groups from `old` to `new` (lists of config.firm_models.AccountGroup)
    that loosens: a group removed, or a field of a group looser (rule = "group:<name>")."""
    out: list[Change] = []
    new_by = {g.name: g for g in new}
    for group in old:
        o = group.model_dump(mode="json")
        if group.name not in new_by:
            out.append(Change(f"group:{group.name}", "", o, None))
            continue
        n = new_by[group.name].model_dump(mode="json")
        for key in sorted(set(o) | set(n)):
            if o.get(key) != n.get(key) and GROUP_DIRECTIONS.get(key, ANY)(o.get(key), n.get(key)):
                out.append(Change(f"group:{group.name}", key, o.get(key), n.get(key)))
    return out
