"""The connection, its lock and transactions; shared by the Store's table mixins."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from risk_manager.clock import Clock
from risk_manager.store.health import StoreFileMoved, StoreHealth, file_identity


class StoreBase:
    path: Path
    journal_path: Path
    _conn: sqlite3.Connection
    _lock: threading.RLock
    _clock: Clock
    _depth: int
    #: Write failures (disk full, I/O, a deleted file): the daemon shows and alerts them.
    health: StoreHealth
    #: (device, inode) of the core file as opened; see `_check_home`.
    _home: tuple[int, int] | None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one atomic, durable commit (one fsync for all of them).

        Nested use joins the outer transaction. Holds the store's lock throughout, so keep the
        block short and free of network I/O.
        """
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                self._write_failed(exc)
                raise
            self._depth = 1
            try:
                yield
            except BaseException as exc:
                self._depth = 0
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                self._write_failed(exc)
                raise
            self._depth = 0
            try:
                self._conn.execute("COMMIT")
            except BaseException as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                self._write_failed(exc)
                raise

    def _write_failed(self, exc: BaseException) -> None:
        # A constraint is the caller's mistake; anything else SQLite raises means writes fail.
        if isinstance(exc, sqlite3.Error) and not isinstance(exc, sqlite3.IntegrityError):
            self.health.failed(exc, self._now())

    def _check_home(self) -> None:
        """Raise StoreFileMoved when the core file was deleted or replaced since it was opened:
        SQLite goes on "committing" into the unlinked file, so a write is not durable then."""
        if file_identity(self.path) != self._home:
            exc = StoreFileMoved(
                f"{self.path} was deleted or replaced while open; writes since then are lost"
            )
            self.health.failed(exc, self._now())
            raise exc

    def _now(self) -> datetime:
        return self._clock.now()

    def _rows(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def _row(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> tuple[Any, ...] | None:
        with self._lock:
            return self._conn.execute(sql, params).fetchone()

    def _scalar(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> Any:
        """First column of a query that always returns one row (COUNT, MAX, ...)."""
        row = self._row(sql, params)
        assert row is not None, sql
        return row[0]

    def _insert(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> int:
        """Execute an INSERT in its own (or the enclosing) transaction; returns the rowid."""
        rowid = self._write(sql, params).lastrowid
        assert rowid is not None, sql
        return rowid

    def _write(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> sqlite3.Cursor:
        """Execute one statement in its own (or the enclosing) transaction."""
        with self.transaction():
            return self._conn.execute(sql, params)
