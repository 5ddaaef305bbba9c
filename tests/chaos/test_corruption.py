"""Damaged state and config: the daemon keeps guarding (docs/operations.md: start-up step 2, hot reload).

One account is locked by a real R03 breach, then, in turn: the journal file is truncated; the
SQLite store is overwritten with garbage (locks are the one thing only the store knew, so the R03
lock must come back from the reconciled trades); risk_config.yaml is replaced with garbage while
the daemon runs (the last good config stays in force). After each, the daemon is ready, the
account is locked, and an order placed on it is cancelled.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(300)]

MNQ = "CON.F.US.MNQ.U26"
BUY, SELL, LIMIT = 0, 1, 1
RULES = {"daily_realized_loss": {"enabled": True, "loss_limit": 50, "include_unrealized": False}}
ENV = {"PROJECTX_API_KEY": "sim-key"}


async def _start(config: Path) -> Any:
    from risk_manager.daemon.app import Daemon

    daemon = Daemon(config, environ=ENV, console_log=False)
    await daemon.start()
    return daemon


async def _locked(daemon: Any, account: int) -> bool:
    from e2e.helpers import account_locks, get_status

    return any(lock["rule"] == "R03" for lock in account_locks(await get_status(daemon.status_url), account))


async def _assert_guarding(daemon: Any, trader: Any, account: int, what: str) -> None:
    """Locked, and a fresh resting order on the account is cancelled by the kill switch."""
    from bench._rig import wait_for

    await wait_for(lambda: _locked(daemon, account), timeout=10.0, what=f"{what}: R03 lock")
    reply = await trader.place(account, MNQ, BUY, 1, type=LIMIT, limitPrice=19000.0)
    assert reply.get("success"), reply

    async def cancelled() -> bool:
        return not await trader.working_orders(account)

    await wait_for(cancelled, timeout=10.0, what=f"{what}: order on the locked account cancelled")


async def test_damaged_journal_store_and_config_do_not_stop_the_guard(tmp_path: Path) -> None:
    from bench._rig import Trader, wait_for, write_config
    from risk_manager.sim import Simulator

    sim = Simulator(accounts=1, seed=9, speed=0.0, rate_limit=None)
    await sim.start()
    account = sim.info()["accounts"][0]
    config = write_config(tmp_path / "config", sim.info()["api"], [account], RULES)
    state = config / "state"
    trader = Trader(sim.info()["api"])
    daemon = None
    try:
        await trader.login()
        daemon = await _start(config)
        await trader.price(MNQ, 20000.0)
        await trader.place(account, MNQ, BUY, 1)
        await trader.price(MNQ, 19960.0)
        await trader.place(account, MNQ, SELL, 1)  # -$80 gross: R03 breach
        await _assert_guarding(daemon, trader, account, "initial breach")
        await daemon.shutdown()
        daemon = None

        # 1. The journal file cut in the middle of a page.
        journal = state / "risk_manager-journal.db"
        assert journal.exists(), sorted(p.name for p in state.iterdir())
        for extra in (state / "risk_manager-journal.db-wal", state / "risk_manager-journal.db-shm"):
            extra.unlink(missing_ok=True)
        os.truncate(journal, journal.stat().st_size // 2 + 123)
        daemon = await _start(config)
        assert daemon.store.open_report.journal_corrupt_moved_to is not None, "truncated journal not moved aside"
        await _assert_guarding(daemon, trader, account, "truncated journal")
        await daemon.shutdown()
        daemon = None

        # 2. The store overwritten with garbage after its header: moved aside and rebuilt.
        db = state / "risk_manager.db"
        for extra in (state / "risk_manager.db-wal", state / "risk_manager.db-shm"):
            extra.unlink(missing_ok=True)
        raw = bytearray(db.read_bytes())
        rng = random.Random(4)
        raw[100:] = bytes(rng.getrandbits(8) for _ in range(len(raw) - 100))
        db.write_bytes(bytes(raw))
        daemon = await _start(config)
        assert daemon.store.open_report.corrupt_moved_to is not None, "corrupt store was not moved aside"
        assert Path(daemon.store.open_report.corrupt_moved_to).exists()
        await _assert_guarding(daemon, trader, account, "corrupt store")

        # 3. risk_config.yaml replaced with garbage while running: rejected, last good config stays.
        errors = daemon.counters["reload_errors"]
        (config / "risk_config.yaml").write_bytes(b"\x00\xffrules: [unclosed\n  - {{{\n" + os.urandom(64))

        async def rejected() -> bool:
            return daemon.counters["reload_errors"] > errors

        await wait_for(rejected, timeout=10.0, what="garbage config rejected by hot reload")
        assert daemon.engine.config.rules.daily_realized_loss.enabled
        assert daemon.state == "running"
        await _assert_guarding(daemon, trader, account, "garbage config")
    finally:
        if daemon is not None:
            await daemon.shutdown()
        await trader.close()
        await sim.stop()
