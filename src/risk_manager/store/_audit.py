"""The enforcement audit log and crash-safety intents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from risk_manager.store._base import StoreBase
from risk_manager.store.codec import json_in, json_out, ts_in, ts_out, ts_req
from risk_manager.store.records import AuditRow, Intent

_AUDIT_COLUMNS = (
    "id, ts, account_id, rule, action, reason, phase, detail, event_received_ns, decided_ns, "
    "sent_ns, response_ns, confirmed_ns, intent_id"
)
_INTENT_COLUMNS = "id, account_id, kind, rule, reason, detail, created_at, completed_at, outcome"


def _audit_from_row(r: tuple[Any, ...]) -> AuditRow:
    return AuditRow(
        id=r[0], ts=ts_req(r[1]), account_id=r[2], rule=r[3], action=r[4], reason=r[5],
        phase=r[6], detail=json_in(r[7]), event_received_ns=r[8], decided_ns=r[9], sent_ns=r[10],
        response_ns=r[11], confirmed_ns=r[12], intent_id=r[13],
    )


def _intent_from_row(r: tuple[Any, ...]) -> Intent:
    return Intent(
        id=r[0], account_id=r[1], kind=r[2], rule=r[3], reason=r[4], detail=json_in(r[5]),
        created_at=ts_req(r[6]), completed_at=ts_in(r[7]), outcome=r[8],
    )


class AuditMixin(StoreBase):
    def audit(
        self,
        account_id: int | None,
        rule: str,
        action: str,
        reason: str,
        phase: str,
        detail: dict[str, Any] | None = None,
        *,
        event_received_ns: int | None = None,
        decided_ns: int | None = None,
        sent_ns: int | None = None,
        response_ns: int | None = None,
        confirmed_ns: int | None = None,
        intent_id: int | None = None,
        ts: datetime | None = None,
    ) -> int:
        """Append one durable audit row; returns its id.

        `action`: what was done ("Flatten", "CancelOrder", "SetLock", "unlock", ...); `phase`:
        decided | sent | response | confirmed | failed | retry | skipped | ...; timings are
        time.monotonic_ns() values (None when not applicable)."""
        return self._insert(
            f"INSERT INTO audit ({_AUDIT_COLUMNS}) VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?)",
            (
                ts_out(ts or self._now(), "audit ts"), account_id, rule, action, reason, phase,
                json_out(detail), event_received_ns, decided_ns, sent_ns, response_ns,
                confirmed_ns, intent_id,
            ),
        )

    def audit_rows(
        self,
        account_id: int | None = None,
        *,
        limit: int = 1000,
        since: datetime | None = None,
        after_id: int = 0,
        intent_id: int | None = None,
    ) -> list[AuditRow]:
        """The most recent `limit` matching rows, oldest first. `since` filters on ts (>=),
        `after_id` on id (>) for incremental polling."""
        sql = f"SELECT {_AUDIT_COLUMNS} FROM audit WHERE id > ?"
        params: list[Any] = [after_id]
        if account_id is not None:
            sql += " AND account_id = ?"
            params.append(account_id)
        if since is not None:
            sql += " AND ts >= ?"
            params.append(ts_out(since, "since"))
        if intent_id is not None:
            sql += " AND intent_id = ?"
            params.append(intent_id)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        return [_audit_from_row(r) for r in reversed(self._rows(sql, params))]

    # -- intents -------------------------------------------------------------------------
    def begin_intent(
        self, account_id: int, kind: str, rule: str, reason: str,
        detail: dict[str, Any] | None = None,
    ) -> int:
        """Durably record that a broker action (e.g. kind="flatten") was decided; returns its id.
        Until `complete_intent`, a restart finds it in `open_intents()` and re-issues it."""
        return self._insert(
            "INSERT INTO intents (account_id, kind, rule, reason, detail, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (account_id, kind, rule, reason, json_out(detail), ts_out(self._now())),
        )

    def complete_intent(self, intent_id: int, outcome: str) -> bool:
        """Close an intent with its outcome ("confirmed", "failed: ...", "superseded", ...).
        Returns False when it does not exist or was already completed."""
        cur = self._write(
            "UPDATE intents SET completed_at = ?, outcome = ? "
            "WHERE id = ? AND completed_at IS NULL",
            (ts_out(self._now()), outcome, intent_id),
        )
        return cur.rowcount == 1

    def open_intents(self, account_id: int | None = None) -> list[Intent]:
        """Intents decided but not completed, oldest first."""
        sql = f"SELECT {_INTENT_COLUMNS} FROM intents WHERE completed_at IS NULL"
        params: tuple[int, ...] = ()
        if account_id is not None:
            sql += " AND account_id = ?"
            params = (account_id,)
        return [_intent_from_row(r) for r in self._rows(sql + " ORDER BY id", params)]

    def get_intent(self, intent_id: int) -> Intent | None:
        row = self._row(f"SELECT {_INTENT_COLUMNS} FROM intents WHERE id = ?", (intent_id,))
        return None if row is None else _intent_from_row(row)
