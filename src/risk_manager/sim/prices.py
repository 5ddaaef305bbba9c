"""Price paths: the seeded random walk (`speed`) and the benchmark quote stream (`POST /sim/quotes`).

Both step a contract's market the way the live feed looks (reference §7.3, `event_rates_proof.json`):
the book moves by a tick or holds, the spread is one tick or more (never locked unless a model asks
for 0), and only some steps carry prints — so most quotes hold only bestBid/bestAsk, lastPrice and
volume appear only with a trade, and quiet stretches leave lastPrice unchanged for many seconds.
`POST /sim/price` stays the deterministic way to set a last price (tests rely on it).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from risk_manager.sim.engine import MatchingEngine
    from risk_manager.sim.server import Simulator

WALK_STEP_S = 0.25  # one step per active contract every 0.25 s at speed 1.0


@dataclass(frozen=True, slots=True)
class MarketModel:
    """How a stepped market behaves. The defaults follow the captured MNQ session: about 20 trade
    pushes per 42 quotes, a push of a few prints, a 1-2 tick spread, and quiet stretches."""

    #: Chance that a step (outside a quiet stretch) carries prints.
    trade_probability: float = 0.5
    #: Prints per GatewayTrade push: 1..max_prints, each of 1..3 lots, at the bid or the ask.
    max_prints: int = 3
    #: Spread in ticks, drawn per step. A 0 here is the only way to get a locked book.
    spread_ticks: tuple[int, ...] = (1, 1, 1, 2)
    #: Chance per step that a quiet stretch (no prints, the book still moves) begins ...
    quiet_probability: float = 0.003
    #: ... and its length in steps (at speed 1: 15 s to 60 s, longer than the 10 s quote age limit).
    quiet_steps: tuple[int, int] = (60, 240)

    def __post_init__(self) -> None:
        if not 0.0 <= self.trade_probability <= 1.0 or not 0.0 <= self.quiet_probability <= 1.0:
            raise ValueError("trade_probability and quiet_probability must be within [0, 1]")
        if self.max_prints < 1 or not self.spread_ticks or min(self.spread_ticks) < 0:
            raise ValueError("max_prints must be >= 1 and spread_ticks non-empty, each >= 0")
        if not 0 <= self.quiet_steps[0] <= self.quiet_steps[1]:
            raise ValueError(f"quiet_steps must be (low, high) with 0 <= low <= high, got {self.quiet_steps}")


class MarketStepper:
    """One contract step at a time under a `MarketModel` (seeded: the same seed, the same market)."""

    def __init__(self, model: MarketModel, rng: random.Random) -> None:
        self.model = model
        self.rng = rng
        self._quiet_left: dict[str, int] = {}

    def step(self, engine: MatchingEngine, contract_id: str, ticks: int) -> None:
        """Move the bid by `ticks`, draw the spread and maybe prints, and push what changed."""
        model, rng = self.model, self.rng
        market = engine.market(contract_id)
        tick = market.contract.tick_size
        bid = market.bid + ticks * tick
        ask = bid + rng.choice(model.spread_ticks) * tick
        prints: list[tuple[float, int, int]] = []
        if not self._quiet(contract_id) and rng.random() < model.trade_probability:
            for _ in range(rng.randint(1, model.max_prints)):
                buy = rng.random() < 0.5  # the aggressor lifts the ask or hits the bid
                prints.append((ask if buy else bid, rng.randint(1, 3), 0 if buy else 1))
        engine.move_market(contract_id, bid, ask, prints)

    def _quiet(self, contract_id: str) -> bool:
        left = self._quiet_left.get(contract_id, 0)
        if left > 0:
            self._quiet_left[contract_id] = left - 1
            return True
        if self.rng.random() < self.model.quiet_probability:
            self._quiet_left[contract_id] = self.rng.randint(*self.model.quiet_steps)
            return True
        return False


class PriceWalker:
    """Every active contract (one with a market: subscribed, traded or priced) steps its book by
    -1/0/+1 tick every step, with prints as the model draws them."""

    def __init__(self, sim: Simulator, seed: int, model: MarketModel | None = None) -> None:
        self.sim = sim
        self.rng = random.Random(seed)
        self.stepper = MarketStepper(model or MarketModel(), self.rng)
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
            self.stepper.step(engine, contract_id, self.rng.choice((-1, 0, 1)))
        self.sim.publish()

    async def _run(self) -> None:
        interval = max(0.005, WALK_STEP_S / self.sim.speed)
        while True:
            await asyncio.sleep(interval)
            self.step()


class QuoteStream:
    """Emits `rate` partial quotes per second spread round-robin over contracts, each a ±1 tick book
    move (prints as the model draws them) that stays within ±5 ticks of where it started (so it does
    not wander into resting orders)."""

    def __init__(self, sim: Simulator, seed: int, model: MarketModel | None = None) -> None:
        self.sim = sim
        self.rng = random.Random(seed + 1)
        self.stepper = MarketStepper(model or MarketModel(), self.rng)
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
        anchors = {cid: engine.market(cid).bid for cid in contracts}
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
                    offset = round((market.bid - anchors[cid]) / market.contract.tick_size)
                    step = self.rng.choice((-1, 1))
                    if abs(offset + step) > 5:
                        step = -step
                    self.stepper.step(engine, cid, step)
                emitted += max(0, due)
                self.sent += max(0, due)
                self.sim.publish()
                await asyncio.sleep(0.005)
