"""A journal the store cannot write to is moved aside and replaced; the main file never is.

And the read-only reader (`store.readonly`, used by `risk-manager replay`) writes nothing.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest
from store_helpers import T0, order_event

from risk_manager.engine.actions import Lock, LockEnd, LockKind
from risk_manager.store import Store, StoreError
from risk_manager.store.readonly import inspect_store_file, read_cached_contracts, read_journal_events

LOCK = Lock(7, "R03", LockKind.LOCKOUT, "loss", LockEnd.MANUAL, None, T0)


def _journal(db_path: Path) -> Path:
    return db_path.with_name("risk_manager-journal.db")


def _migrated_as_main(db_path: Path) -> None:
    Store(_journal(db_path)).close()  # the old replay's mistake: journal opened as a main file


def _newer(db_path: Path) -> None:
    conn = sqlite3.connect(_journal(db_path))
    conn.execute("PRAGMA user_version = 2")
    conn.close()


def _foreign_tables_same_version(db_path: Path) -> None:
    conn = sqlite3.connect(_journal(db_path), isolation_level=None)
    conn.executescript("DROP TABLE journal; CREATE TABLE journal (x); CREATE TABLE other (y);")
    conn.close()


def _foreign_tables_version_0(db_path: Path) -> None:
    path = _journal(db_path)
    for p in path.parent.glob(path.name + "*"):
        p.unlink()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript("CREATE TABLE journal (seq, something_else);")
    conn.close()


def _unreadable(db_path: Path) -> None:
    path = _journal(db_path)
    for p in path.parent.glob(path.name + "*"):
        p.unlink()
    path.mkdir()  # not a file at all
    (path / "x").write_text("x")


@pytest.mark.parametrize("damage,reason", [
    (_migrated_as_main, "journal schema version 5 is newer than this program's (1); it also holds tables"),
    (_newer, "journal schema version 2 is newer than this program's (1)"),
    (_foreign_tables_same_version, "not an event journal of schema version 1: tables journal, other"),
    (_foreign_tables_version_0, "not an event journal of schema version 0"),
    (_unreadable, "unreadable: "),
], ids=["migrated-as-main", "newer", "foreign-v1", "foreign-v0", "unreadable"])
def test_unusable_journal_is_moved_aside_and_the_locks_stay(db_path, clock, damage, reason):
    with Store(db_path, clock) as s:
        s.upsert_lock(LOCK)
        s.append_event(order_event())
    damage(db_path)
    journal = _journal(db_path)
    original = journal.read_bytes() if journal.is_file() else None
    with Store(db_path, clock) as s:
        report = s.open_report
        assert report.journal_corrupt_moved_to == journal.with_name(
            "risk_manager-journal.db.corrupt-20260309T143000Z")
        assert report.journal_corrupt_reason.startswith(reason), report.journal_corrupt_reason
        assert report.journal_created and report.recovered_from_corruption
        assert report.corrupt_moved_to is None and not report.created
        if original is not None:
            assert report.journal_corrupt_moved_to.read_bytes() == original
        assert s.active_locks() == [LOCK]
        assert s.last_seq() == 0 and s.append_event(order_event()) == 1
    with Store(db_path, clock) as s:  # and the new journal is fine from then on
        assert s.open_report.journal_corrupt_moved_to is None and s.last_seq() == 1


def test_a_newer_main_database_is_still_refused(db_path, clock):
    # The main file holds the locks: moving it aside would unlock the account.
    Store(db_path, clock).close()
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match="newer than this program"):
        Store(db_path, clock)
    assert not list(db_path.parent.glob("*.corrupt-*"))


# -- the read-only reader -------------------------------------------------------------------------
def _files(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def test_reader_of_a_cleanly_closed_store_writes_nothing(db_path, clock):
    with Store(db_path, clock) as s:
        s.append_events([order_event(order_id=i) for i in range(1, 2501)])  # more than one page
    before = _files(db_path.parent)
    assert inspect_store_file(db_path).kind == "main"
    info = inspect_store_file(_journal(db_path))
    assert (info.kind, info.schema_version, info.journal_path) == ("journal", 1, _journal(db_path))
    events = list(read_journal_events(_journal(db_path)))
    assert [e.seq for e in events] == list(range(1, 2501))
    assert read_cached_contracts(db_path) == [] and read_cached_contracts(_journal(db_path)) == []
    assert _files(db_path.parent) == before


def test_reader_of_a_crashed_store_reads_the_wal_and_writes_nothing(db_path, clock, tmp_path):
    # A daemon killed with -9 leaves its newest commits in -wal (copied here while it is open).
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    s = Store(db_path, clock)
    s.append_events([order_event(order_id=i) for i in range(1, 11)])
    for suffix in ("", "-wal"):
        shutil.copyfile(str(_journal(db_path)) + suffix, crashed / f"risk_manager-journal.db{suffix}")
    s.close()
    assert (crashed / "risk_manager-journal.db-wal").stat().st_size > 0
    before = _files(crashed)
    assert len(list(read_journal_events(crashed / "risk_manager-journal.db"))) == 10
    assert _files(crashed) == before


def test_reader_refuses_what_is_not_a_store_file(tmp_path):
    garbage = tmp_path / "x.db"
    garbage.write_bytes(b"\x00" * 100)
    with pytest.raises(StoreError, match="not an SQLite database"):
        inspect_store_file(garbage)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(StoreError, match="neither a risk-manager event journal nor its main database"):
        inspect_store_file(other)
