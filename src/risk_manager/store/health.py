"""Whether the store's writes are landing (docs/operations.md: a failing store is visible, never silent)."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from risk_manager.store.records import StoreError


class StoreFileMoved(StoreError):
    """The file at the store's path is not the one open: it was deleted or replaced while the
    daemon ran. SQLite keeps writing into the unlinked file without an error, so such a write
    looks committed but is gone at the next start; the store must be reopened."""


#: What a store write raises when the disk, the file or SQLite fails.
WRITE_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error, StoreError, OSError)


def file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of `path`, or None when nothing is there."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


@dataclass
class StoreHealth:
    """Write failures seen by the store; `recovered` is called by whoever proved it writes again
    (the daemon's ledger, after every pending lock is durable)."""

    failing_since: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    write_errors: int = 0
    recoveries: int = 0

    @property
    def ok(self) -> bool:
        return self.failing_since is None

    def failed(self, exc: BaseException, now: datetime) -> None:
        self.write_errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        self.last_error_at = now
        if self.failing_since is None:
            self.failing_since = now

    def recovered(self) -> None:
        if self.failing_since is not None:
            self.failing_since = None
            self.recoveries += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": "ok" if self.ok else "failing",
            "failing_since": self.failing_since.isoformat() if self.failing_since else None,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at.isoformat() if self.last_error_at else None,
            "write_errors": self.write_errors,
            "recoveries": self.recoveries,
        }
