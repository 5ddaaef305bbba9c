"""The guard's own orders in one account, and the trades it already handled before a restart.

The guard must tell its own orders from the trader's (docs/rules.md, "Common to every rule"): it never cancels its own closes,
and fills of orders it placed are not the trader's trades (R06). Two ways in:

- Order/place returns the order id (R12 stops), and those orders carry the guard's custom tag, so
  they are recognisable even before their id is recorded (and after a restart).
- Position/closeContract and partialCloseContract return no order id and take no tag: the server
  creates a market order. So the executor *claims* the next order on that contract just before it
  sends the call; the first untagged market order on the closing side of the position that
  arrives while the claim is open is bound to it. A claim binds one order and expires after
  `CLAIM_TTL`. When the order event is never seen (a close sent while the user hub is not
  subscribed, e.g. the start-up flatten), the first fill of an unknown order on the closing side,
  made after the claim, is bound instead. Only an order newer than every order of the account
  seen when the claim was made can be its close (the gateway numbers orders in sequence): events
  of the trader's orders that arrive late — a burst filling over several frames — are never
  taken for the guard's close. A partial close's order has the claim's size, so a trader's market
  order sent just before it, of another size, is not taken for it either.

Bound and placed ids are handed out once through `unsaved` so the daemon persists them (a restart
must still know them). Pure bookkeeping: time comes in as `now`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from risk_manager.events import Order, OrderSide, OrderType, Trade

#: Prefix of the customTag of every order the guard places (tags must be unique per account).
GUARD_TAG_PREFIX = "rmguard-"
#: A close's server-side order shows up within milliseconds; after this a claim binds nothing.
CLAIM_TTL = timedelta(seconds=15)
#: A fill bound to a claim may carry a gateway timestamp this much before the claim (clock skew).
CLOCK_SKEW = timedelta(seconds=2)
#: How many recent order ids `OwnOrders` remembers as seen (bounded: a long day must not grow it).
ORDERS_SEEN_MAX = 2_000

OwnKind = Literal["close", "stop"]


def is_guard_tag(tag: str | None) -> bool:
    return bool(tag) and tag.startswith(GUARD_TAG_PREFIX)  # type: ignore[union-attr]


@dataclass(frozen=True, slots=True)
class OwnOrderRecord:
    """An order the guard placed (to persist)."""

    account_id: int
    order_id: int
    contract_id: str | None
    kind: OwnKind
    at: datetime


@dataclass(frozen=True, slots=True)
class HandledTradeRecord:
    """A trade whose event rules ran (to persist: after a restart it only rebuilds state)."""

    account_id: int
    trade_id: int
    trading_day: date
    pnl: float | None
    voided: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class JudgedExitRecord:
    """An exit order R07 judged (to persist: after a restart its fills rebuild the exit as judged,
    so only a later, worse fill of it is judged again)."""

    account_id: int
    exec_key: str  # "order:<id>" or "trade:<id>" (AccountState.exec_key_of)
    trading_day: date
    worst: float
    at: datetime


def exec_key_text(key: object) -> str:
    """An execution key (AccountState.exec_key_of: ("order" | "trade", id)) as stored."""
    if not (isinstance(key, tuple) and len(key) == 2):
        raise TypeError(f"not an execution key: {key!r}")
    return f"{key[0]}:{key[1]}"


def exec_key_of_text(text: str) -> tuple[str, int]:
    kind, _, ident = text.partition(":")
    return kind, int(ident)


@dataclass(slots=True)
class _Claim:
    contract_id: str
    made: datetime
    expires: datetime
    #: The newest order id of the account seen when the claim was made: the close is newer.
    after_id: int = 0
    #: A partial close's lots: its server order has exactly this size (None: a whole close).
    size: int | None = None


def _closing_side(position_direction: int | None) -> int | None:
    if position_direction is None:
        return None
    return OrderSide.ASK if position_direction > 0 else OrderSide.BID


class OwnOrders:
    def __init__(self, account_id: int) -> None:
        self.account_id = account_id
        #: order id → what the guard placed it for.
        self.kinds: dict[int, OwnKind] = {}
        self._claims: list[_Claim] = []
        #: The newest order id of this account seen in any event (see `expect_close`).
        self.newest_seen = 0
        #: Recent orders whose own events were seen: a fill of one of them is never bound by
        #: `claim_fill` (its order event was judged already, and was not the close).
        self._orders_seen: dict[int, None] = {}

    def __contains__(self, order_id: object) -> bool:
        return order_id in self.kinds

    def is_own(self, order: Order) -> bool:
        return order.id in self.kinds or is_guard_tag(order.custom_tag)

    def is_own_close(self, order: Order) -> bool:
        """An order the guard sent to close a position: never to be cancelled."""
        return self.kinds.get(order.id) == "close"

    def add(self, order_id: int, kind: OwnKind) -> bool:
        """Record an own order; True when it was not known yet."""
        if order_id in self.kinds:
            return False
        self.kinds[order_id] = kind
        return True

    def saw(self, order_id: int | None, *, order_event: bool = False) -> None:
        """An order (or a fill of one) of this account was seen."""
        if order_id is None:
            return
        if order_id > self.newest_seen:
            self.newest_seen = order_id
        if order_event:
            self._orders_seen[order_id] = None
            if len(self._orders_seen) > ORDERS_SEEN_MAX:
                del self._orders_seen[next(iter(self._orders_seen))]

    def expect_close(self, contract_id: str, now: datetime, size: int | None = None) -> None:
        self._claims.append(_Claim(contract_id, now, now + CLAIM_TTL, self.newest_seen, size))

    @property
    def claiming(self) -> bool:
        return bool(self._claims)

    def withdraw_close(self, contract_id: str, size: int | None = None) -> bool:
        """A close call the broker did not act on (it refused, or every attempt failed): its
        claim must not bind the trader's next order, nor count as a reduction under way."""
        for i in range(len(self._claims) - 1, -1, -1):
            c = self._claims[i]
            if c.contract_id == contract_id and c.size == size:
                del self._claims[i]
                return True
        return False

    def claimed_lots(self, contract_id: str, now: datetime) -> int | None:
        """Lots of `contract_id` that closes sent but not yet seen as orders will take off;
        None when a whole close is among them."""
        lots = 0
        for c in self._claims:
            if c.contract_id == contract_id and c.expires > now:
                if c.size is None:
                    return None
                lots += c.size
        return lots

    def claim(self, order: Order, position_direction: int | None, now: datetime) -> bool:
        """Bind `order` to an open close claim when it is the server's close order; True if bound."""
        if order.id in self.kinds or order.type != OrderType.MARKET or order.custom_tag:
            return False
        return self._bind(order.id, order.contract_id, order.side, position_direction, None, now, order.size)

    def claim_fill(self, trade: Trade, position_direction: int | None, now: datetime) -> bool:
        """Bind the order of a fill to an open close claim (its order event was not seen)."""
        if trade.order_id is None or trade.order_id in self.kinds or trade.order_id in self._orders_seen:
            return False
        return self._bind(trade.order_id, trade.contract_id, trade.side, position_direction,
                          trade.creation_timestamp, now)

    def _bind(self, order_id: int, contract_id: str, side: int, position_direction: int | None,
              created: datetime | None, now: datetime, size: int | None = None) -> bool:
        self._claims = [c for c in self._claims if c.expires > now]
        closing = _closing_side(position_direction)
        if closing is not None and side != closing:
            return False
        for i, c in enumerate(self._claims):
            if (c.contract_id == contract_id and order_id > c.after_id
                    and (c.size is None or size is None or size == c.size)
                    and (created is None or created >= c.made - CLOCK_SKEW)):
                del self._claims[i]
                self.kinds[order_id] = "close"
                return True
        return False
