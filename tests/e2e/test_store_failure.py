"""A store that stops taking writes (issue 12 item 5, docs/operations.md: "a lock is reported set only once
it is durable; a failing store is visible in /status, /metrics and an alert, and locks are
re-written when it recovers").

Real simulator, real daemon in-process, real HTTP on loopback, and real SQLite failures:
- disk full: the daemon's core file is capped at its current size (SQLite's `max_page_count`)
  and its lock pages are packed, so the next lock write needs a new page and SQLite answers
  "database or disk is full" exactly as on a full disk; raising the cap is freeing the disk;
- the state files deleted while the daemon runs: SQLite raises nothing and goes on "committing"
  into the unlinked file, so the lock would be gone at the next start.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from alerts.receivers import HttpReceiver
from e2e.helpers import BUY, LIMIT, MNQ, R03_REALIZED, SELL, account_locks, get_status, lose_60, wait_for
from risk_manager import admin_auth

pytestmark = pytest.mark.e2e

PASSWORD = "s3cret-pass-123"
WEBHOOK = "/api/webhooks/1/hook-token"
#: SQLite's largest page count: "the disk has room again".
NO_LIMIT = 1073741823


def fill_core_file(store: Any) -> None:
    """Cap the core file at its size and pack the last pages of the lock table and the lock
    history with rows of an account nobody guards (id -1), largest rows first, until SQLite
    refuses even an empty one: from then on a lock change needs a page the "disk" does not
    have."""
    with store._lock:
        conn: sqlite3.Connection = store._conn
        pages = conn.execute("PRAGMA main.page_count").fetchone()[0]
        conn.execute(f"PRAGMA main.max_page_count = {pages}")
        n = 0
        for sql in (
            "INSERT INTO locks VALUES (-1, ?, 'lockout', ?, 'manual', NULL, "
            "'2026-01-01T00:00:00+00:00', NULL, 'test filler')",
            "INSERT INTO lock_history (account_id, rule, change, kind, until, by, why, at) "
            "VALUES (-1, ?, 'set', 'lockout', NULL, 'test filler', ?, '2026-01-01T00:00:00+00:00')",
        ):
            for size in (2000, 500, 100, 20, 0):
                while True:
                    n += 1
                    try:
                        conn.execute(sql, (f"~{n:07d}", "x" * size))
                    except sqlite3.OperationalError as exc:
                        assert "full" in str(exc), exc
                        break


def free_disk(store: Any) -> None:
    with store._lock:
        store._conn.execute(f"PRAGMA main.max_page_count = {NO_LIMIT}")


@pytest.fixture
async def receiver() -> AsyncIterator[HttpReceiver]:
    r = await HttpReceiver().start()
    try:
        yield r
    finally:
        await r.close()


def with_alerts(rig: Any, receiver: HttpReceiver) -> None:
    from ruamel.yaml import YAML

    yaml = YAML()
    path = rig.config_dir / "accounts.yaml"
    doc = yaml.load(path.read_text())
    doc["alerts"] = {"discord": {"webhook_url": receiver.base + WEBHOOK}, "dedupe_seconds": 0}
    with path.open("w") as fh:
        yaml.dump(doc, fh)


async def wait_alert(receiver: HttpReceiver, needle: str) -> str:
    async def found() -> str | None:
        return next((r["json"]["content"] for r in receiver.requests
                     if needle in r["json"]["content"]), None)

    return await wait_for(found, timeout=5.0, what=f"alert {needle!r}")


async def login(http: aiohttp.ClientSession, url: str) -> dict[str, str]:
    async with http.post(url + "/admin/login", json={"password": PASSWORD}) as r:
        assert r.status == 200, await r.text()
        return {"Authorization": f"Bearer {(await r.json())['token']}"}


async def store_block(url: str) -> dict[str, Any]:
    return (await get_status(url))["store"]


async def metrics(url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as r:
        return await r.text()


async def test_disk_full_enforces_reports_failing_and_rewrites_the_locks(rig, receiver):
    rig.configure(R03_REALIZED)
    with_alerts(rig, receiver)
    admin_auth.set_password(rig.config_dir, PASSWORD)
    daemon = await rig.start_daemon(tick_interval_s=0.2)
    url, acct, t = daemon.status_url, rig.account, rig.trader
    fill_core_file(daemon.store)

    # The breach leaves 1 contract and a resting order: its lock cannot be written, the
    # flatten decided in the same batch must run anyway (the lock gate alone would only catch
    # what moves next, and the resting order does not move).
    await t.price(MNQ, 20000.0)
    await t.place(acct, MNQ, BUY, 1, type=LIMIT, limitPrice=19000.0)
    await t.place(acct, MNQ, BUY, 3)
    await t.price(MNQ, 19970.0)
    await t.place(acct, MNQ, SELL, 2)  # -$60 realized: R03 ($50) breached, 1 MNQ still open

    async def r03_flatten() -> dict[str, Any] | None:
        # Not the lock guard's re-flatten a few seconds later: the breach's own.
        return next((e for e in daemon.enforcement_log if e["action"] == "flatten"
                     and e["rule"] == "R03" and "re-flattening" not in e["reason"]), None)

    flatten = await wait_for(r03_flatten, what="the R03 flatten of the breach batch")
    assert flatten["outcome"] == "ok", flatten
    print(f"R03 flatten with the store full: {flatten['latency_ms']} ms")
    assert await t.flat(acct)
    assert daemon.engine.locks.get(acct, "R03") is not None  # enforced from memory

    store = await wait_for(lambda: _failing(url), what="/status store failing")
    assert "database or disk is full" in store["last_error"]
    assert {"account_id": acct, "rule": "R03", "change": "set"}.items() <= store["undurable_locks"][0].items()
    assert (await get_status(url))["connections"]["store"] == "failing"
    text = await metrics(url)
    assert "risk_manager_store_ok 0" in text and "risk_manager_store_undurable_locks 1" in text
    alert = await wait_alert(receiver, "Store failing")
    assert "database or disk is full" in alert

    # The kill switch still holds: a new order is cancelled at once.
    await t.place(acct, MNQ, BUY, 1)
    await wait_for(lambda: t.flat(acct), what="order on the locked account cancelled/closed")

    async with aiohttp.ClientSession() as http:
        auth = await login(http, url)
        async with http.post(url + "/admin/lock", headers=auth, json={
                "account_id": acct, "until": None, "until_reset": False, "reason": "stop"}) as r:
            body = await r.json()
            assert r.status == 503, body  # before the fix: 200 {"locked": true}
            assert "NOT saved" in body["error"] and "disk is full" in body["error"]
        assert daemon.engine.locks.get(acct, "manual") is not None  # in force all the same

        free_disk(daemon.store)
        await wait_for(lambda: _ok(url), what="store recovered")
        await wait_alert(receiver, "Store recovered")
        assert "risk_manager_store_ok 1" in await metrics(url)
        async with http.post(url + "/admin/lock", headers=auth, json={
                "account_id": acct, "until": None, "until_reset": False, "reason": "stop"}) as r:
            assert r.status == 200, await r.text()

    # Both locks were re-written when the store recovered: a restart still has them.
    await rig.stop_daemon()
    daemon = await rig.start_daemon()
    rules = {lock["rule"] for lock in account_locks(await get_status(daemon.status_url), acct)}
    assert {"R03", "manual"} <= rules, rules


async def test_state_files_deleted_while_running_are_recreated_with_the_locks(rig, receiver):
    rig.configure(R03_REALIZED)
    with_alerts(rig, receiver)
    daemon = await rig.start_daemon(tick_interval_s=0.2)
    url, acct, t = daemon.status_url, rig.account, rig.trader
    state_dir = rig.config_dir / "state"
    for path in state_dir.glob("risk_manager*.db*"):
        path.unlink()

    await lose_60(t, acct)
    await wait_for(lambda: t.flat(acct), what="R03 flatten")
    await wait_alert(receiver, "Store failing")
    await wait_alert(receiver, "Store recovered")
    store = await store_block(url)
    assert store["state"] == "ok" and store["recoveries"] == 1, store
    assert "deleted or replaced" in store["last_error"]
    assert (state_dir / "risk_manager.db").exists()

    # Before the fix the lock went into the unlinked file: gone after the restart.
    await rig.stop_daemon()
    daemon = await rig.start_daemon()
    assert [lock["rule"] for lock in account_locks(await get_status(daemon.status_url), acct)] == ["R03"]


async def test_an_unlock_that_cannot_be_saved_is_reported_and_saved_later(rig):
    rig.configure({})
    admin_auth.set_password(rig.config_dir, PASSWORD)
    daemon = await rig.start_daemon(tick_interval_s=0.2)
    url, acct = daemon.status_url, rig.account
    async with aiohttp.ClientSession() as http:
        auth = await login(http, url)
        async with http.post(url + "/admin/lock", headers=auth, json={
                "account_id": acct, "until": None, "until_reset": False, "reason": "stop"}) as r:
            assert r.status == 200, await r.text()  # healthy: saved
        fill_core_file(daemon.store)
        async with http.post(url + "/admin/unlock", headers=auth, json={
                "account_id": acct, "reason": "reviewed", "rule": None}) as r:
            body = await r.json()
            assert r.status == 503, body  # before the fix: 200 "cleared", the lock still on disk
            assert "unlocked in memory but NOT saved" in body["error"]
            assert "restart would restore the lock" in body["error"]
        assert daemon.engine.locks.active(acct) == []  # trading is allowed now
        assert (await store_block(url))["undurable_locks"][0]["change"] == "cleared"
        free_disk(daemon.store)
        await wait_for(lambda: _ok(url), what="store recovered")
    await rig.stop_daemon()
    daemon = await rig.start_daemon()
    assert account_locks(await get_status(daemon.status_url), acct) == []


async def _failing(url: str) -> dict[str, Any] | None:
    store = await store_block(url)
    return store if store["state"] == "failing" and store["undurable_locks"] else None


async def _ok(url: str) -> bool:
    store = await store_block(url)
    return store["state"] == "ok" and not store["undurable_locks"]


def test_fill_core_file_really_fills(tmp_path: Path) -> None:
    """The injection itself: after it, a lock write gets SQLite's own SQLITE_FULL."""
    from datetime import UTC, datetime

    from risk_manager.engine.actions import Lock, LockEnd, LockKind
    from risk_manager.store import Store

    now = datetime(2026, 3, 9, 14, 30, tzinfo=UTC)
    with Store(tmp_path / "risk_manager.db") as store:
        fill_core_file(store)
        with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
            store.upsert_lock(Lock(7, "R03", LockKind.LOCKOUT, "loss", LockEnd.RESET, now, now))
        assert not store.health.ok
        free_disk(store)
        store.upsert_lock(Lock(7, "R03", LockKind.LOCKOUT, "loss", LockEnd.RESET, now, now))
