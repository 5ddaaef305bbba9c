"""What a rule sees besides the event and the account state: its config and read-only services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from risk_manager.config.models import RiskConfig
from risk_manager.engine.catalog import ContractCatalog
from risk_manager.engine.locks import LockManager
from risk_manager.engine.state import MarketState
from risk_manager.engine.timeline import Timeline


@dataclass(slots=True)
class RuleContext:
    rule_id: str  # "R03"
    name: str  # config key, "daily_realized_loss"
    config: Any  # the rule's config block
    risk: RiskConfig  # the account's whole (override-merged) config
    catalog: ContractCatalog
    market: MarketState
    locks: LockManager  # read-only for rules: they propose SetLock actions
    timeline: Timeline

    @property
    def enabled(self) -> bool:
        enabled: bool = self.config.enabled
        return enabled

    @property
    def alert_only(self) -> bool:
        # R05's `mode` picks its trigger; its enforce/alert switch is `action_mode`.
        mode = getattr(self.config, "action_mode", None) or self.config.mode
        alert: bool = mode == "alert"
        return alert

    @property
    def max_quote_age(self) -> float:
        return self.risk.max_quote_age_seconds

    def next_reset(self, now: datetime) -> datetime:
        return self.timeline.next_reset(now)
