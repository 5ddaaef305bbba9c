"""Opening a SQLite file: pragmas, integrity check, moving a corrupt file aside, migrations."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from risk_manager.private_files import private_dir, private_file
from risk_manager.store.records import StoreError
from risk_manager.store.schema import migrate, schema_version

#: How long a statement waits for another connection's lock before failing (ms).
BUSY_TIMEOUT_MS = 5000

# Primary result codes that mean "this file is damaged / not a database" (as opposed to locked,
# read-only, disk full … which must never cause the file to be moved aside).
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26


class _Corrupt(Exception):
    pass


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode with the house pragmas (WAL, synchronous=FULL, FKs)."""
    if read_only:
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None,
            check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000,
        )
    else:
        conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
        )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if not read_only:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            conn.close()
            raise StoreError(f"{path}: could not switch to WAL journal mode (got {mode!r})")
    # FULL: in WAL mode every commit fsyncs the WAL, so a committed row survives power loss.
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text


_HEADER = b"SQLite format 3\x00"


def _check_header(path: Path) -> None:
    # Judged before SQLite opens the file, so its -wal/-shm are left untouched for inspection.
    try:
        with path.open("rb") as fh:
            head = fh.read(len(_HEADER))
    except FileNotFoundError:
        return
    if head and head != _HEADER:
        raise _Corrupt(f"not an SQLite database (header {head[:16]!r})")


def _probe(conn: sqlite3.Connection) -> None:
    """A cheap check for files too big to quick_check at start-up: read the schema and the last
    rows of every table (the pages an append-only table touches most)."""
    tables = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )]
    for table in tables:
        conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid DESC LIMIT 200').fetchall()


def _check(path: Path, full_check_limit: int | None) -> sqlite3.Connection:
    """Connect and check; raise _Corrupt(reason) when the file is damaged.

    ``PRAGMA quick_check`` reads the whole file; above `full_check_limit` bytes only `_probe`
    runs (Store.integrity_check() does the full check later, off the start-up path)."""
    _check_header(path)
    # Created 0600 before SQLite sees it: its -wal/-shm then get the same owner-only mode. An
    # existing file keeps its mode here (the daemon tightens its own at start, and says so).
    try:
        private_file(path)
    except OSError as exc:
        raise StoreError(f"cannot create the store file {path}: {exc}") from exc
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        size = path.stat().st_size if path.exists() else 0
        if full_check_limit is not None and size > full_check_limit:
            _probe(conn)
        else:
            rows = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
            if rows != ["ok"]:
                raise _Corrupt("quick_check: " + "; ".join(str(r) for r in rows[:5]))
        conn.close()
        return connect(path)
    except sqlite3.DatabaseError as exc:
        if conn is not None:
            conn.close()
        if _is_corruption(exc):
            raise _Corrupt(f"{type(exc).__name__}: {exc}") from exc
        raise StoreError(f"cannot open store {path}: {exc}") from exc
    except _Corrupt:
        if conn is not None:
            conn.close()
        raise


def _move_aside(path: Path, now: datetime) -> Path:
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    path.replace(target)
    # The WAL and shared-memory files belong to the damaged database: keep them with it.
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.replace(target.with_name(target.name + suffix))
    return target


@dataclass(frozen=True, slots=True)
class OpenedFile:
    conn: sqlite3.Connection
    created: bool
    corrupt_moved_to: Path | None
    corrupt_reason: str | None
    migrated_from: int
    schema_version: int


def open_checked(
    path: Path,
    now: datetime,
    migrations: tuple[str, ...],
    *,
    full_check_limit: int | None = None,
) -> OpenedFile:
    """Open (creating if needed), check and migrate one SQLite file.

    A file that is not SQLite or fails the check is renamed to ``<name>.corrupt-<UTC stamp>``
    (with its -wal/-shm) and a fresh, empty file is created in its place; the result says so.
    Other failures (permissions, locked, newer schema) raise StoreError.
    """
    path = Path(path)
    try:
        private_dir(path.parent)
    except OSError as exc:
        raise StoreError(f"cannot create the store directory {path.parent}: {exc}") from exc
    created = not path.exists() or path.stat().st_size == 0
    moved_to: Path | None = None
    reason: str | None = None
    try:
        conn = _check(path, full_check_limit)
    except _Corrupt as exc:
        reason = str(exc)
        moved_to = _move_aside(path, now)
        created = True
        conn = _check(path, full_check_limit)
    try:
        before = migrate(conn, migrations=migrations)
    except (RuntimeError, sqlite3.Error) as exc:
        conn.close()
        raise StoreError(f"cannot migrate store {path}: {exc}") from exc
    return OpenedFile(conn, created, moved_to, reason, before, schema_version(conn))
