"""Crash durability: a writer process is SIGKILLed mid-way; every committed row survives.

SIGKILL tests process death (the OS still flushes its page cache); power loss is covered by
synchronous=FULL (asserted in test_store_open), which fsyncs the WAL on every commit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from risk_manager.store import Store

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL semantics")

_WRITER = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime, timedelta
    from risk_manager.engine.actions import Lock, LockEnd, LockKind
    from risk_manager.events import Order, make_event
    from risk_manager.store import Store

    store = Store(sys.argv[1], journal_synchronous=sys.argv[3])
    mode = sys.argv[2]

    def event(order_id, account_id):
        order = Order(order_id, account_id, "CON.F.US.EP.U26", 1, 1, 0, 1, limit_price=1.0)
        return make_event(order, received_at=datetime.now(UTC))

    if mode == "open-transaction":
        store.append_event(event(1, 1))
        with store.transaction():
            store.append_events([event(100 + k, 1) for k in range(100)])
            store.upsert_lock(Lock(1, "R03", LockKind.LOCKOUT, "x", LockEnd.MANUAL, None,
                                   datetime.now(UTC)))
            print("inside", flush=True)
            time.sleep(60)

    i = 0
    while True:
        now = datetime.now(UTC)
        lock = Lock(i, "R03", LockKind.LOCKOUT, f"lock {i}", LockEnd.RESET,
                    now + timedelta(hours=1), now)
        store.upsert_lock(lock)
        intent = store.begin_intent(i, "flatten", "R03", f"lock {i}")
        store.audit(i, "R03", "Flatten", f"lock {i}", "decided", {"i": i}, intent_id=intent)
        store.append_events([event(i * 10 + k, i) for k in range(5)])
        with store.transaction():
            store.append_event(event(i * 10 + 5, i))
            store.audit(i, "R03", "Flatten", f"lock {i}", "confirmed", {"i": i},
                        intent_id=intent)
            store.complete_intent(intent, "confirmed")
        print(i, flush=True)
        i += 1
    """
)


def _start(tmp_path: Path, db: Path, mode: str, sync: str = "FULL") -> subprocess.Popen[str]:
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    return subprocess.Popen(
        [sys.executable, str(script), str(db), mode, sync],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""


@pytest.mark.parametrize("journal_sync", ["FULL", "NORMAL"])
def test_every_committed_row_survives_sigkill(tmp_path: Path, journal_sync: str) -> None:
    db = tmp_path / "crash.db"
    proc = _start(tmp_path, db, "loop", journal_sync)
    committed: list[int] = []
    try:
        while len(committed) < 40:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                pytest.fail(f"writer died early: {proc.stderr.read()}")  # type: ignore[union-attr]
            committed.append(int(line))
    finally:
        _kill(proc)  # somewhere inside iteration 40 or later

    with Store(db) as store:
        assert store.open_report.corrupt_moved_to is None
        assert store.integrity_check() == ["ok"]
        locked = {lock.account_id for lock in store.active_locks()}
        assert set(committed) <= locked
        audited = {(r.account_id, r.phase) for r in store.audit_rows(limit=100_000)}
        for i in committed:
            assert (i, "decided") in audited and (i, "confirmed") in audited
        per_account: dict[int, int] = {}
        for event in store.iter_events():
            per_account[event.account_id] = per_account.get(event.account_id, 0) + 1
        for i in committed:
            assert per_account[i] == 6
        # A batch is all or nothing: the iteration that was killed has 0, 5 or 6 events.
        assert all(n in (5, 6) for n in per_account.values())
        assert {intent.account_id for intent in store.open_intents()} <= {max(committed) + 1}


def test_kill_inside_a_transaction_leaves_none_of_it(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    proc = _start(tmp_path, db, "open-transaction")
    try:
        assert proc.stdout.readline().strip() == "inside"  # type: ignore[union-attr]
    finally:
        _kill(proc)
    with Store(db) as store:
        assert store.integrity_check() == ["ok"]
        assert [e.data.id for e in store.iter_events()] == [1]
        assert store.active_locks() == []
