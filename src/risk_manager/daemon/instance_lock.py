"""One daemon per state dir: an exclusive OS lock on `<state_dir>/daemon.lock`.

Two daemons on one store would both enforce and both write the journal. The OS drops the lock
when the process dies (even on kill -9), so a stale file never blocks a restart; the file itself
is left in place and only records the holder's pid for the error message.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO

LOCK_NAME = "daemon.lock"
#: Windows locks byte ranges and a locked range cannot be read by others: lock a byte far past
#: the pid text so a second daemon can still read who holds it.
_WIN_LOCK_OFFSET = 1 << 20


class AlreadyRunning(Exception):
    def __init__(self, path: Path, pid: int | None) -> None:
        who = f"pid {pid}" if pid is not None else "another process"
        super().__init__(f"another risk-manager daemon ({who}) is already using the state dir "
                         f"{path.parent} (lock file {path}); stop it first or give this one its "
                         "own state_dir")
        self.path = path
        self.pid = pid


def _try_lock(fh: IO[str]) -> bool:
    if sys.platform == "win32":
        import msvcrt

        fh.seek(_WIN_LOCK_OFFSET)
        try:
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # BlockingIOError: held elsewhere
        return False
    return True


def _unlock(fh: IO[str]) -> None:
    if sys.platform == "win32":
        import msvcrt

        fh.seek(_WIN_LOCK_OFFSET)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip().split("\0", 1)[0]
        return int(text.split()[0]) if text else None
    except (OSError, ValueError, IndexError):
        return None


class InstanceLock:
    """`acquire()` or raise `AlreadyRunning`; `release()` when the daemon is done."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / LOCK_NAME
        self._fh: IO[str] | None = None

    @property
    def held(self) -> bool:
        return self._fh is not None

    def acquire(self) -> None:
        if self._fh is not None:
            return
        from risk_manager.private_files import private_dir, private_file

        private_file(private_dir(self.path.parent) / self.path.name)
        # "a+" creates without truncating: the holder's pid must survive our failed attempt.
        fh = open(self.path, "a+", encoding="ascii")  # noqa: SIM115 - held open: it is the lock
        if not _try_lock(fh):
            fh.close()
            raise AlreadyRunning(self.path, _read_pid(self.path))
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        fh, self._fh = self._fh, None
        if fh is None:
            return
        try:
            _unlock(fh)
        except OSError:
            pass  # closing drops it anyway
        fh.close()
