"""Nightly backup + retention: the Maintenance runner on a real store, and the real daemon running it
once per trading day (at start-up when due, after the 17:00 CT reset; time-machine drives the day)."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

from e2e.conftest import rig  # noqa: F401  (the e2e harness: real simulator + in-process daemon)
from e2e.helpers import wait_for
from risk_manager.clock import ManualClock
from risk_manager.daemon.maintenance import (
    META_LAST_BACKUP_AT,
    META_LAST_DAY,
    Maintenance,
    RetentionPolicy,
)
from risk_manager.engine.actions import Lock, LockEnd, LockKind
from risk_manager.events import Quote, make_event
from risk_manager.store import Store

CHICAGO = ZoneInfo("America/Chicago")
T0 = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)
MNQ = "CON.F.US.MNQ.U26"


def quote(at: datetime, price: float = 20000.0):
    return make_event(Quote(MNQ, last_price=price, timestamp=at), received_at=at)


def manual_lock(account: int, at: datetime) -> Lock:
    return Lock(account, "manual", LockKind.LOCKOUT, "admin: review", LockEnd.MANUAL, None, at,
                set_by="admin")


def backups(folder: Path) -> list[Path]:
    return sorted(folder.glob("risk_manager-*.db")) if folder.is_dir() else []


@pytest.fixture
def store(tmp_path):
    clock = ManualClock(T0)
    s = Store(tmp_path / "state" / "risk_manager.db", clock)
    yield s, clock
    s.close()


# -- the runner on a real store ----------------------------------------------------------------
def test_run_backs_up_prunes_and_keeps_locks(store, tmp_path):
    s, clock = store
    s.append_events([quote(T0 - timedelta(days=40, seconds=i)) for i in range(7000)])  # > 1 chunk
    s.append_event(quote(T0 - timedelta(days=2)))
    s.upsert_lock(manual_lock(7, T0 - timedelta(days=40)))
    m = Maintenance(s, clock, tmp_path / "state" / "backups", RetentionPolicy(backup_keep=2))

    run = m.run_blocking(date(2026, 11, 20), "test")
    assert run.ok and run.backup is not None and run.backup.is_file()
    assert run.pruned["journal"] == 7000
    assert [e.received_at for e in s.iter_events()] == [T0 - timedelta(days=2)]
    assert [lock.rule for lock in s.active_locks(7)] == ["manual"]
    with Store(run.backup) as copy:  # the copy opens and holds the lock too
        assert [lock.rule for lock in copy.active_locks(7)] == ["manual"]
    assert s.get_meta(META_LAST_DAY) == "2026-11-20"
    assert datetime.fromisoformat(s.get_meta(META_LAST_BACKUP_AT)) == T0
    audit = [r for r in s.audit_rows() if r.rule == "maintenance"]
    assert [(r.phase, r.detail["pruned"]["journal"]) for r in audit] == [("applied", 7000)]

    for _ in range(3):  # only `backup_keep` copies stay
        clock.advance(86400)
        m.run_blocking(None, "test")
    assert len(backups(m.backup_dir)) == 2


def test_when_a_run_is_due(store, tmp_path):
    s, clock = store
    m = Maintenance(s, clock, tmp_path / "b")
    day = date(2026, 11, 20)
    assert m.due_at_startup(day, clock.now())  # never backed up
    m.run_blocking(day, "test")
    assert not m.due_at_startup(day, clock.now()) and not m.due_for_day(day)
    assert m.due_for_day(date(2026, 11, 21)) and m.due_at_startup(date(2026, 11, 21), clock.now())
    clock.advance(24 * 3600 + 1)  # same trading day in the meta, but the backup is a day old
    assert m.due_at_startup(day, clock.now())
    s.set_meta(META_LAST_BACKUP_AT, "garbage")  # unreadable: treated as never, not a crash
    assert m.last_backup_at() is None and m.due_at_startup(day, clock.now())


def test_backup_failure_still_prunes_and_is_audited(store, tmp_path):
    s, clock = store
    s.append_event(quote(T0 - timedelta(days=40)))
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")  # the backup folder cannot be created
    run = Maintenance(s, clock, blocker).run_blocking(date(2026, 11, 20), "test")
    assert not run.ok and run.backup is None and "backup" in run.errors[0]
    assert run.pruned["journal"] == 1
    assert s.get_meta(META_LAST_BACKUP_AT) is None  # a later start-up tries again
    assert [r.phase for r in s.audit_rows() if r.rule == "maintenance"] == ["failed"]


def test_prune_bound_keeps_young_rows_written_out_of_order(store):
    """The journal is pruned below a seq bound found by bisection: a young row is never deleted,
    also when an old timestamp follows it (a clock step back); an empty journal is fine."""
    s, _ = store
    assert s.prune()["journal"] == 0
    old, young = T0 - timedelta(days=40), T0 - timedelta(days=1)
    s.append_events([quote(old), quote(old), quote(young), quote(old), quote(young)])
    assert s.prune(journal_days=30)["journal"] == 2
    assert [e.received_at for e in s.iter_events()] == [young, old, young]


async def test_runs_in_a_worker_thread_one_at_a_time(store, tmp_path):
    s, clock = store
    m = Maintenance(s, clock, tmp_path / "b")
    threads: list[str] = []
    real = m.run_blocking

    def spy(day, reason):
        threads.append(threading.current_thread().name)
        return real(day, reason)

    m.run_blocking = spy  # type: ignore[method-assign]
    task = m.start(date(2026, 11, 20), "first")
    assert task is not None and m.start(date(2026, 11, 20), "second") is None  # still running
    assert await m.wait_idle(10.0)
    assert (await task).ok and threads and threads[0] != threading.main_thread().name


# -- the real daemon -----------------------------------------------------------------------------
@pytest.mark.e2e
async def test_daemon_backs_up_once_per_trading_day_and_prunes(rig):  # noqa: F811
    with time_machine.travel(datetime(2026, 11, 20, 16, 59, 56, tzinfo=CHICAGO), tick=True):
        rig.configure({}, daemon={"backup_keep": 5, "journal_retention_days": 30})
        state = rig.config_dir / "state"
        now = datetime.now(UTC)
        with Store(state / "risk_manager.db") as seed:  # 40-day-old journal + a lock from then
            seed.append_events([quote(now - timedelta(days=40, seconds=i)) for i in range(50)])
            seed.append_event(quote(now - timedelta(days=1)))
            seed.upsert_lock(manual_lock(rig.account, now - timedelta(days=40)))
        folder = state / "backups"

        daemon = await rig.start_daemon(maintenance_delay_s=0.0, tick_interval_s=0.2)
        await wait_for(lambda: _async(len(backups(folder)) == 1), what="the start-up backup")
        assert await daemon.maintenance.wait_idle(5.0)
        assert daemon.store.get_meta(META_LAST_DAY) == "2026-11-20"
        assert daemon.maintenance.last_run.pruned["journal"] == 50
        assert not [e for e in daemon.store.iter_events() if e.received_at < now - timedelta(days=30)]

        # 17:00 CT: the reset starts trading day 2026-11-23 (Fri evening → Mon) and one more backup.
        await wait_for(lambda: _async(len(backups(folder)) == 2), timeout=10.0,
                       what="the backup after the daily reset")
        assert await daemon.maintenance.wait_idle(5.0)
        day = daemon.engine.trading_day.isoformat()
        assert day > "2026-11-20" and daemon.store.get_meta(META_LAST_DAY) == day
        await asyncio.sleep(1.0)  # more ticks on the same day: no second backup
        assert len(backups(folder)) == 2

        await rig.stop_daemon()  # a restart the same trading day: not due again
        daemon = await rig.start_daemon(maintenance_delay_s=0.0, tick_interval_s=0.2)
        await asyncio.sleep(0.5)
        assert not daemon.maintenance.running and len(backups(folder)) == 2
        assert [lock.rule for lock in daemon.store.active_locks(rig.account)] == ["manual"]
        with Store(backups(folder)[-1]) as copy:
            assert [lock.rule for lock in copy.active_locks(rig.account)] == ["manual"]


async def _async(value):
    return value


def test_retention_settings_from_accounts_yaml(tmp_path):
    from e2e.helpers import write_config
    from risk_manager.config.loader import ConfigError, load_config_dir

    api = "http://127.0.0.1:9"
    write_config(tmp_path / "a", api, [1])
    assert RetentionPolicy.from_config(load_config_dir(tmp_path / "a").accounts.daemon) == \
        RetentionPolicy(backup_keep=7, journal_days=30, audit_days=365)
    write_config(tmp_path / "b", api, [1], daemon={"backup_keep": 3, "journal_retention_days": 14,
                                                   "audit_retention_days": 90})
    assert RetentionPolicy.from_config(load_config_dir(tmp_path / "b").accounts.daemon) == \
        RetentionPolicy(3, 14, 90)
    write_config(tmp_path / "c", api, [1], daemon={"backup_keep": 0})
    with pytest.raises(ConfigError) as err:
        load_config_dir(tmp_path / "c")
    assert "accounts.yaml" in err.value.render() and "backup_keep" in err.value.render()
