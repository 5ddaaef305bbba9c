"""The demo's moving parts in this process: the simulator, a temp config dir, the real daemon.

Everything listens on 127.0.0.1 with a free port, and `stop()` undoes all of it (servers stopped,
log handlers closed, temp dir removed), also after a failed or cancelled start.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from risk_manager.demo.config import DEMO_API_KEY_ENV, write_demo_config

SIM_USER, SIM_API_KEY = "sim", "sim-key"


class DemoStartError(RuntimeError):
    pass


class DemoStack:
    def __init__(self, *, temp_root: Path | None = None) -> None:
        self._temp_root = temp_root
        self.config_dir: Path | None = None
        self.sim: Any = None
        self.daemon: Any = None
        self.api = ""
        self.account_id = 0
        self.status_url = ""

    async def start(self) -> DemoStack:
        from risk_manager.daemon.app import Daemon, StartupError
        from risk_manager.sim import Simulator

        root = Path(tempfile.mkdtemp(prefix="risk-manager-demo-", dir=self._temp_root))
        self.config_dir = root / "config"
        # speed 0: prices move only when the script moves them.
        self.sim = Simulator(accounts=1, seed=1, user=SIM_USER, api_key=SIM_API_KEY, speed=0.0)
        self.api = await self.sim.start(host="127.0.0.1", port=0)
        self.account_id = self.sim.info()["accounts"][0]
        write_demo_config(self.config_dir, self.api, self.account_id, user=SIM_USER)
        self.daemon = Daemon(self.config_dir, environ={DEMO_API_KEY_ENV: SIM_API_KEY}, console_log=False)
        try:
            await self.daemon.start()
        except StartupError as exc:
            raise DemoStartError(f"the daemon did not start: {exc}") from None
        self.status_url = self.daemon.status_url
        return self

    @property
    def root(self) -> Path | None:
        return self.config_dir.parent if self.config_dir is not None else None

    def market_subscribed(self, contract_id: str) -> bool:
        """Has the daemon's market-hub subscription for this contract reached the simulator?"""
        return self.sim is not None and contract_id in self.sim.hubs.market_subscriptions()

    async def stop(self) -> None:
        try:
            if self.daemon is not None:
                daemon, self.daemon = self.daemon, None
                await daemon.shutdown()  # also right for a half-started daemon: closes what it opened
        finally:
            try:
                if self.sim is not None:
                    sim, self.sim = self.sim, None
                    await sim.stop()
            finally:
                _close_daemon_log_handlers()
                if self.root is not None:
                    shutil.rmtree(self.root, ignore_errors=True)

    async def __aenter__(self) -> DemoStack:
        try:
            return await self.start()
        except BaseException:
            await self.stop()
            raise

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _close_daemon_log_handlers() -> None:
    """The daemon logs into a file in the temp dir; close it before the dir goes."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler) and "risk-manager-demo-" in handler.baseFilename:
            root.removeHandler(handler)
            handler.close()
