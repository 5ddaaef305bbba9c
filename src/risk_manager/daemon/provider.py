"""The daemon's side of the status API (`daemon/status_api.StatusProvider`)."""

from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Any

from risk_manager import __version__ as VERSION


class StatusProviderMixin:
    """Mixed into `Daemon`; reads its engine, hubs, executor and pipeline."""

    # -- read-only -----------------------------------------------------------------------
    def connections(self) -> dict[str, Any]:
        pipeline = getattr(self, "pipeline", None)
        last = pipeline.last_event_mono if pipeline is not None else None
        rest = getattr(self, "rest", None)
        return {
            "rest": "ok" if rest is not None and rest.last_response_monotonic is not None else "unknown",
            "user_hub": self.user_hub.state.value if self.user_hub is not None else "idle",
            "market_hub": self.market_hub.state.value if self.market_hub is not None else "idle",
            "last_event_age_s": None if last is None else round(time.monotonic() - last, 3),
        }

    def status(self) -> dict[str, Any]:
        now = self.clock.now()
        engine = self.engine
        accounts = []
        if engine is not None:
            for aid in self.accounts:
                row = engine.snapshot(aid, now)
                row["name"] = row.get("name") or self.accounts[aid]
                row["pnl_history"] = self.pnl_history(aid)
                accounts.append(row)
        doc: dict[str, Any] = {
            "ready": self.ready.is_set() and self.state == "running",
            "daemon": {"state": self.state, "version": VERSION, "started_at": self.started_at.isoformat(),
                       "pid": os.getpid()},
            "now": now.isoformat(),
            "connections": self.connections(),
            "pending_changes": self.pending_changes(now),
            "accounts": accounts,
            "enforcement": list(self.enforcement_log[-50:]),
            "counters": {**self.counters, **(self.pipeline.counters if self.pipeline else {}),
                         "hub_malformed": sum(h.stats.malformed for h in (self.user_hub, self.market_hub)
                                              if h is not None)},
        }
        alerts = getattr(self, "alerts", None)
        if alerts is not None:  # channel names and errors carry no secret (scrubbed by the dispatcher)
            doc["alerts"] = {name: {"sent": st.sent, "failed": st.failed, "retries": st.retries,
                                    "dropped": st.dropped, "last_error": st.last_error}
                             for name, st in alerts.dispatcher.stats.items()}
        if engine is not None:
            td = engine.config.trading_day
            start, end = engine.timeline.day_bounds(now)
            doc["timezone"] = td.timezone
            doc["trading_day"] = {"start": start.isoformat(), "end": end.isoformat(),
                                  "reset_in_s": max(0.0, (end - now).total_seconds())}
        return doc

    def pending_changes(self, now: datetime) -> list[dict[str, Any]]:
        """Looser changes waiting for the reset, each with `applies_at` (the next reset)."""
        if not self._pending_changes:
            return []
        applies_at = None
        if self.engine is not None:
            applies_at = self.engine.timeline.day_bounds(now)[1].isoformat()
        return [{**change, "applies_at": applies_at} for change in self._pending_changes]

    def metrics_text(self) -> str:
        """The Prometheus text exposition of this daemon's registry (daemon/metrics.py)."""
        return self.metrics.render().decode()

    # -- admin -----------------------------------------------------------------------------
    def _check_account(self, account_id: int) -> None:
        from risk_manager.daemon.status_api import AdminRequestError

        if account_id not in self.accounts:
            raise AdminRequestError(f"account {account_id} is not guarded by this daemon", 404)

    async def admin_lock(self, account_id: int, until: datetime | None, until_reset: bool,
                         reason: str, by: str) -> dict[str, Any] | None:
        from risk_manager.daemon.status_api import AdminRequestError
        from risk_manager.engine.actions import Flatten, Lock, LockEnd, LockKind, SetLock

        self._check_account(account_id)
        now = self.clock.now()
        if until is not None and until <= now:
            raise AdminRequestError("`until` is in the past")
        if until is None and not until_reset:
            lock = Lock(account_id, "manual", LockKind.LOCKOUT, reason, LockEnd.MANUAL, None, now, set_by=by)
            applied = self.engine.locks.set(lock)
            actions = [a for a in (applied,) if a is not None]
            actions.append(Flatten(account_id, "manual", f"Manual lock by {by}: {reason}"))
        else:
            actions = self.engine.manual_lock(account_id, until, reason, by, now)
        self.pipeline.dispatch(actions)
        locks = [a.lock for a in actions if isinstance(a, SetLock)]
        return {"locked": True, "until": locks[0].until.isoformat() if locks and locks[0].until else None}

    async def admin_unlock(self, account_id: int, reason: str, by: str, rule: str | None) -> dict[str, Any] | None:
        from risk_manager.daemon.status_api import AdminRequestError

        self._check_account(account_id)
        try:
            actions = self.engine.manual_unlock(account_id, reason, by, rule)
        except ValueError as exc:
            raise AdminRequestError(str(exc)) from None
        if not actions:
            raise AdminRequestError("nothing to unlock", 404)
        self.pipeline.dispatch(actions)
        self.pipeline.dispatch(self.engine.recheck(self.clock.now()))
        return {"cleared": [a.rule for a in actions]}

    async def apply_pending(self, by: str) -> dict[str, Any] | None:
        return self.reload_config(by=by, apply_now=True)

    async def reload(self, by: str) -> dict[str, Any] | None:
        from risk_manager.config.loader import ConfigError
        from risk_manager.daemon.status_api import AdminRequestError

        try:
            return self.reload_config(by=by)
        except ConfigError as exc:
            raise AdminRequestError(exc.render(), 422) from None

    def audit(self, event: str, detail: dict[str, Any]) -> None:
        if self.store is not None:
            self.store.audit(detail.get("account_id"), "admin", event, str(detail.get("reason", "")),
                             "recorded", detail)
