"""The executor's test rig: the real simulator, REST client and SQLite store, and a trader client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from risk_manager.clock import SystemClock
from risk_manager.daemon.adapters import GatewayBroker
from risk_manager.enforcement.executor import Executor, ExecutorSettings
from risk_manager.gateway.rest import GatewayRest
from risk_manager.sim import Simulator
from risk_manager.store import Store
from e2e.helpers import Trader

#: Short timeouts and backoffs so a retried call does not stretch the test.
FAST = ExecutorSettings(call_timeout_s=2.0, backoff_s=(0.05, 0.1, 0.2))


@dataclass
class ExecutorRig:
    sim: Simulator
    trader: Trader
    executor: Executor
    store: Store


@asynccontextmanager
async def executor_rig(tmp_path: Path, *, accounts: int = 1, broker: type[GatewayBroker] = GatewayBroker,
                       fills: dict[str, Any] | None = None, **executor_options: Any) -> AsyncIterator[ExecutorRig]:
    """An executor on `broker` over the simulator's REST API (`fills`: the simulator's fill
    model); drained and closed (with everything else) on the way out."""
    sim = Simulator(accounts=accounts, speed=0.0, fills=fills)
    api = await sim.start()
    rest = GatewayRest(api, "sim", "sim-key", timeout=3.0)
    store = Store(tmp_path / "rm.db")
    executor = Executor(broker(rest), store, SystemClock(), **executor_options)
    trader = Trader(api)
    await trader.login()
    try:
        yield ExecutorRig(sim, trader, executor, store)
    finally:
        await executor.drain(5)
        await executor.close()
        await trader.close()
        await rest.close()
        store.close()
        await sim.stop()
