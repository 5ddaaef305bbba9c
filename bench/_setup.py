"""What several benchmarks share: the contract catalog and an "every rule on" risk config."""

from __future__ import annotations

from typing import Any

from risk_manager.config.models import RiskConfig
from risk_manager.events import Contract

#: The journal's SQLite synchronous mode as the daemon opens it (daemon/app.py `_open_store`: a WAL
#: commit survives kill -9 without an fsync per event; locks/audit stay FULL). Benchmarks that open
#: a Store default to it so they measure what runs; `--journal-sync FULL` compares.
DAEMON_JOURNAL_SYNC = "NORMAL"


def sim_contracts() -> list[Contract]:
    """The simulator's catalog (the captured Contract/available list) as engine Contracts."""
    from risk_manager.sim.catalog import load_catalog

    return [Contract(id=c.id, name=c.name, tick_size=c.tick_size, tick_value=c.tick_value,
                     symbol_id=c.symbol_id, description=c.description, active_contract=c.active)
            for c in load_catalog().values()]


ALL_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def all_rules(loose: bool = True, trade_management: bool = True) -> dict[str, Any]:
    """All 13 rules enabled. `loose`: limits a normal busy day never reaches, so every rule keeps
    evaluating all day instead of the account sitting locked (a locked account skips the rules)."""
    big = 1_000_000 if loose else None
    rules: dict[str, Any] = {
        "max_contracts": {"enabled": True, "limit": 20 if loose else 5},
        "max_contracts_per_instrument": {"enabled": True, "limits": {"MNQ": 5, "MES": 5, "CL": 5, "NQ": 5, "ES": 5},
                                         "unknown_symbol_action": "allow_with_limit:5"},
        "daily_realized_loss": {"enabled": True, "loss_limit": big or 500, "include_unrealized": True},
        "daily_unrealized_loss": {"enabled": True, "loss_limit": big or 300},
        "max_unrealized_profit": {"enabled": True, "profit_target": big or 1000},
        "trade_frequency_limit": {"enabled": True, "per_minute": 100 if loose else 3,
                                  "per_hour": 1000 if loose else 10, "per_session": 10_000 if loose else 50},
        "cooldown_after_loss": {"enabled": True, "tiers": [{"loss_amount": -(big or 100), "cooldown_seconds": 300}]},
        "no_stop_loss_grace": {"enabled": True, "grace_period_seconds": 30},
        "session_block_outside": {"enabled": True, "sessions": {"default": {
            "start": "00:00" if loose else "08:30", "end": "23:59" if loose else "15:00",
            "timezone": "America/Chicago",
            "days": ALL_DAYS if loose else ["mon", "tue", "wed", "thu", "fri"]}}},
        "auth_loss_guard": {"enabled": True},
        "symbol_blocks": {"enabled": True, "blocked_symbols": ["ZW"]},
        "trade_management": {"enabled": trade_management},
        "daily_realized_profit": {"enabled": True, "target": big or 1000},
    }
    return rules


def all_rules_config(loose: bool = True, trade_management: bool = True) -> RiskConfig:
    return RiskConfig.model_validate({"trading_day": {"reset_time": "17:00", "timezone": "America/Chicago"},
                                      "pnl_basis": "net", "rules": all_rules(loose, trade_management)})
