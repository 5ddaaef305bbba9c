"""The executor's ledger over the Store: a failing store never stops enforcement, and a lock is
never reported set before it is durable (docs/operations.md).

Every write the executor makes goes through here. A write that fails (disk full, I/O error, the
file deleted while open) is logged and shows in `store.health`; a lock change that fails stays
*pending*: the engine's in-memory lock keeps enforcing (fail safe), `retry()` (the daemon's tick)
writes it again until it is durable, and `durable()` tells the admin API whether it may say the
lock is set. When the file was deleted or replaced, `retry()` reopens the store and writes every
lock held in memory again, since the new file holds none of them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from risk_manager.clock import Clock
from risk_manager.engine.actions import Lock
from risk_manager.store.health import WRITE_ERRORS, StoreFileMoved, StoreHealth

log = logging.getLogger(__name__)

#: Meta key written by `retry()` to prove the core file takes writes again.
PROBE_KEY = "health.last_write_probe"

#: Called with (ok, detail) when the store starts failing and when it has recovered.
HealthSink = Callable[[bool, str], None]


@dataclass(frozen=True, slots=True)
class PendingLockWrite:
    """A lock change decided (and in force in memory) but not yet durable."""

    change: str  # "set" | "cleared"
    account_id: int
    rule: str
    since: datetime
    lock: Lock | None = None
    cleared_by: str = "engine"
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "rule": self.rule, "change": self.change,
                "since": self.since.isoformat()}


class FailSafeLedger:
    """`enforcement.ports.Ledger` over a `Store`; never raises a store failure to its caller."""

    def __init__(self, store: Any, clock: Clock, *,
                 locks_in_memory: Callable[[], Iterable[Lock]] | None = None,
                 on_health: HealthSink | None = None) -> None:
        self.store = store
        self._clock = clock
        self._locks_in_memory = locks_in_memory or (lambda: ())
        self._on_health = on_health
        #: Latest undurable change per (account, rule), in the order they were decided.
        self._pending: dict[tuple[int, str], PendingLockWrite] = {}
        self._announced = False  # "failing" was announced for the current episode
        self.failures = 0
        #: Write errors caused by this ledger's own writes, and the others' count at the last
        #: retry (see `_others_errors`).
        self._own_errors = 0
        self._others_seen = store.health.write_errors
        self._rewritten = 0

    # -- health ---------------------------------------------------------------------------
    @property
    def health(self) -> StoreHealth:
        return self.store.health

    @property
    def ok(self) -> bool:
        return self.health.ok and not self._pending

    def durable(self, account_id: int, rule: str | None = None) -> bool:
        """No change of this account's lock `rule` (any rule when None) is waiting to be written."""
        return not any(a == account_id and (rule is None or r == rule) for a, r in self._pending)

    def undurable(self) -> list[dict[str, Any]]:
        return [w.as_dict() for w in self._pending.values()]

    def status(self) -> dict[str, Any]:
        """The /status `store` block."""
        doc = self.health.as_dict()
        if self._pending:
            doc["state"] = "failing"
        doc["undurable_locks"] = self.undurable()
        return doc

    # -- the executor's seam -----------------------------------------------------------------
    def upsert_lock(self, lock: Lock) -> None:
        self._queue(PendingLockWrite("set", lock.account_id, lock.rule, self._clock.now(), lock=lock))

    def delete_lock(self, account_id: int, rule: str, *, cleared_by: str = "engine",
                    reason: str = "") -> None:
        self._queue(PendingLockWrite("cleared", account_id, rule, self._clock.now(),
                                     cleared_by=cleared_by, reason=reason))

    def begin_intent(self, account_id: int, kind: str, rule: str, reason: str,
                     detail: dict[str, Any] | None = None) -> int | None:
        """The intent id, or None when it could not be written (the flatten runs regardless)."""
        done, intent_id = self._call("intent", self.store.begin_intent, account_id, kind, rule,
                                     reason, detail)
        return int(intent_id) if done else None

    def complete_intent(self, intent_id: int, outcome: str) -> bool:
        done, changed = self._call("intent", self.store.complete_intent, intent_id, outcome)
        return bool(done and changed)

    def audit(self, account_id: int | None, rule: str, action: str, reason: str, phase: str,
              detail: dict[str, Any] | None = None, *, event_received_ns: int | None = None,
              decided_ns: int | None = None, sent_ns: int | None = None,
              response_ns: int | None = None, confirmed_ns: int | None = None,
              intent_id: int | None = None) -> int | None:
        done, row_id = self._call(
            "audit", self.store.audit, account_id, rule, action, reason, phase, detail,
            event_received_ns=event_received_ns, decided_ns=decided_ns, sent_ns=sent_ns,
            response_ns=response_ns, confirmed_ns=confirmed_ns, intent_id=intent_id)
        return int(row_id) if done else None

    # -- writing and re-writing ------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> tuple[bool, Any]:
        """(True, result), or (False, None) after a write error, which is logged and counted as
        ours: a failed write of ours is redone by `_flush`, not by waiting for a quiet tick."""
        before = self.health.write_errors
        try:
            return True, fn(*args, **kw)
        except WRITE_ERRORS as exc:
            self._failed(what, exc)
            return False, None
        finally:
            self._own_errors += self.health.write_errors - before

    def _queue(self, write: PendingLockWrite) -> None:
        key = (write.account_id, write.rule)
        self._pending.pop(key, None)  # the newest decision about this lock replaces the older one
        self._pending[key] = write
        self._flush()

    def _flush(self) -> bool:
        """Write the pending changes oldest first; stop at the first failure. True when none is
        left."""
        while self._pending:
            key, write = next(iter(self._pending.items()))
            if write.change == "set":
                done, _ = self._call(f"lock {write.rule} of account {write.account_id}",
                                     self.store.upsert_lock, write.lock)
            else:
                done, _ = self._call(f"unlock {write.rule} of account {write.account_id}",
                                     self.store.delete_lock, write.account_id, write.rule,
                                     cleared_by=write.cleared_by, reason=write.reason)
            if not done:
                return False
            if self._pending.get(key) is write:
                del self._pending[key]
            if not self.health.ok:
                self._rewritten += 1
        return True

    def _others_errors(self) -> int:
        """Write errors of writes that do not go through this ledger (journal, reset, config
        audit…): nothing here redoes those, so only a tick without any of them proves recovery."""
        return self.health.write_errors - self._own_errors

    def retry(self) -> bool:
        """Re-write what is pending (the daemon calls it every tick; a no-op while healthy).
        Reopens a store whose file was deleted and then writes every lock held in memory.
        True when the store is healthy again. Never raises."""
        try:
            return self._retry()
        except Exception:  # a bug here must not stop the tick that calls us
            log.exception("store retry failed")
            return False
        finally:
            self._others_seen = self._others_errors()

    def _retry(self) -> bool:
        quiet = self._others_errors() == self._others_seen
        moved = self.store.file_moved()
        if moved is None and self.ok:
            return True
        if not self.health.ok and not self._announced:  # e.g. a journal write failed
            self._announce(self.health.last_error or "write failed")
        if moved:
            # Found here even when no write has failed yet: SQLite raises nothing for it.
            gone = StoreFileMoved(moved)
            self.health.failed(gone, self._clock.now())
            self._own_errors += 1
            self._failed("store file", gone)
            log.error("%s: reopening the store and re-writing every lock held in memory", moved)
            done, _ = self._call("reopen", self.store.reopen)
            if not done:
                return False
            for lock in self._locks_in_memory():
                key = (lock.account_id, lock.rule)
                if key not in self._pending:
                    self._pending[key] = PendingLockWrite("set", lock.account_id, lock.rule,
                                                          self._clock.now(), lock=lock)
        if not self._flush():
            return False
        # A write of our own proves the core file takes writes again.
        done, _ = self._call("probe", self.store.set_meta, PROBE_KEY, self._clock.now().isoformat())
        if not done:
            return False
        moved = self.store.file_moved()
        if moved:
            return False  # deleted again meanwhile: the next tick reopens
        if not quiet:
            return False  # another write failed since the last tick: wait for a quiet one
        self.health.recovered()
        detail = (f"{self._rewritten} lock change(s) written again" if self._rewritten
                  else "writes work again")
        self._rewritten = 0
        log.warning("store recovered: %s", detail)
        if self._announced:
            self._announced = False
            self._notify(True, detail)
        return True

    def _failed(self, what: str, exc: BaseException) -> None:
        self.failures += 1
        if self.health.ok:  # e.g. an OSError the store itself did not see
            self.health.failed(exc, self._clock.now())
        if self.failures <= 20 or self.failures % 100 == 0:  # a dead disk must not flood the log
            log.error("store write failed (%s): %s: %s; enforcement goes on from memory, "
                      "the write is retried", what, type(exc).__name__, exc)
        if not self._announced:
            self._announce(f"{type(exc).__name__}: {exc}")

    def _announce(self, detail: str) -> None:
        self._announced = True
        self._notify(False, detail)

    def _notify(self, ok: bool, detail: str) -> None:
        if self._on_health is None:
            return
        try:
            self._on_health(ok, detail)
        except Exception:
            log.exception("store health sink failed")
