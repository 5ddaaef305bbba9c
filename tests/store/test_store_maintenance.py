"""Backups (online copy, verified, N newest kept) and retention."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from store_helpers import T0, order_event, trade

from risk_manager.engine.actions import Lock, LockEnd, LockKind
from risk_manager.store import Store


def test_backup_is_a_complete_standalone_copy(store: Store, tmp_path: Path, clock) -> None:
    store.append_events([order_event(i) for i in range(50)])
    lock = Lock(7, "R03", LockKind.LOCKOUT, "loss", LockEnd.RESET, T0 + timedelta(hours=3), T0)
    store.upsert_lock(lock)
    path = store.backup(tmp_path / "backups", include_journal=True)
    assert path.name == "risk_manager-20260309T143000000000Z.db"
    assert not path.with_name(path.name + "-wal").exists()
    with Store(path, clock) as copy:
        assert copy.last_seq() == 50
        assert copy.active_locks() == [lock]
        assert not copy.open_report.recovered_from_corruption
        assert not copy.open_report.journal_created


def test_default_backup_is_the_core_file_only(store: Store, tmp_path: Path) -> None:
    store.append_event(order_event())
    path = store.backup(tmp_path / "backups")
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_backup_keeps_the_newest_n(store: Store, tmp_path: Path, clock) -> None:
    dest = tmp_path / "backups"
    made = []
    for _ in range(5):
        made.append(store.backup(dest, keep=3, include_journal=True))
        clock.advance(86400)
    (dest / "unrelated.db").write_text("keep me")
    store.backup(dest, keep=3)
    names = sorted(p.name for p in dest.iterdir())
    assert len(names) == 6 and "unrelated.db" in names  # 3 core + 2 journals + unrelated
    assert made[0].name not in names and made[1].name not in names
    assert "risk_manager-20260309T143000000000Z-journal.db" not in names


def test_backup_while_another_connection_writes(store: Store, tmp_path: Path) -> None:
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO meta (key, value) VALUES ('x', 'uncommitted')")
    path = store.backup(tmp_path / "b")  # a reader: not blocked by the open write transaction
    other.execute("ROLLBACK")
    other.close()
    with sqlite3.connect(path) as copy:
        assert copy.execute("SELECT COUNT(*) FROM meta").fetchone()[0] == 0


def test_prune_drops_old_rows_and_keeps_locks_and_open_intents(store: Store, clock) -> None:
    store.append_events([order_event(i, at=T0) for i in range(12000)])  # > one prune chunk
    store.audit(7, "R03", "Flatten", "old", "decided")
    done = store.begin_intent(7, "flatten", "R03", "old")
    store.complete_intent(done, "confirmed")
    still_open = store.begin_intent(7, "flatten", "R03", "old but open")
    store.record_trade(trade(1), T0.date(), -50.0)
    store.upsert_lock(Lock(7, "manual", LockKind.LOCKOUT, "x", LockEnd.MANUAL, None, T0))
    clock.advance(40 * 86400)
    store.append_event(order_event(99, at=clock.now()))
    store.audit(7, "R03", "Flatten", "new", "decided")

    deleted = store.prune(journal_days=30, audit_days=365)
    assert deleted["journal"] == 12000 and deleted["trades_seen"] == 1
    assert [e.data.id for e in store.iter_events()] == [99]
    assert len(store.audit_rows()) == 2 and deleted["audit"] == 0

    clock.advance(400 * 86400)
    deleted = store.prune(journal_days=30, audit_days=365)
    assert deleted["audit"] == 2 and deleted["intents"] == 1 and deleted["lock_history"] == 1
    assert [i.id for i in store.open_intents()] == [still_open]
    assert len(store.active_locks()) == 1
    assert store.integrity_check() == ["ok"]
