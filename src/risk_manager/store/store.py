"""The Store: one writer connection over two SQLite files, every durable fact of the daemon."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Literal

from risk_manager.clock import Clock, SystemClock
from risk_manager.store._admin import AdminMixin
from risk_manager.store._audit import AuditMixin
from risk_manager.store._balance_history import BalanceHistoryMixin
from risk_manager.store._checkpointer import BackgroundCheckpointer
from risk_manager.store._daily import DailyMixin
from risk_manager.store._journal import JournalMixin
from risk_manager.store._journal_open import open_journal, refuse_journal_as_main
from risk_manager.store._locks import LockMixin
from risk_manager.store._maintenance import MaintenanceMixin, journal_path_for
from risk_manager.store._own_orders import OwnOrdersMixin
from risk_manager.store.database import open_checked
from risk_manager.store.health import StoreHealth, file_identity
from risk_manager.store.records import OpenReport, StoreError
from risk_manager.store.schema import MIGRATIONS

log = logging.getLogger(__name__)

#: Journal files up to this size get a full quick_check at open (~1 GB/s warm); bigger ones a
#: cheap probe, so start-up stays fast with 30 days of journal.
JOURNAL_FULL_CHECK_BYTES = 256 * 1024 * 1024


class Store(JournalMixin, LockMixin, AuditMixin, DailyMixin, AdminMixin, MaintenanceMixin,
            BalanceHistoryMixin, OwnOrdersMixin):
    """Open (create, check, migrate) the store at `path` (+ its journal file beside it).

    See the package docstring for the API. Thread-safe: every call takes one re-entrant lock
    around the single connection, so the event loop and a worker thread may share it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        clock: Clock | None = None,
        *,
        journal_path: str | os.PathLike[str] | None = None,
        journal_synchronous: Literal["FULL", "NORMAL"] = "FULL",
    ) -> None:
        if journal_synchronous not in ("FULL", "NORMAL"):
            raise ValueError(
                f"journal_synchronous must be FULL or NORMAL, got {journal_synchronous!r}"
            )
        self.path = Path(path)
        self.journal_path = Path(journal_path) if journal_path else journal_path_for(self.path)
        self._clock = clock or SystemClock()
        self._lock = threading.RLock()
        self._depth = 0
        self._closed = False
        self._journal_synchronous = journal_synchronous
        self.health = StoreHealth()
        self._open()

    def _open(self) -> None:
        now = self._clock.now()
        refuse_journal_as_main(self.path)
        core = open_checked(self.path, now, MIGRATIONS)
        self._conn = core.conn
        try:
            # An unusable journal (damaged, newer or foreign schema) is moved aside, not fatal.
            journal = open_journal(self.journal_path, now, full_check_limit=JOURNAL_FULL_CHECK_BYTES)
            journal.conn.close()
            self._journal_home = file_identity(self.journal_path)
            # Same connection: one lock, one transaction API; each file commits atomically.
            self._conn.execute("ATTACH DATABASE ? AS journal_db", (str(self.journal_path),))
            self._conn.execute("PRAGMA journal_db.journal_mode = WAL")
            # FULL: fsync per commit (survives power loss). NORMAL: a commit is in the OS before
            # the call returns (survives kill -9), fsynced at checkpoints; the core stays FULL.
            self._conn.execute(f"PRAGMA journal_db.synchronous = {self._journal_synchronous}")
        except BaseException as exc:
            self._conn.close()
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"cannot open journal {self.journal_path}: {exc}") from exc
        #: WAL checkpoints in a thread, so no journaling commit pays for one (see _checkpointer).
        self._checkpointer = BackgroundCheckpointer([self.path, self.journal_path])
        self._home = file_identity(self.path)
        #: How opening went: check `recovered_from_corruption` and alert when it is True.
        self.open_report = OpenReport(
            path=self.path,
            created=core.created,
            corrupt_moved_to=core.corrupt_moved_to,
            corrupt_reason=core.corrupt_reason,
            migrated_from=core.migrated_from,
            schema_version=core.schema_version,
            journal_path=self.journal_path,
            journal_created=journal.created,
            journal_corrupt_moved_to=journal.corrupt_moved_to,
            journal_corrupt_reason=journal.corrupt_reason,
        )

    def file_moved(self) -> str | None:
        """Why the store must be reopened (its core or journal file was deleted or replaced
        while open, so writes land in an unlinked file), or None."""
        for path, opened in ((self.path, self._home), (self.journal_path, self._journal_home)):
            if file_identity(path) != opened:
                return f"{path} was deleted or replaced while open"
        return None

    def reopen(self) -> None:
        """Close and open again at the same paths, creating a missing file (empty: the caller
        re-writes what it holds in memory, e.g. the daemon its locks). Health is kept."""
        with self._lock:
            if self._depth:
                raise StoreError("cannot reopen the store inside a transaction")
            # Close first: SQLite removes the -wal/-shm *by name* when its last connection to a
            # file closes, which must not hit the new file's.
            self._checkpointer.stop()
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
            self._open()

    def close(self) -> None:
        """Checkpoint the WALs and close. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._checkpointer.stop()
            try:
                self._conn.execute("PRAGMA main.wal_checkpoint(TRUNCATE)")
                self._conn.execute("PRAGMA journal_db.wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                # A full disk at shutdown: what is committed stays in the WAL, and the next
                # open replays it; closing must still release the file.
                log.warning("store close: checkpoint failed (%s); the WAL is kept", exc)
            finally:
                self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
