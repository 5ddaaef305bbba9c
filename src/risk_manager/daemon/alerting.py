"""The daemon's side of alerts: which engine actions and daemon conditions become notifications.

Everything here runs on the daemon's event loop and only hands notifications to the
`AlertDispatcher`, whose `send` appends to in-memory queues and returns: nothing on the enforcement
path ever waits for a webhook or an SMTP server.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from risk_manager.alerts.config import AlertsConfig
from risk_manager.clock import Clock
from risk_manager.engine.actions import Action, Alert

log = logging.getLogger(__name__)

#: A limit is "nearly reached" from this share of it on (README "Alerts": warn once at 80 %).
WARN_PCT = 80.0
#: Alert actions with these rule ids are daemon conditions sent as their own notification kind.
DAEMON_ALERT_RULES = frozenset({"blind"})


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def warning_figures(row: Mapping[str, Any]) -> tuple[str, float, float] | None:
    """(what, current, limit) of a snapshot rule row, for the limit-warning text; None if the row
    has no single comparable figure."""
    name = str(row.get("name") or row.get("rule") or "limit").replace("_", " ")
    value, limit = row.get("value"), row.get("limit")
    current, cap = _number(value), _number(limit)
    if current is not None and cap is not None:
        return name.capitalize(), current, cap
    if isinstance(value, dict) and "size" in value and cap is not None:  # R02: worst symbol
        return f"{name.capitalize()} ({value.get('symbol')})", float(value["size"]), cap
    if isinstance(value, dict) and isinstance(limit, dict):  # R06: the busiest window
        best: tuple[float, str, float, float] | None = None
        for key, lim in limit.items():
            cur, lim_n = _number(value.get(key)), _number(lim)
            if cur is None or not lim_n:
                continue
            ratio = cur / lim_n
            if best is None or ratio > best[0]:
                best = (ratio, key, cur, lim_n)
        if best is not None:
            return f"{name.capitalize()} (per {best[1]})", best[2], best[3]
    return None


class LimitWatch:
    """Decides when a rule's `used_pct` deserves a warning: once per rule per account per trading
    day, re-armed at the reset. A rule that jumps past 100 % in one step fired instead (the lock or
    enforcement alert says so), so it is marked as warned without a message."""

    def __init__(self, warn_pct: float = WARN_PCT) -> None:
        self.warn_pct = warn_pct
        self._day: date | None = None
        self._warned: set[tuple[int, str]] = set()

    def check(self, account_id: int, rows: Iterable[Mapping[str, Any]], day: date | None) -> list[Mapping[str, Any]]:
        """The rows that should be warned about now."""
        if day != self._day:
            self._day = day
            self._warned.clear()
        out = []
        for row in rows:
            used = _number(row.get("used_pct"))
            rule = row.get("rule")
            if used is None or not rule or not row.get("enabled", True) or used < self.warn_pct:
                continue
            key = (account_id, str(rule))
            if key in self._warned:
                continue
            self._warned.add(key)
            if used < 100.0:
                out.append(row)
        return out


class DaemonAlerts:
    """Owns the dispatcher; the daemon calls these hooks (all non-blocking)."""

    def __init__(self, config: AlertsConfig, clock: Clock, *, env: Mapping[str, str] | None = None,
                 names: Mapping[int, str | None] | None = None, dispatcher: Any = None) -> None:
        from risk_manager.alerts.dispatcher import AlertDispatcher

        self.config = config
        self.clock = clock
        self.names: Mapping[int, str | None] = names if names is not None else {}
        self.dispatcher = dispatcher or AlertDispatcher(config, clock, env=env)
        self.limits = LimitWatch()
        self.errors = 0

    @property
    def active(self) -> bool:
        """True when at least one channel is running (no channel = nothing worth computing)."""
        return bool(self.dispatcher.stats)

    def wants(self, event: str) -> bool:
        return self.active and event in self.config.events

    async def start(self) -> None:
        await self.dispatcher.start()

    async def stop(self) -> None:
        await self.dispatcher.stop()

    # -- hooks ------------------------------------------------------------------------------
    def on_actions(self, actions: Sequence[Action]) -> None:
        """After the pipeline handed `actions` to the executor: locks, unlocks, rules firing."""
        if not self.active:
            return
        now = self.clock.now()
        for action in actions:
            if isinstance(action, Alert) and action.rule in DAEMON_ALERT_RULES:
                continue  # sent by its own hook with better words (feed_blind)
            self._guarded(lambda a=action: self.dispatcher.send_action(
                a, account_name=self.names.get(a.account_id), now=now))

    def on_snapshot(self, account_id: int, rules: Iterable[Mapping[str, Any]], day: date | None,
                    now: datetime) -> None:
        """A fresh snapshot of the account's rule rows: warn for limits at 80 %."""
        if not self.wants("limit_warning"):
            return
        from risk_manager.alerts.messages import limit_warning

        for row in self.limits.check(account_id, rules, day):
            figures = warning_figures(row)
            if figures is None:
                continue
            what, current, limit = figures
            self._guarded(lambda: self.dispatcher.send(limit_warning(  # _guarded calls it at once
                now, account_id, str(row["rule"]), what, current, limit,  # noqa: B023
                account_name=self.names.get(account_id))))

    def feed_blind(self, account_id: int, seconds: float, open_positions: int, flattening: bool) -> None:
        from risk_manager.alerts.messages import feed_blind

        if not self.active:
            return
        self._guarded(lambda: self.dispatcher.send(feed_blind(
            self.clock.now(), account_id, seconds, open_positions,
            account_name=self.names.get(account_id), flattening=flattening)))

    def store_recovered(self, report: Any) -> None:
        """The store's OpenReport said a file was moved aside: say so (once, at start-up)."""
        from risk_manager.alerts.messages import store_recovered

        if not self.active:
            return
        now = self.clock.now()
        if report.corrupt_moved_to is not None:
            self._guarded(lambda: self.dispatcher.send(store_recovered(
                now, "database", str(report.path), str(report.corrupt_moved_to),
                str(report.corrupt_reason),
                "Locks, the audit log and trading-day state it held are gone; positions, orders and "
                "today's trades are rebuilt from the broker.")))
        if report.journal_corrupt_moved_to is not None:
            self._guarded(lambda: self.dispatcher.send(store_recovered(
                now, "event journal", str(report.journal_path), str(report.journal_corrupt_moved_to),
                str(report.journal_corrupt_reason),
                "Locks and the audit log live in the main database and are intact; the old events "
                "can still be read with `risk-manager replay`.")))

    def store_health(self, ok: bool, detail: str) -> None:
        from risk_manager.alerts.messages import store_health

        if not self.active:
            return
        self._guarded(lambda: self.dispatcher.send(store_health(self.clock.now(), ok, detail)))

    def config_problem(self, title: str, body: str, severity: str = "warning") -> None:
        from risk_manager.alerts.messages import config_problem

        if not self.active:
            return
        self._guarded(lambda: self.dispatcher.send(config_problem(self.clock.now(), title, body, severity)))

    def stats(self) -> dict[str, dict[str, Any]]:
        return {name: {"sent": s.sent, "failed": s.failed, "retries": s.retries, "dropped": s.dropped}
                for name, s in self.dispatcher.stats.items()}

    def _guarded(self, send: Any) -> None:
        # An alert bug must never break the pipeline that called us.
        try:
            send()
        except Exception:
            self.errors += 1
            log.exception("alert could not be queued")
