"""The fill model: orders fill as a market fills them, when a contract's settings ask for it.

- A marketable order (market, marketable limit or stop at placement, closeContract and
  partialCloseContract) is accepted as Pending; its first fill comes `fill_latency_ms` (+/- jitter,
  seeded) later, after the REST call has answered when the latency is > 0.
- It then walks the displayed book (`depth`): one fill per level, each at that level's price,
  `fill_interval_ms` apart (0 = one burst). A marketable limit stops at its limit and rests.
- A resting stop reached by the price walks the book from the touch at once: that is its slippage.
- A resting limit reached by a print fills at its price, at most the lots displayed at and through
  it (`book.liquidity_through`), once per price move: partial fills until the market trades through.
- Each fill emits its own set, in order: Order (fillVolume, Open until the last fill, then Filled)
  -> Trade(s) with their own price and fees -> Position -> Account x N. A cancel between fills stops
  the rest (the order ends Cancelled with its fillVolume).

Pure like the engine: time comes from the engine's clock; the server runs `run_due` when
`next_due` says.
"""

from __future__ import annotations

import heapq
import itertools
import random
from typing import TYPE_CHECKING

from risk_manager.events import OrderSide, OrderStatus
from risk_manager.sim.book import depth_items, level_price, level_size, liquidity_through
from risk_manager.sim.fill_config import FillConfig, FillSettings
from risk_manager.sim.models import MarketEvent, SimOrder, UserEvent

if TYPE_CHECKING:
    from risk_manager.sim.engine import MatchingEngine

ACTION_ADD = 0  # a trade push (reference §6.2)


