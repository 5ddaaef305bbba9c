"""The simulator's mutable records and their wire shapes (REST rows keep nulls, stream omits them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from risk_manager.events import OrderStatus, OrderType, PositionType
from risk_manager.sim.wire_time import iso7

WORKING_STATUSES = frozenset({OrderStatus.OPEN, OrderStatus.PENDING, OrderStatus.PENDING_CANCELLATION})
TERMINAL_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.REJECTED}
)


def omit_nulls(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


@dataclass(slots=True)
class SimAccount:
    id: int
    name: str
    balance: float
    can_trade: bool = True
    is_visible: bool = True
    simulated: bool = True
    auto_oco: bool = True  # False = "Position Brackets" mode: API brackets are rejected

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "balance": self.balance, "canTrade": self.can_trade,
            "isVisible": self.is_visible, "simulated": self.simulated,
        }


@dataclass(slots=True)
class BracketSpec:
    ticks: int
    type: int


@dataclass(slots=True)
class SimOrder:
    id: int
    account_id: int
    contract_id: str
    symbol_id: str
    created: datetime
    updated: datetime
    status: int
    type: int
    side: int
    size: int
    limit_price: float | None = None
    stop_price: float | None = None
    fill_volume: int = 0
    filled_price: float | None = None
    custom_tag: str | None = None
    trail_distance: int | None = None  # ticks (signed on bracket children, as the server echoes them)
    trail_price: float | None = None  # the distance in price units
    parent_order_id: int | None = None
    linked_order_id: int | None = None
    # Internal, never on the wire:
    bracket: BracketSpec | None = None  # on a child: the signed ticks that price it when the parent fills
    has_stop_loss: bool = False  # on a parent: children are [SL, TP] when True, else [TP]
    children: list[int] = field(default_factory=list)
    oco_sibling: int | None = None
    trail_anchor: float | None = None  # best price seen since a trailing stop went live

    @property
    def working(self) -> bool:
        return self.status in WORKING_STATUSES

    @property
    def signed_size(self) -> int:
        return self.size if self.side == 0 else -self.size

    def to_wire(self, *, stream: bool) -> dict[str, Any]:
        row: dict[str, Any] = {
            "id": self.id, "accountId": self.account_id, "contractId": self.contract_id,
            "symbolId": self.symbol_id, "creationTimestamp": iso7(self.created),
            "updateTimestamp": iso7(self.updated), "status": int(self.status), "type": int(self.type),
            "side": self.side, "size": self.size, "limitPrice": self.limit_price,
            "stopPrice": self.stop_price, "fillVolume": self.fill_volume,
            "filledPrice": self.filled_price, "customTag": self.custom_tag,
        }
        extras = {
            "trailDistance": self.trail_distance, "trailPrice": self.trail_price,
            "parentOrderId": self.parent_order_id, "linkedOrderId": self.linked_order_id,
        }
        row.update(omit_nulls(extras))
        return omit_nulls(row) if stream else row


@dataclass(slots=True)
class SimPosition:
    id: int
    account_id: int
    contract_id: str
    display_name: str
    created: datetime
    net: int  # signed: + long, - short
    average_price: float

    def to_wire(self, *, stream: bool = False) -> dict[str, Any]:
        kind = PositionType.LONG if self.net > 0 else PositionType.SHORT if self.net < 0 else PositionType.UNDEFINED
        return {
            "id": self.id, "accountId": self.account_id, "contractId": self.contract_id,
            "contractDisplayName": self.display_name, "creationTimestamp": iso7(self.created),
            "type": int(kind), "size": abs(self.net), "averagePrice": self.average_price,
        }


@dataclass(slots=True)
class SimTrade:
    id: int
    account_id: int
    contract_id: str
    created: datetime
    price: float
    profit_and_loss: float | None
    fees: float
    commissions: float
    side: int
    size: int
    order_id: int
    voided: bool = False

    @property
    def signed_size(self) -> int:
        return self.size if self.side == 0 else -self.size

    def to_wire(self, *, stream: bool) -> dict[str, Any]:
        row = {
            "id": self.id, "accountId": self.account_id, "contractId": self.contract_id,
            "creationTimestamp": iso7(self.created), "price": self.price,
            "profitAndLoss": _scratch_is_zero(self.profit_and_loss), "fees": self.fees, "commissions": self.commissions,
            "side": self.side, "size": self.size, "voided": self.voided, "orderId": self.order_id,
        }
        return omit_nulls(row) if stream else row


def _scratch_is_zero(pnl: float | None) -> float | int | None:
    """A scratch trade carries `0` as the gateway sends it, never the `-0.0` a short's arithmetic gives."""
    return 0 if pnl == 0 else pnl


@dataclass(frozen=True, slots=True)
class UserEvent:
    """One GatewayUser* push: `arguments=[{"action": action, "data": data}]`."""

    target: str
    action: int
    account_id: int
    data: dict[str, Any]

    def argument(self) -> dict[str, Any]:
        return {"action": self.action, "data": self.data}


@dataclass(frozen=True, slots=True)
class MarketEvent:
    """One market-hub push: `arguments=[contract_id, payload]`."""

    target: str  # GatewayQuote | GatewayTrade
    contract_id: str
    payload: Any


PLACEABLE_TYPES = frozenset(
    {OrderType.LIMIT, OrderType.MARKET, OrderType.STOP, OrderType.TRAILING_STOP, OrderType.JOIN_BID, OrderType.JOIN_ASK}
)
