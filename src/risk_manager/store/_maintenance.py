"""Backups, retention and health checks (called by the daemon's scheduler)."""

from __future__ import annotations

import os
import re
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

from risk_manager.private_files import private_dir, private_file
from risk_manager.store._base import StoreBase
from risk_manager.store.codec import ts_out
from risk_manager.store.database import BUSY_TIMEOUT_MS
from risk_manager.store.records import StoreError

#: Rows deleted per transaction while pruning, so the writer is never blocked for long.
PRUNE_CHUNK = 5000
#: Pause between prune chunks. Python's lock is not fair: without it a worker thread pruning
#: would re-take the store lock at once and starve the event loop's writes until it is done.
PRUNE_PAUSE_S = 0.002


def journal_path_for(path: Path) -> Path:
    """``state/risk_manager.db`` -> ``state/risk_manager-journal.db``."""
    return path.with_name(f"{path.stem}-journal{path.suffix or '.db'}")


def _copy_database(source: Path, final: Path) -> None:
    tmp = final.with_name(f".{final.name}.tmp")
    tmp.unlink(missing_ok=True)  # a crash's leftover: garbage, and maybe not owner-only
    private_file(tmp)  # owner-only from the start, like the store it copies
    src = sqlite3.connect(source, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        dst = sqlite3.connect(tmp, isolation_level=None)
        try:
            src.backup(dst)
            # A single self-contained file: no -wal beside it.
            dst.execute("PRAGMA journal_mode = DELETE")
            check = dst.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            dst.close()
        if check != "ok":
            raise StoreError(f"backup copy of {source} failed quick_check: {check}")
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        tmp.replace(final)
    finally:
        src.close()
        tmp.unlink(missing_ok=True)


class MaintenanceMixin(StoreBase):
    def backup(
        self, dest_dir: str | os.PathLike[str], keep: int = 7, *, include_journal: bool = False
    ) -> Path:
        """Copy the core file to ``dest_dir/<stem>-<UTC stamp>.db`` with SQLite's online backup
        API (writers are not blocked), verify the copy with quick_check, fsync it, and delete all
        but the `keep` newest backups of this store. With `include_journal` the journal is copied
        too, beside it (``...-journal.db``), so ``Store(backup_path)`` opens both. Returns the
        path of the core copy."""
        if keep < 1:
            raise ValueError("backup keep must be >= 1")
        dest = private_dir(Path(dest_dir))
        stamp = self._now().strftime("%Y%m%dT%H%M%S%fZ")
        final = dest / f"{self.path.stem}-{stamp}.db"
        if include_journal:
            _copy_database(self.journal_path, journal_path_for(final))
        _copy_database(self.path, final)
        self._drop_old_backups(dest, keep)
        return final

    def _drop_old_backups(self, dest: Path, keep: int) -> None:
        pattern = re.compile(rf"{re.escape(self.path.stem)}-\d{{8}}T\d{{12}}Z\.db")
        ours = sorted((p for p in dest.iterdir() if pattern.fullmatch(p.name)), reverse=True)
        for old in ours[keep:]:
            old.unlink(missing_ok=True)
            journal_path_for(old).unlink(missing_ok=True)

    def _prune_table(
        self, table: str, key: str, column: str, cutoff: str, extra: str = "",
        below: int | None = None,
    ) -> int:
        bound = "" if below is None else f"AND {key} < {int(below)}"
        total = 0
        while True:
            cur = self._write(
                f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} "
                f"WHERE {column} < ? {bound} {extra} ORDER BY {key} LIMIT {PRUNE_CHUNK})",
                (cutoff,),
            )
            total += cur.rowcount
            if cur.rowcount < PRUNE_CHUNK:
                return total
            time.sleep(PRUNE_PAUSE_S)

    def _journal_seq_bound(self, cutoff: str) -> int:
        """The first seq whose row is not older than `cutoff`. received_at has no index, and a
        scan of a month of journal under the store lock would stall every write for seconds;
        rows are appended in time order, so bisect over seq (a few primary-key probes) and
        prune only below the bound. A row out of order after a clock step waits a night."""
        # Two queries: SQLite answers a lone MIN() or MAX() from the index, both at once by a scan.
        lo = self._scalar("SELECT MIN(seq) FROM journal")
        hi = self._scalar("SELECT MAX(seq) FROM journal")
        if lo is None or hi is None:
            return 0
        hi += 1
        while lo < hi:
            mid = (lo + hi) // 2
            row = self._row(
                "SELECT seq, received_at FROM journal WHERE seq >= ? ORDER BY seq LIMIT 1", (mid,)
            )
            if row is not None and row[1] < cutoff:
                lo = row[0] + 1
            else:
                hi = mid
        return lo

    def prune(self, journal_days: int = 30, audit_days: int = 365) -> dict[str, int]:
        """Delete journal rows (and trades seen) older than `journal_days`, and audit, lock
        history, completed intents, daily P&L, resets, login attempts and expired admin sessions
        older than `audit_days`; the balance history older than that is folded into one row per
        account (store/_balance_history.py). Locks and open intents are never pruned. Returns rows deleted
        per table."""
        now = self._now()
        journal_cut = ts_out(now - timedelta(days=journal_days))
        audit_cut = ts_out(now - timedelta(days=audit_days))
        audit_day = (now - timedelta(days=audit_days)).date().isoformat()
        return {
            "journal": self._prune_table(
                "journal", "seq", "received_at", journal_cut,
                below=self._journal_seq_bound(journal_cut),
            ),
            "trades_seen": self._prune_table("trades_seen", "trade_id", "seen_at", journal_cut),
            "own_orders": self._prune_table("own_orders", "order_id", "placed_at", journal_cut),
            "exits_judged": self._prune_table("exits_judged", "rowid", "judged_at", journal_cut),
            "audit": self._prune_table("audit", "id", "ts", audit_cut),
            "lock_history": self._prune_table("lock_history", "id", "at", audit_cut),
            "intents": self._prune_table(
                "intents", "id", "created_at", audit_cut, "AND completed_at IS NOT NULL"
            ),
            "daily_pnl": self._prune_table("daily_pnl", "rowid", "trading_day", audit_day),
            "resets": self._prune_table("resets", "rowid", "trading_day", audit_day),
            # Folded, not dropped: R14's high and R15's profit so far span the account's life.
            "balance_history": self._fold_balance_history(audit_day),  # type: ignore[attr-defined]
            "login_attempts": self._prune_table("login_attempts", "id", "at", audit_cut),
            "admin_sessions": self._prune_table(
                "admin_sessions", "rowid", "expires_at", ts_out(now)
            ),
        }

    def integrity_check(self) -> list[str]:
        """Full ``PRAGMA quick_check`` of both files (slow on a big journal: run it off-hours,
        e.g. before the nightly backup): ["ok"] when healthy."""
        return [r[0] for r in self._rows("PRAGMA quick_check")]

    def checkpoint(self) -> None:
        """Fold the WALs back into the database files (e.g. after a prune)."""
        self._rows("PRAGMA main.wal_checkpoint(TRUNCATE)")
        self._rows("PRAGMA journal_db.wal_checkpoint(TRUNCATE)")
