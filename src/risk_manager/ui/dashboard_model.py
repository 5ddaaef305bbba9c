"""What the dashboard knows: the last /status document, merged with /events messages as they come.

Pure state (no Textual, no I/O) so it is easy to reason about. Countdowns are interpolated from the
`remaining_s` the daemon sent and the local monotonic time since it arrived, so a clock difference
between the daemon and the viewer never shows a wrong countdown.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

MAX_PNL_POINTS = 600
MAX_HISTORY = 200
#: Events that change what the dashboard shows enough to warrant an immediate /status poll.
REFETCH_EVENTS = frozenset(
    {"position", "order", "trade", "account", "lock_set", "lock_cleared", "enforcement", "daily_reset",
     "daemon_status"}
)


def usage_level(used_pct: Any) -> str:
    """'ok' below 70 %, 'warn' from 70 %, 'danger' from 90 % of a limit used."""
    try:
        pct = float(used_pct)
    except (TypeError, ValueError):
        return "none"
    if pct >= 90:
        return "danger"
    if pct >= 70:
        return "warn"
    return "ok"


@dataclass
class Received:
    """A timed value (lock, position) with the monotonic time it arrived."""

    data: dict[str, Any]
    at: float

    def remaining(self, key: str, now: float) -> float | None:
        value = self.data.get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return None
        return max(0.0, float(value) - (now - self.at))


@dataclass
class DashboardModel:
    doc: dict[str, Any] | None = None
    doc_at: float = 0.0
    reachable: bool = False
    events_connected: bool = False
    last_error: str = ""
    last_event_at: float | None = None
    last_lock_event_at: float = float("-inf")
    selected: int | None = None
    locks: dict[int, list[Received]] = field(default_factory=dict)
    pnl_points: dict[int, deque[float]] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    #: account id -> the last "unlocked" notice (reason), shown until the next lock.
    last_unlock: dict[int, str] = field(default_factory=dict)

    # --- inputs ---------------------------------------------------------------------------
    def apply_status(self, doc: dict[str, Any], now: float, requested_at: float | None = None) -> None:
        """Take a /status document. `requested_at`: when the poll was sent; a lock event that
        arrived after that is newer than the document, so the document's locks do not replace it."""
        if not isinstance(doc, dict):
            return
        self.doc = doc
        self.doc_at = now
        self.reachable = True
        self.last_error = ""
        keep_locks = requested_at is not None and self.last_lock_event_at > requested_at
        if not keep_locks:
            self.locks = {}
        for acct in self.accounts():
            aid = acct.get("id")
            if not isinstance(aid, int):
                continue
            if not keep_locks:
                self.locks[aid] = [Received(lk, now) for lk in acct.get("locks") or [] if isinstance(lk, dict)]
            self._sample_pnl(aid, acct)
        history = doc.get("enforcement")
        if isinstance(history, list):
            self.history = [h for h in history if isinstance(h, dict)][-MAX_HISTORY:]
        ids = [a.get("id") for a in self.accounts()]
        if self.selected not in ids:
            self.selected = ids[0] if ids else None

    def mark_unreachable(self, error: str) -> None:
        self.reachable = False
        self.last_error = error

    def apply_event(self, msg: Any, now: float) -> bool:
        """Merge one /events message; True if a fresh /status poll is worth doing."""
        if not isinstance(msg, dict):
            return False
        kind = msg.get("type")
        raw = msg.get("data")
        data: dict[str, Any] = raw if isinstance(raw, dict) else {}
        aid = msg.get("account_id")
        self.last_event_at = now
        if kind in ("lock_set", "lock_cleared"):
            self.last_lock_event_at = now
        if kind == "lock_set" and isinstance(aid, int) and data.get("rule"):
            kept = [r for r in self.locks.get(aid, []) if not _same_lock(r.data, data)]
            self.locks[aid] = kept + [Received(data, now)]
            self.last_unlock.pop(aid, None)
        elif kind == "lock_cleared" and isinstance(aid, int):
            rule = data.get("rule")
            self.locks[aid] = [r for r in self.locks.get(aid, []) if rule is not None and r.data.get("rule") != rule]
            if not self.locks[aid]:
                self.last_unlock[aid] = str(data.get("reason") or "")
        elif kind == "enforcement" and data:
            self.history = (self.history + [dict(data, account_id=data.get("account_id", aid))])[-MAX_HISTORY:]
        elif kind == "pnl" and isinstance(aid, int):
            acct = self.account(aid)
            if acct is not None:
                for key in ("realized_pnl", "unrealized_pnl", "total_pnl"):
                    if isinstance(data.get(key), (int, float)):
                        acct[key] = data[key]
                self._sample_pnl(aid, acct)
        return kind in REFETCH_EVENTS

    def _sample_pnl(self, aid: int, acct: dict[str, Any]) -> None:
        total = acct.get("total_pnl")
        if not isinstance(total, (int, float)):
            return
        points = self.pnl_points.setdefault(aid, deque(maxlen=MAX_PNL_POINTS))
        if not points or points[-1] != float(total):  # one point per change: the day fits
            points.append(float(total))

    # --- views ----------------------------------------------------------------------------
    def accounts(self) -> list[dict[str, Any]]:
        accounts = (self.doc or {}).get("accounts")
        return [a for a in accounts if isinstance(a, dict)] if isinstance(accounts, list) else []

    def account(self, aid: int | None = None) -> dict[str, Any] | None:
        aid = self.selected if aid is None else aid
        for acct in self.accounts():
            if acct.get("id") == aid:
                return acct
        return None

    def select_next(self) -> None:
        ids = [a.get("id") for a in self.accounts()]
        if ids:
            self.selected = ids[(ids.index(self.selected) + 1) % len(ids)] if self.selected in ids else ids[0]

    def active_locks(self, aid: int | None = None) -> list[Received]:
        aid = self.selected if aid is None else aid
        return list(self.locks.get(aid, [])) if aid is not None else []

    def longest_lock(self, now: float, aid: int | None = None) -> Received | None:
        """The lock the account waits for: the account-wide one that ends last (one without an end
        — R10, manual, an unlisted symbol — outlasts any timed one); symbol locks only when alone."""
        locks = self.active_locks(aid)
        wide = [r for r in locks if r.data.get("kind") != "symbol"] or locks
        if not wide:
            return None

        def ends(rec: Received) -> tuple[bool, float]:
            left = rec.remaining("remaining_s", now)
            return (left is None, left or 0.0)

        return max(wide, key=ends)

    def pnl_series(self, aid: int | None = None) -> list[float]:
        aid = self.selected if aid is None else aid
        acct = self.account(aid)
        history = acct.get("pnl_history") if acct else None
        if isinstance(history, list) and history:  # the daemon's own series when it sends one
            values = [p[1] if isinstance(p, (list, tuple)) and len(p) > 1 else p for p in history]
            return [float(v) for v in values if isinstance(v, (int, float))]
        return list(self.pnl_points.get(aid, [])) if aid is not None else []

    def data_age(self, now: float) -> float | None:
        return None if self.doc is None else now - self.doc_at


def _same_lock(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.get("rule") == b.get("rule") and a.get("symbol") == b.get("symbol")
