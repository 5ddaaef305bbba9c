"""The balance history of the firm-account guards (docs/rules.md): one row per account and trading day.

The engine hands its facts out as `BalanceRecord`s among its other records; this mixin takes
those out of `save_engine_records` (the same commit) and passes the rest on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from risk_manager.engine.firm import BalanceRecord
from risk_manager.store._base import StoreBase
from risk_manager.store.codec import day_in, day_out, ts_out

_UPSERT = {
    # start/end of a day: the latest word wins; the high only ever rises.
    "start_of_day": "start_of_day = excluded.start_of_day",
    "end_of_day": "end_of_day = excluded.end_of_day",
    "high_equity": "high_equity = MAX(COALESCE(high_equity, excluded.high_equity), excluded.high_equity)",
    "net_pnl": "net_pnl = excluded.net_pnl",
}
FIELDS = tuple(_UPSERT)
SELECT_HISTORY = f"SELECT account_id, trading_day, {', '.join(FIELDS)} FROM balance_history"


def history_facts(rows: Iterable[Any]) -> list[tuple[int, Any, str, float]]:
    """balance_history rows -> (account id, trading day, field, value), one per stored fact."""
    out = []
    for row in rows:
        for name, value in zip(FIELDS, row[2:]):
            if value is not None:
                out.append((int(row[0]), day_in(row[1]), name, float(value)))
    return out


class BalanceHistoryMixin(StoreBase):
    def save_engine_records(self, records: Iterable[Any]) -> int:
        balances: list[BalanceRecord] = []
        rest: list[Any] = []
        for r in records:
            (balances if isinstance(r, BalanceRecord) else rest).append(r)
        if not balances:
            return super().save_engine_records(rest)  # type: ignore[misc]
        with self.transaction():
            for r in balances:
                self._conn.execute(
                    f"INSERT INTO balance_history (account_id, trading_day, {r.field}, updated_at) "
                    f"VALUES (?, ?, ?, ?) ON CONFLICT (account_id, trading_day) DO UPDATE SET "
                    f"{_UPSERT[r.field]}, updated_at = excluded.updated_at",
                    (r.account_id, day_out(r.trading_day), float(r.value), ts_out(r.at)))
            return len(balances) + super().save_engine_records(rest)  # type: ignore[misc]

    def balance_history(self, account_id: int | None = None) -> list[tuple[int, Any, str, float]]:
        """(account id, trading day, field, value) of every stored fact, oldest day first."""
        where, args = ("WHERE account_id = ?", (account_id,)) if account_id is not None else ("", ())
        return history_facts(self._rows(f"{SELECT_HISTORY} {where} ORDER BY trading_day, account_id", args))

    def _fold_balance_history(self, cutoff_day: str) -> int:
        """Retention (store.prune): the rows of each account before `cutoff_day` become one row,
        at the latest of those days, that keeps what R14/R15 read of them — the highest
        end-of-day balance, the highest equity and the sum of the days' net P&L — so pruning
        never lowers the floor's high nor changes the profit before today. Start-of-day balances
        of old days go (only yesterday's is ever read). Returns the rows deleted."""
        with self.transaction():
            folds = self._conn.execute(
                "SELECT account_id, MAX(trading_day), COUNT(*), MAX(end_of_day), MAX(high_equity), "
                "SUM(net_pnl) FROM balance_history WHERE trading_day < ? GROUP BY account_id "
                "HAVING COUNT(*) > 1", (cutoff_day,)).fetchall()
            now = ts_out(self._now())
            for account_id, last_day, _, eod, high, net in folds:
                self._conn.execute(
                    "DELETE FROM balance_history WHERE account_id = ? AND trading_day < ?",
                    (account_id, cutoff_day))
                self._conn.execute(
                    "INSERT INTO balance_history (account_id, trading_day, end_of_day, high_equity, "
                    "net_pnl, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (account_id, last_day, eod, high, None if net is None else round(net, 2), now))
            return sum(n - 1 for _, _, n, *_ in folds)
