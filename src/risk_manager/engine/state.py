"""Per-account state (positions, working orders, trades, P&L) and shared market state (quotes, marks).

Pure bookkeeping: `AccountState.apply(event, now)` folds one normalized event in and returns a
`Change` describing what moved, which the gate and the rules read. No rule logic lives here.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from risk_manager.engine.catalog import ContractCatalog
from risk_manager.engine.firm import FirmState
from risk_manager.engine.own_orders import OwnOrders
from risk_manager.events import (
    WORKING_ORDER_STATUSES,
    Account,
    Contract,
    Event,
    EventKind,
    MarketTrade,
    Order,
    Position,
    PositionType,
    Quote,
    Trade,
)

PnlBasis = Literal["net", "gross"]


# --- market ---------------------------------------------------------------------------------
@dataclass(slots=True)
class QuoteState:
    """Merged partial quotes of one contract; times are engine receive times (`now`)."""

    last_price: float | None = None
    last_at: datetime | None = None
    bid: float | None = None
    ask: float | None = None
    book_at: datetime | None = None
    #: The book changed after the last print arrived (quotes mostly carry bid/ask only).
    book_after_last: bool = False


@dataclass(frozen=True, slots=True)
class Mark:
    price: float
    stale: bool
    source: Literal["last", "mid"]


class MarketState:
    """Quotes are market-wide (no account): one cache shared by every account."""

    def __init__(self) -> None:
        self.quotes: dict[str, QuoteState] = {}
        # The staleness threshold as a timedelta, built once per distinct `max_age_s` (it comes
        # from the config, so in practice once), not on every mark.
        self._max_age_s: float | None = None
        self._max_age = timedelta(0)

    def apply(self, event: Event, now: datetime) -> bool:
        """Merge a quote or market trade; True when anything that feeds a mark changed."""
        data = event.data
        q = self.quotes.get(event.contract_id or "")
        if q is None:
            q = self.quotes[event.contract_id or ""] = QuoteState()
        changed = False
        if isinstance(data, Quote):
            if data.best_bid is not None:
                q.bid, q.book_at, changed = data.best_bid, now, True
            if data.best_ask is not None:
                q.ask, q.book_at, changed = data.best_ask, now, True
            if data.last_price is not None:
                q.last_price, q.last_at, changed = data.last_price, now, True
            q.book_after_last = data.last_price is None and (changed or q.book_after_last)
        elif isinstance(data, MarketTrade):
            q.last_price, q.last_at, changed = data.price, now, True
            q.book_after_last = False
        return changed

    def mark(self, contract_id: str, now: datetime, max_age_s: float) -> Mark | None:
        """Last trade price if fresh, else mid of bid/ask; stale when the price used is old.

        A last price is not fresh once a newer book no longer contains it (bid <= last <= ask):
        the market moved off it without a print, so the mid is the better mark, however recent
        the print (partial quotes leave lastPrice unchanged for long stretches)."""
        q = self.quotes.get(contract_id)
        if q is None:
            return None
        if max_age_s != self._max_age_s:
            self._max_age_s, self._max_age = max_age_s, timedelta(seconds=max_age_s)
        max_age = self._max_age
        book = q.bid is not None and q.ask is not None and q.bid <= q.ask
        last_fresh = q.last_at is not None and now - q.last_at <= max_age and not (
            book and q.book_after_last and not q.bid <= q.last_price <= q.ask)  # type: ignore[operator]
        if q.last_price is not None and last_fresh:
            return Mark(q.last_price, False, "last")
        if book and q.bid is not None and q.ask is not None:  # (book implies both)
            stale = q.book_at is None or now - q.book_at > max_age
            return Mark((q.bid + q.ask) / 2.0, stale, "mid")
        if q.last_price is not None:
            return Mark(q.last_price, True, "last")
        return None


# --- positions ------------------------------------------------------------------------------
@dataclass(slots=True)
class PositionState:
    contract_id: str
    position_id: int
    direction: int  # +1 long, -1 short
    size: int  # magnitude, > 0
    average_price: float
    #: When the engine first saw this position non-zero (R08's grace runs from here).
    opened_at: datetime
    creation_timestamp: datetime | None = None
    #: Best favourable excursion in ticks since open, from the average at the time (R05 arming).
    peak_ticks: float = 0.0
    #: The most favourable mark actually reached since open (R12 trails from it). A price, not
    #: ticks: a scale-in moves the average, never the best price the market reached.
    best_price: float | None = None
    #: The most protective stop R12 has asked for (stops only ever tighten).
    managed_stop: float | None = None
    #: Last computed values (refreshed by `refresh_unrealized`), for snapshots.
    unrealized: float | None = None
    mark: float | None = None
    stale: bool = False

    @property
    def signed_size(self) -> int:
        return self.direction * self.size


def unrealized_pnl(
    mark: float, average_price: float, tick_size: float, tick_value: float, signed_size: int
) -> float:
    """(mark − avg) / tickSize × tickValue × size, sign by direction (signed_size < 0 for short)."""
    return (mark - average_price) / tick_size * tick_value * signed_size


@dataclass(frozen=True, slots=True)
class Change:
    """What one event changed in an account (read by the gate and the rules)."""

    kind: EventKind
    contract_id: str | None = None
    prev_size: int = 0  # signed
    new_size: int = 0  # signed
    #: Position went 0 → non-zero (or flipped direction).
    opened: bool = False
    #: Absolute size grew (includes `opened`).
    grew: bool = False
    #: An order seen working for the first time.
    new_order: bool = False
    order_working: bool = False
    #: A trade counted for today for the first time (None for duplicates, voided, old days).
    new_trade: Trade | None = None
    #: The realized P&L of `new_trade` on the account's basis (None for half-turns).
    trade_pnl: float | None = None
    #: Exit orders this event made due for R07's judgement (see `ExitJudgement`).
    exits_due: tuple[ExitJudgement, ...] = ()
    #: A previously counted trade became voided (P&L and counts were taken back).
    voided_flip: bool = False
    #: Account event: canTrade changed (or was seen for the first time).
    can_trade_changed: bool = False


@dataclass(frozen=True, slots=True)
class ExitJudgement:
    """An exit order handed to R07: once when it is complete (or its grace ran out while it stayed
    partly filled), then again for each later closing fill of the same order."""

    order_id: int | None
    contract_id: str
    #: The order's P&L summed over all its fills counted so far (account basis).
    pnl: float
    #: The worst sum judged before for this exit (None: its first judgement).
    worst_before: float | None


@dataclass(slots=True)
class _Exit:
    order_id: int | None
    contract_id: str
    #: Engine time of the order's first closing fill: the grace of a partial exit runs from here.
    first_close_at: datetime
    #: Lots of this order's fills counted since its first closing fill.
    filled: int = 0
    worst_judged: float | None = None


@dataclass(slots=True)
class _Counted:
    gross: float
    net: float
    exec_key: object


def fill_pnl(t: Trade) -> tuple[float, float]:
    """(gross, net) a fill moves the balance by: profitAndLoss (null on opening fills = 0), and
    net also takes its fees and commissions — opening fills carry fees too."""
    gross = t.profit_and_loss or 0.0
    return gross, gross - t.fees - t.commissions


class AccountState:
    def __init__(self, account_id: int, pnl_basis: PnlBasis = "net") -> None:
        self.account_id = account_id
        self.pnl_basis: PnlBasis = pnl_basis
        self.name: str | None = None
        self.balance: float | None = None
        #: None until an account event has been seen; missing field on the wire → None too.
        self.can_trade: bool | None = None
        self.can_trade_field_missing = False
        self.positions: dict[str, PositionState] = {}
        self.orders: dict[int, Order] = {}
        # Trades: every id ever seen (dedupe) and the ones counted for today.
        self._seen_trades: dict[int, Trade] = {}
        self._counted: dict[int, _Counted] = {}
        self.realized_gross = 0.0
        self.realized_net = 0.0
        #: Today's (gross, net) P&L per execution key (one order), summed over its counted fills.
        self._order_pnl: dict[object, list[float]] = {}
        #: Today's exit orders (execution key → _Exit) and those not judged yet. An exit is judged
        #: once complete: its order has ended (or is fully filled) with every fill seen, or its
        #: position is flat or flipped; a partial exit still working is judged after a grace.
        self._exits: dict[object, _Exit] = {}
        self._pending_exits: dict[object, _Exit] = {}
        #: Fill volume of today's orders that ended: their last trades may still be on the way.
        self._ended_fills: dict[int, int] = {}
        #: Partial exits whose grace ran out at this tick (`take_overdue_exits`; R07 reads them).
        self.overdue_exits: tuple[ExitJudgement, ...] = ()
        #: Executions of the last hour for R06, sorted by time, one per order (partial fills of
        #: one order count once, at the first fill); `_exec_keys` counts today's fills per order.
        self.executions: list[tuple[datetime, object]] = []
        self._exec_times: list[datetime] = []
        self._exec_first: dict[object, datetime] = {}
        self._exec_keys: dict[object, int] = {}
        self.day_start: datetime | None = None
        #: Positions skipped because they have no mark or no contract data (flagged, never assumed).
        self.unpriced: set[str] = set()
        #: Sum of the priced positions' unrealized P&L at the last `refresh_unrealized`.
        self.unrealized_total = 0.0
        #: What the event being evaluated changed (set by the engine before the rules run).
        self.last_change: Change | None = None
        #: R12: when each stop order was last modified (at most one modify per second per order).
        self.stop_modified_at: dict[int, datetime] = {}
        #: The guard's own orders, and the ids of trades whose event rules already ran before a
        #: restart (they only rebuild state): see engine/own_orders.py.
        self.own_orders = OwnOrders(account_id)
        self.handled_before: set[int] = set()
        #: R07: exits judged before a restart (execution key -> worst sum judged); their fills,
        #: read again, rebuild the exit as judged. `judged_unsaved`: judgements to persist.
        self.judged_before: dict[object, float] = {}
        self.judged_unsaved: list[tuple[object, float]] = []
        #: Balance history of the firm-account guards (R14–R16): engine/firm.py.
        self.firm = FirmState()

    # -- P&L -----------------------------------------------------------------------------
    @property
    def realized(self) -> float:
        return self.realized_net if self.pnl_basis == "net" else self.realized_gross

    @property
    def trades_today(self) -> int:
        return len(self._exec_keys)

    def start_day(self, day_start: datetime) -> None:
        """Daily reset: realized P&L and session counts start from zero. Seen ids stay (dedupe)."""
        self.day_start = day_start
        self._counted.clear()
        # An exit still pending keeps its sum across the reset: its grace still judges it.
        carried = {k: self._order_pnl[k] for k in self._pending_exits}
        self._order_pnl.clear()
        self._order_pnl.update(carried)
        self._exits = dict(self._pending_exits)
        self._ended_fills.clear()
        self.overdue_exits = ()
        self.realized_gross = self.realized_net = 0.0
        # Today's count restarts; executions inside the rolling hour stay (R06's windows span it).
        self._exec_keys = {}
        for ts, key in self.executions:
            if ts >= day_start:
                self._exec_keys[key] = self._exec_keys.get(key, 0) + 1
        # Bound memory: forget ids of trades older than two days.
        horizon = day_start - timedelta(days=2)
        for tid in [t for t, tr in self._seen_trades.items()
                    if tr.creation_timestamp is not None and tr.creation_timestamp < horizon]:
            del self._seen_trades[tid]

    def count_in_window(self, now: datetime, seconds: float) -> int:
        """Distinct executions with creationTimestamp in (now − seconds, now]."""
        times = self._exec_times
        return bisect_right(times, now) - bisect_right(times, now - timedelta(seconds=seconds))

    # -- the trader's executions: fills of the guard's own orders never count (docs/rules.md) --
    def _own_execution(self, key: object) -> bool:
        return isinstance(key, tuple) and key[0] == "order" and key[1] in self.own_orders

    def trader_count_in_window(self, now: datetime, seconds: float) -> int:
        if not self.own_orders.kinds:
            return self.count_in_window(now, seconds)
        low = now - timedelta(seconds=seconds)
        return sum(1 for ts, key in self.executions if low < ts <= now and not self._own_execution(key))

    @property
    def trader_trades_today(self) -> int:
        if not self.own_orders.kinds:
            return self.trades_today
        return sum(1 for key in self._exec_keys if not self._own_execution(key))

    # -- apply ---------------------------------------------------------------------------
    def reducing(self, contract_id: str, now: datetime) -> int:
        """Lots of this position the guard's own closes are already taking off: its close orders
        still working, and closes sent whose order is not seen yet. A reduction counts them, or
        two in flight at once take off more than the excess and turn the trader's position."""
        pos = self.positions.get(contract_id)
        if pos is None:
            return 0
        claimed = self.own_orders.claimed_lots(contract_id, now)
        if claimed is None:
            return pos.size
        lots = claimed
        for order in self.orders.values():
            if order.contract_id == contract_id and self.own_orders.is_own_close(order):
                lots += max(0, order.size - order.fill_volume)
        return min(pos.size, lots)

    def unreduced(self, now: datetime) -> dict[str, int] | None:
        """Contract → the size held once the guard's reductions under way have filled; None
        when none is under way (the sizes held count)."""
        own = self.own_orders
        if not own.claiming and not any(own.is_own_close(o) for o in self.orders.values()):
            return None
        return {cid: pos.size - self.reducing(cid, now) for cid, pos in self.positions.items()}

    def apply(self, event: Event, now: datetime) -> Change:
        data = event.data
        if isinstance(data, Position):
            change = self._apply_position(data, now)
            return self._position_ends_exits(change) if self._pending_exits else change
        if isinstance(data, Order):
            return self._apply_order(data)
        if isinstance(data, Trade):
            return self._apply_trade(data, now)
        if isinstance(data, Account):
            return self._apply_account(data)
        return Change(event.kind, event.contract_id)

    def _apply_position(self, p: Position, now: datetime) -> Change:
        old = self.positions.get(p.contract_id)
        prev = old.signed_size if old else 0
        direction = -1 if p.type == PositionType.SHORT else 1
        if p.size <= 0 or p.type not in (PositionType.LONG, PositionType.SHORT):
            self.positions.pop(p.contract_id, None)
            self.unpriced.discard(p.contract_id)
            return Change(EventKind.POSITION, p.contract_id, prev, 0)
        new = direction * p.size
        flipped = old is not None and old.direction != direction
        if old is None or flipped:
            self.positions[p.contract_id] = PositionState(
                p.contract_id, p.id, direction, p.size, p.average_price, now, p.creation_timestamp,
                best_price=p.average_price,
            )
            opened = True
        else:
            old.size, old.average_price, old.position_id = p.size, p.average_price, p.id
            opened = False
        return Change(
            EventKind.POSITION, p.contract_id, prev, new,
            opened=opened, grew=opened or abs(new) > abs(prev),
        )

    def _apply_order(self, o: Order) -> Change:
        known = o.id in self.orders
        if o.status in WORKING_ORDER_STATUSES:
            self.orders[o.id] = o
            return Change(EventKind.ORDER, o.contract_id, new_order=not known, order_working=True)
        self.orders.pop(o.id, None)
        if o.fill_volume > 0:
            self._ended_fills[o.id] = o.fill_volume
        pending = self._pending_exits.get(("order", o.id))
        if pending is not None and self._exit_complete(pending):
            return Change(EventKind.ORDER, o.contract_id, exits_due=(self._judge_exit(("order", o.id)),))
        return Change(EventKind.ORDER, o.contract_id)

    def _apply_account(self, a: Account) -> Change:
        if a.name is not None:
            self.name = a.name
        if a.balance is not None:
            self.balance = a.balance
        # A missing canTrade keeps the last known value (a partial update says nothing about it);
        # only a value never seen is taken as true, and flagged so R10 warns.
        self.can_trade_field_missing = a.can_trade is None and self.can_trade is None
        if a.can_trade is not None:
            effective = a.can_trade
        else:
            effective = True if self.can_trade is None else self.can_trade
        changed = self.can_trade != effective
        self.can_trade = effective
        return Change(EventKind.ACCOUNT, can_trade_changed=changed)

    def _apply_trade(self, t: Trade, now: datetime) -> Change:
        seen = self._seen_trades.get(t.id)
        self._seen_trades[t.id] = t
        if seen is not None:
            # A repeat: only a flip to voided matters (take the trade back out of today).
            if t.voided and not seen.voided and t.id in self._counted:
                self._uncount(t.id)
                return Change(EventKind.TRADE, t.contract_id, voided_flip=True)
            return Change(EventKind.TRADE, t.contract_id)
        if t.voided:
            return Change(EventKind.TRADE, t.contract_id)
        ts = t.creation_timestamp or now
        if self.day_start is not None and ts < self.day_start:
            return Change(EventKind.TRADE, t.contract_id)  # belongs to an earlier trading day
        gross, net = fill_pnl(t)
        exec_key = self.exec_key_of(t)
        self._counted[t.id] = _Counted(gross, net, exec_key)
        self.realized_gross += gross
        self.realized_net += net
        order = self._order_pnl.setdefault(exec_key, [0.0, 0.0])
        order[0] += gross
        order[1] += net
        self._add_execution(ts, exec_key)
        return Change(EventKind.TRADE, t.contract_id, new_trade=t, trade_pnl=t.pnl(self.pnl_basis),
                      exits_due=self._exit_fill(t, exec_key, now))

    def exec_key_of(self, t: Trade) -> object:
        """The execution (order) a fill belongs to: R06 counts it once, R07 judges it whole."""
        return ("order", t.order_id) if t.order_id is not None else ("trade", t.id)

    # -- exits (R07 judges an exit order whole) --------------------------------------------
    def _exit_fill(self, t: Trade, key: object, now: datetime) -> tuple[ExitJudgement, ...]:
        """A counted fill: the first closing fill of an order opens its exit; the exit is due when
        this fill completes it, and every later closing fill of an exit judged before is due."""
        if self._own_execution(key):
            return ()  # the guard's own close: never the trader's exit (docs/rules.md)
        closing = t.profit_and_loss is not None
        ex = self._exits.get(key)
        if ex is None:
            if not closing:
                return ()  # an opening fill: no exit
            ex = self._exits[key] = _Exit(t.order_id, t.contract_id, now, worst_judged=self.judged_before.get(key))
            if ex.worst_judged is None:
                self._pending_exits[key] = ex
            # else judged before a restart: not due again; a later closing fill escalates (below)
        ex.filled += t.size
        if key not in self._pending_exits:
            return (self._judge_exit(key),) if closing else ()
        return (self._judge_exit(key),) if self._exit_complete(ex) else ()

    def _exit_complete(self, ex: _Exit) -> bool:
        """No more fills of this exit to wait for: its position is flat, or its order is fully
        filled, or ended with every fill seen — or the order is unknown (nothing to wait for)."""
        if ex.contract_id not in self.positions or ex.order_id is None:
            return True
        working = self.orders.get(ex.order_id)
        if working is not None:
            return ex.filled >= working.size
        ended = self._ended_fills.get(ex.order_id)
        return ended is None or ex.filled >= ended

    def _judge_exit(self, key: object) -> ExitJudgement:
        ex = self._exits[key]
        self._pending_exits.pop(key, None)
        gross, net = self._order_pnl[key]
        pnl = net if self.pnl_basis == "net" else gross
        before = ex.worst_judged
        ex.worst_judged = pnl if before is None else min(before, pnl)
        if before is None or ex.worst_judged < before:  # what a restart must know changed
            self.judged_unsaved.append((key, ex.worst_judged))
        return ExitJudgement(ex.order_id, ex.contract_id, pnl, before)

    def _position_ends_exits(self, change: Change) -> Change:
        """A position gone flat or flipped completes every exit pending on its contract."""
        if change.new_size != 0 and change.prev_size * change.new_size >= 0:
            return change
        keys = [k for k, ex in self._pending_exits.items() if ex.contract_id == change.contract_id]
        if not keys:
            return change
        return replace(change, exits_due=tuple(self._judge_exit(k) for k in keys))

    def take_overdue_exits(self, now: datetime, grace_seconds: float) -> tuple[ExitJudgement, ...]:
        """The tick: partial exits still pending `grace_seconds` after their first closing fill
        are judged on their sum so far (later fills escalate); kept in `overdue_exits` for R07."""
        if not self._pending_exits:
            self.overdue_exits = ()
            return ()
        limit = now - timedelta(seconds=grace_seconds)
        keys = [k for k, ex in self._pending_exits.items() if ex.first_close_at <= limit]
        self.overdue_exits = tuple(self._judge_exit(k) for k in keys)
        return self.overdue_exits

    def _add_execution(self, ts: datetime, key: object) -> None:
        count = self._exec_keys.get(key, 0)
        self._exec_keys[key] = count + 1
        if key in self._exec_first:
            return  # another fill of an order already counted
        self._exec_first[key] = ts
        i = bisect_right(self._exec_times, ts)
        self._exec_times.insert(i, ts)
        self.executions.insert(i, (ts, key))
        # Only the rolling hour is needed for the windows (today's count lives in _exec_keys).
        horizon = self._exec_times[-1] - timedelta(hours=1)
        drop = bisect_right(self._exec_times, horizon)
        if drop:
            for _, old in self.executions[:drop]:
                self._exec_first.pop(old, None)
            del self._exec_times[:drop]
            del self.executions[:drop]

    def _uncount(self, trade_id: int) -> None:
        c = self._counted.pop(trade_id)
        self.realized_gross -= c.gross
        self.realized_net -= c.net
        order = self._order_pnl.get(c.exec_key)
        if order is not None:
            order[0] -= c.gross
            order[1] -= c.net
        remaining = self._exec_keys.get(c.exec_key, 0) - 1
        if remaining > 0:
            self._exec_keys[c.exec_key] = remaining
            return  # other fills of that order still count
        self._exec_keys.pop(c.exec_key, None)
        if self._exec_first.pop(c.exec_key, None) is not None:
            i = next(i for i, e in enumerate(self.executions) if e[1] == c.exec_key)
            del self.executions[i]
            del self._exec_times[i]

    # -- marks ---------------------------------------------------------------------------
    def refresh_unrealized(
        self, market: MarketState, catalog: ContractCatalog, now: datetime, max_age_s: float
    ) -> float:
        """Recompute every position's unrealized P&L; returns the total of the priced ones.

        A position without a mark or without contract data is skipped and flagged in `unpriced`.
        """
        total = 0.0
        for pos in self.positions.values():
            value = self.position_unrealized(pos, market, catalog, now, max_age_s)
            if value is not None:
                total += value
        self.unrealized_total = total
        return total

    def refresh_contract(
        self, contract_id: str, market: MarketState, catalog: ContractCatalog, now: datetime,
        max_age_s: float,
    ) -> None:
        """A quote moved one contract: update that position and the total incrementally."""
        pos = self.positions.get(contract_id)
        if pos is None:
            return
        self.reprice(pos, catalog.contract(contract_id), market.mark(contract_id, now, max_age_s))

    def reprice(self, pos: PositionState, contract: Contract | None, mark: Mark | None) -> None:
        """`refresh_contract` with the contract and mark already looked up: the engine prices a
        quote's contract once and hands the result to every account holding it."""
        old = pos.unrealized or 0.0
        new = self.price_position(pos, contract, mark)
        self.unrealized_total += (new or 0.0) - old

    def position_unrealized(
        self,
        pos: PositionState,
        market: MarketState,
        catalog: ContractCatalog,
        now: datetime,
        max_age_s: float,
    ) -> float | None:
        contract = catalog.contract(pos.contract_id)
        return self.price_position(pos, contract, market.mark(pos.contract_id, now, max_age_s))

    def price_position(self, pos: PositionState, contract: Contract | None, mark: Mark | None) -> float | None:
        """Set `pos`'s unrealized P&L, mark and peak from `mark`; None (flagged unpriced) without one."""
        if contract is None or mark is None:
            pos.unrealized = pos.mark = None
            self.unpriced.add(pos.contract_id)
            return None
        self.unpriced.discard(pos.contract_id)
        ticks = (mark.price - pos.average_price) / contract.tick_size * pos.direction
        if ticks > pos.peak_ticks:
            pos.peak_ticks = ticks
        if pos.best_price is None or (mark.price - pos.best_price) * pos.direction > 0:
            pos.best_price = mark.price
        value = ticks * contract.tick_value * pos.size
        pos.unrealized, pos.mark, pos.stale = value, mark.price, mark.stale
        return value
