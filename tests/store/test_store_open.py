"""Opening the store: pragmas, migrations from every version, corrupt-file handling."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from store_helpers import T0, order_event

from risk_manager.engine.actions import Lock, LockEnd, LockKind
from risk_manager.store import LATEST_VERSION, MIGRATIONS, Store, StoreError
from risk_manager.store.schema import JOURNAL_LATEST_VERSION, JOURNAL_MIGRATIONS, migrate


def _schema(path: Path) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(path)
    try:
        return sorted(conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        ).fetchall())
    finally:
        conn.close()


def test_fresh_store_has_durable_pragmas(store: Store, db_path: Path) -> None:
    assert store.open_report.created and store.open_report.corrupt_moved_to is None
    assert store.open_report.schema_version == LATEST_VERSION
    conn = store._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA journal_db.journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA journal_db.synchronous").fetchone()[0] == 2
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    assert store.integrity_check() == ["ok"]


def test_journal_synchronous_can_be_normal_core_stays_full(db_path: Path, clock) -> None:
    with Store(db_path, clock, journal_synchronous="NORMAL") as s:
        assert s._conn.execute("PRAGMA journal_db.synchronous").fetchone()[0] == 1
        assert s._conn.execute("PRAGMA main.synchronous").fetchone()[0] == 2
    with pytest.raises(ValueError, match="journal_synchronous"):
        Store(db_path, clock, journal_synchronous="OFF")  # type: ignore[arg-type]


def test_reopen_is_not_created_again(db_path: Path, clock) -> None:
    Store(db_path, clock).close()
    with Store(db_path, clock) as again:
        assert not again.open_report.created
        assert again.open_report.migrated_from == LATEST_VERSION


@pytest.mark.parametrize("start", range(LATEST_VERSION))
def test_core_migrates_from_every_version(tmp_path: Path, clock, start: int) -> None:
    reference = tmp_path / "fresh.db"
    Store(reference, clock).close()

    old = tmp_path / "old.db"
    conn = sqlite3.connect(old, isolation_level=None)
    migrate(conn, target=start)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == start
    if start >= 1:  # data written at an older version survives the upgrade
        conn.execute("INSERT INTO meta (key, value) VALUES ('written_at', ?)", (str(start),))
    conn.close()

    with Store(old, clock) as upgraded:
        assert upgraded.open_report.migrated_from == start
        assert upgraded.open_report.schema_version == LATEST_VERSION
        assert upgraded.open_report.created == (start == 0)  # v0 = an empty file
        assert upgraded.get_meta("written_at") == (str(start) if start else None)
    assert _schema(old) == _schema(reference)


@pytest.mark.parametrize("start", range(JOURNAL_LATEST_VERSION))
def test_journal_migrates_from_every_version(tmp_path: Path, clock, start: int) -> None:
    Store(tmp_path / "fresh.db", clock).close()
    conn = sqlite3.connect(tmp_path / "old-journal.db", isolation_level=None)
    migrate(conn, target=start, migrations=JOURNAL_MIGRATIONS)
    conn.close()
    with Store(tmp_path / "old.db", clock) as upgraded:
        assert upgraded.journal_path == tmp_path / "old-journal.db"
        assert upgraded.append_event(order_event()) == 1
    assert _schema(tmp_path / "old-journal.db") == _schema(tmp_path / "fresh-journal.db")


def test_migrations_are_numbered_in_order() -> None:
    assert LATEST_VERSION == len(MIGRATIONS) >= 1
    assert JOURNAL_LATEST_VERSION == len(JOURNAL_MIGRATIONS) >= 1


def test_newer_schema_is_refused_not_moved(db_path: Path, clock) -> None:
    Store(db_path, clock).close()
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this program"):
        Store(db_path, clock)
    assert db_path.exists()
    assert not list(db_path.parent.glob("*.corrupt-*"))


def _assert_moved_aside(db_path: Path, clock, original: bytes) -> None:
    with Store(db_path, clock) as fresh:
        report = fresh.open_report
        assert report.created
        assert report.corrupt_moved_to is not None and report.corrupt_reason
        assert report.corrupt_moved_to.name == "risk_manager.db.corrupt-20260309T143000Z"
        assert report.corrupt_moved_to.read_bytes() == original
        assert fresh.integrity_check() == ["ok"]
        assert fresh.append_event(order_event()) == 1  # usable at once


def test_garbage_file_is_moved_aside(db_path: Path, clock) -> None:
    db_path.parent.mkdir(parents=True)
    garbage = bytes(range(256)) * 64
    db_path.write_bytes(garbage)
    _assert_moved_aside(db_path, clock, garbage)


def test_truncated_database_is_moved_aside(db_path: Path, clock) -> None:
    with Store(db_path, clock) as s, s.transaction():
        for i in range(2000):
            s.audit(7, "R03", "Flatten", "loss limit " * 5, "decided", {"i": i})
    data = db_path.read_bytes()
    assert len(data) > 64 * 4096
    db_path.write_bytes(data[: len(data) // 2])
    _assert_moved_aside(db_path, clock, data[: len(data) // 2])


LOCK = Lock(7, "R03", LockKind.LOCKOUT, "loss", LockEnd.MANUAL, None, T0)


@pytest.mark.parametrize("full_check", [True, False], ids=["quick_check", "probe"])
def test_truncated_journal_is_replaced_and_locks_survive(
    db_path: Path, clock, full_check: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not full_check:  # as if the journal were huge: only the cheap probe runs at open
        monkeypatch.setattr("risk_manager.store.store.JOURNAL_FULL_CHECK_BYTES", 0)
    with Store(db_path, clock) as s:
        s.upsert_lock(LOCK)
        s.append_events([order_event(i) for i in range(2000)])
        journal = s.journal_path
    data = journal.read_bytes()
    journal.write_bytes(data[: len(data) // 2])
    with Store(db_path, clock) as s:
        report = s.open_report
        assert report.recovered_from_corruption and report.corrupt_moved_to is None
        assert report.journal_corrupt_moved_to is not None and report.journal_created
        assert s.active_locks() == [LOCK]
        assert s.last_seq() == 0 and s.append_event(order_event()) == 1
        assert s.integrity_check() == ["ok"]


def test_garbage_journal_is_replaced(db_path: Path, clock) -> None:
    with Store(db_path, clock) as s:
        journal = s.journal_path
    journal.write_bytes(b"\xff" * 5000)
    with Store(db_path, clock) as s:
        assert s.open_report.journal_corrupt_moved_to is not None
        assert s.open_report.journal_corrupt_moved_to.read_bytes() == b"\xff" * 5000


def test_corrupt_wal_files_move_with_the_database(db_path: Path, clock) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"not a database at all" * 100)
    wal = db_path.with_name(db_path.name + "-wal")
    wal.write_bytes(b"junk wal")
    with Store(db_path, clock) as fresh:
        moved = fresh.open_report.corrupt_moved_to
    assert moved is not None
    assert moved.with_name(moved.name + "-wal").read_bytes() == b"junk wal"


def test_second_corruption_in_same_second_gets_a_distinct_name(db_path: Path, clock) -> None:
    db_path.parent.mkdir(parents=True)
    for _ in range(2):
        db_path.write_bytes(b"\x00garbage" * 1000)
        Store(db_path, clock).close()
    assert len(list(db_path.parent.glob("risk_manager.db.corrupt-*"))) == 2


def test_empty_file_is_a_new_store_not_corruption(db_path: Path, clock) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.touch()
    with Store(db_path, clock) as s:
        assert s.open_report.created and s.open_report.corrupt_moved_to is None


def test_unwritable_directory_is_a_clear_error(tmp_path: Path, clock) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="store directory"):
        Store(blocker / "sub" / "db.sqlite", clock)
