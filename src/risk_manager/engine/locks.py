"""Lock manager: one lock per (account, rule id); an account is locked while any account-wide lock is.

Symbol locks (R11) use the rule id ``R11:<SYMBOL>`` so each blocked symbol has its own row (and a
ClearLock can name it). The manager only holds and ends locks; the store persists them (`restore`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

from risk_manager.engine.actions import ClearLock, Lock, LockEnd, LockKind, SetLock

#: Lock ends that carry an `until` instant and run out by time.
_TIMED = frozenset({LockEnd.TIME, LockEnd.RESET, LockEnd.SESSION_START})

_EXPIRY_REASON = {
    LockEnd.TIME: "lock time is over",
    LockEnd.RESET: "daily reset",
    LockEnd.SESSION_START: "trading session started",
}


def symbol_rule_id(rule: str, symbol: str) -> str:
    return f"{rule}:{symbol.upper()}"


def _lasts_longer(new: Lock, old: Lock) -> bool:
    """True when `new` would end strictly later than `old` (no `until` = open-ended)."""
    if old.until is None:
        return False
    if new.until is None:
        return True
    return new.until > old.until


class LockManager:
    def __init__(self) -> None:
        self._locks: dict[int, dict[str, Lock]] = {}
        self._locked: set[int] = set()  # accounts with at least one account-wide lock
        #: Accounts with a reduce-only lock (docs/rules.md): the one that ends last.
        self._reduce_only: dict[int, Lock] = {}

    # -- queries (the gate's hot path) ------------------------------------------------------
    def is_locked(self, account_id: int) -> bool:
        return account_id in self._locked

    def reduce_only(self, account_id: int) -> Lock | None:
        return self._reduce_only.get(account_id) if self._reduce_only else None

    def symbol_locked(self, account_id: int, symbol: str | None) -> Lock | None:
        if symbol is None:
            return None
        locks = self._locks.get(account_id)
        if not locks:
            return None
        lock = locks.get(symbol_rule_id("R11", symbol))
        if lock is not None:
            return lock
        for lock in locks.values():  # symbol locks of other rules (e.g. R09 per-symbol sessions)
            if lock.kind is LockKind.SYMBOL and lock.symbol == symbol.upper():
                return lock
        return None

    def has_symbol_locks(self, account_id: int) -> bool:
        locks = self._locks.get(account_id)
        if not locks:
            return False
        return any(l.kind is LockKind.SYMBOL for l in locks.values())

    def get(self, account_id: int, rule: str) -> Lock | None:
        return self._locks.get(account_id, {}).get(rule)

    def active(self, account_id: int) -> list[Lock]:
        return sorted(self._locks.get(account_id, {}).values(), key=lambda l: l.rule)

    def all(self) -> list[Lock]:
        return [lock for a in sorted(self._locks) for lock in self.active(a)]

    def blocking_lock(self, account_id: int) -> Lock | None:
        """The account-wide lock that lasts longest (the one to name in gate reasons)."""
        wide = [l for l in self._locks.get(account_id, {}).values() if l.account_wide]
        if not wide:
            return None
        return max(wide, key=lambda l: (l.until is None, l.until or l.created_at, l.rule))

    def would_set(self, lock: Lock) -> bool:
        """Whether `set(lock)` would record it: its rule has no lock yet, or one that ends sooner.
        Other rules' locks never matter: each breach records its own row at once."""
        old = self._locks.get(lock.account_id, {}).get(lock.rule)
        return old is None or _lasts_longer(lock, old)

    # -- changes -----------------------------------------------------------------------------
    def set(self, lock: Lock) -> SetLock | None:
        """Store a lock; None when an existing lock of that rule already lasts at least as long
        (a new cooldown replaces an active one only if it ends later). Locks of other rules do
        not matter: an R03 lockout is recorded during an R07 cooldown."""
        if not self.would_set(lock):
            return None
        locks = self._locks.setdefault(lock.account_id, {})
        locks[lock.rule] = lock
        self._refresh(lock.account_id)
        return SetLock(lock)

    def remove(self, account_id: int, rule: str, reason: str, by: str = "engine") -> ClearLock | None:
        locks = self._locks.get(account_id)
        if not locks or rule not in locks:
            return None
        del locks[rule]
        self._refresh(account_id)
        return ClearLock(account_id, rule, reason, cleared_by=by)

    def restore(self, locks: Iterable[Lock]) -> None:
        """Load persisted locks (start-up). Expired ones are ended by the next `expire`."""
        for lock in locks:
            self._locks.setdefault(lock.account_id, {})[lock.rule] = lock
            self._refresh(lock.account_id)

    def expire(self, now: datetime) -> list[ClearLock]:
        """End every lock whose `until` has passed (time, reset, session start)."""
        cleared: list[ClearLock] = []
        for account_id in sorted(self._locks):
            for rule, lock in sorted(self._locks[account_id].items()):
                if lock.ends in _TIMED and lock.until is not None and lock.until <= now:
                    why = _EXPIRY_REASON[lock.ends]
                    clear = self.remove(account_id, rule, f"{lock.reason} — ended: {why}")
                    if clear is not None:  # always: the lock is there
                        cleared.append(clear)
        return cleared

    def on_can_trade(self, account_id: int) -> list[ClearLock]:
        """The broker allows trading again: end the locks waiting for that (R10)."""
        out = [
            self.remove(account_id, lock.rule, f"{lock.reason} — ended: canTrade is true again")
            for lock in self.active(account_id)
            if lock.ends is LockEnd.CAN_TRADE
        ]
        return [c for c in out if c is not None]  # all of them: each lock is there

    def on_blocked_symbols(self, account_id: int, blocked: Collection[str]) -> list[ClearLock]:
        """End symbol locks whose symbol is no longer in `blocked_symbols` (R11)."""
        out = [
            self.remove(account_id, lock.rule, f"{lock.symbol} removed from blocked symbols")
            for lock in self.active(account_id)
            if lock.ends is LockEnd.SYMBOL_UNLISTED and (lock.symbol or "") not in blocked
        ]
        return [c for c in out if c is not None]  # all of them: each lock is there

    def unlock(self, account_id: int, reason: str, by: str, rule: str | None = None) -> list[ClearLock]:
        """Admin unlock of one rule's lock, or of every lock of the account when rule is None."""
        rules = [rule] if rule is not None else [l.rule for l in self.active(account_id)]
        out = [self.remove(account_id, r, reason, by=by) for r in rules]
        return [c for c in out if c is not None]

    def _refresh(self, account_id: int) -> None:
        locks = self._locks.get(account_id)
        reduce = [l for l in (locks or {}).values() if l.kind is LockKind.REDUCE_ONLY]
        if reduce:
            self._reduce_only[account_id] = max(reduce, key=lambda l: (l.until is None, l.until or l.created_at))
        else:
            self._reduce_only.pop(account_id, None)
        if locks and any(l.account_wide for l in locks.values()):
            self._locked.add(account_id)
        else:
            self._locked.discard(account_id)
            if not locks:
                self._locks.pop(account_id, None)
