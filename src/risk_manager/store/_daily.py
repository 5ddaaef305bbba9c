"""Trading-day state: daily P&L, trades seen, the reset log, the contract cache, meta."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from risk_manager.events import Contract, Trade
from risk_manager.store._base import StoreBase
from risk_manager.store.codec import (
    CONTRACT_COLUMNS,
    contract_from_row,
    contract_row,
    day_in,
    day_out,
    ts_out,
)
from risk_manager.store.records import DailyPnl

_ADD_PNL = (
    "INSERT INTO daily_pnl (account_id, trading_day, realized, trade_count, updated_at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (account_id, trading_day) DO UPDATE SET "
    "realized = realized + excluded.realized, trade_count = trade_count + excluded.trade_count, "
    "updated_at = excluded.updated_at"
)


class DailyMixin(StoreBase):
    # -- trades and daily P&L ------------------------------------------------------------
    def record_trade(self, trade: Trade, trading_day: date, pnl: float | None) -> bool:
        """Count a fill once: adds `pnl` (the caller's basis; None for a half-turn) and one
        trade to the (account, trading_day) totals the first time its id is seen. A fill seen
        again with ``voided=True`` is taken back out. Returns True when the totals changed."""
        day = day_out(trading_day)
        now = ts_out(self._now())
        with self.transaction():
            old = self._conn.execute(
                "SELECT account_id, trading_day, pnl, voided FROM trades_seen WHERE trade_id = ?",
                (trade.id,),
            ).fetchone()
            if old is None:
                self._conn.execute(
                    "INSERT INTO trades_seen (trade_id, account_id, trading_day, pnl, voided, "
                    "seen_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (trade.id, trade.account_id, day, pnl, int(trade.voided), now),
                )
                if trade.voided:
                    return False
                self._conn.execute(_ADD_PNL, (trade.account_id, day, pnl or 0.0, 1, now))
                return True
            old_account, old_day, old_pnl, old_voided = old
            if old_voided or not trade.voided:
                return False  # a duplicate
            self._conn.execute("UPDATE trades_seen SET voided = 1 WHERE trade_id = ?", (trade.id,))
            self._conn.execute(_ADD_PNL, (old_account, old_day, -(old_pnl or 0.0), -1, now))
            return True

    def trade_seen(self, trade_id: int) -> bool:
        return self._row("SELECT 1 FROM trades_seen WHERE trade_id = ?", (trade_id,)) is not None

    def daily_pnl(self, account_id: int, trading_day: date) -> DailyPnl:
        row = self._row(
            "SELECT realized, trade_count FROM daily_pnl WHERE account_id = ? AND trading_day = ?",
            (account_id, day_out(trading_day)),
        )
        if row is None:
            return DailyPnl(account_id, trading_day)
        return DailyPnl(account_id, trading_day, realized=row[0], trade_count=row[1])

    def set_daily_pnl(
        self, account_id: int, trading_day: date, realized: float, trade_count: int
    ) -> None:
        """Overwrite a day's totals (e.g. rebuilt from Trade/search at start-up)."""
        self._write(
            "INSERT OR REPLACE INTO daily_pnl (account_id, trading_day, realized, trade_count, "
            "updated_at) VALUES (?, ?, ?, ?, ?)",
            (account_id, day_out(trading_day), float(realized), int(trade_count),
             ts_out(self._now())),
        )

    # -- resets --------------------------------------------------------------------------
    def record_reset(self, trading_day: date, at: datetime) -> bool:
        """Record the daily reset that starts `trading_day`. True only the first time for that
        day, so "if store.record_reset(day, now): apply the reset" runs it exactly once."""
        cur = self._write(
            "INSERT OR IGNORE INTO resets (trading_day, at) VALUES (?, ?)",
            (day_out(trading_day), ts_out(at, "reset time")),
        )
        return cur.rowcount == 1

    def last_reset(self) -> date | None:
        return day_in(self._scalar("SELECT MAX(trading_day) FROM resets"))

    # -- contract cache ------------------------------------------------------------------
    def cache_contracts(self, contracts: Iterable[Contract]) -> int:
        now = ts_out(self._now())
        rows = [(*contract_row(c), now) for c in contracts]
        with self.transaction():
            self._conn.executemany(
                f"INSERT OR REPLACE INTO contracts ({CONTRACT_COLUMNS}, cached_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        return len(rows)

    def cached_contracts(self) -> list[Contract]:
        rows = self._rows(f"SELECT {CONTRACT_COLUMNS} FROM contracts ORDER BY id")
        return [contract_from_row(r) for r in rows]

    def cached_contract(self, contract_id: str) -> Contract | None:
        row = self._row(f"SELECT {CONTRACT_COLUMNS} FROM contracts WHERE id = ?", (contract_id,))
        return None if row is None else contract_from_row(row)

    # -- meta ----------------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self._row("SELECT value FROM meta WHERE key = ?", (key,))
        return default if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, str(value)))

    def delete_meta(self, key: str) -> None:
        self._write("DELETE FROM meta WHERE key = ?", (key,))
