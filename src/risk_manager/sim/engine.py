"""The simulator's matching engine: pure state machine, no I/O, time from an injected clock.

Every mutation appends the user-hub and market-hub pushes it causes, in the order the real gateway
sends them, to `user_out` / `market_out`; the server drains and broadcasts them. Methods answer with
an `EngineResult` carrying the endpoint's own errorCode (reference §4).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from risk_manager.clock import Clock
from risk_manager.events import OrderSide, OrderStatus, OrderType
from risk_manager.sim.catalog import SimContract, align, is_aligned
from risk_manager.sim.fills import FillModel
from risk_manager.sim.market import Market
from risk_manager.sim.models import (
    PLACEABLE_TYPES,
    BracketSpec,
    MarketEvent,
    SimAccount,
    SimOrder,
    SimPosition,
    SimTrade,
    UserEvent,
)

ORDER_ID_BASE = 3_400_000_000
TRADE_ID_BASE = 3_000_000_000
POSITION_ID_BASE = 820_000_000
ACCOUNT_ID_BASE = 26_000_000
MAX_TRAIL_TICKS = 1000

ACTION_ADD, ACTION_UPDATE, ACTION_REMOVE = 0, 1, 2  # observed stream action codes

BRACKET_MODE_MESSAGE = "Brackets cannot be used with Position Brackets. You must enable Auto OCO Brackets."


@dataclass(frozen=True, slots=True)
class EngineResult:
    code: int = 0
    message: str | None = None
    order_id: int | None = None

    @property
    def success(self) -> bool:
        return self.code == 0


OK = EngineResult()


class MatchingEngine:
    def __init__(
        self,
        catalog: dict[str, SimContract],
        clock: Clock,
        *,
        seed: int = 1,
        account_event_copies: int = 2,
        fees: dict[str, tuple[float, float]] | None = None,
        fills: dict[str, Any] | None = None,
        reemit_opening_trade: bool = True,
    ) -> None:
        self.catalog = catalog
        self.reemit_opening_trade = reemit_opening_trade
        self._opening_trades: dict[int, SimTrade] = {}  # position id -> the half-turn that opened it
        self.clock = clock
        self.account_event_copies = account_event_copies
        self.fees = dict(fees or {})
        rng = random.Random(seed)
        self._next_order_id = ORDER_ID_BASE + rng.randrange(10_000_000)
        self._next_trade_id = TRADE_ID_BASE + rng.randrange(10_000_000)
        self._next_position_id = POSITION_ID_BASE + rng.randrange(10_000_000)
        self._next_account_id = ACCOUNT_ID_BASE + rng.randrange(1, 500_000)
        self.accounts: dict[int, SimAccount] = {}
        self.orders: dict[int, SimOrder] = {}
        self.positions: dict[tuple[int, str], SimPosition] = {}
        self.trades: list[SimTrade] = []
        self.markets: dict[str, Market] = {}
        self.user_out: list[UserEvent] = []
        self.market_out: list[MarketEvent] = []
        self.fills = FillModel(self, seed)  # instant fills unless `fills` (or /sim/config) asks
        self.fills.config.load(fills, known=catalog)

    # ------------------------------------------------------------------ accounts

    def add_account(self, name: str | None = None, balance: float = 50_000.0, can_trade: bool = True) -> SimAccount:
        account_id = self._next_account_id
        self._next_account_id += 1 + (account_id * 7919) % 97  # gaps, like real ids
        account = SimAccount(
            id=account_id, name=name or f"PRAC-V2-{account_id % 1_000_000:06d}-{account_id}",
            balance=round(float(balance), 2), can_trade=can_trade,
        )
        self.accounts[account_id] = account
        return account

    def set_account(
        self, account_id: int, *, can_trade: bool | None = None, balance: float | None = None,
        auto_oco: bool | None = None, omit_can_trade: bool = False,
    ) -> bool:
        """Change an account and push its update; `omit_can_trade`: that push leaves `canTrade`
        out, as some live GatewayUserAccount updates do (the account keeps its flag)."""
        account = self.accounts.get(account_id)
        if account is None:
            return False
        if can_trade is not None:
            account.can_trade = can_trade
        if balance is not None:
            account.balance = round(float(balance), 2)
        if auto_oco is not None:
            account.auto_oco = auto_oco
        self._emit_account(account, copies=1, omit_can_trade=omit_can_trade)
        return True

    def fee_for(self, contract: SimContract) -> tuple[float, float]:
        return self.fees.get(contract.id) or self.fees.get(contract.symbol_id) or contract.default_fees()

    # ------------------------------------------------------------------ market data

    def market(self, contract_id: str) -> Market:
        market = self.markets.get(contract_id)
        if market is None:
            contract = self.catalog[contract_id]
            market = self.markets[contract_id] = Market.at(contract, contract.base_price())
        return market

    def set_price(self, contract_id: str, price: float, spread_ticks: int | None = None, *, prints: int = 1) -> None:
        """New last price (a print), bid/ask around it; emits quote/trade pushes; triggers resting orders."""
        market = self.market(contract_id)
        previous = market.last
        market.move(price, market.spread_ticks if spread_ticks is None else spread_ticks, prints)
        now = self.clock.now()
        quote = market.partial_quote(now, force=True)
        self.market_out.append(MarketEvent("GatewayQuote", contract_id, quote))
        if prints:
            aggressor = 0 if market.last >= previous else 1
            self.market_out.append(MarketEvent("GatewayTrade", contract_id, [market.print_(now, aggressor, prints)]))
        self.fills.on_price_move(contract_id)
        self._process_resting(contract_id)

    def move_market(
        self, contract_id: str, bid: float, ask: float, prints: list[tuple[float, int, int]] | None = None,
    ) -> None:
        """The walk's step, as the live feed shows it: the book moves, maybe some prints (price, volume,
        aggressor side) in one GatewayTrade push, then at most one partial quote of what changed —
        mostly bid/ask only; lastPrice/volume only when a print changed them."""
        market = self.market(contract_id)
        market.set_book(bid, ask)
        now = self.clock.now()
        if prints:
            items = []
            for price, volume, side in prints:
                market.trade(price, volume)
                items.append(market.print_(now, side, volume))
            self.market_out.append(MarketEvent("GatewayTrade", contract_id, items))
        quote = market.partial_quote(now)
        if quote is not None:
            self.market_out.append(MarketEvent("GatewayQuote", contract_id, quote))
        self.fills.on_price_move(contract_id)
        self._process_resting(contract_id)

    def drain_user(self) -> list[UserEvent]:
        out, self.user_out = self.user_out, []
        return out

    def drain_market(self) -> list[MarketEvent]:
        out, self.market_out = self.market_out, []
        return out

    # ------------------------------------------------------------------ orders

    def place(
        self,
        account_id: int,
        contract_id: str,
        type: int,
        side: int,
        size: int,
        *,
        limit_price: float | None = None,
        stop_price: float | None = None,
        trail_price: float | None = None,
        custom_tag: str | None = None,
        stop_loss: BracketSpec | None = None,
        take_profit: BracketSpec | None = None,
    ) -> EngineResult:
        account = self.accounts.get(account_id)
        if account is None:
            return EngineResult(1, f"Account {account_id} not found.")
        contract = self.catalog.get(contract_id)
        if contract is None:
            return EngineResult(8, f"Contract {contract_id} not found.")
        if not contract.active:
            return EngineResult(9, f"Contract {contract_id} is not active.")
        if type not in PLACEABLE_TYPES or side not in (0, 1) or size < 1:
            # Malformed requests are refused before an order exists.
            reason = "Invalid order type." if type not in PLACEABLE_TYPES else (
                "Invalid order side." if side not in (0, 1) else "Invalid order size.")
            return EngineResult(2, reason)
        market = self.market(contract_id)
        now = self.clock.now()
        order = SimOrder(
            id=self._order_id(), account_id=account_id, contract_id=contract_id, symbol_id=contract.symbol_id,
            created=now, updated=now, status=OrderStatus.PENDING, type=type, side=side, size=size,
            custom_tag=custom_tag,
        )
        rejected = self._validate_new(account, contract, market, order, limit_price, stop_price, trail_price,
                                      stop_loss, take_profit)
        self.orders[order.id] = order
        if rejected is None and (stop_loss or take_profit):
            self._create_children(order, contract, stop_loss, take_profit)
        self._emit_placement_burst(order)
        if rejected is not None:
            self._finish(order, OrderStatus.REJECTED)
            for child_id in order.children:
                self._finish(self.orders[child_id], OrderStatus.CANCELLED)
            return EngineResult(2, rejected, order.id)
        if order.type == OrderType.MARKET or self._triggered(order, market, resting=False):
            self._fill_marketable(order, market.last, order_event_first=False)
        else:
            self._finish(order, OrderStatus.OPEN)
        self._process_resting(contract_id)
        return EngineResult(0, None, order.id)

    def _validate_new(
        self, account: SimAccount, contract: SimContract, market: Market, order: SimOrder,
        limit_price: float | None, stop_price: float | None, trail_price: float | None,
        stop_loss: BracketSpec | None, take_profit: BracketSpec | None,
    ) -> str | None:
        """Fill the order's price fields; answer the errorCode-2 message if it must be rejected."""
        tick = contract.tick_size
        if order.custom_tag is not None and any(
            o.custom_tag == order.custom_tag and o.account_id == order.account_id for o in self.orders.values()
        ):
            return "Custom tag must be unique for the account."
        if not account.can_trade:
            return "Account is not allowed to trade."
        kind = order.type
        if kind == OrderType.LIMIT:
            if limit_price is None:
                return "Limit price is required for a limit order."
            if not is_aligned(limit_price, tick):
                return "Invalid limit price. Price is not aligned to tick size."
            order.limit_price = align(limit_price, tick)
        elif kind in (OrderType.JOIN_BID, OrderType.JOIN_ASK):
            order.limit_price = market.bid if kind == OrderType.JOIN_BID else market.ask
        elif kind == OrderType.STOP:
            if stop_price is None:
                return "Stop price is required for a stop order."
            if not is_aligned(stop_price, tick):
                return "Invalid stop price. Price is not aligned to tick size."
            order.stop_price = align(stop_price, tick)
        elif kind == OrderType.TRAILING_STOP:
            if trail_price is None:
                return "Trail Distance not set."
            if not is_aligned(trail_price, tick):
                return "Invalid trail price. Price is not aligned to tick size."
            ticks = round(abs(market.last - trail_price) / tick)
            if ticks == 0:
                return "Trail Distance not set."
            if ticks > MAX_TRAIL_TICKS:
                return f"Trail Distance exceeds maximum ({MAX_TRAIL_TICKS})"
            self._arm_trailing(order, ticks, market)
        if stop_loss or take_profit:
            if not account.auto_oco:
                return BRACKET_MODE_MESSAGE
            long_entry = order.side == OrderSide.BID
            for spec, name, favourable in ((stop_loss, "Stop loss", False), (take_profit, "Take profit", True)):
                if spec is None:
                    continue
                if spec.type not in (OrderType.LIMIT, OrderType.STOP, OrderType.TRAILING_STOP):
                    return f"{name} bracket type {spec.type} is not supported."
                # Ticks are signed on the price axis: a long's stop below (negative), target above.
                wanted_positive = favourable == long_entry
                if spec.ticks == 0 or (spec.ticks > 0) != wanted_positive:
                    return f"Invalid {name.lower()} ticks {spec.ticks} for a {'buy' if long_entry else 'sell'} order."
        return None

    def _create_children(
        self, parent: SimOrder, contract: SimContract, stop_loss: BracketSpec | None, take_profit: BracketSpec | None
    ) -> None:
        sl_id = None
        for spec, suffix in ((stop_loss, "-SL"), (take_profit, "-TP")):
            if spec is None:
                continue
            child = SimOrder(
                id=self._order_id(), account_id=parent.account_id, contract_id=parent.contract_id,
                symbol_id=parent.symbol_id, created=parent.created, updated=parent.created,
                status=OrderStatus.SUSPENDED, type=spec.type, side=1 - parent.side, size=parent.size,
                custom_tag=parent.custom_tag + suffix if parent.custom_tag else None,
                trail_distance=spec.ticks, trail_price=round(spec.ticks * contract.tick_size, 10),
                parent_order_id=parent.id,
            )
            if suffix == "-SL":
                sl_id = child.id
            elif sl_id is not None:
                child.linked_order_id = sl_id
                child.oco_sibling = sl_id
                self.orders[sl_id].oco_sibling = child.id
            child.bracket = spec
            self.orders[child.id] = child
            parent.children.append(child.id)
        parent.has_stop_loss = stop_loss is not None

    def _emit_placement_burst(self, order: SimOrder) -> None:
        """SL child (8), entry (6), TP child (8): one burst, identical creationTimestamp (observed)."""
        children = [self.orders[c] for c in order.children]
        before = children[:1] if order.has_stop_loss else []
        for child in before:
            self._emit_order(child)
        self._emit_order(order)
        for child in children[len(before):]:
            self._emit_order(child)

    def modify(
        self, account_id: int, order_id: int, *, size: int | None = None, limit_price: float | None = None,
        stop_price: float | None = None, trail_price: float | None = None,
    ) -> EngineResult:
        if account_id not in self.accounts:
            return EngineResult(1, f"Account {account_id} not found.")
        order = self.orders.get(order_id)
        if order is None or order.account_id != account_id:
            return EngineResult(2, f"Order {order_id} not found.")
        if order.status != OrderStatus.OPEN:
            return EngineResult(3, f"Order {order_id} is not working (status {int(order.status)}).")
        contract = self.catalog[order.contract_id]
        tick = contract.tick_size
        market = self.market(order.contract_id)
        if size is not None and size < 1:
            return EngineResult(3, "Invalid order size.")
        for value, allowed, label in (
            (limit_price, order.type in (OrderType.LIMIT, OrderType.JOIN_BID, OrderType.JOIN_ASK), "limit"),
            (stop_price, order.type in (OrderType.STOP, OrderType.TRAILING_STOP), "stop"),
            (trail_price, order.type == OrderType.TRAILING_STOP, "trail"),
        ):
            if value is None:
                continue
            if not allowed:
                return EngineResult(3, f"A {label} price cannot be set on an order of type {int(order.type)}.")
            if not is_aligned(value, tick):
                return EngineResult(3, f"Invalid {label} price. Price is not aligned to tick size.")
        if trail_price is not None:
            ticks = round(abs(market.last - trail_price) / tick)
            if ticks == 0 or ticks > MAX_TRAIL_TICKS:
                return EngineResult(3, "Invalid trail distance.")
            self._arm_trailing(order, ticks, market)
        if size is not None:
            order.size = size
        if limit_price is not None:
            order.limit_price = align(limit_price, tick)
        if stop_price is not None:
            order.stop_price = align(stop_price, tick)
            if order.type == OrderType.TRAILING_STOP:  # re-anchor so the new level holds
                order.trail_anchor = order.stop_price + (order.trail_price or 0) * (1 if order.side == 1 else -1)
        order.updated = self.clock.now()
        self._emit_order(order)
        if self._triggered(order, market, resting=False):
            self._fill_marketable(order, market.last, order_event_first=True)
        self._process_resting(order.contract_id)
        return OK

    def cancel(self, account_id: int, order_id: int) -> EngineResult:
        if account_id not in self.accounts:
            return EngineResult(1, f"Account {account_id} not found.")
        order = self.orders.get(order_id)
        if order is None or order.account_id != account_id:
            return EngineResult(2, f"Order {order_id} not found.")
        if order.status not in (OrderStatus.OPEN, OrderStatus.SUSPENDED, OrderStatus.PENDING):
            return EngineResult(3, f"Order {order_id} cannot be cancelled (status {int(order.status)}).")
        self._finish(order, OrderStatus.CANCELLED)
        for child_id in order.children:  # children of an unfilled parent die with it
            child = self.orders[child_id]
            if child.status == OrderStatus.SUSPENDED:
                self._finish(child, OrderStatus.CANCELLED)
        return OK

    # ------------------------------------------------------------------ positions

    def close_contract(self, account_id: int, contract_id: str) -> EngineResult:
        check = self._close_checks(account_id, contract_id, not_active_code=4)
        if check is not None:
            return check
        position = self.positions[(account_id, contract_id)]
        return self._flatten_by_market(position, abs(position.net))

    def partial_close(self, account_id: int, contract_id: str, size: int) -> EngineResult:
        check = self._close_checks(account_id, contract_id, not_active_code=4)
        if check is not None:
            return check
        position = self.positions[(account_id, contract_id)]
        if size <= 0 or size > abs(position.net):
            return EngineResult(5, f"Invalid close size {size} for a position of {abs(position.net)}.")
        return self._flatten_by_market(position, size)

    def _close_checks(self, account_id: int, contract_id: str, not_active_code: int) -> EngineResult | None:
        if account_id not in self.accounts:
            return EngineResult(1, f"Account {account_id} not found.")
        contract = self.catalog.get(contract_id)
        if contract is None:
            return EngineResult(3, f"Contract {contract_id} not found.")
        if not contract.active:
            return EngineResult(not_active_code, f"Contract {contract_id} is not active.")
        if (account_id, contract_id) not in self.positions:
            return EngineResult(2, f"No open position in {contract_id}.")
        return None

    def _flatten_by_market(self, position: SimPosition, size: int) -> EngineResult:
        """Closing is a server-side market order (allowed even when canTrade is false: it reduces risk)."""
        now = self.clock.now()
        order = SimOrder(
            id=self._order_id(), account_id=position.account_id, contract_id=position.contract_id,
            symbol_id=self.catalog[position.contract_id].symbol_id, created=now, updated=now,
            status=OrderStatus.PENDING, type=OrderType.MARKET, side=1 if position.net > 0 else 0, size=size,
        )
        self.orders[order.id] = order
        self._emit_order(order)
        self._fill_marketable(order, self.market(position.contract_id).last, order_event_first=False)
        self._process_resting(position.contract_id)
        return OK

    # ------------------------------------------------------------------ queries

    def open_positions(self, account_id: int) -> list[SimPosition]:
        return [p for p in self.positions.values() if p.account_id == account_id]

    def open_orders(self, account_id: int) -> list[SimOrder]:
        return [o for o in self.orders.values() if o.account_id == account_id and o.working]

    def orders_between(self, account_id: int, start: datetime, end: datetime | None) -> list[SimOrder]:
        """`Order/search`: everything created in the window except Suspended bracket children."""
        return [
            o for o in self.orders.values()
            if o.account_id == account_id and o.status != OrderStatus.SUSPENDED
            and o.created >= start and (end is None or o.created <= end)
        ]

    def add_past_trade(
        self, account_id: int, contract_id: str, created: datetime, *, profit_and_loss: float | None,
        fees: float = 0.0, commissions: float = 0.0, side: int = 1, size: int = 1,
        trade_id: int | None = None, voided: bool = False,
    ) -> SimTrade:
        """A fill of the past (trade history seeded by a test): listed by Trade/search, never
        pushed, the balance left as it is (it already holds the past). `trade_id` of an existing
        trade records it once more, as the gateway repeats a close's opening half-turn."""
        if account_id not in self.accounts:
            raise KeyError(f"unknown account {account_id}")
        if contract_id not in self.catalog:
            raise KeyError(f"unknown contract {contract_id}")
        trade = SimTrade(
            id=self._trade_id() if trade_id is None else trade_id, account_id=account_id,
            contract_id=contract_id, created=created, price=self.market(contract_id).last or 1.0,
            profit_and_loss=profit_and_loss, fees=fees, commissions=commissions, side=side, size=size,
            order_id=self._order_id(), voided=voided,
        )
        self.trades.append(trade)
        return trade

    def trades_between(self, account_id: int, start: datetime | None, end: datetime | None) -> list[SimTrade]:
        return [
            t for t in self.trades
            if t.account_id == account_id and (start is None or t.created >= start)
            and (end is None or t.created <= end)
        ]

    def snapshot(self) -> dict[str, Any]:
        return {
            "accounts": [{**a.to_wire(), "autoOco": a.auto_oco} for a in self.accounts.values()],
            "positions": [p.to_wire() for p in self.positions.values()],
            "orders": [o.to_wire(stream=False) for o in self.orders.values()],
            "trades": [t.to_wire(stream=False) for t in self.trades],
            "prices": {
                cid: {"lastPrice": m.last, "bestBid": m.bid, "bestAsk": m.ask} for cid, m in self.markets.items()
            },
        }

    # ------------------------------------------------------------------ internals: matching

    def _triggered(self, order: SimOrder, market: Market, *, resting: bool) -> bool:
        if order.status != OrderStatus.OPEN and not (not resting and order.status == OrderStatus.PENDING):
            return False
        buy = order.side == OrderSide.BID
        if order.limit_price is not None and order.type in (OrderType.LIMIT, OrderType.JOIN_BID, OrderType.JOIN_ASK):
            return market.last <= order.limit_price if buy else market.last >= order.limit_price
        if order.stop_price is not None and order.type in (OrderType.STOP, OrderType.TRAILING_STOP):
            return market.last >= order.stop_price if buy else market.last <= order.stop_price
        return False

    def _process_resting(self, contract_id: str) -> None:
        """Trail, then fill every working order the current price reaches (repeat: fills activate brackets)."""
        market = self.market(contract_id)
        for _ in range(1000):
            fired = False
            for order in [o for o in self.orders.values() if o.contract_id == contract_id and o.status == OrderStatus.OPEN]:
                if order.status != OrderStatus.OPEN or self.fills.busy(order.id):
                    continue  # cancelled by an OCO fill earlier in this pass, or already filling
                if order.type == OrderType.TRAILING_STOP:
                    self._trail(order, market)
                if self._triggered(order, market, resting=True):
                    limit_like = order.type in (OrderType.LIMIT, OrderType.JOIN_BID, OrderType.JOIN_ASK)
                    if self.fills.instant(contract_id):
                        price = order.limit_price if limit_like else market.last
                        if price is None:  # never: a limit-like order is validated with its price
                            raise RuntimeError(f"order {order.id} has no limit price")
                        self._execute(order, price, order_event_first=True)
                        fired = True
                    elif limit_like:
                        fired = self.fills.touch_limit(order) or fired
                    else:
                        self.fills.trigger(order)
                        fired = True
            if not fired:
                return

    def _arm_trailing(self, order: SimOrder, ticks: int, market: Market) -> None:
        tick = market.contract.tick_size
        order.trail_distance = ticks
        order.trail_price = round(ticks * tick, 10)
        order.trail_anchor = market.last
        direction = -1 if order.side == OrderSide.ASK else 1  # a sell stop trails below the market
        order.stop_price = align(market.last + direction * order.trail_price, tick)

    def _trail(self, order: SimOrder, market: Market) -> None:
        if order.trail_anchor is None or order.trail_price is None:
            return
        sell = order.side == OrderSide.ASK
        better = market.last > order.trail_anchor if sell else market.last < order.trail_anchor
        if not better:
            return
        order.trail_anchor = market.last
        new_stop = align(market.last - order.trail_price if sell else market.last + order.trail_price,
                         market.contract.tick_size)
        if new_stop != order.stop_price:
            order.stop_price = new_stop
            order.updated = self.clock.now()
            self._emit_order(order)

    def _fill_marketable(self, order: SimOrder, price: float, *, order_event_first: bool) -> None:
        """Today's instant fill, or the fill model's latency and book walk (the contract's settings)."""
        if self.fills.instant(order.contract_id):
            self._execute(order, price, order_event_first=order_event_first)
        else:
            self.fills.accept(order)

    def _execute(self, order: SimOrder, price: float, *, order_event_first: bool) -> None:
        """Fill `order` completely at `price` and emit the observed sequence.

        Market orders (already announced as Pending): Trade → Order(2) → Position → Account×N.
        Resting orders reached by the price: Order(2) → Trade → Position → Account×N.
        """
        account = self.accounts[order.account_id]
        contract = self.catalog[order.contract_id]
        now = self.clock.now()
        trades, position_events = self._apply_fill(account, contract, order, price, now)
        position_events = self._reemit_opening_trades(trades, position_events)
        order.status = OrderStatus.FILLED
        order.fill_volume = order.size
        order.filled_price = price
        order.updated = now
        if order_event_first:
            self._emit_order(order)
        for trade in trades:
            self.user_out.append(UserEvent("GatewayUserTrade", ACTION_ADD, order.account_id, trade.to_wire(stream=True)))
        if not order_event_first:
            self._emit_order(order)
        self.user_out.extend(position_events)
        self._emit_account(account, copies=self.account_event_copies)
        self._after_fill(order, contract, price)

    def _after_fill(self, order: SimOrder, contract: SimContract, price: float) -> None:
        if order.oco_sibling is not None:  # one leg filled: the other is cancelled
            sibling = self.orders[order.oco_sibling]
            if sibling.status in (OrderStatus.OPEN, OrderStatus.SUSPENDED):
                self._finish(sibling, OrderStatus.CANCELLED)
        now = self.clock.now()
        # Activate bracket children, TP then SL (observed), with absolute prices from the fill.
        for child in sorted((self.orders[c] for c in order.children), key=lambda c: c.linked_order_id is None):
            if child.status != OrderStatus.SUSPENDED or child.bracket is None:
                continue
            level = align(price + child.bracket.ticks * contract.tick_size, contract.tick_size)
            if child.type == OrderType.LIMIT:
                child.limit_price = level
            elif child.type == OrderType.STOP:
                child.stop_price = level
            else:  # trailing stop child: distance from the fill
                child.stop_price = level
                child.trail_anchor = price
                child.trail_price = round(abs(child.bracket.ticks) * contract.tick_size, 10)
            child.status = OrderStatus.OPEN
            child.updated = now
            self._emit_order(child)

    def _apply_fill(
        self, account: SimAccount, contract: SimContract, order: SimOrder, price: float, now: datetime,
        size: int | None = None,
    ) -> tuple[list[SimTrade], list[UserEvent]]:
        """Net the fill (`size`, default the whole order) into the position; book trades and balance.
        Reversal = close, then a new position id."""
        key = (account.id, contract.id)
        position = self.positions.get(key)
        direction = 1 if order.side == OrderSide.BID else -1
        remaining = order.size if size is None else size
        trades: list[SimTrade] = []
        events: list[UserEvent] = []
        if position is not None and position.net * direction < 0:
            closing = min(remaining, abs(position.net))
            held = 1 if position.net > 0 else -1
            points = (price - position.average_price) * held
            pnl = round(points / contract.tick_size * contract.tick_value * closing, 2)
            trades.append(self._book_trade(account, contract, order, price, closing, pnl, now))
            position.net += direction * closing
            remaining -= closing
            if position.net == 0:
                del self.positions[key]
                closed = position.to_wire()  # type 0, size 0, entry averagePrice
                events.append(UserEvent("GatewayUserPosition", ACTION_REMOVE, account.id, closed))
                position = None
            else:
                events.append(UserEvent("GatewayUserPosition", ACTION_UPDATE, account.id, position.to_wire()))
        if remaining:
            if position is None:
                position = SimPosition(
                    id=self._position_id(), account_id=account.id, contract_id=contract.id,
                    display_name=contract.display_name, created=now, net=0, average_price=price,
                )
                self.positions[key] = position
            held_size = abs(position.net)
            position.average_price = round(
                (position.average_price * held_size + price * remaining) / (held_size + remaining), 10
            )
            position.net += direction * remaining
            trades.append(self._book_trade(account, contract, order, price, remaining, None, now))
            events.append(UserEvent("GatewayUserPosition", ACTION_UPDATE, account.id, position.to_wire()))
        return trades, events

    def _book_trade(
        self, account: SimAccount, contract: SimContract, order: SimOrder, price: float, size: int,
        pnl: float | None, now: datetime,
    ) -> SimTrade:
        fee, commission = self.fee_for(contract)
        trade = SimTrade(
            id=self._trade_id(), account_id=account.id, contract_id=contract.id, created=now, price=price,
            profit_and_loss=pnl, fees=round(fee * size, 2), commissions=round(commission * size, 2),
            side=order.side, size=size, order_id=order.id,
        )
        self.trades.append(trade)
        account.balance = round(account.balance + (pnl or 0.0) - trade.fees - trade.commissions, 2)
        return trade

    # ------------------------------------------------------------------ the second trade record of a close

    def _reemit_opening_trades(self, trades: list[SimTrade], events: list[UserEvent]) -> list[UserEvent]:
        """After a close to flat the real gateway sends the opening half-turn once more (pnl null, the
        entry price: reference §11.4), before the position's size-0 event. Re-sent under the opening trade's id, so
        a client that dedupes trades by id counts it once. Off with `reemit_opening_trade=False`."""
        out: list[UserEvent] = []
        for event in events:
            position_id: Any = event.data.get("id")  # a wire value (None when missing)
            if event.action == ACTION_REMOVE:
                opening = self._opening_trades.pop(position_id, None)
                if opening is not None and self.reemit_opening_trade:
                    out.append(UserEvent("GatewayUserTrade", ACTION_ADD, opening.account_id, opening.to_wire(stream=True)))
            elif position_id not in self._opening_trades:
                opened_by = next((t for t in trades if t.profit_and_loss is None), None)
                if opened_by is not None:
                    self._opening_trades[position_id] = opened_by
            out.append(event)
        return out

    # ------------------------------------------------------------------ internals: events and ids

    def _finish(self, order: SimOrder, status: int) -> None:
        order.status = status
        order.updated = self.clock.now()
        self._emit_order(order)

    def _emit_order(self, order: SimOrder) -> None:
        self.user_out.append(UserEvent("GatewayUserOrder", ACTION_UPDATE, order.account_id, order.to_wire(stream=True)))

    def _emit_account(self, account: SimAccount, copies: int, omit_can_trade: bool = False) -> None:
        wire = account.to_wire()
        if omit_can_trade:
            del wire["canTrade"]
        for _ in range(max(1, copies)):
            self.user_out.append(UserEvent("GatewayUserAccount", ACTION_UPDATE, account.id, dict(wire)))

    def _order_id(self) -> int:
        self._next_order_id += 1
        return self._next_order_id

    def _trade_id(self) -> int:
        self._next_trade_id += 1
        return self._next_trade_id

    def _position_id(self) -> int:
        self._next_position_id += 1
        return self._next_position_id
