"""Fixtures that start the real simulator and the real daemon (in-process) on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from e2e.helpers import Trader, write_config
from risk_manager.daemon.app import Daemon
from risk_manager.sim import Simulator

ENV = {"PROJECTX_API_KEY": "sim-key"}


class Rig:
    def __init__(self, sim: Simulator, trader: Trader, config_dir: Path) -> None:
        self.sim = sim
        self.trader = trader
        self.config_dir = config_dir
        self.daemon: Daemon | None = None
        self.account = sim.info()["accounts"][0]
        self.api = sim.info()["api"]

    def configure(self, rules: dict[str, Any], **kw: Any) -> Path:
        return write_config(self.config_dir, self.api, [self.account], rules, **kw)

    async def start_daemon(self, **kw: Any) -> Daemon:
        # In-process: leave the test runner's logging alone (the subprocess tests cover the files).
        kw.setdefault("configure_logging", False)
        daemon = Daemon(self.config_dir, environ=ENV, **kw)
        await daemon.start()
        self.daemon = daemon
        return daemon

    async def wait_quotes(self, *contracts: str) -> None:
        """Until the daemon's market-hub subscription for these contracts reached the simulator
        (the gateway pushes no quote snapshot on subscribe, so a price set earlier is not seen)."""
        from e2e.helpers import wait_for

        async def subscribed() -> bool:
            return set(contracts) <= self.sim.hubs.market_subscriptions()

        await wait_for(subscribed, what=f"market subscription of {contracts}")

    async def stop_daemon(self) -> None:
        if self.daemon is not None:
            await self.daemon.shutdown()
            self.daemon = None


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    sim = Simulator(accounts=1, speed=0.0)
    await sim.start()
    trader = Trader(sim.info()["api"])
    await trader.login()
    r = Rig(sim, trader, tmp_path / "config")
    try:
        yield r
    finally:
        await r.stop_daemon()
        await trader.close()
        await sim.stop()


@pytest.fixture
def start_rig(rig: Rig) -> Callable[..., Any]:
    async def _start(rules: dict[str, Any], **kw: Any) -> Rig:
        rig.configure(rules, **{k: v for k, v in kw.items() if k in ("daemon", "trading_day")})
        await rig.start_daemon()
        return rig

    return _start
