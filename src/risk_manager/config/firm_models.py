"""Config models of the firm-account guards (docs/rules.md): R14 max_loss_floor, R15
consistency_guard, R16 scaling_plan.

Every number is the trader's configuration, copied from their firm's current rulebook; none is a
firm fact built into the program. Each block is disabled unless it is present in the file, and a
present block must say the amounts it guards (no default balance or drawdown is assumed).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Mode = Literal["enforce", "alert"]


class _FirmRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    mode: Mode = "enforce"


def _require(model: BaseModel, rule: str, *fields: str) -> None:
    missing = [f for f in fields if getattr(model, f) is None]
    if missing:
        raise ValueError(
            f"{rule} needs {' and '.join(missing)} when enabled (copy them from your firm's "
            "current rulebook)")


# --- R14 ---------------------------------------------------------------------------------
class MaxLossFloor(_FirmRule):
    """The trailing maximum-loss floor: min(stop_trailing_at, high − max_drawdown)."""

    #: The account's balance when it started (the first high).
    starting_balance: float | None = Field(None, gt=0)
    #: How far below the high the floor trails.
    max_drawdown: float | None = Field(None, gt=0)
    #: end_of_day: the high is the highest end-of-day balance; intraday: the highest equity seen.
    trail: Literal["end_of_day", "intraday"] = "end_of_day"
    #: The floor never rises above this (e.g. the starting balance); None: it trails forever.
    stop_trailing_at: float | None = Field(None, gt=0)
    #: The guard acts this many dollars above the firm's floor.
    buffer: float = Field(0, ge=0)
    #: The floor the platform shows now: the floor is never below it (seeds a guard started late).
    floor_now: float | None = Field(None, gt=0)
    #: From this share of the room (floor + max_drawdown down to floor + buffer) used until the
    #: reset: reduce-only (docs/rules.md).
    reduce_only_at: float | None = Field(None, gt=0, lt=1)

    @model_validator(mode="after")
    def _amounts(self) -> MaxLossFloor:
        if self.enabled:
            _require(self, "max_loss_floor", "starting_balance", "max_drawdown")
        return self


# --- R16 ---------------------------------------------------------------------------------
class ScalingTier(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: From this balance (at the start of the trading day) on …
    balance_at_least: float = Field(ge=0)
    #: … this many contracts (minis; a micro counts `micro_weight`) may be held at once.
    max_contracts: float = Field(ge=0)


class ScalingPlan(_FirmRule):
    """The scaling plan of a funded account: contracts allowed by the day's starting balance."""

    tiers: list[ScalingTier] = Field(default_factory=list)
    micro_weight: float = Field(0.1, gt=0, le=1)

    @model_validator(mode="after")
    def _tiers(self) -> ScalingPlan:
        if self.enabled and not self.tiers:
            raise ValueError("scaling_plan needs tiers ([{balance_at_least, max_contracts}, ...]) "
                             "when enabled (copy them from your firm's current rulebook)")
        levels = [t.balance_at_least for t in self.tiers]
        if len(set(levels)) != len(levels):
            raise ValueError("tiers: each balance_at_least may appear once")
        return self

    def allowance(self, balance: float) -> float:
        """The contracts allowed at `balance`: the tier with the highest balance_at_least at or
        below it; 0 below every tier (no tier allows anything there)."""
        best: ScalingTier | None = None
        for tier in self.tiers:
            if tier.balance_at_least <= balance and (best is None or tier.balance_at_least > best.balance_at_least):
                best = tier
        return 0.0 if best is None else best.max_contracts


# --- R15 ---------------------------------------------------------------------------------
class ConsistencyGuard(_FirmRule):
    """An evaluation's consistency target: no day may make more than `max_day_share` of the total
    profit. Today stops (flatten, lock until the reset) when its profit reaches the most that
    keeps it within that share of max(total profit so far incl. today, profit_target)."""

    max_day_share: float | None = Field(None, gt=0, lt=1)
    profit_target: float | None = Field(None, gt=0)
    #: Today's open unrealized counts towards today's profit (acts before the close).
    include_unrealized: bool = True
    #: The account's starting balance: when set, the profit before today is the day's starting
    #: balance minus it (exact, whatever the guard saw); else the sum of the days it recorded
    #: plus `profit_before`.
    starting_balance: float | None = Field(None, gt=0)
    #: Profit made before the guard kept the history (the platform shows it).
    profit_before: float = 0.0
    #: Without `starting_balance`, the first start reads this many trading days of trade history
    #: (Trade/search) to rebuild the days' net P&L; older profit belongs in `profit_before`.
    history_days: int = Field(30, ge=1, le=366)

    @model_validator(mode="after")
    def _amounts(self) -> ConsistencyGuard:
        if self.enabled:
            _require(self, "consistency_guard", "max_day_share", "profit_target")
        return self


# --- account groups (accounts.yaml) ----------------------------------------------------------
class AccountGroup(BaseModel):
    """Accounts that share limits (e.g. funded accounts copied from one): a breach of the group
    flattens every account of it (the loss limit also locks them until the reset)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    #: Members by the name the platform shows or by id, as in `accounts:`.
    accounts: list[str | int] = Field(min_length=2)
    mode: Mode = "enforce"
    #: The group's realized P&L today (+ open unrealized) at or below −this → flatten + lock all.
    daily_loss_limit: float | None = Field(None, gt=0)
    include_unrealized: bool = True
    #: From this share of daily_loss_limit (e.g. 0.8) until the reset every member is reduce-only.
    reduce_only_at: float | None = Field(None, gt=0, lt=1)
    #: Contracts held by the whole group (a micro counts micro_weight) above this → flatten all.
    max_contracts: float | None = Field(None, gt=0)
    micro_weight: float = Field(1.0, gt=0, le=1)

    @model_validator(mode="after")
    def _limits(self) -> AccountGroup:
        if self.daily_loss_limit is None and self.max_contracts is None:
            raise ValueError(f"group {self.name!r} needs daily_loss_limit and/or max_contracts")
        if len({str(a).casefold() for a in self.accounts}) != len(self.accounts):
            raise ValueError(f"group {self.name!r} lists an account twice")
        return self
