"""The normalized event: the one type that flows from the gateway into the journal and the engine.

Both the gateway decoder (wire → Event) and the engine (Event → state → actions) are written
against this module only. Everything here is plain, immutable data with no I/O, cheap to build on
the hot path, and serialisable to/from JSON for the journal (`to_json` / `from_json`).

Enum values are the ProjectX wire values. Unknown values coming from the wire are kept as plain
ints (never rejected): use the ``*_of`` helpers to get the enum member when it is known.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime
from operator import attrgetter
from typing import Any, Literal


class OrderSide(enum.IntEnum):
    BID = 0  # buy
    ASK = 1  # sell


class OrderType(enum.IntEnum):
    UNKNOWN = 0
    LIMIT = 1
    MARKET = 2
    STOP_LIMIT = 3
    STOP = 4
    TRAILING_STOP = 5
    JOIN_BID = 6
    JOIN_ASK = 7


class OrderStatus(enum.IntEnum):
    NONE = 0
    OPEN = 1
    FILLED = 2
    CANCELLED = 3
    EXPIRED = 4
    REJECTED = 5
    PENDING = 6
    PENDING_CANCELLATION = 7
    SUSPENDED = 8


class PositionType(enum.IntEnum):
    UNDEFINED = 0
    LONG = 1
    SHORT = 2


#: Statuses after which an order can no longer change exposure.
TERMINAL_ORDER_STATUSES = frozenset({2, 3, 4, 5})
#: Statuses of an order that may still fill (Suspended = bracket child waiting for its parent).
WORKING_ORDER_STATUSES = frozenset({1, 6, 7, 8})
#: Order types that protect a position as a stop (R08).
STOP_ORDER_TYPES = frozenset({3, 4, 5})


class EventKind(enum.StrEnum):
    ACCOUNT = "account"
    ORDER = "order"
    POSITION = "position"
    TRADE = "trade"  # a fill of one of our accounts (GatewayUserTrade / Trade/search)
    QUOTE = "quote"  # a (partial) GatewayQuote
    MARKET_TRADE = "market_trade"  # prints on the market hub (GatewayTrade)


EventSource = Literal["stream", "rest", "sim", "replay"]


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    name: str | None = None
    balance: float | None = None
    #: None when the field was missing on the wire (treated as True by R10, with a warning).
    can_trade: bool | None = None
    is_visible: bool | None = None
    simulated: bool | None = None


@dataclass(frozen=True, slots=True)
class Order:
    id: int
    account_id: int
    contract_id: str
    status: int
    type: int
    side: int
    size: int
    symbol_id: str | None = None
    creation_timestamp: datetime | None = None
    update_timestamp: datetime | None = None
    limit_price: float | None = None
    stop_price: float | None = None
    fill_volume: int = 0
    filled_price: float | None = None
    custom_tag: str | None = None
    parent_order_id: int | None = None
    linked_order_id: int | None = None
    trail_distance: float | None = None
    trail_price: float | None = None

    @property
    def is_working(self) -> bool:
        return self.status in WORKING_ORDER_STATUSES

    @property
    def is_stop(self) -> bool:
        return self.type in STOP_ORDER_TYPES


@dataclass(frozen=True, slots=True)
class Position:
    id: int
    account_id: int
    contract_id: str
    #: 1 long, 2 short, 0 on a closed position.
    type: int
    #: Always a magnitude; 0 means closed.
    size: int
    average_price: float
    creation_timestamp: datetime | None = None
    contract_display_name: str | None = None

    @property
    def signed_size(self) -> int:
        if self.size == 0:
            return 0
        return -self.size if self.type == PositionType.SHORT else self.size


@dataclass(frozen=True, slots=True)
class Trade:
    id: int
    account_id: int
    contract_id: str
    price: float
    side: int
    size: int
    #: Gross P&L of a closing half-turn; None for an opening half-turn.
    profit_and_loss: float | None = None
    fees: float = 0.0
    commissions: float = 0.0
    voided: bool = False
    order_id: int | None = None
    creation_timestamp: datetime | None = None

    def pnl(self, basis: Literal["net", "gross"] = "net") -> float | None:
        """P&L of this fill on the given basis; None for half-turns (opening fills)."""
        if self.profit_and_loss is None:
            return None
        if basis == "gross":
            return self.profit_and_loss
        return self.profit_and_loss - self.fees - self.commissions


@dataclass(frozen=True, slots=True)
class Quote:
    """A partial quote: only the fields that changed are set; merge into a per-contract cache."""

    contract_id: str
    symbol: str | None = None
    last_price: float | None = None
    best_bid: float | None = None
    best_ask: float | None = None
    change: float | None = None
    change_percent: float | None = None
    open: float | None = None
    high: float | None = None
    low: float | None = None
    volume: float | None = None
    last_updated: datetime | None = None
    timestamp: datetime | None = None


@dataclass(frozen=True, slots=True)
class MarketTrade:
    contract_id: str
    price: float
    volume: float = 0
    type: int | None = None
    timestamp: datetime | None = None


Payload = Account | Order | Position | Trade | Quote | MarketTrade

_PAYLOAD_TYPES: dict[EventKind, type] = {
    EventKind.ACCOUNT: Account,
    EventKind.ORDER: Order,
    EventKind.POSITION: Position,
    EventKind.TRADE: Trade,
    EventKind.QUOTE: Quote,
    EventKind.MARKET_TRADE: MarketTrade,
}


@dataclass(frozen=True, slots=True)
class Event:
    """One normalized gateway event.

    ``account_id`` is set for every user-hub kind (account, order, position, trade) and None for
    market data; ``contract_id`` is set for every kind except account.
    """

    kind: EventKind
    data: Payload
    account_id: int | None
    contract_id: str | None
    #: Raw stream `action` code (0/1/2 observed; meaning undocumented) or None for REST.
    action: int | None = None
    source: EventSource = "stream"
    #: time.monotonic_ns() when the frame was received (for reaction-time measurements).
    received_ns: int = 0
    #: Wall-clock receive time (UTC), set by the decoder from an injected clock.
    received_at: datetime | None = None
    #: Journal sequence number once journaled (0 before).
    seq: int = field(default=0, compare=False)

    # -- journal (de)serialisation -------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "account_id": self.account_id,
            "contract_id": self.contract_id,
            "action": self.action,
            "source": self.source,
            "received_ns": self.received_ns,
            "received_at": _dt_out(self.received_at),
            # Field-by-field instead of dataclasses.asdict: asdict deep-copies and is ~10x slower,
            # and this runs once per journaled event.
            "data": _payload_json(self.data),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Event:
        kind = EventKind(obj["kind"])
        payload_type = _PAYLOAD_TYPES[kind]
        raw = obj["data"]
        kwargs = {}
        for f in fields(payload_type):
            if f.name in raw:
                value = raw[f.name]
                if isinstance(value, str) and f.name in _DATETIME_FIELDS:
                    value = datetime.fromisoformat(value)
                kwargs[f.name] = value
        return cls(
            kind=kind,
            data=payload_type(**kwargs),
            account_id=obj.get("account_id"),
            contract_id=obj.get("contract_id"),
            action=obj.get("action"),
            source=obj.get("source", "replay"),
            received_ns=obj.get("received_ns", 0),
            received_at=_dt_in(obj.get("received_at")),
        )


_DATETIME_FIELDS = frozenset(
    {"creation_timestamp", "update_timestamp", "last_updated", "timestamp"}
)


#: Payload type → (field names, a getter of all their values at once), built on first use.
_SHAPES: dict[type, tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]] = {}


def _shape(cls: type) -> tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]:
    shape = _SHAPES.get(cls)
    if shape is None:
        names = tuple(f.name for f in fields(cls))
        getter: Callable[[Any], tuple[Any, ...]] = attrgetter(*names)
        if len(names) == 1:  # attrgetter of one name returns the value, not a 1-tuple
            one = attrgetter(names[0])

            def getter(obj: Any) -> tuple[Any, ...]:
                return (one(obj),)
        shape = _SHAPES[cls] = (names, getter)
    return shape


def _payload_json(data: Any) -> dict[str, Any]:
    names, values = _shape(type(data))
    return dict(zip(names, [v.isoformat() if isinstance(v, datetime) else v for v in values(data)]))


def _dt_out(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _dt_in(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def make_event(data: Payload, **kw: Any) -> Event:
    """Build an Event for a payload, filling kind/account/contract from the payload itself."""
    if isinstance(data, Account):
        return Event(EventKind.ACCOUNT, data, data.id, None, **kw)
    if isinstance(data, Order):
        return Event(EventKind.ORDER, data, data.account_id, data.contract_id, **kw)
    if isinstance(data, Position):
        return Event(EventKind.POSITION, data, data.account_id, data.contract_id, **kw)
    if isinstance(data, Trade):
        return Event(EventKind.TRADE, data, data.account_id, data.contract_id, **kw)
    if isinstance(data, Quote):
        return Event(EventKind.QUOTE, data, None, data.contract_id, **kw)
    if isinstance(data, MarketTrade):
        return Event(EventKind.MARKET_TRADE, data, None, data.contract_id, **kw)
    raise TypeError(f"not an event payload: {type(data).__name__}")


@dataclass(frozen=True, slots=True)
class Contract:
    """A ContractModel from the Contract API. Tick size/value always come from here."""

    id: str  # e.g. CON.F.US.EP.U26
    name: str  # exchange-style code, e.g. ESU6
    tick_size: float
    tick_value: float
    symbol_id: str | None = None  # e.g. F.US.EP
    description: str | None = None
    active_contract: bool = True
