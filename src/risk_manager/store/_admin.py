"""Admin sessions and login attempts (rate limiting and audit of failed logins).

Only SHA-256 hashes of session tokens are stored: a copy of the database grants no session."""

from __future__ import annotations

import hashlib
from datetime import datetime

from risk_manager.store._base import StoreBase
from risk_manager.store.codec import ts_out, ts_req
from risk_manager.store.records import LoginAttempt


def _token_hash(token: str) -> str:
    if not token:
        raise ValueError("admin session token must be a non-empty string")
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class AdminMixin(StoreBase):
    def record_login_attempt(
        self, ok: bool, source: str = "", detail: str = "", at: datetime | None = None
    ) -> int:
        return self._insert(
            "INSERT INTO login_attempts (at, ok, source, detail) VALUES (?, ?, ?, ?)",
            (ts_out(at or self._now(), "login time"), int(bool(ok)), source, detail),
        )

    def failed_logins_since(self, since: datetime, source: str | None = None) -> int:
        sql = "SELECT COUNT(*) FROM login_attempts WHERE ok = 0 AND at >= ?"
        params: list[object] = [ts_out(since, "since")]
        if source is not None:
            sql += " AND source = ?"
            params.append(source)
        return int(self._scalar(sql, params))

    def login_attempts(self, limit: int = 100) -> list[LoginAttempt]:
        rows = self._rows(
            "SELECT id, at, ok, source, detail FROM login_attempts ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [LoginAttempt(r[0], ts_req(r[1]), bool(r[2]), r[3], r[4]) for r in reversed(rows)]

    def create_admin_session(self, token: str, expires_at: datetime) -> None:
        self._write(
            "INSERT OR REPLACE INTO admin_sessions (token_sha256, created_at, expires_at) "
            "VALUES (?, ?, ?)",
            (_token_hash(token), ts_out(self._now()), ts_out(expires_at, "expires_at")),
        )

    def admin_session_valid(self, token: str, now: datetime | None = None) -> bool:
        if not token:
            return False
        row = self._row(
            "SELECT 1 FROM admin_sessions WHERE token_sha256 = ? AND revoked_at IS NULL "
            "AND expires_at > ?",
            (_token_hash(token), ts_out(now or self._now())),
        )
        return row is not None

    def revoke_admin_session(self, token: str) -> bool:
        cur = self._write(
            "UPDATE admin_sessions SET revoked_at = ? "
            "WHERE token_sha256 = ? AND revoked_at IS NULL",
            (ts_out(self._now()), _token_hash(token)),
        )
        return cur.rowcount == 1