class FillModel:
    def __init__(self, engine: MatchingEngine, seed: int) -> None:
        self.engine = engine
        self.config = FillConfig()
        self.rng = random.Random(f"fills:{seed}")
        self.depth_watch: set[str] = set()  # contracts someone subscribed to depth for
        self._jobs: list[tuple[float, int, int]] = []  # (due monotonic s, seq, order id)
        self._seq = itertools.count()
        self._sweeping: dict[int, int] = {}  # order id -> book levels it has taken so far
        self._moves: dict[str, int] = {}  # price moves per contract
        self._limit_move: dict[int, int] = {}  # resting limit id -> the move it last filled on

    def settings(self, contract_id: str) -> FillSettings:
        return self.config.settings(contract_id)

    def instant(self, contract_id: str) -> bool:
        return self.config.settings(contract_id).instant

    def busy(self, order_id: int) -> bool:
        """A sweep is under way: the order is a market order now, whatever its trigger says."""
        return order_id in self._sweeping

    # ------------------------------------------------------------------ entry points

    def accept(self, order: SimOrder) -> None:
        settings = self.settings(order.contract_id)
        jitter = self.rng.uniform(-settings.jitter_ms, settings.jitter_ms) if settings.jitter_ms else 0.0
        delay_ms = max(0.0, settings.latency_ms + jitter)
        self._sweeping[order.id] = 0
        if delay_ms > 0:
            self._schedule(order, delay_ms)
        else:
            self._sweep(order)

    def trigger(self, order: SimOrder) -> None:
        self._sweeping[order.id] = 0
        self._sweep(order)

    def touch_limit(self, order: SimOrder) -> bool:
        """A print reached this resting limit; True if it filled (at most once per price move)."""
        contract_id = order.contract_id
        move = self._moves.get(contract_id, 0)
        if self._limit_move.get(order.id) == move or order.limit_price is None:
            return False
        self._limit_move[order.id] = move
        market = self.engine.market(contract_id)
        through = round(abs(market.last - order.limit_price) / market.contract.tick_size)
        available = liquidity_through(self.settings(contract_id).depth, through)
        remaining = order.size - order.fill_volume
        self._fill(order, order.limit_price, remaining if available is None else min(remaining, available))
        return True

    def on_price_move(self, contract_id: str) -> None:
        self._moves[contract_id] = self._moves.get(contract_id, 0) + 1
        if contract_id in self.depth_watch:
            engine = self.engine
            items = depth_items(engine.market(contract_id), self.settings(contract_id).depth, engine.clock.now())
            engine.market_out.append(MarketEvent("GatewayDepth", contract_id, items))

    # ------------------------------------------------------------------ time

    def next_due(self) -> float | None:
        return self._jobs[0][0] if self._jobs else None

    def run_due(self) -> int:
        """Run every fill step whose time has come; answers how many ran."""
        now = self.engine.clock.monotonic()
        ran = 0
        while self._jobs and self._jobs[0][0] <= now:
            _, _, order_id = heapq.heappop(self._jobs)
            order = self.engine.orders.get(order_id)
            if order is None:
                continue
            self._sweep(order)
            self.engine._process_resting(order.contract_id)  # noqa: SLF001 - fills can activate brackets
            ran += 1
        return ran

    def _schedule(self, order: SimOrder, delay_ms: float) -> None:
        due = self.engine.clock.monotonic() + delay_ms / 1000.0
        heapq.heappush(self._jobs, (due, next(self._seq), order.id))

    # ------------------------------------------------------------------ fills

    def _sweep(self, order: SimOrder) -> None:
        """Take the book level by level; with an interval the next level is a later step."""
        settings = self.settings(order.contract_id)
        market = self.engine.market(order.contract_id)
        buy = order.side == OrderSide.BID
        while order.id in self._sweeping:
            if not order.working:  # cancelled (or rejected) between fills
                del self._sweeping[order.id]
                return
            level = self._sweeping[order.id]
            price = level_price(market, buy, level)
            limit = order.limit_price
            if limit is not None and (price > limit if buy else price < limit):
                # The book beyond the limit: what is left works as a resting limit.
                del self._sweeping[order.id]
                self._limit_move[order.id] = self._moves.get(order.contract_id, 0)
                if order.status == OrderStatus.PENDING:
                    self.engine._finish(order, OrderStatus.OPEN)  # noqa: SLF001
                return
            size = level_size(settings.depth, level)
            remaining = order.size - order.fill_volume
            self._sweeping[order.id] = level + 1
            self._fill(order, price, remaining if size is None else min(remaining, size))
            if order.fill_volume >= order.size:
                self._sweeping.pop(order.id, None)
            elif settings.interval_ms > 0:
                self._schedule(order, settings.interval_ms)
                return

    def _fill(self, order: SimOrder, price: float, size: int) -> None:
        """One fill of `size` at `price` and its event set: Order -> Trade(s) -> Position -> Account x N."""
        engine = self.engine
        account = engine.accounts[order.account_id]
        contract = engine.catalog[order.contract_id]
        now = engine.clock.now()
        trades, position_events = engine._apply_fill(account, contract, order, price, now, size=size)  # noqa: SLF001
        before = order.fill_volume
        order.fill_volume = before + size
        order.filled_price = round(((order.filled_price or 0.0) * before + price * size) / order.fill_volume, 10)
        done = order.fill_volume >= order.size
        order.status = OrderStatus.FILLED if done else OrderStatus.OPEN
        order.updated = now
        engine._emit_order(order)  # noqa: SLF001
        for trade in trades:
            engine.user_out.append(UserEvent("GatewayUserTrade", ACTION_ADD, order.account_id, trade.to_wire(stream=True)))
        engine.user_out.extend(position_events)
        engine._emit_account(account, copies=engine.account_event_copies)  # noqa: SLF001
        if done:
            self._limit_move.pop(order.id, None)
            engine._after_fill(order, contract, order.filled_price)  # noqa: SLF001
        elif order.oco_sibling is not None:  # the other leg now protects only what is left
            sibling = engine.orders[order.oco_sibling]
            if sibling.status == OrderStatus.OPEN and sibling.size > size:
                sibling.size -= size
                sibling.updated = now
                engine._emit_order(sibling)  # noqa: SLF001
