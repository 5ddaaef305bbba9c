"""Per-account bookkeeping of the firm-account guards (docs/rules.md): the balance history.

The firm judges an account by its balances over days, which the broker does not keep for us:
the balance at each daily reset (end of day), the highest equity (balance + open unrealized) seen,
and the balance each trading day started with. The engine keeps them here and hands every change
out as a `BalanceRecord` (persisted by the daemon, read back at start-up), so a restart derives
the same floor. Pure data, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from risk_manager.events import Trade

BalanceField = Literal["start_of_day", "end_of_day", "high_equity", "net_pnl"]


@dataclass(frozen=True, slots=True)
class BalanceRecord:
    """One fact of an account's balance history (high_equity: the store keeps the maximum)."""

    account_id: int
    trading_day: date
    field: BalanceField
    value: float
    at: datetime


@dataclass(slots=True)
class FirmState:
    #: End-of-day balance per trading day (the balance at the reset that ended it).
    end_of_day: dict[date, float] = field(default_factory=dict)
    #: The highest equity (balance + open unrealized) seen.
    high_equity: float | None = None
    #: The balance the current trading day started with (None until known).
    start_of_day: float | None = None
    start_day: date | None = None
    #: Net P&L (fees included) of each trading day before today that the guard saw end (R15).
    day_pnl: dict[date, float] = field(default_factory=dict)
    #: Start-of-day balances of earlier days (read back from the store): with their end-of-day
    #: balance they give a day's net P&L that a reset missed while stopped did not record.
    earlier_starts: dict[date, float] = field(default_factory=dict)
    #: The high rose since the last time it was handed out for persisting.
    high_unsaved: bool = False

    @property
    def high_end_of_day(self) -> float | None:
        return max(self.end_of_day.values()) if self.end_of_day else None

    def see_equity(self, equity: float) -> None:
        """A new equity figure (kept when it is a new high)."""
        if self.high_equity is None or equity > self.high_equity:
            self.high_equity, self.high_unsaved = equity, True

    def restore(self, trading_day: date, field_name: str, value: float, today: date | None) -> None:
        if field_name == "end_of_day":
            self.end_of_day[trading_day] = value
        elif field_name == "high_equity":
            if self.high_equity is None or value > self.high_equity:
                self.high_equity = value
        elif field_name == "net_pnl" and trading_day != today:
            self.day_pnl[trading_day] = value
        elif field_name == "start_of_day" and trading_day == today:
            self.start_of_day, self.start_day = value, trading_day
        elif field_name == "start_of_day":
            self.earlier_starts[trading_day] = value

    @property
    def profit_before_today(self) -> float:
        return sum(self.day_pnl.values())


def day_net_from_trades(trades: Iterable[Trade], day_of: Callable[[datetime], date],
                        before: date) -> dict[date, float]:
    """Net P&L (profitAndLoss or 0, less fees and commissions: what each fill moved the
    balance by) of each trading day before `before`, from `Trade/search` rows in any order.
    A trade id counts once — the gateway repeats a close's opening half-turn (pnl null) under
    its id; the row with a P&L wins. Voided trades and rows without a time count nothing."""
    by_id: dict[int, Trade] = {}
    for t in trades:
        seen = by_id.get(t.id)
        if seen is None or (seen.profit_and_loss is None and t.profit_and_loss is not None):
            by_id[t.id] = t
    out: dict[date, float] = {}
    for t in by_id.values():
        if t.voided or t.creation_timestamp is None:
            continue
        day = day_of(t.creation_timestamp)
        if day < before:
            out[day] = out.get(day, 0.0) + (t.profit_and_loss or 0.0) - t.fees - t.commissions  # state.fill_pnl
    return {d: round(v, 2) for d, v in sorted(out.items())}
