"""The displayed depth book around a market's bid/ask: the levels a fill walks, and GatewayDepth items.

`sizes` are the displayed lots per price level from the touch outward (best first); the last size
repeats beyond the list, so the book never runs dry. `None` is the unlimited book of instant fills:
everything fills at the touch. The book refills at every price move (displayed size is what shows
now, not a queue that orders deplete for the next trader).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from risk_manager.sim.catalog import align
from risk_manager.sim.market import Market
from risk_manager.sim.wire_time import iso7

# DomType (reference §8)
DOM_ASK, DOM_BID, DOM_BEST_ASK, DOM_BEST_BID = 1, 2, 3, 4
DEEP_VOLUME = 10_000  # shown for the unlimited book (no size configured)
MAX_PUBLISHED_LEVELS = 10


def level_size(sizes: tuple[int, ...] | None, index: int) -> int | None:
    """Displayed lots at level `index` (0 = the touch); None = unlimited."""
    if sizes is None:
        return None
    return sizes[min(index, len(sizes) - 1)]


def level_price(market: Market, buy: bool, index: int) -> float:
    """A buyer takes the asks upward from the best ask; a seller the bids downward from the best bid."""
    tick = market.contract.tick_size
    return align(market.ask + index * tick, tick) if buy else align(market.bid - index * tick, tick)


def liquidity_through(sizes: tuple[int, ...] | None, ticks_through: int) -> int | None:
    """Lots that traded at or through a resting limit: the displayed size of every level the price
    reached, from the limit's own level (touch = 0 ticks through) outward."""
    if sizes is None:
        return None
    return sum(level_size(sizes, i) or 0 for i in range(max(0, ticks_through) + 1))


def depth_items(market: Market, sizes: tuple[int, ...] | None, now: datetime) -> list[dict[str, Any]]:
    """One GatewayDepth batch (the wire's array): best bid/ask, then deeper levels per side."""
    count = 1 if sizes is None else min(len(sizes), MAX_PUBLISHED_LEVELS)
    stamp = iso7(now)
    items = []
    for buy_side, best, deeper in ((False, DOM_BEST_BID, DOM_BID), (True, DOM_BEST_ASK, DOM_ASK)):
        for index in range(count):
            size = level_size(sizes, index)
            items.append({
                "timestamp": stamp, "type": best if index == 0 else deeper,
                "price": level_price(market, buy_side, index),
                "volume": DEEP_VOLUME if size is None else size, "currentVolume": 0,
            })
    return items
