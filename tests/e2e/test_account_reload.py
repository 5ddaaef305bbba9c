"""Account edits while the daemon runs (issue 11 item 12): an added account is guarded at once, an
account the gateway does not know is reported (log, alert, /status, the CLI), a per-account
override tightens at once and loosens at the reset, and removing an account (a loosening) waits
for the reset unless the admin applies it now with the password (docs/rules.md, lock semantics)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import time_machine
from ruamel.yaml import YAML
from typer.testing import CliRunner

from alerts.receivers import HttpReceiver
from e2e.conftest import ENV
from e2e.helpers import BUY, MNQ, Trader, get_status, wait_for, write_config
from risk_manager import admin_auth
from risk_manager.daemon.app import Daemon
from risk_manager.sim import Simulator
from risk_manager.ui.admin_cli import app  # `risk-manager admin …`

pytestmark = pytest.mark.e2e

CHICAGO = ZoneInfo("America/Chicago")
R01 = {"max_contracts": {"enabled": True, "limit": 1, "close_all": True}}
PASSWORD = "s3cret-pass-123"
runner = CliRunner()


class TwoAccounts:
    def __init__(self, sim: Simulator, trader: Trader, config_dir: Path, receiver: HttpReceiver) -> None:
        self.sim, self.trader, self.config_dir, self.receiver = sim, trader, config_dir, receiver
        self.a, self.b = sim.info()["accounts"][:2]
        self.daemon: Daemon | None = None

    def configure(self, accounts: list[int], rules: dict[str, Any]) -> None:
        write_config(self.config_dir, self.sim.info()["api"], accounts, rules)
        path = self.config_dir / "accounts.yaml"
        doc = YAML().load(path.read_text())
        doc["alerts"] = {"discord": {"webhook_url": f"{self.receiver.base}/api/webhooks/1/tok"},
                         "dedupe_seconds": 0}
        with path.open("w") as fh:
            YAML().dump(doc, fh)

    async def start(self) -> Daemon:
        self.daemon = Daemon(self.config_dir, environ=ENV, configure_logging=False, reload_interval_s=0.2)
        await self.daemon.start()
        return self.daemon

    async def status(self) -> dict[str, Any]:
        assert self.daemon is not None
        return await get_status(self.daemon.status_url)

    async def guarded(self) -> set[int]:
        return {row["id"] for row in (await self.status())["accounts"]}

    async def cli(self, *args: str) -> Any:
        """The real admin CLI, off the event loop (the daemon runs in this process)."""
        assert self.daemon is not None
        argv = [*args, "--config", str(self.config_dir), "--url", self.daemon.status_url]
        return await asyncio.to_thread(runner.invoke, app, argv,
                                       env={"RISK_MANAGER_ADMIN_PASSWORD": PASSWORD})

    def edit_accounts(self, edit) -> None:
        path = self.config_dir / "accounts.yaml"
        doc = YAML().load(path.read_text())
        edit(doc)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w") as fh:
            YAML().dump(doc, fh)
        tmp.replace(path)


@pytest.fixture
async def two(tmp_path: Path) -> AsyncIterator[TwoAccounts]:
    sim = Simulator(accounts=2, speed=0.0)
    await sim.start()
    trader = Trader(sim.info()["api"])
    await trader.login()
    receiver = await HttpReceiver().start()
    rig = TwoAccounts(sim, trader, tmp_path / "config", receiver)
    try:
        yield rig
    finally:
        if rig.daemon is not None:
            await rig.daemon.shutdown()
        await receiver.close()
        await trader.close()
        await sim.stop()


def alert_texts(rig: TwoAccounts) -> list[str]:
    return [r["json"]["content"] for r in rig.receiver.requests]


async def test_added_account_is_guarded_at_once_and_an_unknown_one_is_reported(two, caplog):
    two.configure([two.a], R01)
    await two.start()
    await two.trader.price(MNQ, 20000.0)
    await two.trader.place(two.b, MNQ, BUY, 2)  # B is not guarded yet: over R01's limit, untouched
    await asyncio.sleep(0.5)
    assert await two.trader.positions(two.b)

    result = await two.cli("accounts", "add", str(two.b))
    await wait_for(lambda: two.trader.flat(two.b), what="R01 enforced on the account added while running")
    assert two.b in await two.guarded()
    assert result.exit_code == 0, result.output
    assert "guards it now" in result.output

    with caplog.at_level(logging.ERROR, logger="risk_manager.daemon"):
        result = await two.cli("accounts", "add", "PRAC-V2-NOPE-1")
    assert result.exit_code == 1 and "could not find PRAC-V2-NOPE-1" in result.output
    status = await two.status()
    assert status["config"]["unresolved_accounts"] == ["PRAC-V2-NOPE-1"]
    assert any("PRAC-V2-NOPE-1" in r.getMessage() and "NOT guarded" in r.getMessage() for r in caplog.records)

    async def alerted():
        return next((t for t in alert_texts(two) if "PRAC-V2-NOPE-1" in t and "NOT guarded" in t), None)

    await wait_for(alerted, what="alert for the account the gateway does not know")
    assert await two.guarded() == {two.a, two.b}


async def test_override_tightens_now_and_loosens_at_the_reset(two):
    with time_machine.travel(datetime(2026, 11, 20, 16, 59, 40, tzinfo=CHICAGO), tick=True):
        two.configure([two.a], {"max_contracts": {"enabled": True, "limit": 5, "close_all": True}})
        daemon = await two.start()
        await two.trader.price(MNQ, 20000.0)
        await two.trader.place(two.a, MNQ, BUY, 2)
        await asyncio.sleep(0.3)
        assert await two.trader.positions(two.a)

        two.edit_accounts(lambda doc: doc["accounts"][0].update(overrides={"max_contracts": {"limit": 1}}))
        await wait_for(lambda: two.trader.flat(two.a), what="tightened override enforced at once")

        two.edit_accounts(lambda doc: doc["accounts"][0].update(overrides={"max_contracts": {"limit": 3}}))

        async def pending():
            return [c for c in (await two.status())["pending_changes"] if c.get("account")]

        [change] = await wait_for(pending, what="looser override pending")
        assert (change["rule"], change["key"], change["from"], change["to"]) == ("max_contracts", "limit", 1, 3)
        assert daemon.engine.account_config(two.a).rules.max_contracts.limit == 1

        async def reset_applied():
            return daemon.engine.account_config(two.a).rules.max_contracts.limit == 3

        await wait_for(reset_applied, timeout=30.0, what="looser override applied at the 17:00 reset")
        assert (await two.status())["pending_changes"] == []


async def test_removing_an_account_waits_for_the_reset_or_the_password(two):
    with time_machine.travel(datetime(2026, 11, 20, 16, 59, 40, tzinfo=CHICAGO), tick=True):
        two.configure([two.a, two.b], R01)
        admin_auth.set_password(two.config_dir, PASSWORD)
        daemon = await two.start()
        await two.trader.price(MNQ, 20000.0)

        result = await two.cli("accounts", "remove", str(two.b))
        assert result.exit_code == 0, result.output
        assert "until the next daily reset" in result.output

        async def pending():
            return [c for c in (await two.status())["pending_changes"] if c["rule"] == "accounts"]

        [change] = await wait_for(pending, what="removal pending until the reset")
        assert change["to"] == "not guarded"
        assert two.b in await two.guarded()
        await two.trader.place(two.b, MNQ, BUY, 2)  # still guarded until the reset: R01 acts
        await wait_for(lambda: two.trader.flat(two.b), what="R01 still enforced on the account being removed")

        async def removed_at_reset():
            return two.b not in await two.guarded()

        await wait_for(removed_at_reset, timeout=40.0, what="account no longer guarded after the reset")
        await two.trader.place(two.b, MNQ, BUY, 2)
        await asyncio.sleep(0.5)
        assert await two.trader.positions(two.b)  # not guarded any more
        assert two.b not in daemon.engine.accounts

        # With the password, a removal applies now.
        result = await two.cli("accounts", "remove", str(two.a), "--now")
        assert result.exit_code == 0, result.output
        assert "Applied now" in result.output
        assert await two.guarded() == set()


async def test_reload_and_apply_pending_need_the_admin_session(two):
    two.configure([two.a, two.b], R01)
    await two.start()
    two.edit_accounts(lambda doc: doc["accounts"].pop())
    async with aiohttp.ClientSession() as http, \
            http.post(two.daemon.status_url + "/admin/apply-pending", json={}) as r:
        assert r.status in (401, 403)
    await asyncio.sleep(0.6)
    assert two.b in await two.guarded()


async def test_a_rejected_reload_is_logged_alerted_and_shown(two, caplog):
    two.configure([two.a], R01)
    daemon = await two.start()
    with caplog.at_level(logging.ERROR, logger="risk_manager.daemon"):
        (two.config_dir / "risk_config.yaml").write_text("rules:\n  max_contracts: {limit: -3}\n")

        async def alerted():
            return next((t for t in alert_texts(two) if "Config change rejected" in t), None)

        text = await wait_for(alerted, what="alert for the rejected reload")
    assert "rules.max_contracts.limit" in text
    assert any("config reload rejected" in r.getMessage() for r in caplog.records)
    status = await two.status()
    assert "rules.max_contracts.limit" in status["config"]["reload_error"]
    assert daemon.engine.config.rules.max_contracts.limit == 1


async def test_a_group_limit_tightens_now_and_loosens_at_the_reset(two):
    """accounts.yaml `groups` hot-reloaded like the rules: max_contracts 5 → 2 flattens the group's
    3 contracts at once; 2 → 10 waits (pending) until the 17:00 reset."""
    def groups(limit):
        return lambda doc: doc.update(groups=[{"name": "copy", "accounts": [two.a, two.b],
                                               "max_contracts": limit}])

    with time_machine.travel(datetime(2026, 11, 20, 16, 59, 40, tzinfo=CHICAGO), tick=True):
        two.configure([two.a, two.b], {})
        two.edit_accounts(groups(5))
        daemon = await two.start()
        await two.trader.price(MNQ, 20000.0)
        await two.trader.place(two.a, MNQ, BUY, 2)
        await two.trader.place(two.b, MNQ, BUY, 1)
        await asyncio.sleep(0.3)
        assert await two.trader.positions(two.a) and await two.trader.positions(two.b)

        two.edit_accounts(groups(2))

        async def both_flat():
            return await two.trader.flat(two.a) and await two.trader.flat(two.b)

        await wait_for(both_flat, what="the tightened group limit enforced at once")
        assert [g.config.max_contracts for g in daemon.engine.groups] == [2]

        two.edit_accounts(groups(10))

        async def pending():
            return [c for c in (await two.status())["pending_changes"] if c["rule"] == "group:copy"]

        [change] = await wait_for(pending, what="looser group limit pending")
        assert (change["key"], change["from"], change["to"]) == ("max_contracts", 2, 10)
        assert [g.config.max_contracts for g in daemon.engine.groups] == [2]

        async def reset_applied():
            return [g.config.max_contracts for g in daemon.engine.groups] == [10]

        await wait_for(reset_applied, timeout=30.0, what="looser group limit applied at the 17:00 reset")
        assert (await two.status())["pending_changes"] == []
