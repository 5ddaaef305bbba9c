"""kill -9 keeps the firm guards' state (docs/rules.md, §8): R14's intraday equity high (only the store
knows it once the market has fallen back) and a group's loss lock, over a SIGKILL and a restart
of a `risk-manager run` subprocess."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(300)]

MNQ = "CON.F.US.MNQ.U26"  # $2 per point
BUY = 0
RULES = {"max_loss_floor": {"starting_balance": 50_000, "max_drawdown": 2_000, "trail": "intraday"}}


def row(status: dict[str, Any], account: int) -> dict[str, Any]:
    return next(a for a in status["accounts"] if a["id"] == account)


async def test_kill9_keeps_the_intraday_high_and_the_group_lock(tmp_path: Path) -> None:
    from bench._rig import DaemonProcess, Trader, fetch_status, wait_for, write_config
    from risk_manager.sim import Simulator

    sim = Simulator(accounts=3, seed=5, speed=0.0, rate_limit=None)
    await sim.start()
    a, b, c = sim.info()["accounts"]
    config = write_config(tmp_path / "config", sim.info()["api"], [a, b, c], RULES)
    yaml = YAML()
    doc = yaml.load((config / "accounts.yaml").read_text())
    doc["groups"] = [{"name": "pair", "accounts": [b, c], "daily_loss_limit": 150}]
    with (config / "accounts.yaml").open("w") as fh:
        yaml.dump(doc, fh)
    await sim.set_price(MNQ, 20_000.0)
    daemon = DaemonProcess(config)
    trader = Trader(sim.info()["api"])
    try:
        await trader.login()
        daemon.start()
        await daemon.wait_ready()
        url = daemon.status_url
        for acct in (a, b, c):
            await trader.place(acct, MNQ, BUY, 1)
        async def subscribed() -> bool:
            return MNQ in sim.hubs.market_subscriptions()

        await wait_for(subscribed, timeout=10.0, what="market subscription of MNQ")
        await sim.set_price(MNQ, 20_100.0)  # A's equity ~ +$200: the intraday high, and the floor

        async def high_seen() -> Any:
            status = await fetch_status(url)
            view = status and row(status, a)["firm"]["max_loss_floor"]
            return view if view and view["high"] > 50_100 else None

        seen = await wait_for(high_seen, timeout=10.0, what="R14's intraday high in /status")
        await asyncio.sleep(1.5)  # a tick: quotes save nothing themselves, the 1 s tick does
        await sim.set_price(MNQ, 19_900.0)  # B + C: about −$200 together: the group breaches

        async def group_locked() -> Any:
            status = await fetch_status(url)
            if status is None:
                return None
            rules = [[lk["rule"] for lk in row(status, x)["locks"]] for x in (b, c)]
            return rules if all("group:pair" in r for r in rules) else None

        await wait_for(group_locked, timeout=10.0, what="the group lock on B and C")
        daemon.kill9()

        daemon.start()
        await daemon.wait_ready()
        url = daemon.status_url
        status = await wait_for(lambda: fetch_status(url), what="/status after the restart")
        view = row(status, a)["firm"]["max_loss_floor"]
        # The market fell back: only the store can know the high seen before the kill.
        assert view["high"] >= seen["high"] and view["floor"] == seen["floor"]
        assert await group_locked()
    finally:
        daemon.stop()
        await trader.close()
        await sim.stop()
