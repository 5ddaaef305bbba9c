"""`risk-manager run` as a real subprocess: ready, clean SIGTERM, and kill -9 crash safety."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from pathlib import Path

import pytest

from e2e.helpers import BUY, LIMIT, MNQ, MES, account_locks, get_status, wait_for, write_config

pytestmark = pytest.mark.e2e

R03 = {"daily_realized_loss": {"enabled": True, "loss_limit": 50, "include_unrealized": True}}


class DaemonProcess:
    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir
        self.proc: asyncio.subprocess.Process | None = None
        self.status_url: str | None = None

    async def start(self) -> None:
        runtime = self.config_dir / "state" / "daemon.json"
        runtime.unlink(missing_ok=True)
        env = {**os.environ, "PROJECTX_API_KEY": "sim-key"}
        env.pop("NOTIFY_SOCKET", None)
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "risk_manager", "run", "--config", str(self.config_dir),
            env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )

        async def ready():
            if self.proc.returncode is not None:
                raise AssertionError(f"daemon exited with {self.proc.returncode}")
            if not runtime.exists():
                return None
            url = json.loads(runtime.read_text())["status_url"]
            return url if (await get_status(url)).get("ready") else None

        self.status_url = await wait_for(ready, timeout=20.0, interval=0.1, what="daemon ready")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)

    async def wait(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def terminate(self) -> int:
        if self.proc is None or self.proc.returncode is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        return await self.wait()


@pytest.fixture
async def proc_rig(rig):
    procs: list[DaemonProcess] = []

    def make() -> DaemonProcess:
        p = DaemonProcess(rig.config_dir)
        procs.append(p)
        return p

    yield rig, make
    for p in procs:
        if p.proc is not None and p.proc.returncode is None:
            p.proc.kill()
            await p.proc.wait()


def _db(config_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(config_dir / "state" / "risk_manager.db")


async def _lock_of(url: str, account: int) -> dict | None:
    locks = [lock for lock in account_locks(await get_status(url), account) if lock["rule"] == "R03"]
    return locks[0] if locks else None


async def test_run_subprocess_ready_and_clean_sigterm(proc_rig):
    rig, make = proc_rig
    write_config(rig.config_dir, rig.api, [rig.account], {})
    daemon = make()
    await daemon.start()
    status = await get_status(daemon.status_url)
    assert status["ready"] and status["accounts"][0]["id"] == rig.account
    assert await daemon.terminate() == 0
    log_lines = (rig.config_dir / "logs" / "daemon.log").read_text().splitlines()
    assert any("ready" in json.loads(line).get("event", "") for line in log_lines)
    assert "sim-key" not in "\n".join(log_lines)


async def test_invalid_config_exits_2_naming_file_and_field(tmp_path):
    write_config(tmp_path, "http://127.0.0.1:9", [1], {"max_contracts": {"limit": -1}})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "risk_manager", "run", "--config", str(tmp_path),
        env={**os.environ, "PROJECTX_API_KEY": "x"}, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert b"risk_config.yaml" in out and b"max_contracts.limit" in out


async def test_sigkill_after_lock_decided_restart_completes_flatten(proc_rig):
    rig, make = proc_rig
    t, account = rig.trader, rig.account
    write_config(rig.config_dir, rig.api, [account], R03)
    daemon = make()
    await daemon.start()
    await t.price(MNQ, 20000.0)
    await t.place(account, MNQ, BUY, 2)
    await t.place(account, MNQ, BUY, 1, type=LIMIT, limitPrice=19000.0)
    await rig.wait_quotes(MNQ)
    # The flatten's first calls (searchOpen) hang: the lock is decided, no close/cancel sent yet.
    for path in ("/api/Position/searchOpen", "/api/Order/searchOpen"):
        await t.fault("delay_ms", ms=4000, count=1, paths=[path])
    await t.price(MNQ, 19980.0)  # -$40 x 2 = -$80 open

    lock = await wait_for(lambda: _lock_of(daemon.status_url, account), what="R03 lock decided")
    daemon.kill9()
    await daemon.wait()
    assert await t.positions(account), "the kill must land before the flatten completed"
    await t.fault("clear")

    restarted = make()
    await restarted.start()
    await wait_for(lambda: t.flat(account), timeout=10.0, what="flat after restart")
    again = await wait_for(lambda: _lock_of(restarted.status_url, account), what="lock restored")
    assert again["until"] == lock["until"]
    with _db(rig.config_dir) as db:
        open_intents = db.execute("SELECT COUNT(*) FROM intents WHERE completed_at IS NULL").fetchone()[0]
        confirmed = db.execute("SELECT COUNT(*) FROM audit WHERE phase = 'confirmed' AND action = 'flatten'").fetchone()[0]
    assert open_intents == 0 and confirmed >= 1
    assert await restarted.terminate() == 0


async def test_sigkill_mid_flatten_restart_closes_the_rest(proc_rig):
    rig, make = proc_rig
    t, account = rig.trader, rig.account
    write_config(rig.config_dir, rig.api, [account], R03)
    daemon = make()
    await daemon.start()
    await t.price(MNQ, 20000.0)
    await t.price(MES, 6000.0)
    await t.place(account, MNQ, BUY, 2)
    await t.place(account, MES, BUY, 1)
    await t.place(account, MNQ, BUY, 1, type=LIMIT, limitPrice=19000.0)
    await rig.wait_quotes(MNQ, MES)
    seq = await t.last_seq()
    await t.fault("delay_ms", ms=3000, count=1, paths=["/api/Order/cancel"])
    await t.price(MNQ, 19970.0)  # -$120 open

    async def cancel_sent():
        return [r for r in await t.log(seq) if r["path"].lower().endswith("/order/cancel")]

    await wait_for(cancel_sent, what="flatten under way (cancel sent)")
    daemon.kill9()
    await daemon.wait()
    assert len(await t.positions(account)) == 2, "positions still open when the daemon died"

    restarted = make()
    await restarted.start()
    await wait_for(lambda: t.flat(account), timeout=10.0, what="flat after restart")
    assert await _lock_of(restarted.status_url, account)
    with _db(rig.config_dir) as db:
        open_intents = db.execute("SELECT COUNT(*) FROM intents WHERE completed_at IS NULL").fetchone()[0]
    assert open_intents == 0
    assert await restarted.terminate() == 0
