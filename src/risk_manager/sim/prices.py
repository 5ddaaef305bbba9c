"""Price paths: the seeded random walk (`speed`) and the benchmark quote stream (`POST /sim/quotes`)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from risk_manager.sim.server import Simulator

WALK_STEP_S = 0.25  # one step per active contract every 0.25 s at speed 1.0


class PriceWalker:
    """Every active contract (one with a market: subscribed, traded or priced) moves -1/0/+1 tick per step."""

    def __init__(self, sim: Simulator, seed: int) -> None:
        self.sim = sim
        self.rng = random.Random(seed)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.sim.speed > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="sim-price-walk")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def step(self) -> None:
        engine = self.sim.engine
        for contract_id in sorted(engine.markets):
            market = engine.markets[contract_id]
            move = self.rng.choice((-1, 0, 1))
            if move:
                engine.set_price(contract_id, market.last + move * market.contract.tick_size)
        self.sim.publish()

    async def _run(self) -> None:
        interval = max(0.005, WALK_STEP_S / self.sim.speed)
        while True:
            await asyncio.sleep(interval)
            self.step()


class QuoteStream:
    """Emits `rate` partial quotes per second spread round-robin over contracts, each a ±1 tick move
    that stays within ±5 ticks of where it started (so it does not wander into resting orders)."""

    def __init__(self, sim: Simulator, seed: int) -> None:
        self.sim = sim
        self.rng = random.Random(seed + 1)
        self._task: asyncio.Task[None] | None = None
        self.sent = 0

    def start(self, rate: float, contracts: list[str], seconds: float) -> None:
        self.stop()
        if rate > 0 and contracts and seconds > 0:
            self._task = asyncio.create_task(self._run(rate, contracts, seconds), name="sim-quote-stream")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self, rate: float, contracts: list[str], seconds: float) -> None:
        engine = self.sim.engine
        anchors = {cid: engine.market(cid).last for cid in contracts}
        loop = asyncio.get_running_loop()
        started = loop.time()
        emitted = 0
        index = 0
        with contextlib.suppress(asyncio.CancelledError):
            while (elapsed := loop.time() - started) < seconds:
                due = int(rate * elapsed) - emitted
                for _ in range(max(0, due)):
                    cid = contracts[index % len(contracts)]
                    index += 1
                    market = engine.market(cid)
                    tick = market.contract.tick_size
                    offset = round((market.last - anchors[cid]) / tick)
                    step = self.rng.choice((-1, 1))
                    if abs(offset + step) > 5:
                        step = -step
                    engine.set_price(cid, market.last + step * tick, prints=0)
                emitted += max(0, due)
                self.sent += max(0, due)
                self.sim.publish()
                await asyncio.sleep(0.005)
