"""Reconciliation: bring the engine in line with REST after start-up and every gap (docs/operations.md, "Start-up, reconnect and gateway faults").

The gateway allows 200 requests a minute for everything, and a full read of an account costs three
(Trade/search, Position/searchOpen, Order/searchOpen). With dozens of guarded accounts, reading all
of them after every hub reconnect would spend the minute's budget in a second and leave the read
that finds a breach waiting for the window. So a reconcile spends reads where money is at risk:

- `Account/search` first (one read): a guarded account whose balance moved since we last saw it
  traded while we were not listening (every fill moves the balance by its fees).
- Accounts at risk — holding positions or working orders, locked, or whose balance moved — are read
  in full at once, as urgent reads (ahead of ordinary ones, but never the slots kept for enforcement).
- Accounts never read in full yet (start-up) are read in full, as ordinary reads.
- Quiet accounts — read in full before, flat, unlocked, balance unchanged — cannot have filled
  anything (every fill moves the balance by its fees), so their positions are as we hold them; only
  a working order placed during the gap can be missing. Their open orders are re-read by a
  background sweep in the ordinary lane, paced (a burst, then
  `SWEEP_READS_PER_MIN`) so that hub reconnects in a row cannot spend the budget where nothing is
  at stake. The reconcile never waits on them: a reconnect of 50 accounts costs a handful of reads.

Events fed from REST go through the pipeline like hub events (journal first); trades are
de-duplicated by id, so reading one twice is harmless, and a trade the daemon handled before a
restart only rebuilds state (the engine runs no event rule on it: docs/operations.md, start-up step 4).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from risk_manager.clock import Clock
from risk_manager.engine.engine import RiskEngine
from risk_manager.events import Event, Order, OrderStatus, Position, make_event
from risk_manager.priority import on_risk_read_path

log = logging.getLogger("risk_manager.daemon")

#: The sweep of quiet accounts spends at most this many reads a minute of the gateway's 200, after
#: a burst of `SWEEP_BURST_READS`: blind polls and enforcement come first.
SWEEP_READS_PER_MIN = 60.0
SWEEP_BURST_READS = 20.0
SWEEP_READS_PER_ACCOUNT = 1  # Order/searchOpen
FULL_READS_PER_ACCOUNT = 3  # Trade/search, Position/searchOpen, Order/searchOpen


class Reconciler:
    def __init__(self, rest: Any, engine: RiskEngine, pipeline: Any, clock: Clock,
                 accounts: Mapping[int, Any], *, counters: dict[str, int],
                 sweep_reads_per_min: float = SWEEP_READS_PER_MIN,
                 sweep_burst_reads: float = SWEEP_BURST_READS) -> None:
        self._rest = rest
        self._engine = engine
        self._pipeline = pipeline
        self._clock = clock
        self._accounts = accounts  # the daemon's guarded accounts (id → name), read live
        self._counters = counters
        self._lock = asyncio.Lock()
        #: Trade id → voided, of trades already fed from REST: a re-read (every blind poll) feeds
        #: only what is new or changed, so repeated reads do not fill the journal.
        self._fed_trades: dict[int, bool] = {}
        #: Accounts whose positions and orders were read in full at least once.
        self._read_in_full: set[int] = set()
        #: Account → whether it needs a full read (True) or only its open orders (False).
        self._sweep_pending: dict[int, bool] = {}
        self._sweep_wakeup = asyncio.Event()
        self._sweep_task: asyncio.Task[None] | None = None
        self._sweeping: int | None = None
        self._sweep_rate = sweep_reads_per_min / 60.0  # reads per second
        self._sweep_burst = sweep_burst_reads
        self._sweep_tokens = sweep_burst_reads
        self._sweep_refilled = time.monotonic()
        counters.setdefault("reconciles", 0)
        counters.setdefault("swept", 0)

    # -- public ---------------------------------------------------------------------------------
    async def reconcile(self, reason: str, accounts: Iterable[int] | None = None, *,
                        trades: bool = True, trades_since: datetime | None = None,
                        read_accounts: bool | None = None) -> None:
        """Read REST for `accounts` (default: every guarded account) and feed what differs.

        `read_accounts` (default: when reconciling every account) starts with Account/search: a
        guarded account whose balance moved is added and read in full at once. Trades are read
        (with `trades`) from the trading day start, or from `trades_since` when that is later."""
        everyone = accounts is None
        ids = list(self._accounts) if everyone else list(dict.fromkeys(accounts or ()))
        async with self._lock:
            self._counters["reconciles"] += 1
            since = self._trades_start(trades_since) if trades else None
            found: set[int] | None = set()
            if everyone if read_accounts is None else read_accounts:
                found = await self._read_accounts(reason)
            # Without Account/search nothing tells a quiet account from one that traded unseen:
            # the sweep then reads them in full (in the background, paced).
            blind_to_moves = found is None
            moved = found or set()
            ids += [aid for aid in moved if aid not in ids]
            at_risk = [aid for aid in ids if aid in moved or self.at_risk(aid)]
            rest = [aid for aid in ids if aid not in at_risk]
            quiet = [aid for aid in rest if everyone and aid in self._read_in_full]
            unread = [aid for aid in rest if aid not in quiet]
            if at_risk:
                with on_risk_read_path():
                    await self._read_in_full_many(reason, at_risk, since)
                self._pipeline.dispatch(self._engine.recheck(self._clock.now()))
            if unread:
                await self._read_in_full_many(reason, unread, since)
                self._pipeline.dispatch(self._engine.recheck(self._clock.now()))
            self._sweep(quiet, full=blind_to_moves)

    def at_risk(self, aid: int) -> bool:
        """Holds positions or working orders, or is locked (any lock, symbol locks too): where a
        missed event costs money."""
        state = self._engine.state(aid)
        locks = self._engine.locks
        return bool(state.positions or state.orders or locks.is_locked(aid) or locks.has_symbol_locks(aid))

    def new_trading_day(self) -> None:
        """Later trade reads start at the new day: forget what earlier days fed."""
        self._fed_trades.clear()

    @property
    def sweep_pending(self) -> int:
        """Quiet accounts waiting for the sweep (the one being read included)."""
        busy = self._sweeping is not None and self._sweeping not in self._sweep_pending
        return len(self._sweep_pending) + busy

    async def close(self) -> None:
        if self._sweep_task is not None:
            self._sweep_task.cancel()
            await asyncio.gather(self._sweep_task, return_exceptions=True)
            self._sweep_task = None

    # -- reads -----------------------------------------------------------------------------------
    async def _read_accounts(self, reason: str) -> set[int] | None:
        """Account/search (one urgent read); returns the guarded accounts whose balance moved
        since we last saw it (they traded while we were not listening, so they are at risk), or
        None when the read failed."""
        try:
            with on_risk_read_path():
                found = await self._rest.search_accounts(only_active=False)
        except Exception as exc:
            log.warning("reconcile (%s): Account/search failed: %s", reason, exc)
            return None
        moved: set[int] = set()
        for account in found:
            if account.id not in self._accounts:
                continue
            known = self._engine.state(account.id).balance
            if known is not None and account.balance is not None and account.balance != known:
                moved.add(account.id)
            self._pipeline.feed(self._rest_event(account))
        return moved

    async def _read_in_full_many(self, reason: str, ids: list[int], since: datetime | None) -> None:
        for aid in ids:
            self._sweep_pending.pop(aid, None)  # read now: no need to sweep it later
        results = await asyncio.gather(*(self._read_account(aid, since) for aid in ids),
                                       return_exceptions=True)
        for aid, result in zip(ids, results):
            if isinstance(result, Exception):
                # Not quiet until read in full: the next reconcile reads it in full, and so does
                # the sweep meanwhile (the Account/search above already took its moved balance in,
                # so without this it could pass for quiet with trades never read).
                log.warning("reconcile (%s) of account %s failed: %s", reason, aid, result)
                self._read_in_full.discard(aid)
                self._sweep([aid], full=True)
            else:
                self._read_in_full.add(aid)

    def _trades_start(self, since: datetime | None) -> datetime | None:
        """Where a trade read starts: the trading day start, or `since` when that is later."""
        day_start = self._engine.day_start
        if day_start is None or since is None:
            return day_start or since
        return max(day_start, since)

    async def _read_account(self, aid: int, trades_since: datetime | None) -> None:
        feed = self._pipeline.feed
        if trades_since is not None:
            for trade in await self._rest.search_trades(aid, trades_since):
                if self._fed_trades.get(trade.id) is not trade.voided:
                    self._fed_trades[trade.id] = trade.voided
                    feed(self._rest_event(trade))
            day_start = self._engine.day_start
            if day_start is not None and trades_since <= day_start:  # the whole day: R14–R16
                self._engine.day_trades_read(aid, self._clock.now())
        positions, orders = await asyncio.gather(self._rest.search_open_positions(aid),
                                                 self._rest.search_open_orders(aid))
        state = self._engine.state(aid)
        open_contracts = {p.contract_id for p in positions if p.size > 0}
        for position in positions:
            feed(self._rest_event(position))
        for cid, held in list(state.positions.items()):
            if cid not in open_contracts:  # closed while we were not listening
                feed(self._rest_event(Position(
                    id=held.position_id, account_id=aid, contract_id=cid, type=0, size=0,
                    average_price=held.average_price)))
        self._feed_orders(aid, orders)

    def _feed_orders(self, aid: int, orders: list[Order]) -> None:
        """The open orders REST lists, and a cancel for each one we hold that it no longer lists."""
        feed = self._pipeline.feed
        state = self._engine.state(aid)
        open_ids = {o.id for o in orders}
        for order in orders:
            feed(self._rest_event(order))
        vanished = [o for oid, o in list(state.orders.items()) if oid not in open_ids
                    and o.status != OrderStatus.SUSPENDED]  # searchOpen never lists suspended children
        for order in vanished:
            feed(self._rest_event(Order(
                id=order.id, account_id=aid, contract_id=order.contract_id,
                status=OrderStatus.CANCELLED, type=order.type, side=order.side, size=order.size,
                symbol_id=order.symbol_id, stop_price=order.stop_price, limit_price=order.limit_price)))

    def _rest_event(self, payload: Any) -> Event:
        return make_event(payload, source="rest", received_ns=time.monotonic_ns(),
                          received_at=self._clock.now())

    # -- the background sweep ------------------------------------------------------------------------
    def _sweep(self, ids: list[int], *, full: bool = False) -> None:
        """Queue reads for later, in the ordinary lane: the open orders of quiet accounts, or
        (`full`) a full read of an account whose full read failed (trades since the day start)."""
        if not ids:
            return
        for aid in ids:
            self._sweep_pending[aid] = full or self._sweep_pending.get(aid, False)
        if self._sweep_task is None or self._sweep_task.done():
            # A fresh context: the sweep's reads are ordinary whatever lane the caller was in.
            self._sweep_task = asyncio.get_running_loop().create_task(
                self._sweep_loop(), context=contextvars.Context())
        self._sweep_wakeup.set()

    async def _sweep_loop(self) -> None:
        while True:
            await self._sweep_wakeup.wait()
            self._sweep_wakeup.clear()
            while self._sweep_pending:
                aid, full = next(iter(self._sweep_pending.items()))
                self._sweeping = aid
                try:
                    await self._sweep_pace(FULL_READS_PER_ACCOUNT if full else SWEEP_READS_PER_ACCOUNT)
                    # Still pending (a full read meanwhile removes it) and still guarded.
                    pending = self._sweep_pending.pop(aid, None)
                    if pending is not None and aid in self._accounts:
                        await self._sweep_one(aid, pending)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("sweep read of account %s failed (%s); trying again later", aid, exc)
                    self._sweep_pending.setdefault(aid, bool(full))  # paced: cannot spin
                finally:
                    self._sweeping = None
            self._pipeline.dispatch(self._engine.recheck(self._clock.now()))

    async def _sweep_one(self, aid: int, full: bool) -> None:
        if full:
            await self._read_account(aid, self._trades_start(None))
            self._read_in_full.add(aid)
        else:
            self._feed_orders(aid, await self._rest.search_open_orders(aid))
        self._counters["swept"] += 1

    async def _sweep_pace(self, reads: float) -> None:
        """Token bucket: wait until `reads` more reads fit the sweep's share of the budget."""
        while True:
            now = time.monotonic()
            self._sweep_tokens = min(self._sweep_burst,
                                     self._sweep_tokens + (now - self._sweep_refilled) * self._sweep_rate)
            self._sweep_refilled = now
            if self._sweep_tokens >= reads:
                self._sweep_tokens -= reads
                return
            await asyncio.sleep((reads - self._sweep_tokens) / self._sweep_rate)
