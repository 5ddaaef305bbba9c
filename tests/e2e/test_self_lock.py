""""Done for the day" (SPEC §5 lock semantics): the trader locks their own account without the
admin password, through `risk-manager lock` and POST /self/lock, against the real daemon and
simulator. The lock is in SQLite before the command reports it, only ever tightens, and only an
admin can lift it."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import time_machine
from typer.testing import CliRunner

from e2e.conftest import rig  # noqa: F401
from e2e.helpers import BUY, MNQ, account_locks, get_status, wait_for
from risk_manager.cli import _add_subapps, app

pytestmark = pytest.mark.e2e

CHICAGO = ZoneInfo("America/Chicago")
WEDNESDAY_0930 = datetime(2026, 11, 18, 9, 30, tzinfo=CHICAGO)
RESET = datetime(2026, 11, 18, 17, 0, tzinfo=CHICAGO)


def cli(*args: str):
    _add_subapps()
    return CliRunner().invoke(app, list(args))


def stored_locks(daemon) -> list[tuple]:
    """The locks table read through a separate SQLite connection: what a crash would leave."""
    with sqlite3.connect(daemon.config.state_dir / "risk_manager.db") as db:
        return db.execute("SELECT account_id, rule, ends, until, set_by FROM locks").fetchall()


async def test_cli_lock_until_reset_flattens_persists_and_needs_no_password(rig):  # noqa: F811
    with time_machine.travel(WEDNESDAY_0930, tick=True):
        rig.configure({})
        daemon = await rig.start_daemon()
        await rig.trader.price(MNQ, 20000.0)
        await rig.trader.place(rig.account, MNQ, BUY, 1)
        await wait_for(lambda: _has_position(daemon, rig.account), what="position seen by the daemon")

        # No admin password exists in this config dir at all: the command must not need one.
        assert not (rig.config_dir / "admin_password.hash").exists()
        result = await asyncio.to_thread(cli, "lock", "--yes", "--url", daemon.status_url)
        assert result.exit_code == 0, result.output
        assert "Locked" in result.output and "Wed 17:00 CST" in result.output, result.output

        # Durable before reported: the row is in the database the moment the command returned.
        rows = stored_locks(daemon)
        assert [(r[0], r[1], r[2]) for r in rows] == [(rig.account, "manual", "reset")], rows
        assert datetime.fromisoformat(rows[0][3]) == RESET
        assert rows[0][4].startswith("trader@127.0.0.1")

        locks = account_locks(await get_status(daemon.status_url), rig.account)
        assert [(lk["rule"], lk["set_by"]) for lk in locks] == [("manual", "trader@127.0.0.1")]
        await wait_for(lambda: rig.trader.flat(rig.account), timeout=10.0, what="flattened")

        # Audited as by the trader, and listed in the enforcement history.
        audit = [r for r in daemon.store.audit_rows(rig.account) if r.action == "self_lock"]
        assert audit and audit[-1].detail["by"] == "trader@127.0.0.1"
        history = (await get_status(daemon.status_url))["enforcement"]
        assert any(h["action"] == "self_lock" and h["by"] == "trader@127.0.0.1" for h in history)

        # Unlocking is not the trader's to do: the admin route wants a session.
        async with aiohttp.ClientSession() as http, http.post(daemon.status_url + "/admin/unlock",
                             json={"account_id": rig.account, "reason": "changed my mind"}) as r:
            assert r.status == 401
        assert account_locks(await get_status(daemon.status_url), rig.account)


async def test_self_lock_only_tightens(rig):  # noqa: F811
    with time_machine.travel(WEDNESDAY_0930, tick=True):
        rig.configure({})
        daemon = await rig.start_daemon()
        later = WEDNESDAY_0930 + timedelta(hours=5)
        await daemon.admin_lock(rig.account, later, False, "admin: review at 14:30", "admin@127.0.0.1")

        # A shorter self-lock leaves the admin's longer lock as it is.
        result = await asyncio.to_thread(cli, "lock", str(rig.account), "--until", "11:00", "--yes",
                                         "--url", daemon.status_url)
        assert result.exit_code == 0, result.output
        assert "already locked" in result.output, result.output
        (lock,) = account_locks(await get_status(daemon.status_url), rig.account)
        assert datetime.fromisoformat(lock["until"]) == later and lock["set_by"] == "admin@127.0.0.1"

        # Until the reset lasts longer: it replaces it.
        result = await asyncio.to_thread(cli, "lock", "--yes", "--url", daemon.status_url)
        assert result.exit_code == 0 and "Locked" in result.output, result.output
        (lock,) = account_locks(await get_status(daemon.status_url), rig.account)
        assert datetime.fromisoformat(lock["until"]) == RESET and lock["set_by"] == "trader@127.0.0.1"

        # The admin's lock and unlock are in the enforcement history next to the trader's lock.
        await daemon.admin_unlock(rig.account, "reviewed with trader", "admin@127.0.0.1", None)
        history = [(h["action"], h.get("by")) for h in (await get_status(daemon.status_url))["enforcement"]
                   if h["rule"] == "manual" and h["action"] != "flatten"]
        assert history == [("lock", "admin@127.0.0.1"), ("self_lock", "trader@127.0.0.1"),
                           ("unlock", "admin@127.0.0.1")], history


async def test_self_lock_route_refuses_cross_site_requests(rig):  # noqa: F811
    rig.configure({})
    daemon = await rig.start_daemon()
    url = daemon.status_url + "/self/lock"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"account_id": rig.account},
                             headers={"Origin": "https://evil.example"}) as r:
            assert r.status == 403
        async with http.post(url, data=f"account_id={rig.account}",
                             headers={"Content-Type": "application/x-www-form-urlencoded"}) as r:
            assert r.status == 415
        async with http.post(url, json={"account_id": 999999}) as r:
            assert r.status == 404
    assert account_locks(await get_status(daemon.status_url), rig.account) == []
    assert stored_locks(daemon) == []


def test_cli_lock_without_a_daemon_says_so(tmp_path):
    result = cli("lock", "--yes", "--url", "http://127.0.0.1:9", "--config", str(tmp_path))
    assert result.exit_code == 1
    assert "not running" in result.output


def _has_position(daemon, account: int):
    async def check() -> bool:
        return bool(daemon.engine.state(account).positions)
    return check()
