"""Owner-only state, logs and backups (docs/operations.md: 0700 dirs, 0600 files on POSIX).

The store, the journal, their backups and the daemon log hold account ids, P&L, the audit trail
and admin session hashes: nobody else on the machine should read them. Files are *created*
owner-only (SQLite gives a database's -wal/-shm the mode of the database file, so creating the
database file 0600 covers those too), and `fix_modes` tightens what an older version left behind.
Elsewhere (Windows) these are no-ops: the ACLs of the service's directories apply.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

POSIX = os.name == "posix"
DIR_MODE = 0o700
FILE_MODE = 0o600
#: Permission bits for anyone but the owner.
_OTHERS = stat.S_IRWXG | stat.S_IRWXO


def private_dir(path: Path) -> Path:
    """Create `path` 0700 (and missing parents) if it does not exist. An existing directory is
    left as it is: `fix_modes` tightens the daemon's own at start and logs what it changed."""
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        tighten(path)  # mkdir's mode passes through the umask; this does not
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty and 0600 if it does not exist (an existing file is left alone, as
    in `private_dir`)."""
    if POSIX:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        try:
            os.close(os.open(path, flags, FILE_MODE))
        except FileExistsError:
            pass
    else:
        path.touch(exist_ok=True)
    return path


def tighten(path: Path) -> int | None:
    """Take group/other permissions away from `path` (not following a symlink); returns the old
    mode when it changed, else None."""
    if not POSIX:
        return None
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not st.st_mode & _OTHERS:
        return None
    wanted = DIR_MODE if stat.S_ISDIR(st.st_mode) else FILE_MODE
    os.chmod(path, wanted)
    return stat.S_IMODE(st.st_mode)


def fix_modes(state_dir: Path, log_dir: Path) -> tuple[list[tuple[Path, int]], list[str]]:
    """Make the state dir (all of it: store, journal, backups, secrets, runtime files) and the
    daemon's logs owner-only. Returns ([(path, old mode)] changed, [errors])."""
    fixed: list[tuple[Path, int]] = []
    errors: list[str] = []
    if not POSIX:
        return fixed, errors
    # The service links config/state -> /var/lib/risk-manager: judge the directory itself.
    state_dir, log_dir = state_dir.resolve(), log_dir.resolve()

    def one(path: Path) -> None:
        try:
            old = tighten(path)
        except OSError as exc:  # e.g. a file owned by someone else: say so, go on
            errors.append(f"{path}: {exc}")
            return
        if old is not None:
            fixed.append((path, old))

    if state_dir.is_dir():
        one(state_dir)
        for root, dirs, files in os.walk(state_dir):  # does not follow symlinked dirs
            for name in (*dirs, *files):
                one(Path(root) / name)
    if log_dir.is_dir():
        one(log_dir)
        for path in sorted(log_dir.glob("daemon.log*")):
            one(path)
    return fixed, errors
