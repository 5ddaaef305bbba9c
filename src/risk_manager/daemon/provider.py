"""The daemon's side of the status API (`daemon/status_api.StatusProvider`)."""

from __future__ import annotations

import os
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from risk_manager import __version__ as VERSION
from risk_manager.engine.snapshot import market_session

if TYPE_CHECKING:
    import asyncio

    from risk_manager.clock import Clock
    from risk_manager.daemon.metrics import DaemonMetrics
    from risk_manager.daemon.pipeline import Pipeline
    from risk_manager.enforcement.executor import Executor
    from risk_manager.engine.actions import Action
    from risk_manager.engine.engine import RiskEngine

HISTORY_ROWS = 200  # the dashboard's history scrolls through all the daemon keeps


class StatusProviderMixin:
    """Mixed into `Daemon`; reads its engine, hubs, executor and pipeline."""

    if TYPE_CHECKING:  # what it reads of the Daemon (which sets them)
        clock: Clock
        engine: RiskEngine | None
        pipeline: Pipeline | None
        executor: Executor | None
        store: Any
        user_hub: Any
        market_hub: Any
        accounts: dict[int, str | None]
        ready: asyncio.Event
        state: str
        started_at: datetime
        enforcement_log: list[dict[str, Any]]
        counters: dict[str, int]
        metrics: DaemonMetrics
        _pending_changes: list[dict[str, Any]]

        def pnl_history(self, account_id: int) -> list[list[Any]]: ...

        async def reload_config(self, by: str, apply_now: bool = False) -> dict[str, Any]: ...

        def _publish_msg(self, kind: str, account_id: int | None, data: dict[str, Any]) -> None: ...

    def _engine(self) -> RiskEngine:
        if self.engine is None:  # the status API starts after the engine is built
            raise RuntimeError("the engine is not built yet")
        return self.engine

    def _pipeline(self) -> Pipeline:
        if self.pipeline is None:  # built with the engine
            raise RuntimeError("the pipeline is not built yet")
        return self.pipeline

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
            "store": self.store_status()["state"],
        }

    def store_status(self) -> dict[str, Any]:
        """The /status `store` block: failing while a write fails or a lock is not durable."""
        ledger = getattr(self, "ledger", None)
        if ledger is not None:
            status: dict[str, Any] = ledger.status()
            return status
        store = getattr(self, "store", None)
        return store.health.as_dict() if store is not None else {"state": "unknown"}

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
                       "pid": os.getpid(),
                       "enforcing": self.executor.in_flight() if self.executor is not None else 0},
            "now": now.isoformat(),
            "connections": self.connections(),
            "store": self.store_status(),
            "pending_changes": self.pending_changes(now),
            "config": {"reload_error": getattr(self, "config_error", None),
                       "unresolved_accounts": list(getattr(self, "unresolved", ()))},
            "accounts": accounts,
            "enforcement": [self._history_row(r) for r in self.enforcement_log[-HISTORY_ROWS:]],
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
            doc["session"] = market_session(engine, now)
        return doc

    def _history_row(self, record: dict[str, Any]) -> dict[str, Any]:
        """An enforcement record with the symbol of the contract it hit (for the dashboard)."""
        contract = record.get("contract_id")
        if contract is None or "symbol" in record or self.engine is None:
            return record
        return {**record, "symbol": self.engine.catalog.symbol_of(contract)}

    def _record_lock_change(self, account_id: int, action: str, reason: str, by: str,
                            **extra: Any) -> None:
        """Manual locks and unlocks belong in the enforcement history next to the rules' actions."""
        record = {"ts": self.clock.now().isoformat(), "account_id": account_id, "rule": "manual",
                  "action": action, "reason": reason, "outcome": "ok", "latency_ms": None, "by": by, **extra}
        self.enforcement_log.append(record)
        del self.enforcement_log[:-200]
        self._publish_msg("enforcement", account_id, record)

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
            applied = self._engine().locks.set(lock)
            actions: list[Action] = [a for a in (applied,) if a is not None]
            actions.append(Flatten(account_id, "manual", f"Manual lock by {by}: {reason}"))
        else:
            actions = self._engine().manual_lock(account_id, until, reason, by, now)
        self._pipeline().dispatch(actions)
        self._require_durable(account_id, "manual", "locked")
        locks = [a.lock for a in actions if isinstance(a, SetLock)]
        self._record_lock_change(account_id, "lock", reason, by,
                                 until=locks[0].until.isoformat() if locks and locks[0].until else None)
        return {"locked": True, "until": locks[0].until.isoformat() if locks and locks[0].until else None}

    async def self_lock(self, account_id: int, until: datetime | None, reason: str,
                        by: str) -> dict[str, Any]:
        """The trader's own "done for the day" lock (no password): until `until`, or until the
        next reset when None. Only ever tightens: an active manual lock that lasts longer stays.
        The lock is in the store before this returns (the executor persists it synchronously)."""
        from risk_manager.daemon.status_api import AdminRequestError
        from risk_manager.engine.actions import SetLock

        self._check_account(account_id)
        now = self.clock.now()
        if until is not None and until <= now:
            raise AdminRequestError("`until` is in the past")
        engine = self._engine()
        actions = engine.manual_lock(account_id, until, reason, by, now, tighten_only=True)
        if actions:
            self._pipeline().dispatch(actions)
            self._require_durable(account_id, "manual", "locked")
        current = engine.locks.get(account_id, "manual")
        if actions:
            self._record_lock_change(account_id, "self_lock", reason, by,
                                     until=current.until.isoformat() if current and current.until else None)
        if self.store is not None:
            self.store.audit(account_id, "manual", "self_lock", reason, "applied" if actions else "unchanged",
                             {"by": by, "until": current.until.isoformat() if current and current.until else None})
        return {"locked": True, "changed": any(isinstance(a, SetLock) for a in actions),
                "until": current.until.isoformat() if current is not None and current.until else None,
                "set_by": current.set_by if current is not None else by}

    async def admin_unlock(self, account_id: int, reason: str, by: str, rule: str | None) -> dict[str, Any] | None:
        from risk_manager.daemon.status_api import AdminRequestError

        self._check_account(account_id)
        try:
            actions = self._engine().manual_unlock(account_id, reason, by, rule)
        except ValueError as exc:
            raise AdminRequestError(str(exc)) from None
        if not actions:
            raise AdminRequestError("nothing to unlock", 404)
        self._pipeline().dispatch(actions)
        self._pipeline().dispatch(self._engine().recheck(self.clock.now()))
        for action in actions:
            self._require_durable(account_id, action.rule, "unlocked")
        self._record_lock_change(account_id, "unlock", reason, by, cleared=[a.rule for a in actions])
        return {"cleared": [a.rule for a in actions]}

    def _require_durable(self, account_id: int, rule: str, done: str) -> None:
        """A lock change is reported done only once it is durable (docs/operations.md): else 503."""
        from risk_manager.daemon.status_api import AdminRequestError

        ledger = getattr(self, "ledger", None)
        if ledger is None or ledger.durable(account_id, rule):
            return
        error = ledger.health.last_error or "store failing"
        then = ("the lock is enforced from memory now, but a restart would lose it"
                if done == "locked" else "trading is allowed now, but a restart would restore the lock")
        raise AdminRequestError(
            f"{done} in memory but NOT saved: the store is failing ({error}); {then}. The write is "
            "retried until it is durable; see /status `store`.", 503)

    async def apply_pending(self, by: str) -> dict[str, Any] | None:
        return await self.reload_config(by=by, apply_now=True)

    async def reload(self, by: str) -> dict[str, Any] | None:
        from risk_manager.config.loader import ConfigError
        from risk_manager.daemon.status_api import AdminRequestError

        try:
            return await self.reload_config(by=by)
        except ConfigError as exc:
            raise AdminRequestError(exc.render(), 422) from None

    def audit(self, event: str, detail: dict[str, Any]) -> None:
        if self.store is not None:
            self.store.audit(detail.get("account_id"), "admin", event, str(detail.get("reason", "")),
                             "recorded", detail)
