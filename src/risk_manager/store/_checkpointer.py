"""WAL checkpoints off the event loop.

SQLite's automatic checkpoint runs inside the COMMIT that crosses the WAL threshold: that commit
copies ~4 MB back into the database and fsyncs both files, a 4–15 ms stall on the thread that
journals events (the daemon's event loop). A PASSIVE checkpoint from a second connection in a
thread does the same work while the writer goes on appending: SQLite releases the GIL during
it, and PASSIVE never waits for the writer nor makes it wait. The writer's automatic checkpoint
stays enabled as the fallback, it is just never reached while this thread keeps up.

Durability is unchanged: a commit is in the WAL (the OS) before it returns, and the checkpoint
syncs the WAL before copying it, as the automatic one did.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)

#: How often a dirty WAL is checkpointed (seconds). At 2 000 events/s the journal WAL grows by
#: ~2–4 MB/s, so it stays around the size the automatic checkpoint (1 000 pages) allowed.
CHECKPOINT_INTERVAL_S = 0.25


class BackgroundCheckpointer:
    """Checkpoint the WALs of `paths` from a daemon thread whenever `mark_dirty()` was called."""

    def __init__(self, paths: list[Path], interval_s: float = CHECKPOINT_INTERVAL_S) -> None:
        self._paths = [str(p) for p in paths]
        self.interval_s = interval_s
        self._dirty = False
        self._stop = threading.Event()
        self.runs = 0
        self.failures = 0
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def mark_dirty(self) -> None:
        self._dirty = True  # a plain flag: the writer must not pay for a lock or a wake-up

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        conns: list[sqlite3.Connection] = []
        try:
            for path in self._paths:
                conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA synchronous = FULL")  # the checkpoint's own syncs
                conns.append(conn)
            while not self._stop.wait(self.interval_s):
                if not self._dirty:
                    continue
                self._dirty = False
                for conn in conns:
                    self._checkpoint(conn)
        except sqlite3.Error as exc:  # could not open: the writer's automatic checkpoint remains
            self.failures += 1
            log.warning("background checkpointer stopped: %s", exc)
        finally:
            for conn in conns:
                conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.runs += 1
        except sqlite3.Error as exc:  # busy/locked: the next round (or the automatic one) does it
            self.failures += 1
            if self.failures <= 5:
                log.warning("background checkpoint failed: %s", exc)
