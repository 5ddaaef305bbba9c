"""Nightly maintenance: a backup copy of the store and retention pruning, once per trading day.

The daemon starts a run right after it records the daily reset, and at start-up when the newest
backup is over 24 h old (or belongs to an earlier trading day). The work happens in a worker
thread: the store is thread-safe (one re-entrant lock around its single writer connection), the
backup reads through a connection of its own (WAL: writers are not blocked), and prune deletes in
chunks and lets go of the lock between them, so an event-loop write waits at most one chunk.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from risk_manager.clock import Clock

log = logging.getLogger("risk_manager.daemon.maintenance")

BACKUP_DIR_NAME = "backups"
#: Store meta keys: when the last backup was written, and for which trading day the last run was.
META_LAST_BACKUP_AT = "maintenance.last_backup_at"
META_LAST_DAY = "maintenance.trading_day"
#: At start-up a backup older than this is due even when the trading day did not change.
BACKUP_MAX_AGE = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    backup_keep: int = 7
    journal_days: int = 30
    audit_days: int = 365

    @classmethod
    def from_config(cls, daemon_config: Any) -> RetentionPolicy:
        """From `DaemonConfig` (accounts.yaml `daemon:`); the model already checked each >= 1."""
        return cls(daemon_config.backup_keep, daemon_config.journal_retention_days,
                   daemon_config.audit_retention_days)


@dataclass(frozen=True, slots=True)
class MaintenanceRun:
    trading_day: date | None
    reason: str
    backup: Path | None
    pruned: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors


class Maintenance:
    """Backup + prune of one store into `backup_dir`; at most one run at a time."""

    def __init__(self, store: Any, clock: Clock, backup_dir: Path,
                 policy: RetentionPolicy | None = None) -> None:
        self.store = store
        self.clock = clock
        self.backup_dir = Path(backup_dir)
        self.policy = policy or RetentionPolicy()
        self.last_run: MaintenanceRun | None = None
        self._task: asyncio.Task[MaintenanceRun | None] | None = None

    # -- when --------------------------------------------------------------------------------
    def last_backup_at(self) -> datetime | None:
        raw = self.store.get_meta(META_LAST_BACKUP_AT)
        try:
            return datetime.fromisoformat(raw) if raw else None
        except ValueError:  # a damaged value must not stop backups: treat as never
            log.warning("maintenance: ignoring unreadable %s=%r", META_LAST_BACKUP_AT, raw)
            return None

    def last_day(self) -> date | None:
        raw = self.store.get_meta(META_LAST_DAY)
        try:
            return date.fromisoformat(raw) if raw else None
        except ValueError:
            return None

    def due_for_day(self, day: date | None) -> bool:
        """Not yet run for this trading day (what the daily reset checks)."""
        return day is not None and self.last_day() != day

    def due_at_startup(self, day: date | None, now: datetime) -> bool:
        last = self.last_backup_at()
        return last is None or now - last >= BACKUP_MAX_AGE or self.due_for_day(day)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    # -- running -----------------------------------------------------------------------------
    def start(self, day: date | None, reason: str) -> asyncio.Task[MaintenanceRun | None] | None:
        """Begin a run in the background (a worker thread); None when one is still going."""
        if self.running:
            log.info("maintenance still running; the %s run is skipped", reason)
            return None
        self._task = asyncio.get_running_loop().create_task(self._run(day, reason))
        return self._task

    async def _run(self, day: date | None, reason: str) -> MaintenanceRun | None:
        try:
            return await asyncio.to_thread(self.run_blocking, day, reason)
        except Exception:  # e.g. the store closed under it: logged, retried the next day
            log.exception("maintenance (%s) failed", reason)
            return None

    async def wait_idle(self, timeout: float) -> bool:
        """Until the current run (if any) finished; False when it still runs after `timeout`.
        A cancelled wait does not stop the worker thread, so shutdown waits before closing."""
        task = self._task
        if task is None or task.done():
            return True
        done, _ = await asyncio.wait({task}, timeout=timeout)
        return bool(done)

    def run_blocking(self, day: date | None, reason: str) -> MaintenanceRun:
        """Backup, then prune (each attempted even if the other fails), then remember the run.
        Blocking: call it from a worker thread (or a CLI), never on the event loop."""
        started = time.monotonic()
        errors: list[str] = []
        backup: Path | None = None
        pruned: dict[str, int] = {}
        try:
            self._drop_stale_temp_files()
            backup = self.store.backup(self.backup_dir, keep=self.policy.backup_keep)
            self.store.set_meta(META_LAST_BACKUP_AT, self.clock.now().isoformat())
        except Exception as exc:
            log.error("nightly backup into %s failed: %s", self.backup_dir, exc)
            errors.append(f"backup: {exc}")
        try:
            pruned = self.store.prune(journal_days=self.policy.journal_days,
                                      audit_days=self.policy.audit_days)
        except Exception as exc:
            log.error("retention prune failed: %s", exc)
            errors.append(f"prune: {exc}")
        if day is not None:  # also after a failure: the next try is the next trading day
            self.store.set_meta(META_LAST_DAY, day.isoformat())
        run = MaintenanceRun(day, reason, backup, pruned, errors, time.monotonic() - started)
        self.last_run = run
        deleted = {table: n for table, n in pruned.items() if n}
        log.info("maintenance (%s): backup %s, pruned %s in %.2f s", reason, backup,
                 deleted or "nothing", run.seconds)
        self.store.audit(None, "maintenance", "backup_prune", reason,
                         "applied" if run.ok else "failed",
                         {"trading_day": day.isoformat() if day else None,
                          "backup": str(backup) if backup else None, "pruned": deleted,
                          "errors": errors})
        return run

    def _drop_stale_temp_files(self) -> None:
        """A copy interrupted by kill -9 leaves `.<name>.tmp`; one instance runs at a time, so
        any such file found before a run is stale."""
        if not self.backup_dir.is_dir():
            return
        for tmp in self.backup_dir.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)


__all__ = ["BACKUP_DIR_NAME", "BACKUP_MAX_AGE", "META_LAST_BACKUP_AT", "META_LAST_DAY",
           "Maintenance", "MaintenanceRun", "RetentionPolicy"]
