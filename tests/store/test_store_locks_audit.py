"""Locks (every field round-trips), lock history, the audit log and intents."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from store_helpers import T0

from risk_manager.engine.actions import Lock, LockEnd, LockKind
from risk_manager.store import Store

CHICAGO = ZoneInfo("America/Chicago")
IST = timezone(timedelta(hours=5, minutes=30))


def _locks() -> list[Lock]:
    return [
        Lock(7, "R03", LockKind.LOCKOUT, "Daily loss limit: -$512.40 <= -$500.00", LockEnd.RESET,
             until=datetime(2026, 3, 9, 17, 0, tzinfo=CHICAGO),
             created_at=datetime(2026, 3, 9, 9, 31, 2, 123456, tzinfo=CHICAGO)),
        Lock(7, "R11", LockKind.SYMBOL, "ES blocked", LockEnd.SYMBOL_UNLISTED, until=None,
             created_at=T0, symbol="ES"),
        Lock(8, "manual", LockKind.LOCKOUT, "done for the day", LockEnd.MANUAL, until=None,
             created_at=datetime(2026, 3, 9, 23, 0, tzinfo=IST),
             set_by="admin"),
        Lock(8, "R07", LockKind.COOLDOWN, "loss -$210", LockEnd.TIME,
             until=T0 + timedelta(seconds=900), created_at=T0),
        Lock(9, "R10", LockKind.LOCKOUT, "canTrade false", LockEnd.CAN_TRADE, None, T0),
        Lock(9, "R09", LockKind.LOCKOUT, "outside session", LockEnd.SESSION_START,
             until=datetime(2026, 3, 10, 8, 30, tzinfo=CHICAGO), created_at=T0),
    ]


def test_every_lock_field_round_trips_across_reopen(db_path: Path, clock) -> None:
    locks = _locks()
    with Store(db_path, clock) as s:
        for lock in locks:
            s.upsert_lock(lock)
    with Store(db_path, clock) as s:
        back = s.active_locks()
    key = lambda lk: (lk.account_id, lk.rule)  # noqa: E731
    assert sorted(back, key=key) == sorted(locks, key=key)
    for got, want in zip(sorted(back, key=key), sorted(locks, key=key)):
        for name in Lock.__slots__:
            assert getattr(got, name) == getattr(want, name), name
        assert got.created_at.tzinfo is not None
        assert isinstance(got.kind, LockKind) and isinstance(got.ends, LockEnd)


def test_upsert_replaces_and_history_records_set_and_clear(store: Store, clock) -> None:
    first = _locks()[3]
    store.upsert_lock(first)
    store.upsert_lock(first)  # identical: no second history row
    longer = Lock(8, "R07", LockKind.COOLDOWN, "loss -$310", LockEnd.TIME,
                  until=T0 + timedelta(seconds=1800), created_at=T0)
    store.upsert_lock(longer)
    assert store.active_locks(8) == [longer]
    clock.advance(60)
    assert store.delete_lock(8, "R07", cleared_by="admin", reason="mistake") == longer
    assert store.delete_lock(8, "R07") is None
    assert store.active_locks() == []
    hist = store.lock_history(8)
    assert [(h.change, h.by, h.why) for h in hist] == [
        ("set", "engine", "loss -$210"), ("set", "engine", "loss -$310"),
        ("cleared", "admin", "mistake"),
    ]
    assert hist[-1].at == T0 + timedelta(seconds=60)
    assert hist[1].until == T0 + timedelta(seconds=1800)


def test_naive_lock_times_are_refused(store: Store) -> None:
    naive = Lock(1, "R03", LockKind.LOCKOUT, "x", LockEnd.RESET, until=datetime(2026, 1, 1),
                 created_at=T0)
    with pytest.raises(ValueError, match="Lock.until must be timezone-aware"):
        store.upsert_lock(naive)
    assert store.active_locks() == []


def test_audit_rows_keep_every_field_and_filter(store: Store, clock) -> None:
    intent = store.begin_intent(7, "flatten", "R03", "loss limit", {"positions": 2})
    first = store.audit(7, "R03", "Flatten", "loss limit", "decided", {"pnl": -512.4},
                        event_received_ns=1, decided_ns=2, intent_id=intent)
    clock.advance(1)
    store.audit(7, "R03", "Flatten", "loss limit", "sent", sent_ns=3, intent_id=intent)
    store.audit(8, "lock_gate", "CancelOrder", "locked", "confirmed", response_ns=4,
                confirmed_ns=5)
    rows = store.audit_rows()
    assert [r.phase for r in rows] == ["decided", "sent", "confirmed"]
    assert rows[0].id == first and rows[0].detail == {"pnl": -512.4}
    assert (rows[0].event_received_ns, rows[0].decided_ns, rows[0].intent_id) == (1, 2, intent)
    assert rows[2].confirmed_ns == 5 and rows[2].ts == T0 + timedelta(seconds=1)
    assert [r.phase for r in store.audit_rows(7)] == ["decided", "sent"]
    assert [r.phase for r in store.audit_rows(limit=1)] == ["confirmed"]
    assert len(store.audit_rows(since=T0 + timedelta(seconds=1))) == 2
    assert len(store.audit_rows(after_id=first)) == 2
    assert len(store.audit_rows(intent_id=intent)) == 2


def test_intents_stay_open_until_completed_across_reopen(db_path: Path, clock) -> None:
    with Store(db_path, clock) as s:
        a = s.begin_intent(7, "flatten", "R03", "loss limit")
        b = s.begin_intent(8, "flatten", "manual", "admin lock", {"until": "reset"})
        assert s.complete_intent(a, "confirmed")
        assert not s.complete_intent(a, "again")
        assert not s.complete_intent(999, "confirmed")
    with Store(db_path, clock) as s:
        (still_open,) = s.open_intents()
        assert still_open.id == b and still_open.detail == {"until": "reset"}
        assert still_open.created_at == T0 and still_open.outcome is None
        assert s.open_intents(7) == []
        done = s.get_intent(a)
        assert done is not None and done.outcome == "confirmed" and done.completed_at == T0
