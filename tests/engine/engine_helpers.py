"""Builders for engine tests: events, times in Chicago, an engine with chosen rules."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from risk_manager.config.models import RiskConfig
from risk_manager.engine.actions import (
    Alert, CancelOrder, ClosePosition, Flatten, PartialClose, SetLock,
)
from risk_manager.engine.catalog import ContractCatalog
from risk_manager.engine.engine import RiskEngine
from risk_manager.events import Account, MarketTrade, Order, Position, Quote, Trade, make_event

CT = ZoneInfo("America/Chicago")
FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "projectx-live"
ACCT = 101
MNQ = "CON.F.US.MNQ.U26"  # tick 0.25, $0.50
ES = "CON.F.US.EP.U26"  # tick 0.25, $12.50
MES = "CON.F.US.MES.U26"
NQ = "CON.F.US.ENQ.U26"
RTY_U = "CON.F.US.RTY.U26"
RTY_Z = "CON.F.US.RTY.Z26"
CL = "CON.F.US.CLE.V26"


def ct(y, mo, d, h=10, mi=0, s=0) -> datetime:
    """A Chicago wall-clock time as an aware UTC datetime."""
    return datetime(y, mo, d, h, mi, s, tzinfo=CT).astimezone(UTC)


#: A Wednesday inside the default session.
T0 = ct(2026, 8, 19, 10, 0)


def catalog() -> ContractCatalog:
    cat = ContractCatalog.from_file(FIXTURES / "contracts_available.json")
    from risk_manager.events import Contract

    cat.add(Contract("CON.F.US.RTY.Z26", "RTYZ6", 0.1, 5.0, "F.US.RTY", "E-mini Russell 2000: December 2026"))
    return cat


def engine(rules: dict | None = None, **top) -> RiskEngine:
    """An engine where only the listed rule blocks are enabled (others left out = disabled)."""
    cfg = RiskConfig.model_validate({"rules": rules or {}, **top})
    return RiskEngine(cfg, catalog())


def pos(contract: str, size: int, avg: float, *, short=False, pid=1, acct=ACCT):
    ptype = 0 if size == 0 else (2 if short else 1)
    return make_event(Position(pid, acct, contract, ptype, size, avg))


def order(oid: int, contract: str, *, status=1, otype=1, side=0, size=1, stop=None, limit=None, acct=ACCT):
    return make_event(Order(oid, acct, contract, status, otype, side, size, stop_price=stop, limit_price=limit))


def trade(tid: int, contract: str, pnl: float | None, *, ts: datetime, fees=0.0, comm=0.0, voided=False,
          order_id=None, size=1, side=1, acct=ACCT):
    return make_event(Trade(tid, acct, contract, 100.0, side, size, profit_and_loss=pnl, fees=fees,
                            commissions=comm, voided=voided, order_id=order_id if order_id else tid,
                            creation_timestamp=ts))


def quote(contract: str, last=None, bid=None, ask=None):
    return make_event(Quote(contract, last_price=last, best_bid=bid, best_ask=ask))


def mtrade(contract: str, price: float):
    return make_event(MarketTrade(contract, price))


def account(can_trade, acct=ACCT, balance=50000.0):
    return make_event(Account(acct, "PRAC-1", balance, can_trade))


def of(actions, kind):
    return [a for a in actions if isinstance(a, kind)]


def locks_set(actions):
    return [a.lock for a in actions if isinstance(a, SetLock)]


__all__ = [
    "Alert", "CancelOrder", "ClosePosition", "Flatten", "PartialClose", "SetLock",
]

#: The firm-account guards (docs/rules.md) have no default amounts: enabling one needs them.
FIRM_AMOUNTS = {
    "max_loss_floor": {"enabled": True, "starting_balance": 50_000, "max_drawdown": 2_000},
    "consistency_guard": {"enabled": True, "max_day_share": 0.5, "profit_target": 3_000},
    "scaling_plan": {"enabled": True, "tiers": [{"balance_at_least": 0, "max_contracts": 3},
                                                 {"balance_at_least": 51_500, "max_contracts": 5}]},
}
