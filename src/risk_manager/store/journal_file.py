"""Journal files for `risk-manager replay`: JSON Lines, one ``Event.to_json()`` object per line.

A journal written by a process that died mid-write ends in a partial line; readers ignore such a
last line (it was never a complete record). Any other malformed line is an error naming the file
and line number, or is passed to `on_bad_line` and skipped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from risk_manager.events import Event
from risk_manager.store.records import JournalFileError

BadLineHandler = Callable[[JournalFileError], None]


def _parse(raw: bytes) -> Event:
    obj = json.loads(raw.decode("utf-8"))
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    return Event.from_json(obj)


def read_journal_file(
    path: str | os.PathLike[str], *, on_bad_line: BadLineHandler | None = None
) -> Iterator[Event]:
    """Yield the events of a journal file in order (lazily: a busy day does not fill memory).

    A truncated last line (no trailing newline, not parseable) is silently ignored. A malformed
    line elsewhere raises JournalFileError unless `on_bad_line` is given, which then receives the
    error and the line is skipped.
    """
    path = Path(path)
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            complete = raw.endswith(b"\n")
            if not raw.strip():
                continue
            try:
                yield _parse(raw)
            except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
                if not complete:
                    return  # the writer died mid-line: not a record
                error = JournalFileError(path, line_no, f"{type(exc).__name__}: {exc}")
                if on_bad_line is None:
                    raise error from exc
                on_bad_line(error)


def write_journal_lines(path: str | os.PathLike[str], lines: Iterable[str]) -> int:
    """Atomically write JSON lines (already serialised) to `path`; returns the line count.

    Written to a temporary file, fsynced, then renamed, so a crash never leaves a half file under
    the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    count = 0
    try:
        with tmp.open("w", encoding="utf-8", newline="\n") as fh:
            for line in lines:
                fh.write(line)
                fh.write("\n")
                count += 1
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count
