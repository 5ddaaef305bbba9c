"""Reading the daemon's SQLite files without changing them (`risk-manager replay`).

The Store opens files to write: it creates, checks, migrates. A tool that only reads must not: a
journal opened as a main database gets the main schema, and the daemon then refuses it. Here
nothing is created or migrated, and nothing is written into the state dir:

- no ``-wal`` beside the file (a cleanly stopped daemon leaves none): opened ``immutable``, since
  even ``mode=ro`` would create ``-wal``/``-shm`` files;
- ``-wal`` and ``-shm`` present (a daemon running, or one that died): opened ``mode=ro``, reading
  the newest commits from the WAL through SQLite's shared index (``-shm``, which SQLite owns and
  rebuilds at will); the database and WAL files themselves are never written;
- ``-wal`` without ``-shm`` (left behind by a crash): the pair is copied to a temporary directory
  outside the state dir and read there.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from risk_manager.events import Contract, Event
from risk_manager.store._maintenance import journal_path_for
from risk_manager.store.codec import CONTRACT_COLUMNS, contract_from_row
from risk_manager.store.records import StoreError

_HEADER = b"SQLite format 3\x00"
_PAGE = 1000
#: Columns a journal table needs for its events to be read.
_JOURNAL_COLUMNS = {"seq", "received_at", "payload"}

Kind = Literal["journal", "main"]


def is_sqlite_file(path: Path) -> bool:
    try:
        with Path(path).open("rb") as fh:
            return fh.read(len(_HEADER)) == _HEADER
    except OSError:
        return False


@contextmanager
def read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection that cannot write `path` and creates no file beside it (see module doc)."""
    path = Path(path)
    wal, shm = path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")
    tmp: str | None = None
    try:
        if wal.exists() and shm.exists():
            uri = f"{path.resolve().as_uri()}?mode=ro"
        elif wal.exists():
            tmp = tempfile.mkdtemp(prefix="risk-manager-read-")
            copy = Path(tmp) / path.name
            shutil.copyfile(path, copy)
            shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
            uri = f"{copy.resolve().as_uri()}"  # a private copy: SQLite may apply the WAL to it
        else:
            uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
        try:
            conn = sqlite3.connect(uri, uri=True, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {path} read-only: {exc}") from exc
        try:
            yield conn
        finally:
            conn.close()
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _columns(conn: sqlite3.Connection) -> dict[str, set[str]]:
    tables = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    return {t: {r[1] for r in conn.execute(f'PRAGMA table_info("{t}")')} for t in tables}


@dataclass(frozen=True, slots=True)
class StoreFileInfo:
    """What a file is, as `risk-manager replay` reports it."""

    path: Path
    kind: Kind
    schema_version: int
    #: The file whose `journal` table holds the events (the file itself, or the journal beside a
    #: main database).
    journal_path: Path

    def describe(self) -> str:
        what = "event journal" if self.kind == "journal" else "main database"
        return f"{self.path}: {what} (schema {self.schema_version}), opened read-only"


def inspect_store_file(path: Path) -> StoreFileInfo:
    """Whether `path` is an event journal or a main database; StoreError saying why if neither."""
    path = Path(path)
    if not is_sqlite_file(path):
        raise StoreError(f"{path}: not an SQLite database")
    try:
        with read_only(path) as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            tables = _columns(conn)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot be read: {exc}") from exc
    if "journal" in tables:
        missing = _JOURNAL_COLUMNS - tables["journal"]
        if missing:
            raise StoreError(f"{path}: its journal table lacks {', '.join(sorted(missing))}")
        return StoreFileInfo(path, "journal", version, path)
    if "locks" in tables or "meta" in tables:
        return StoreFileInfo(path, "main", version, journal_path_for(path))
    raise StoreError(f"{path}: neither a risk-manager event journal nor its main database "
                     f"(tables: {', '.join(sorted(tables)) or 'none'})")


def journal_span(path: Path) -> tuple[int, str | None, str | None]:
    """(events, first received_at, last received_at) of a journal file."""
    with read_only(path) as conn:
        count, first, last = conn.execute(
            "SELECT COUNT(*), MIN(received_at), MAX(received_at) FROM journal").fetchone()
    return int(count), first, last


def read_journal_events(path: Path) -> Iterator[Event]:
    """The events of a journal file in seq order, each with its `seq` set (paged: a long day
    does not fill memory)."""
    with read_only(path) as conn:
        after = 0
        while True:
            page = conn.execute("SELECT seq, payload FROM journal WHERE seq > ? ORDER BY seq LIMIT ?",
                                (after, _PAGE)).fetchall()
            for seq, payload in page:
                yield dataclasses.replace(Event.from_json(json.loads(payload)), seq=seq)
            if len(page) < _PAGE:
                return
            after = page[-1][0]


def read_cached_contracts(path: Path) -> list[Contract]:
    """The contracts a main database cached from the Contract API ([] when it has none)."""
    with read_only(path) as conn:
        if "contracts" not in _columns(conn):
            return []
        rows = conn.execute(f"SELECT {CONTRACT_COLUMNS} FROM contracts ORDER BY id").fetchall()
    return [contract_from_row(r) for r in rows]


def read_balance_history(path: Path) -> list[tuple[int, Any, str, float]]:
    """The firm guards' balance history of a main database ([] when it has none), as
    `Store.balance_history` returns it."""
    from risk_manager.store._balance_history import SELECT_HISTORY, history_facts

    with read_only(path) as conn:
        if "balance_history" not in _columns(conn):
            return []
        return history_facts(conn.execute(f"{SELECT_HISTORY} ORDER BY trading_day, account_id").fetchall())
