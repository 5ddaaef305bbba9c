"""Locks (one row per account and rule) and their set/cleared history."""

from __future__ import annotations

from risk_manager.engine.actions import Lock
from risk_manager.store._base import StoreBase
from risk_manager.store.codec import LOCK_COLUMNS, lock_from_row, lock_row, ts_in, ts_out, ts_req
from risk_manager.store.records import LockHistoryRow

_HISTORY_INSERT = (
    "INSERT INTO lock_history (account_id, rule, change, kind, until, by, why, at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


class LockMixin(StoreBase):
    def upsert_lock(self, lock: Lock) -> None:
        """Persist (insert or replace) the lock of (account_id, rule), durably, with a history
        row. Call it BEFORE the first close/cancel it leads to. Returns only once the lock is
        durable: raises on a write error, and StoreFileMoved when the file was deleted."""
        row = lock_row(lock)
        with self.transaction():
            old = self._conn.execute(
                f"SELECT {LOCK_COLUMNS} FROM locks WHERE account_id = ? AND rule = ?",
                (lock.account_id, lock.rule),
            ).fetchone()
            if old != row:  # same lock again: nothing changed, no history noise
                self._conn.execute(f"INSERT OR REPLACE INTO locks ({LOCK_COLUMNS}) VALUES "
                                   "(?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
                self._conn.execute(_HISTORY_INSERT, (
                    lock.account_id, lock.rule, "set", row[2], row[5], lock.set_by, lock.reason,
                    ts_out(self._now()),
                ))
        self._check_home()

    def delete_lock(
        self, account_id: int, rule: str, *, cleared_by: str = "engine", reason: str = ""
    ) -> Lock | None:
        """Remove the lock of (account_id, rule); returns it, or None if there was none.
        Durable on return (raises like `upsert_lock`)."""
        with self.transaction():
            old = self._conn.execute(
                f"SELECT {LOCK_COLUMNS} FROM locks WHERE account_id = ? AND rule = ?",
                (account_id, rule),
            ).fetchone()
            if old is None:
                self._check_home()
                return None
            self._conn.execute(
                "DELETE FROM locks WHERE account_id = ? AND rule = ?", (account_id, rule)
            )
            self._conn.execute(_HISTORY_INSERT, (
                account_id, rule, "cleared", old[2], old[5], cleared_by, reason,
                ts_out(self._now()),
            ))
        self._check_home()
        return lock_from_row(old)

    def active_locks(self, account_id: int | None = None) -> list[Lock]:
        """Every persisted lock (optionally of one account), ordered by account then rule.

        The store does not judge expiry: the engine/scheduler clears locks whose end has come."""
        sql = f"SELECT {LOCK_COLUMNS} FROM locks"
        params: tuple[int, ...] = ()
        if account_id is not None:
            sql += " WHERE account_id = ?"
            params = (account_id,)
        return [lock_from_row(r) for r in self._rows(sql + " ORDER BY account_id, rule", params)]

    def lock_history(self, account_id: int | None = None, limit: int = 100) -> list[LockHistoryRow]:
        """The most recent `limit` set/cleared rows, oldest first."""
        sql = "SELECT id, account_id, rule, change, kind, until, by, why, at FROM lock_history"
        params: list[object] = []
        if account_id is not None:
            sql += " WHERE account_id = ?"
            params.append(account_id)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        rows = self._rows(sql, params)
        return [
            LockHistoryRow(id=r[0], account_id=r[1], rule=r[2], change=r[3], kind=r[4],
                           until=ts_in(r[5]), by=r[6], why=r[7], at=ts_req(r[8]))
            for r in reversed(rows)
        ]
