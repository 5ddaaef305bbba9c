"""`risk-manager replay` reads the daemon's files without changing them, and a journal the daemon
cannot use (what the old replay left behind, or a newer schema) is moved aside at start-up while
the daemon keeps guarding (SPEC §7 step 2, §8)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from alerts.receivers import HttpReceiver
from e2e.helpers import BUY, LIMIT, MNQ, R03_REALIZED, account_locks, get_status, lose_60, wait_for, write_rules
from risk_manager.store import Store

pytestmark = pytest.mark.e2e


def snapshot(state: Path) -> dict[str, str]:
    """Every file under the state dir with the SHA-256 of its bytes."""
    return {str(p.relative_to(state)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(state.rglob("*")) if p.is_file()}


async def run_replay(target: Path, config_dir: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "risk_manager", "replay", str(target), "--config", str(config_dir),
        env={**os.environ}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


async def record_a_losing_day(rig) -> Path:
    """A day with nothing armed: one MNQ round trip at -$60. Returns the state dir."""
    rig.configure({})
    await rig.start_daemon()
    await lose_60(rig.trader, rig.account)

    async def journaled() -> bool:
        return rig.daemon.store.last_seq() > 0 and await rig.trader.flat(rig.account)

    await wait_for(journaled, what="the round trip journaled")
    await asyncio.sleep(0.3)
    await rig.stop_daemon()
    return rig.config_dir / "state"


async def test_replay_of_journal_and_main_database_changes_nothing_and_daemon_starts(rig):
    state = await record_a_losing_day(rig)
    journal, main = state / "risk_manager-journal.db", state / "risk_manager.db"
    assert not (state / "risk_manager-journal.db-wal").exists()  # a clean stop leaves no WAL
    write_rules(rig.config_dir, R03_REALIZED)
    before = snapshot(state)
    assert journal.name in before and main.name in before

    code, out, err = await run_replay(journal, rig.config_dir)
    assert code == 0, err
    assert snapshot(state) == before
    lines = out.splitlines()
    assert lines[0] == f"reading {journal}: event journal (schema 1), opened read-only"
    assert lines[1].startswith("events: ") and " recorded, " in lines[1]
    assert lines[2].startswith("contracts: ") and f"cached in {main} (read-only)" in lines[2]
    assert "R03" in out and "lock lockout" in out and "flatten" in out
    assert lines[-1].startswith("replayed ") and f" events from {journal}; " in lines[-1]

    code, out2, err = await run_replay(main, rig.config_dir)
    assert code == 0, err
    assert snapshot(state) == before
    assert out2.splitlines()[0] == f"reading {main}: main database (schema 5), opened read-only"
    assert out2.splitlines()[1] == f"reading {journal}: event journal (schema 1), opened read-only"
    # The same events, the same verdicts, whichever file was named.
    assert [x for x in out2.splitlines() if " acct " in x] == [x for x in lines if " acct " in x]

    daemon = await rig.start_daemon()
    assert daemon.state == "running"
    report = daemon.store.open_report
    assert report.journal_corrupt_moved_to is None and report.migrated_from == report.schema_version
    assert not list(state.glob("*.corrupt-*")) and not list(state.glob("*-journal-journal*"))


async def test_replay_while_the_daemon_runs_creates_no_file(rig):
    rig.configure({})
    await rig.start_daemon()
    await lose_60(rig.trader, rig.account)
    await wait_for(lambda: rig.trader.flat(rig.account), what="round trip done")
    state = rig.config_dir / "state"
    names = sorted(snapshot(state))
    assert "risk_manager-journal.db-wal" in names  # the daemon's WAL: replay reads through it
    code, out, err = await run_replay(state / "risk_manager-journal.db", rig.config_dir)
    assert code == 0, err
    assert "events: 0 recorded" not in out and "replayed " in out.splitlines()[-1]
    assert sorted(snapshot(state)) == names


def _break_journal_like_the_old_replay(state: Path) -> None:
    # What `replay state/risk_manager-journal.db` did before: the journal opened as a main
    # database: migrated to the main schema (version 5) and given a journal of its own.
    Store(state / "risk_manager-journal.db").close()
    assert (state / "risk_manager-journal-journal.db").exists()


def _newer_journal_schema(state: Path) -> None:
    conn = sqlite3.connect(state / "risk_manager-journal.db")
    conn.execute("PRAGMA user_version = 7")
    conn.close()


@pytest.mark.parametrize("damage", [_break_journal_like_the_old_replay, _newer_journal_schema],
                         ids=["migrated-as-main", "newer-schema"])
async def test_daemon_with_an_unusable_journal_moves_it_aside_and_keeps_guarding(rig, damage):
    receiver = await HttpReceiver().start()
    try:
        rig.configure(R03_REALIZED)
        await rig.start_daemon()
        await lose_60(rig.trader, rig.account)  # -$60: the R03 lock, stored in the main database

        async def locked() -> bool:
            locks = account_locks(await get_status(rig.daemon.status_url), rig.account)
            return any(lock["rule"] == "R03" for lock in locks)

        await wait_for(locked, what="R03 lock")
        await wait_for(lambda: rig.trader.flat(rig.account), what="flattened")
        await rig.stop_daemon()
        state = rig.config_dir / "state"
        journal = state / "risk_manager-journal.db"
        damage(state)
        damaged = journal.read_bytes()

        path = rig.config_dir / "accounts.yaml"
        yaml = YAML()
        doc = yaml.load(path.read_text())
        doc["alerts"] = {"discord": {"webhook_url": f"{receiver.base}/api/webhooks/1/tok"},
                         "dedupe_seconds": 0}
        with path.open("w") as fh:
            yaml.dump(doc, fh)

        daemon = await rig.start_daemon()
        assert daemon.state == "running"
        report = daemon.store.open_report
        assert report.journal_corrupt_moved_to is not None and report.journal_created
        assert "newer than this program's (1)" in report.journal_corrupt_reason
        assert report.journal_corrupt_moved_to.read_bytes() == damaged  # kept for inspection
        assert report.corrupt_moved_to is None  # the main database was not touched

        # Still guarding: the lock held in the main database is in force, its kill switch acts.
        await wait_for(locked, what="R03 lock after the restart")
        await rig.trader.place(rig.account, MNQ, BUY, 1, type=LIMIT, limitPrice=19000.0)
        await wait_for(lambda: rig.trader.flat(rig.account), what="order on the locked account cancelled")
        assert daemon.store.last_seq() > 0  # the new journal records

        async def alerted() -> str | None:
            return next((r["json"]["content"] for r in receiver.requests
                         if "Damaged event journal moved aside" in r["json"]["content"]), None)

        text = await wait_for(alerted, what="store_recovered alert")
        assert str(report.journal_corrupt_moved_to) in text and "keeps guarding" in text

        # The moved-aside journal still replays (read-only, as found).
        await rig.stop_daemon()
        moved = report.journal_corrupt_moved_to
        before = snapshot(state)
        code, out, err = await run_replay(moved, rig.config_dir)
        assert code == 0, err
        assert out.splitlines()[0].startswith(f"reading {moved}: event journal")
        assert snapshot(state) == before
    finally:
        await receiver.close()
