"""The executor's fail-safe ledger over a real Store whose writes really fail (issue 12 item 5).

"Disk full" is SQLite's own SQLITE_FULL: the core file is capped at its size (`max_page_count`)
and the lock table's last pages are packed; lifting the cap is freeing the disk. A deleted file
is a real unlink of the open database (SQLite then raises nothing at all).
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from store_helpers import T0

from risk_manager.clock import ManualClock
from risk_manager.engine.actions import Lock, LockEnd, LockKind
from risk_manager.store import Store
from risk_manager.store.failsafe import FailSafeLedger

NO_LIMIT = 1073741823


def lock(account: int = 7, rule: str = "R03") -> Lock:
    return Lock(account, rule, LockKind.LOCKOUT, "Daily loss", LockEnd.RESET, T0 + timedelta(hours=8), T0)


def fill(store: Store) -> None:
    with store._lock:
        conn = store._conn
        conn.execute(f"PRAGMA main.max_page_count = {conn.execute('PRAGMA main.page_count').fetchone()[0]}")
        n = 0
        for size in (2000, 500, 100, 20, 0):
            while True:
                n += 1
                try:
                    conn.execute("INSERT INTO locks VALUES (-1, ?, 'lockout', ?, 'manual', NULL, "
                                 "'2026-01-01T00:00:00+00:00', NULL, 'filler')", (f"~{n:07d}", "x" * size))
                except sqlite3.OperationalError:
                    break


def free(store: Store) -> None:
    with store._lock:
        store._conn.execute(f"PRAGMA main.max_page_count = {NO_LIMIT}")


def persisted(path: Path) -> list[tuple[int, str]]:
    with Store(path) as again:
        return [(lk.account_id, lk.rule) for lk in again.active_locks() if lk.account_id >= 0]


def test_a_failed_lock_write_is_kept_retried_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "risk_manager.db"
    events: list[tuple[bool, str]] = []
    with Store(path, ManualClock(T0)) as store:
        ledger = FailSafeLedger(store, ManualClock(T0), on_health=lambda ok, d: events.append((ok, d)))
        ledger.upsert_lock(lock(7, "R01"))  # healthy: durable at once
        fill(store)
        ledger.upsert_lock(lock(7, "R03"))  # raised sqlite3.OperationalError before the fix
        assert not ledger.durable(7, "R03") and ledger.durable(7, "R01")
        assert ledger.status()["state"] == "failing"
        assert "database or disk is full" in ledger.status()["last_error"]
        assert events == [(False, "OperationalError: database or disk is full")]
        assert ledger.retry() is False  # still full
        free(store)
        assert ledger.retry() is True
        assert ledger.durable(7) and ledger.status()["state"] == "ok"
        assert events[-1][0] is True
    assert persisted(path) == [(7, "R01"), (7, "R03")]


def test_an_unlock_while_failing_is_not_undone_by_the_retry(tmp_path: Path) -> None:
    path = tmp_path / "risk_manager.db"
    with Store(path, ManualClock(T0)) as store:
        ledger = FailSafeLedger(store, ManualClock(T0))
        fill(store)
        ledger.upsert_lock(lock(7, "R03"))
        assert not ledger.durable(7, "R03")
        # The newest decision replaces the pending one: the set is never written after it.
        ledger.delete_lock(7, "R03", cleared_by="admin@test", reason="reviewed")
        assert ledger.undurable() == []
        free(store)
        assert ledger.retry()
    assert persisted(path) == []


def test_a_deleted_store_file_is_recreated_with_every_lock_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "state" / "risk_manager.db"
    in_memory = [lock(7, "R03"), lock(8, "manual")]
    with Store(path, ManualClock(T0)) as store:
        ledger = FailSafeLedger(store, ManualClock(T0), locks_in_memory=lambda: in_memory)
        ledger.upsert_lock(in_memory[0])
        for p in path.parent.glob("risk_manager*"):
            p.unlink()
        ledger.upsert_lock(in_memory[1])  # "committed" into the unlinked file by SQLite
        assert not ledger.durable(8, "manual")
        assert "deleted or replaced" in ledger.status()["last_error"]
        assert ledger.retry()
        assert store.health.recoveries == 1
    assert persisted(path) == [(7, "R03"), (8, "manual")]


def test_lock_writes_of_a_deleted_store_raise(tmp_path: Path) -> None:
    from risk_manager.store.health import StoreFileMoved

    path = tmp_path / "risk_manager.db"
    with Store(path, ManualClock(T0)) as store:
        path.unlink()
        with pytest.raises(StoreFileMoved):
            store.upsert_lock(lock())
        assert not store.health.ok
