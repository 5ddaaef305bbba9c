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
        rows = self._rows(
            f"SELECT account_id, trading_day, {', '.join(FIELDS)} FROM balance_history {where} "
            "ORDER BY trading_day, account_id", args)
        out = []
        for row in rows:
            for name, value in zip(FIELDS, row[2:]):
                if value is not None:
                    out.append((int(row[0]), day_in(row[1]), name, float(value)))
        return out
