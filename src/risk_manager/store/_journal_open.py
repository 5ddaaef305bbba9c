"""Opening the event journal file: a journal the daemon cannot use is moved aside, never fatal.

The journal holds no fact the daemon cannot do without: every event in it came from the broker,
which still knows the positions, orders and trades (REST reconciliation rebuilds them); locks and
the audit log live in the main file. So a journal that is damaged, of a newer schema, of another
schema (e.g. a journal once opened as a main database and migrated) or unreadable is renamed
``<name>.corrupt-<UTC stamp>`` (kept for `risk-manager replay` and inspection) and a new one is
created, rather than refusing to start and leaving the account unguarded. The main file is not
treated so: a newer main schema is refused (moving it aside would drop the locks).
"""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import datetime
from functools import cache
from pathlib import Path

from risk_manager.store.database import OpenedFile, _move_aside, open_checked
from risk_manager.store.records import StoreError
from risk_manager.store.schema import JOURNAL_MIGRATIONS, migrate

#: Errors that are about another process, not about the file: never a reason to move it.
_TRANSIENT = ("database is locked", "database table is locked", "busy")

Schema = dict[str, tuple[str, ...]]


def _tables(conn: sqlite3.Connection) -> Schema:
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return {n: tuple(r[1] for r in conn.execute(f'PRAGMA table_info("{n}")')) for n in names}


@cache
def expected_schema(version: int) -> Schema:
    """Tables and columns a journal file has at `version` (built by running the migrations)."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        migrate(conn, target=version, migrations=JOURNAL_MIGRATIONS)
        return _tables(conn)
    finally:
        conn.close()


def schema_problem(path: Path) -> str | None:
    """Why the journal at `path` is not a journal this program can write to, judged from its
    schema; None when it is fine, absent, or unreadable (open_checked judges damaged files)."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = _tables(conn)
    except sqlite3.DatabaseError:
        return None
    finally:
        conn.close()
    latest = len(JOURNAL_MIGRATIONS)
    if version > latest:
        return (f"journal schema version {version} is newer than this program's ({latest})"
                + (f"; it also holds tables of the main database ({', '.join(sorted(set(tables) - {'journal'}))})"
                   if set(tables) - {"journal"} else ""))
    if tables != expected_schema(version):
        return (f"not an event journal of schema version {version}: tables "
                f"{', '.join(sorted(tables)) or 'none'} (expected {', '.join(expected_schema(version)) or 'none'})")
    return None


def open_journal(path: Path, now: datetime, *, full_check_limit: int | None) -> OpenedFile:
    """Open (create, check, migrate) the journal; an unusable one is moved aside and replaced,
    and the result says where it went and why (`corrupt_moved_to`, `corrupt_reason`)."""
    problem = schema_problem(path)
    if problem is None:
        try:
            return open_checked(path, now, JOURNAL_MIGRATIONS, full_check_limit=full_check_limit)
        except (StoreError, OSError) as exc:  # OSError: e.g. a directory where the file should be
            text = str(exc).lower()
            if not path.exists() or any(t in text for t in _TRANSIENT):
                raise
            problem = f"unreadable: {exc}"
    try:
        moved = _move_aside(path, now)
    except OSError as exc:
        raise StoreError(f"journal {path} is unusable ({problem}) and cannot be moved aside: {exc}") from exc
    opened = open_checked(path, now, JOURNAL_MIGRATIONS, full_check_limit=full_check_limit)
    return dataclasses.replace(opened, created=True, corrupt_moved_to=moved, corrupt_reason=problem)
