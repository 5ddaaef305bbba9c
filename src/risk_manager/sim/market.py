"""Per-contract market state and the partial GatewayQuote / GatewayTrade payloads it produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from risk_manager.sim.catalog import SimContract, align
from risk_manager.sim.wire_time import iso7, iso_ms

_QUOTE_FIELDS = ("lastPrice", "bestBid", "bestAsk", "change", "changePercent", "open", "high", "low", "volume")


@dataclass(slots=True)
class Market:
    contract: SimContract
    last: float
    bid: float
    ask: float
    open: float
    high: float
    low: float
    volume: int = 0
    spread_ticks: int = 1
    _sent: dict[str, Any] = field(default_factory=dict)  # last values put on the wire

    @classmethod
    def at(cls, contract: SimContract, price: float, spread_ticks: int = 1) -> Market:
        market = cls(contract, price, price, price, price, price, price, spread_ticks=spread_ticks)
        market.move(price, spread_ticks, prints=0)
        return market

    def move(self, price: float, spread_ticks: int, prints: int) -> None:
        tick = self.contract.tick_size
        self.last = align(price, tick)
        self.spread_ticks = spread_ticks
        self.bid = align(self.last - spread_ticks * tick, tick)
        self.ask = align(self.last + spread_ticks * tick, tick)
        self.high = max(self.high, self.last)
        self.low = min(self.low, self.last)
        self.volume += prints

    def set_book(self, bid: float, ask: float) -> None:
        """Best bid/ask move on their own (no print): `last` keeps the price of the last trade."""
        tick = self.contract.tick_size
        self.bid, self.ask = align(bid, tick), align(ask, tick)

    def trade(self, price: float, volume: int) -> None:
        """A print at `price`: the last price, the day's volume and range move; the book does not."""
        self.last = align(price, self.contract.tick_size)
        self.high = max(self.high, self.last)
        self.low = min(self.low, self.last)
        self.volume += volume

    def full_quote(self) -> dict[str, Any]:
        change = round(self.last - self.open, 10)
        return {
            "lastPrice": self.last, "bestBid": self.bid, "bestAsk": self.ask, "change": change,
            "changePercent": round(change / self.open * 100, 6) if self.open else 0.0,
            "open": self.open, "high": self.high, "low": self.low, "volume": self.volume,
        }

    def partial_quote(self, now: datetime, *, force: bool = False) -> dict[str, Any] | None:
        """Only the fields that changed since the last quote sent, plus `symbol`, times and `contract`
        (the real hub's shape). None when nothing changed, unless `force`."""
        full = self.full_quote()
        changed = {k: full[k] for k in _QUOTE_FIELDS if self._sent.get(k) != full[k]}
        if not changed and not force:
            return None
        self._sent.update(changed)
        return {
            "symbol": self.contract.symbol_id, **changed, "lastUpdated": iso7(now),
            "timestamp": iso_ms(now), "contract": self.contract.id,
        }

    def print_(self, now: datetime, side: int, volume: int = 1) -> dict[str, Any]:
        """One GatewayTrade item (`type` is the aggressor: 0 buy, 1 sell)."""
        return {
            "symbolId": self.contract.symbol_id, "price": self.last, "timestamp": iso_ms(now),
            "type": side, "volume": volume, "contractId": self.contract.id,
        }
