"""An in-memory daemon implementing StatusProvider: the status API's collaborator in tests.

It keeps real state (accounts, locks, audit trail) and publishes `lock_set`/`lock_cleared` through
the API it is attached to, like the real daemon does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from risk_manager.clock import ManualClock
from risk_manager.daemon.status_api import AdminRequestError, StatusAPI

T0 = datetime(2026, 11, 21, 15, 30, tzinfo=UTC)
RESET = datetime(2026, 11, 21, 23, 0, tzinfo=UTC)


def sample_account(account_id: int = 123, name: str = "PRAC-V2-1-123") -> dict[str, Any]:
    return {
        "id": account_id, "name": name, "balance": 50000.0, "can_trade": True,
        "realized_pnl": -120.5, "unrealized_pnl": 35.0, "total_pnl": -85.5, "trades_today": 4,
        "locked": False, "locks": [],
        "positions": [{"contract_id": "CON.F.US.MNQ.U26", "symbol": "MNQ", "side": "long", "size": 2,
                       "average_price": 21000.25, "mark": 21010.0, "unrealized_pnl": 35.0, "stale": False,
                       "opened_at": "2026-11-21T15:29:00+00:00", "has_stop": False, "stop_deadline_s": 12.5}],
        "orders": [{"id": 99, "contract_id": "CON.F.US.MNQ.U26", "symbol": "MNQ", "type": "limit",
                    "side": "sell", "size": 2, "limit_price": 21050.0, "stop_price": None, "status": "open"}],
        "rules": [
            {"rule": "R01", "name": "max_contracts", "enabled": True, "mode": "enforce",
             "value": 2, "limit": 5, "used_pct": 40.0, "pending": None},
            {"rule": "R03", "name": "daily_realized_loss", "enabled": True, "mode": "enforce",
             "value": -120.5, "limit": -500.0, "used_pct": 24.1, "pending": None},
        ],
    }


class InMemoryDaemon:
    """Implements risk_manager.daemon.status_api.StatusProvider over plain dicts."""

    def __init__(self, clock: ManualClock | None = None) -> None:
        self.clock = clock or ManualClock(T0)
        self.api: StatusAPI | None = None
        self.accounts: dict[int, dict[str, Any]] = {123: sample_account()}
        self.audit_log: list[tuple[str, dict[str, Any]]] = []
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.pending: list[dict[str, Any]] = []
        self.enforcement: list[dict[str, Any]] = []
        self.ready = True

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def _with_remaining(self, acct: dict[str, Any]) -> dict[str, Any]:
        locks = []
        for lock in acct["locks"]:
            until = datetime.fromisoformat(lock["until"]) if lock.get("until") else None
            locks.append(dict(lock, remaining_s=max(0.0, (until - self.now).total_seconds()) if until else None))
        return dict(acct, locks=locks)

    def status(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "daemon": {"state": "running", "version": "0.1.0", "started_at": T0.isoformat(), "pid": 1},
            "now": self.now.isoformat(),
            "timezone": "America/Chicago",
            "trading_day": {"start": (RESET - timedelta(days=1)).isoformat(), "end": RESET.isoformat(),
                            "reset_in_s": (RESET - self.now).total_seconds()},
            "session": {"open": True, "next_open": None, "next_close": "2026-11-21T21:00:00+00:00",
                        "holiday": None, "early_close": None},
            "connections": {"rest": "ok", "user_hub": "connected", "market_hub": "connected",
                            "last_event_age_s": 0.4},
            "pending_changes": list(self.pending),
            "accounts": [self._with_remaining(a) for a in self.accounts.values()],
            "enforcement": list(self.enforcement),
        }

    def metrics_text(self) -> str:
        return "# TYPE rm_events_total counter\nrm_events_total 42\n"

    def _account(self, account_id: int) -> dict[str, Any]:
        if account_id not in self.accounts:
            raise AdminRequestError(f"unknown account {account_id}", status=404)
        return self.accounts[account_id]

    def set_lock(self, account_id: int, lock: dict[str, Any]) -> None:
        acct = self._account(account_id)
        acct["locks"] = [lk for lk in acct["locks"] if lk["rule"] != lock["rule"]] + [lock]
        acct["locked"] = True
        if self.api:
            self.api.publish({"type": "lock_set", "account_id": account_id, "ts": self.now.isoformat(),
                              "data": lock})

    def clear_locks(self, account_id: int, reason: str, rule: str | None = None) -> list[str]:
        acct = self._account(account_id)
        cleared = [lk["rule"] for lk in acct["locks"] if rule is None or lk["rule"] == rule]
        acct["locks"] = [lk for lk in acct["locks"] if lk["rule"] not in cleared]
        acct["locked"] = bool(acct["locks"])
        for r in cleared:
            if self.api:
                self.api.publish({"type": "lock_cleared", "account_id": account_id,
                                  "ts": self.now.isoformat(), "data": {"rule": r, "reason": reason}})
        return cleared

    async def admin_lock(self, account_id, until, until_reset, reason, by):
        self.calls.append(("lock", (account_id, until, until_reset, reason, by)))
        end = RESET if until_reset else until
        lock = {"rule": "manual", "kind": "lockout", "reason": reason,
                "until": end.isoformat() if end else None,
                "remaining_s": (end - self.now).total_seconds() if end else None,
                "ends": "reset" if until_reset else ("time" if until else "manual"), "symbol": None}
        self.set_lock(account_id, lock)
        self.audit("admin_lock", {"account_id": account_id, "by": by, "reason": reason})
        return lock

    async def admin_unlock(self, account_id, reason, by, rule):
        self.calls.append(("unlock", (account_id, reason, by, rule)))
        cleared = self.clear_locks(account_id, reason, rule)
        if not cleared:
            raise AdminRequestError(f"account {account_id} has no active lock to clear", status=409)
        self.audit("admin_unlock", {"account_id": account_id, "by": by, "reason": reason})
        return {"cleared": cleared}

    async def apply_pending(self, by):
        self.calls.append(("apply_pending", (by,)))
        applied, self.pending = self.pending, []
        return {"applied": applied}

    async def reload(self, by):
        self.calls.append(("reload", (by,)))
        return {"reloaded": True}

    def audit(self, event: str, detail: dict[str, Any]) -> None:
        self.audit_log.append((event, detail))
