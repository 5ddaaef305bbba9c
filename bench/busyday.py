"""A recorded busy trading day, generated: a journal file (JSON Lines of `Event.to_json()`).

8 h of partial quotes at ~40/s per contract (the captured live rate; mostly bid or ask changes,
sometimes a last price) over a few contracts, plus a few hundred fills with the order / trade /
position / account events the gateway sends around each (same order as the simulator:
Order(Pending) → Trade → Order(Filled) → Position → Account×2, a protective stop after each entry,
cancelled at the exit). Prices, ticks and fees come from the simulator's contract catalog.
Deterministic for a given seed.

    uv run python -m bench busyday [--out FILE] [--hours 8] [--rate 40] [--fills 300] [--seed 1]
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._stats import emit
from risk_manager.events import (
    Account,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    PositionType,
    Trade,
    make_event,
)
from risk_manager.sim.catalog import SimContract, load_catalog

DEFAULT_CONTRACTS = ("CON.F.US.MNQ.U26", "CON.F.US.MES.U26", "CON.F.US.CLE.V26")
DEFAULT_ACCOUNTS = (26282486, 26282487)
#: 08:30 America/Chicago on a Wednesday (CST = UTC-6): the US session open.
DEFAULT_START = datetime(2026, 11, 18, 14, 30, tzinfo=UTC)
BASE_NS = 10**15  # synthetic monotonic receive time of the first event

# Quote lines are the bulk (millions): %-formatted from a per-contract template, in exactly the
# shape of json.dumps(Event.to_json(), separators=(",", ":")) (tests check the equality).
_QUOTE_LINE = (
    '{"kind":"quote","account_id":null,"contract_id":"<CID>","action":0,"source":"stream",'
    '"received_ns":%d,"received_at":"%s","data":{"contract_id":"<CID>","symbol":"<SYM>",'
    '"last_price":%s,"best_bid":%s,"best_ask":%s,"change":null,"change_percent":null,'
    '"open":null,"high":null,"low":null,"volume":%s,"last_updated":"%s","timestamp":"%s"}}\n'
)


@dataclass
class _Market:
    contract: SimContract
    ticks: int  # price in ticks
    decimals: int
    volume: int = 0
    template: str = ""
    _text: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.template = _QUOTE_LINE.replace("<CID>", self.contract.id).replace("<SYM>", self.contract.symbol_id)

    def text(self, ticks: int) -> str:
        """JSON text of the price at `ticks` (cached: the walk revisits the same few prices)."""
        found = self._text.get(ticks)
        if found is None:
            found = self._text[ticks] = repr(self.price(ticks))
        return found

    def price(self, ticks: int | None = None) -> float:
        return round((self.ticks if ticks is None else ticks) * self.contract.tick_size, self.decimals)


@dataclass
class _Open:
    account: int
    market: _Market
    side: int  # entry side
    size: int
    entry_ticks: int
    position_id: int
    stop_order_id: int


@dataclass
class BusyDay:
    path: Path
    events: int = 0
    quotes: int = 0
    fills: int = 0
    realized: dict[int, float] = field(default_factory=dict)  # net P&L per account
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {"path": str(self.path), "events": self.events, "quotes": self.quotes, "fills": self.fills,
                "bytes": self.path.stat().st_size, "realized_net": self.realized,
                "generate_s": round(self.seconds, 2)}


class _Writer:
    """Emits events in time order; builds the few user events as real Events (to_json)."""

    def __init__(self, fh: Any, start: datetime) -> None:
        self.fh = fh
        self.start = start
        self.events = 0
        self.last_t = 0.0  # keeps the journal in time order
        self._second = -1
        self._prefix = ""
        self._ids = {"order": 3_400_000_000, "trade": 3_000_000_000, "position": 820_000_000}

    def next_id(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    def at(self, t: float) -> tuple[int, str, datetime]:
        when = self.start + timedelta(microseconds=round(t * 1e6))
        return BASE_NS + int(t * 1e9), when.isoformat(), when

    def stamp(self, t: float) -> str:
        """`datetime.isoformat()` of start + t, built from a per-second prefix (millions of calls)."""
        second = int(t)
        if second != self._second:
            self._second = second
            self._prefix = (self.start + timedelta(seconds=second)).isoformat()[:19]
        micros = int(round((t - second) * 1e6))
        if micros >= 1_000_000:  # rounding reached the next second: take the slow, exact path
            return self.at(t)[1]
        if micros == 0:  # isoformat() leaves out a zero fraction
            return self._prefix + "+00:00"
        return f"{self._prefix}.{micros:06d}+00:00"

    def quote(self, t: float, market: _Market, bid: str, ask: str, last: str, volume: str) -> None:
        """One partial quote; prices are JSON texts ("null" when the field did not change)."""
        t = self.last_t = max(t, self.last_t)  # never before the fill events just written
        at = self.stamp(t)
        self.fh.write(market.template % (BASE_NS + int(t * 1e9), at, last, bid, ask, volume, at, at))
        self.events += 1

    def user(self, t: float, payload: Any, action: int = 1) -> None:
        t = self.last_t = max(t, self.last_t)
        ns, _, when = self.at(t)
        event = make_event(payload, action=action, source="stream", received_ns=ns, received_at=when)
        self.fh.write(json.dumps(event.to_json(), separators=(",", ":")))
        self.fh.write("\n")
        self.events += 1


class _Trading:
    """Round trips: market entry + protective stop, market exit later; P&L and balances."""

    def __init__(self, writer: _Writer, accounts: tuple[int, ...], rng: random.Random) -> None:
        self.w = writer
        self.rng = rng
        self.balance = {a: 50_000.0 for a in accounts}
        self.realized = {a: 0.0 for a in accounts}
        self.fills = 0

    def _fill(self, t: float, account: int, market: _Market, side: int, size: int,
              pnl: float | None) -> None:
        w, contract = self.w, market.contract
        _, _, when = w.at(t)
        price = market.price()
        order_id = w.next_id("order")
        base = dict(id=order_id, account_id=account, contract_id=contract.id, type=OrderType.MARKET,
                    side=side, size=size, symbol_id=contract.symbol_id, creation_timestamp=when,
                    update_timestamp=when)
        w.user(t, Order(status=OrderStatus.PENDING, **base))
        fee, commission = contract.default_fees()
        fees, commissions = round(fee * size, 2), round(commission * size, 2)
        w.user(t + 0.00001, Trade(id=w.next_id("trade"), account_id=account, contract_id=contract.id,
                                 price=price, side=side, size=size, profit_and_loss=pnl, fees=fees,
                                 commissions=commissions, order_id=order_id, creation_timestamp=when),
               action=0)
        w.user(t + 0.00002, Order(status=OrderStatus.FILLED, fill_volume=size, filled_price=price, **base))
        self.balance[account] = round(self.balance[account] + (pnl or 0.0) - fees - commissions, 2)
        if pnl is not None:
            self.realized[account] = round(self.realized[account] + pnl - fees - commissions, 2)
        self.fills += 1

    def _account(self, t: float, account: int) -> None:
        for copy in range(2):  # the gateway sends each account update twice
            self.w.user(t + 0.00004 + copy * 0.00001, Account(id=account, name=f"PRAC-V2-{account}",
                                                           balance=self.balance[account],
                                                           can_trade=True, is_visible=True,
                                                           simulated=True))

    def enter(self, t: float, account: int, market: _Market) -> _Open:
        side = self.rng.choice((OrderSide.BID, OrderSide.ASK))
        size = self.rng.choice((1, 1, 1, 2, 2, 3))
        self._fill(t, account, market, side, size, None)
        position_id = self.w.next_id("position")
        _, _, when = self.w.at(t)
        long = side == OrderSide.BID
        self.w.user(t + 0.00003, Position(
            id=position_id, account_id=account, contract_id=market.contract.id,
            type=PositionType.LONG if long else PositionType.SHORT, size=size,
            average_price=market.price(), creation_timestamp=when,
            contract_display_name=market.contract.display_name))
        self._account(t, account)
        stop_ticks = market.ticks - 40 if long else market.ticks + 40
        stop_id = self.w.next_id("order")
        self.w.user(t + 0.00007, Order(
            id=stop_id, account_id=account, contract_id=market.contract.id, status=OrderStatus.OPEN,
            type=OrderType.STOP, side=1 - side, size=size, symbol_id=market.contract.symbol_id,
            creation_timestamp=when, update_timestamp=when, stop_price=market.price(stop_ticks)))
        return _Open(account, market, side, size, market.ticks, position_id, stop_id)

    def exit(self, t: float, pos: _Open) -> None:
        market, contract = pos.market, pos.market.contract
        _, _, when = self.w.at(t)
        self.w.user(t, Order(
            id=pos.stop_order_id, account_id=pos.account, contract_id=contract.id,
            status=OrderStatus.CANCELLED, type=OrderType.STOP, side=1 - pos.side, size=pos.size,
            symbol_id=contract.symbol_id, update_timestamp=when))
        direction = 1 if pos.side == OrderSide.BID else -1
        pnl = round((market.ticks - pos.entry_ticks) * direction * contract.tick_value * pos.size, 2)
        self._fill(t + 0.00001, pos.account, market, 1 - pos.side, pos.size, pnl)
        self.w.user(t + 0.00004, Position(
            id=pos.position_id, account_id=pos.account, contract_id=contract.id, type=PositionType.UNDEFINED,
            size=0, average_price=market.price(pos.entry_ticks), contract_display_name=contract.display_name),
            action=2)
        self._account(t + 0.00004, pos.account)


def _schedule(rng: random.Random, accounts: tuple[int, ...], n_contracts: int, round_trips: int,
              seconds: float) -> list[tuple[float, int, str, int, int]]:
    """(time, tiebreak, 'enter'|'exit', account, contract index): per account, trips never overlap."""
    plan: list[tuple[float, int, str, int, int]] = []
    per_account = max(1, round_trips // len(accounts))
    slot = seconds / per_account
    n = 0
    for account in accounts:
        for k in range(per_account):
            start = k * slot + rng.uniform(0.0, slot * 0.3)
            hold = rng.uniform(0.1, 0.6) * slot
            contract = rng.randrange(n_contracts)
            plan.append((start, n, "enter", account, contract))
            plan.append((start + hold, n + 1, "exit", account, contract))
            n += 2
    heapq.heapify(plan)
    return plan


def generate_busy_day(
    path: Path | str,
    *,
    hours: float = 8.0,
    quote_rate: float = 40.0,
    contracts: tuple[str, ...] = DEFAULT_CONTRACTS,
    accounts: tuple[int, ...] = DEFAULT_ACCOUNTS,
    fills: int = 300,
    seed: int = 1,
    start: datetime = DEFAULT_START,
) -> BusyDay:
    """Write the day to `path`; returns counts and the net realized P&L per account."""
    t0 = time.perf_counter()
    catalog = load_catalog()
    unknown = [c for c in contracts if c not in catalog]
    if unknown:
        raise ValueError(f"busyday: unknown contract id(s) {unknown}; see src/risk_manager/sim/data/contracts.json")
    rng = random.Random(seed)
    markets = []
    for cid in contracts:
        contract = catalog[cid]
        decimals = max(0, -int(f"{contract.tick_size:e}".split("e")[1])) + 2
        markets.append(_Market(contract, round(contract.base_price() / contract.tick_size), decimals))
    seconds = hours * 3600.0
    plan = _schedule(rng, accounts, len(markets), fills // 2, seconds)
    path = Path(path)
    day = BusyDay(path)
    open_trips: dict[tuple[int, int], _Open] = {}
    per_second = quote_rate * len(markets)
    with path.open("w", encoding="utf-8", newline="\n", buffering=1 << 20) as fh:
        writer = _Writer(fh, start)
        trading = _Trading(writer, accounts, rng)
        rand, choice = rng.random, rng.choice
        for second in range(int(seconds)):
            burst = max(1, int(per_second * (0.6 + 0.8 * rand())))  # busier and quieter minutes
            for i in range(burst):
                t = second + (i + 0.5 * rand()) / burst
                while plan and plan[0][0] <= t:
                    _, _, what, account, index = heapq.heappop(plan)
                    key = (account, index)
                    if what == "enter":
                        open_trips[key] = trading.enter(t, account, markets[index])
                    elif key in open_trips:
                        trading.exit(t, open_trips.pop(key))
                market = markets[i % len(markets)]
                r = rand()
                if r < 0.12:  # a print: last price (and volume), the quote's other fields unchanged
                    market.volume += choice((1, 1, 2, 3, 5))
                    writer.quote(t, market, "null", "null", market.text(market.ticks), f"{market.volume}.0")
                elif r < 0.30:
                    market.ticks += choice((-1, 1))
                    writer.quote(t, market, market.text(market.ticks), market.text(market.ticks + 1), "null", "null")
                elif r < 0.65:
                    writer.quote(t, market, market.text(market.ticks), "null", "null", "null")
                else:
                    writer.quote(t, market, "null", market.text(market.ticks + 1), "null", "null")
            day.quotes += burst
        for trip in list(open_trips.values()):  # flat at the end of the day
            trading.exit(seconds, trip)
        day.events = writer.events
        day.fills = trading.fills
        day.realized = trading.realized
    day.seconds = time.perf_counter() - t0
    return day


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench busyday")
    parser.add_argument("--out", type=Path, help="journal file (default: a new temp file)")
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--rate", type=float, default=40.0, help="quotes/s per contract")
    parser.add_argument("--contracts", default=",".join(DEFAULT_CONTRACTS))
    parser.add_argument("--fills", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkstemp(prefix="busyday-", suffix=".jsonl")[1])
    try:
        day = generate_busy_day(out, hours=args.hours, quote_rate=args.rate, fills=args.fills,
                                contracts=tuple(c for c in args.contracts.split(",") if c), seed=args.seed)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    emit({"bench": "busyday", **day.summary()})
    return 0


__all__ = ["BusyDay", "generate_busy_day"]
