"""Config models for `risk_config.yaml` and `accounts.yaml` (docs/rules.md). Field names are stable.

Every model forbids unknown keys, so a typo is an error that names the field, not a silently
ignored setting. A rule block left out of `risk_config.yaml` takes its defaults with
``enabled: false``; a block that is present is enabled unless it says otherwise.
"""

from __future__ import annotations

import re
from datetime import time as dtime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from risk_manager.alerts.config import AlertsConfig
from risk_manager.config.firm_models import AccountGroup, ConsistencyGuard, MaxLossFloor, ScalingPlan
from risk_manager.instruments import resolve_instrument

Mode = Literal["enforce", "alert"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WORKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_hhmm(value: str) -> str:
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise ValueError(f"expected a time as HH:MM (24 h), got {value!r}")
    return value


def _check_tz(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {value!r} (use an IANA name like America/Chicago)") from None
    return value


#: A trader symbol written in any spelling (ES, EP, ESZ6, CON.F.US.EP.Z26; any case), stored as
#: its trader root, so every rule compares one name per instrument. Unknown names are errors.
Instrument = Annotated[str, AfterValidator(resolve_instrument)]


def _one_entry_per_instrument(keys: list[str]) -> None:
    """Two keys that name the same instrument (ES and EP) would silently shadow each other."""
    seen: dict[str, str] = {}
    for key in keys:
        try:
            root = resolve_instrument(key)
        except ValueError:
            continue  # reported for the key itself
        if root in seen:
            raise ValueError(f"{seen[root]!r} and {key!r} are the same instrument ({root}); list it once")
        seen[root] = key


def parse_hhmm(value: str) -> dtime:
    hour, minute = value.split(":")
    return dtime(int(hour), int(minute))


class TradingDay(Strict):
    reset_time: str = "17:00"
    timezone: str = "America/Chicago"

    _v_time = field_validator("reset_time")(_check_hhmm)
    _v_tz = field_validator("timezone")(_check_tz)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def reset(self) -> dtime:
        return parse_hhmm(self.reset_time)


class RuleBase(Strict):
    enabled: bool = True
    mode: Mode = "enforce"


# --- R01 ---------------------------------------------------------------------------------
class MaxContracts(RuleBase):
    limit: int = Field(5, ge=0)
    count_type: Literal["net", "gross"] = "gross"
    close_all: bool = True
    micro_weight: float = Field(1.0, gt=0, le=1)


# --- R02 ---------------------------------------------------------------------------------
class MaxContractsPerInstrument(RuleBase):
    #: Keys in any spelling of the instrument (ES, EP, ESZ6, a contract id), stored as trader roots.
    limits: dict[Instrument, int] = Field(default_factory=lambda: {"MNQ": 2, "NQ": 1, "ES": 1, "MES": 3})
    enforcement: Literal["reduce_to_limit", "close_all"] = "reduce_to_limit"
    unknown_symbol_action: str = "allow_with_limit:1"

    @field_validator("limits", mode="before")
    @classmethod
    def _one_limit_per_instrument(cls, v: Any) -> Any:
        if isinstance(v, dict):
            _one_entry_per_instrument([str(k) for k in v])
        return v

    @field_validator("limits")
    @classmethod
    def _limits(cls, v: dict[str, int]) -> dict[str, int]:
        for symbol, limit in v.items():
            if limit < 0:
                raise ValueError(f"limit for {symbol} must be >= 0, got {limit}")
        return v

    @field_validator("unknown_symbol_action")
    @classmethod
    def _unknown(cls, v: str) -> str:
        if v in ("block", "allow_unlimited") or re.fullmatch(r"allow_with_limit:\d+", v):
            return v
        raise ValueError(
            "expected 'block', 'allow_unlimited' or 'allow_with_limit:N' (N a whole number)"
        )

    def limit_for(self, symbol: str) -> int | None:
        """The size limit for a trader symbol; None = unlimited."""
        if symbol.upper() in self.limits:
            return self.limits[symbol.upper()]
        if self.unknown_symbol_action == "block":
            return 0
        if self.unknown_symbol_action == "allow_unlimited":
            return None
        return int(self.unknown_symbol_action.split(":", 1)[1])


# --- R03 / R13 -----------------------------------------------------------------------------
class DailyRealizedLoss(RuleBase):
    loss_limit: float = Field(500, gt=0)
    include_unrealized: bool = True
    #: From this share of the limit (e.g. 0.8) until the reset: reduce-only (docs/rules.md).
    reduce_only_at: float | None = Field(None, gt=0, lt=1)


class DailyRealizedProfit(RuleBase):
    target: float = Field(1000, gt=0)
    include_unrealized: bool = True


# --- R04 ---------------------------------------------------------------------------------
class DailyUnrealizedLoss(RuleBase):
    loss_limit: float = Field(300, gt=0)
    scope: Literal["per_position", "total"] = "per_position"
    #: From this share of the limit (one position's loss, or the total's, per `scope`) until the
    #: reset: reduce-only (docs/rules.md).
    reduce_only_at: float | None = Field(None, gt=0, lt=1)


# --- R05 ---------------------------------------------------------------------------------
class MaxUnrealizedProfit(Strict):
    """R05. Its `mode` picks the trigger (see docs/rules.md); enforce/alert is `action_mode`."""

    enabled: bool = True
    mode: Literal["profit_target", "breakeven"] = "profit_target"
    action_mode: Mode = "enforce"
    profit_target: float = Field(1000, gt=0)
    #: breakeven mode: profit (in ticks) a position must reach before a return to <= 0 closes it.
    breakeven_arm_ticks: int = Field(1, ge=1)


# --- R06 ---------------------------------------------------------------------------------
class FrequencyCooldowns(Strict):
    per_minute: int = Field(60, ge=0)
    per_hour: int = Field(1800, ge=0)


class TradeFrequencyLimit(RuleBase):
    per_minute: int = Field(3, ge=1)
    per_hour: int = Field(10, ge=1)
    per_session: int = Field(50, ge=1)
    cooldown_seconds: FrequencyCooldowns = FrequencyCooldowns()
    flatten_on_trigger: bool = True


# --- R07 ---------------------------------------------------------------------------------
class LossTier(Strict):
    loss_amount: float = Field(lt=0)
    cooldown_seconds: int = Field(gt=0)


class CooldownAfterLoss(RuleBase):
    tiers: list[LossTier] = Field(
        default_factory=lambda: [
            LossTier(loss_amount=-100, cooldown_seconds=300),
            LossTier(loss_amount=-200, cooldown_seconds=900),
            LossTier(loss_amount=-300, cooldown_seconds=1800),
        ]
    )
    flatten_on_trigger: bool = True
    #: An exit is judged once its order is complete; one still partly filled and working is judged
    #: on its sum so far after this many seconds (later fills escalate).
    partial_exit_grace_seconds: float = Field(2.0, ge=0, le=60)


# --- R08 ---------------------------------------------------------------------------------
class NoStopLossGrace(RuleBase):
    grace_period_seconds: float = Field(30, ge=0)


# --- R09 ---------------------------------------------------------------------------------
class Session(Strict):
    start: str = "08:30"
    end: str = "15:00"
    timezone: str = "America/Chicago"
    days: list[Weekday] = Field(default_factory=lambda: list(_WORKDAYS), min_length=1)

    _v_start = field_validator("start", "end")(_check_hhmm)
    _v_tz = field_validator("timezone")(_check_tz)


def _session_key(key: str) -> str:
    return key if key == "default" else resolve_instrument(key)


class SessionBlockOutside(RuleBase):
    #: `default` applies to every symbol; other keys are instruments (any spelling, stored as
    #: trader roots) with their own window.
    sessions: dict[Annotated[str, AfterValidator(_session_key)], Session] = Field(
        default_factory=lambda: {"default": Session()})
    respect_holidays: bool = True
    close_positions_at_session_end: bool = True

    @field_validator("sessions", mode="before")
    @classmethod
    def _one_session_per_instrument(cls, v: Any) -> Any:
        if isinstance(v, dict):
            _one_entry_per_instrument([str(k) for k in v if k != "default"])
        return v

    @field_validator("sessions")
    @classmethod
    def _has_default(cls, v: dict[str, Session]) -> dict[str, Session]:
        if "default" not in v:
            raise ValueError("sessions needs a 'default' entry")
        return v

    def session_for(self, symbol: str | None) -> Session:
        if symbol and symbol.upper() in self.sessions:
            return self.sessions[symbol.upper()]
        return self.sessions["default"]


# --- R10 / R11 ---------------------------------------------------------------------------
class AuthLossGuard(RuleBase):
    pass


class SymbolBlocks(RuleBase):
    #: Any spelling of each instrument (ES, EP, ESZ6, CON.F.US.EP.Z26), stored as trader roots.
    blocked_symbols: list[Instrument] = Field(default_factory=list)
    close_existing: bool = True

    @field_validator("blocked_symbols")
    @classmethod
    def _once_each(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))  # ES and EP are one instrument: listed once


# --- R12 ---------------------------------------------------------------------------------
class AutoBreakeven(Strict):
    enabled: bool = True
    profit_trigger_ticks: int = Field(10, ge=1)
    offset_ticks: int = Field(0, ge=0)


class TrailingStop(Strict):
    enabled: bool = True
    activation_ticks: int = Field(20, ge=1)
    trail_distance_ticks: int = Field(10, ge=1)


class TradeManagement(RuleBase):
    enabled: bool = False
    auto_breakeven: AutoBreakeven = AutoBreakeven()
    trailing_stop: TrailingStop = TrailingStop()


RULE_MODELS: dict[str, type[BaseModel]] = {
    "max_contracts": MaxContracts,
    "max_contracts_per_instrument": MaxContractsPerInstrument,
    "daily_realized_loss": DailyRealizedLoss,
    "daily_unrealized_loss": DailyUnrealizedLoss,
    "max_unrealized_profit": MaxUnrealizedProfit,
    "trade_frequency_limit": TradeFrequencyLimit,
    "cooldown_after_loss": CooldownAfterLoss,
    "no_stop_loss_grace": NoStopLossGrace,
    "session_block_outside": SessionBlockOutside,
    "auth_loss_guard": AuthLossGuard,
    "symbol_blocks": SymbolBlocks,
    "trade_management": TradeManagement,
    "daily_realized_profit": DailyRealizedProfit,
    # Firm-account guards (docs/rules.md): config/firm_models.py.
    "max_loss_floor": MaxLossFloor,
    "consistency_guard": ConsistencyGuard,
    "scaling_plan": ScalingPlan,
}

#: Firm-account guards: ids fixed by docs/rules.md (not by position, so each may land on its own).
FIRM_RULE_IDS: dict[str, str] = {"max_loss_floor": "R14", "consistency_guard": "R15",
                                  "scaling_plan": "R16"}

#: Rule ids (R01…R13, then the firm guards) by config key, in rule-id order.
RULE_IDS: dict[str, str] = {
    name: FIRM_RULE_IDS.get(name, f"R{i:02d}") for i, name in enumerate(RULE_MODELS, start=1)
}


class Rules(Strict):
    max_contracts: MaxContracts
    max_contracts_per_instrument: MaxContractsPerInstrument
    daily_realized_loss: DailyRealizedLoss
    daily_unrealized_loss: DailyUnrealizedLoss
    max_unrealized_profit: MaxUnrealizedProfit
    trade_frequency_limit: TradeFrequencyLimit
    cooldown_after_loss: CooldownAfterLoss
    no_stop_loss_grace: NoStopLossGrace
    session_block_outside: SessionBlockOutside
    auth_loss_guard: AuthLossGuard
    symbol_blocks: SymbolBlocks
    trade_management: TradeManagement
    daily_realized_profit: DailyRealizedProfit
    max_loss_floor: MaxLossFloor
    consistency_guard: ConsistencyGuard
    scaling_plan: ScalingPlan

    @model_validator(mode="before")
    @classmethod
    def _absent_blocks_disabled(cls, data: Any) -> Any:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for name in RULE_MODELS:
            block = data.get(name)
            if block is None:
                data[name] = {"enabled": False}
        return data

    def by_name(self, name: str) -> BaseModel:
        return getattr(self, name)


class RiskConfig(Strict):
    trading_day: TradingDay = TradingDay()
    pnl_basis: Literal["net", "gross"] = "net"
    #: Quotes older than this are still used for marks but flagged stale.
    max_quote_age_seconds: float = Field(10, gt=0)
    rules: Rules = Field(default_factory=lambda: Rules.model_validate({}))

    def with_overrides(self, overrides: dict[str, Any] | None) -> RiskConfig:
        """This config with one account's `overrides` (same shape as `rules`) deep-merged in."""
        if not overrides:
            return self
        merged = deep_merge(self.model_dump(mode="python")["rules"], overrides)
        return self.model_copy(update={"rules": Rules.model_validate(merged)})


def deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


# --- accounts.yaml ---------------------------------------------------------------------------
class GatewayConfig(Strict):
    api_url: str = "https://api.topstepx.com"
    user_hub_url: str = "https://rtc.topstepx.com/hubs/user"
    market_hub_url: str = "https://rtc.topstepx.com/hubs/market"
    username: str
    api_key_env: str | None = "PROJECTX_API_KEY"
    api_key_secret: str | None = None
    request_timeout_seconds: float = Field(10, gt=0)
    #: Largest hub record accepted (characters ≈ bytes); a bigger one is dropped and counted and
    #: the connection recycled. Real records are under 1 KB.
    hub_max_record_bytes: int = Field(1024 * 1024, ge=4096)

    @field_validator("api_key_env", "api_key_secret")
    @classmethod
    def _key_reference(cls, v: str | None, info: Any) -> str | None:
        from risk_manager.config.secrets import check_env_reference, check_secret_reference

        if not v:  # unset
            return v
        return check_env_reference(v) if info.field_name == "api_key_env" else check_secret_reference(v)


class AccountEntry(Strict):
    name: str | None = None
    id: int | None = None
    enabled: bool = True
    overrides: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _name_or_id(self) -> AccountEntry:
        if self.name is None and self.id is None:
            raise ValueError("each account needs a `name` (as the platform shows it) or an `id`")
        return self

    @field_validator("overrides")
    @classmethod
    def _overrides_shape(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key, block in v.items():
            if key not in RULE_MODELS:
                raise ValueError(f"unknown rule {key!r} in overrides (known: {', '.join(RULE_MODELS)})")
            if not isinstance(block, dict):
                raise ValueError(f"override for {key} must be a mapping of rule settings")
        return v


class DaemonConfig(Strict):
    status_api: str = "127.0.0.1:8765"
    state_dir: str = "state"
    log_dir: str = "logs"
    #: While a hub is down with positions open, poll REST this often (seconds).
    poll_interval_seconds: float = Field(2.0, gt=0)
    blind_timeout_seconds: float = Field(60, gt=0)
    flatten_when_blind: bool = False
    #: Nightly copies of the database kept in <state_dir>/backups (the oldest beyond this go).
    backup_keep: int = Field(7, ge=1)
    #: Event journal rows (and trades seen) older than this many days are pruned nightly.
    journal_retention_days: int = Field(30, ge=1)
    #: Audit log, lock history, finished intents, daily P&L and resets: pruned after this many days.
    audit_retention_days: int = Field(365, ge=1)

    @field_validator("status_api")
    @classmethod
    def _loopback(cls, v: str) -> str:
        host, _, port = v.rpartition(":")
        if host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
            raise ValueError("the status API binds to loopback only (127.0.0.1:PORT)")
        if not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"bad port in {v!r}")
        return v


class AccountsConfig(Strict):
    gateway: GatewayConfig
    accounts: list[AccountEntry] = Field(default_factory=list)
    daemon: DaemonConfig = DaemonConfig()
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    #: Account groups sharing limits (docs/rules.md): config/firm_models.py.
    groups: list[AccountGroup] = Field(default_factory=list)

    @model_validator(mode="after")
    def _group_members_are_accounts(self) -> AccountsConfig:
        names = {(a.name or "").casefold() for a in self.accounts} | {str(a.id) for a in self.accounts if a.id is not None}
        seen: set[str] = set()
        for group in self.groups:
            if group.name in seen:
                raise ValueError(f"two groups are named {group.name!r}")
            seen.add(group.name)
            for member in group.accounts:
                if str(member).casefold() not in names:
                    raise ValueError(f"group {group.name!r}: {member!r} is not one of the accounts "
                                     "listed under `accounts:`")
        return self
