"""The append-only event journal."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

from risk_manager.events import Event
from risk_manager.store._base import StoreBase
from risk_manager.store.codec import ts_out
from risk_manager.store.journal_file import (
    BadLineHandler,
    read_journal_file,
    write_journal_lines,
)

_INSERT = (
    "INSERT INTO journal (received_at, kind, account_id, contract_id, payload) "
    "VALUES (?, ?, ?, ?, ?)"
)
_PAGE = 1000

# Built once: json.dumps with non-default separators builds a new encoder on every call.
_encode = json.JSONEncoder(separators=(",", ":")).encode


def event_payload(event: Event) -> str:
    """The journal's JSON text of `event`: the document of `Event.to_json()`, written by orjson.

    orjson serialises the payload dataclass and its datetimes itself (the same ISO text as
    `isoformat()`), measured ~5x cheaper than `to_json()` + json's encoder (13 us against 65 us a
    quote row on a loaded machine, 20 us unloaded); every journaled event, raw quotes included,
    pays it on the event loop. Anything orjson cannot write (an integer beyond 64 bits) takes the
    old path, so no event goes unjournaled for it."""
    try:
        return orjson.dumps({
            "kind": event.kind.value, "account_id": event.account_id, "contract_id": event.contract_id,
            "action": event.action, "source": event.source, "received_ns": event.received_ns,
            "received_at": event.received_at, "data": event.data,
        }).decode()
    except TypeError:
        return _encode(event.to_json())


def _ts_column(value: datetime) -> str:
    if value.tzinfo is UTC:  # the clocks' own zone: skip ts_out's conversion
        return value.isoformat(timespec="microseconds")
    return ts_out(value, "Event.received_at")


class JournalMixin(StoreBase):
    def _journal_row(self, event: Event) -> tuple[Any, ...]:
        received_at = event.received_at or self._now()
        return (_ts_column(received_at), event.kind.value,
                event.account_id, event.contract_id, event_payload(event))

    def append_event(self, event: Event) -> int:
        """Journal one event (committed on return: in the OS with synchronous=NORMAL, fsynced
        with FULL); returns its seq."""
        row = self._journal_row(event)
        with self._lock:
            # One INSERT in autocommit mode is its own atomic commit (or joins the caller's
            # transaction): no BEGIN/COMMIT round trips on the per-event path.
            rowid = self._conn.execute(_INSERT, row).lastrowid
        self._journal_written()
        assert rowid is not None
        return rowid

    def append_events(self, events: Iterable[Event]) -> list[int]:
        """Journal many events in ONE transaction (one fsync); returns their seqs in order.

        All or nothing: after a crash either every event of the batch is in the journal or none.
        """
        rows = [self._journal_row(e) for e in events]
        if not rows:
            return []
        with self.transaction():
            seqs = [int(self._conn.execute(_INSERT, row).lastrowid or 0) for row in rows]
        self._journal_written()
        return seqs

    def _journal_written(self) -> None:
        checkpointer = getattr(self, "_checkpointer", None)
        if checkpointer is not None:
            checkpointer.mark_dirty()

    def last_seq(self) -> int:
        return int(self._scalar("SELECT MAX(seq) FROM journal") or 0)

    def _journal_page(
        self, after: int, account_id: int | None, since: datetime | None, limit: int
    ) -> list[tuple[int, str]]:
        sql = "SELECT seq, payload FROM journal WHERE seq > ?"
        params: list[Any] = [after]
        if account_id is not None:
            sql += " AND account_id = ?"
            params.append(account_id)
        if since is not None:
            sql += " AND received_at >= ?"
            params.append(ts_out(since, "since"))
        sql += " ORDER BY seq LIMIT ?"
        params.append(limit)
        return self._rows(sql, params)

    def _iter_payloads(
        self, since_seq: int, account_id: int | None, since: datetime | None
    ) -> Iterator[tuple[int, str]]:
        # Page by seq so no read transaction stays open between pages (writers keep going).
        after = since_seq
        while True:
            page = self._journal_page(after, account_id, since, _PAGE)
            yield from page
            if len(page) < _PAGE:
                return
            after = page[-1][0]

    def iter_events(
        self, since_seq: int = 0, account_id: int | None = None, *, since: datetime | None = None
    ) -> Iterator[Event]:
        """Events with seq > `since_seq` (optionally one account's, received at/after `since`),
        in journal order, each with its `seq` set."""
        for seq, payload in self._iter_payloads(since_seq, account_id, since):
            yield dataclasses.replace(Event.from_json(json.loads(payload)), seq=seq)

    def export_journal(
        self,
        path: str | os.PathLike[str],
        since_seq: int = 0,
        *,
        since: datetime | None = None,
        account_id: int | None = None,
    ) -> int:
        """Write journal events as JSON Lines (one Event.to_json() per line) for
        `risk-manager replay`; atomic (temp file + rename). Returns the number of events."""
        return write_journal_lines(
            path, (payload for _, payload in self._iter_payloads(since_seq, account_id, since))
        )

    def import_journal(
        self, path: str | os.PathLike[str], *, on_bad_line: BadLineHandler | None = None,
        batch: int = 1000,
    ) -> int:
        """Append the events of a journal file (see read_journal_file) in batches; returns count."""
        count = 0
        chunk: list[Event] = []
        for event in read_journal_file(path, on_bad_line=on_bad_line):
            chunk.append(event)
            if len(chunk) >= batch:
                count += len(self.append_events(chunk))
                chunk = []
        count += len(self.append_events(chunk))
        return count
