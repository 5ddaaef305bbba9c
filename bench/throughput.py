"""Throughput: 50 accounts, rising event rates, until the daemon's pipeline falls behind.

Driven IN-PROCESS with synthetic events: the daemon's real Pipeline (journal → engine → executor),
a real RiskEngine with every rule on (limits loose, so accounts stay unlocked and all rules run),
the real Store journal (SQLite; synchronous=NORMAL for the journal, as the daemon opens it;
`--journal-sync FULL` for an fsync per commit) and a real Executor
whose broker is the simulator (only used if an action fires). Driving 50 accounts at thousands of
events/s through the simulator's hubs would measure the simulator and the loopback more than the
daemon. The hub decode step is not included (bench rule_eval / the gateway tests cover it).

Mix: 90 % partial quotes over 10 contracts (every account holds a position in one of them, so a
quote is evaluated for ~10 accounts), 10 % user events (stop order updates, account balances) over
50 accounts. `--fill-model`: the user events are instead real fill event sets from the simulator's
matching engine with its fill model (market orders of 1-3 lots walking a 1-2 lot book: Pending, then
per fill Order with fillVolume -> Trade -> Position -> Account x 2), so P&L, executions and
positions move as on a real day (R06 and R08 limits are loosened so no account locks). Each step runs `--seconds` at a target rate, doubling until a backlog appears; events are fed
on schedule (all events due at a loop turn form one "frame", received together, fed with
`Pipeline.feed_many` as the daemon's hubs deliver a frame). Decision latency = frame received → the
event's engine decision done (the pipeline's `after_event` hook; includes journaling, waiting behind
earlier events of the frame and the real pipeline's quote coalescing); `frame_done` is the coarser
frame received → the whole frame handled. Falling behind the schedule shows as producer lag. A step has no backlog when the achieved rate is ≥ 98 % of the target and the producer
ends < 50 ms behind schedule; reported: the highest rate without backlog, and the highest that
also kept p99 decision latency < 1 ms.

    uv run python -m bench throughput [--accounts 50] [--seconds 5] [--start 500] [--max 64000]
                                      [--journal-sync NORMAL|FULL] [--fill-model]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._setup import DAEMON_JOURNAL_SYNC
from bench._stats import emit, fail, latency_summary, machine, quiet_logs

CONTRACTS = (
    "CON.F.US.MNQ.U26", "CON.F.US.MES.U26", "CON.F.US.ENQ.U26", "CON.F.US.EP.U26", "CON.F.US.M2K.U26",
    "CON.F.US.MYM.U26", "CON.F.US.CLE.V26", "CON.F.US.MGC.Z26", "CON.F.US.GCE.Z26", "CON.F.US.RTY.U26",
)
BATCH_S = 0.002  # a hub frame's worth of events is fed per loop turn


class Feeder:
    """Builds the synthetic events; prices walk ±1 tick around the simulator's levels."""

    def __init__(self, accounts: list[int], catalog: dict[str, Any], seed: int) -> None:
        from risk_manager.events import Account, Order, OrderType, Quote

        self.Account, self.Order, self.Quote, self.STOP = Account, Order, Quote, OrderType.STOP
        self.rng = random.Random(seed)
        self.accounts = accounts
        self.catalog = catalog
        self.ticks = {cid: round(catalog[cid].base_price() / catalog[cid].tick_size) for cid in CONTRACTS}
        self.holding = {aid: CONTRACTS[i % len(CONTRACTS)] for i, aid in enumerate(accounts)}
        self.stop_ids = {aid: 5_000_000 + i for i, aid in enumerate(accounts)}

    def price(self, cid: str, ticks: int) -> float:
        return round(ticks * self.catalog[cid].tick_size, 10)

    def opening_events(self) -> list[Any]:
        from risk_manager.events import Position, PositionType, make_event

        out = []
        for aid, cid in self.holding.items():
            last = self.price(cid, self.ticks[cid])
            out.append(make_event(Position(id=aid, account_id=aid, contract_id=cid, type=PositionType.LONG,
                                           size=1, average_price=last), source="rest"))
            out.append(make_event(self._stop(aid, cid), source="rest"))
            out.append(make_event(self.Quote(cid, best_bid=last, best_ask=self.price(cid, self.ticks[cid] + 1),
                                             last_price=last), source="rest"))
        return out

    def _stop(self, aid: int, cid: str) -> Any:
        return self.Order(id=self.stop_ids[aid], account_id=aid, contract_id=cid, status=1, type=self.STOP,
                          side=1, size=1, stop_price=self.price(cid, self.ticks[cid] - 200 - self.rng.randrange(5)))

    def next(self, received_ns: int) -> Any:
        if self.rng.random() < 0.9:
            return self.quote_event(received_ns)
        return self.user_event(received_ns)

    def quote_event(self, received_ns: int) -> Any:
        from risk_manager.events import Event, EventKind

        rng = self.rng
        cid = CONTRACTS[rng.randrange(len(CONTRACTS))]
        self.ticks[cid] += rng.choice((-1, 1))
        if rng.random() < 0.5:
            quote = self.Quote(cid, best_bid=self.price(cid, self.ticks[cid]))
        else:
            quote = self.Quote(cid, best_ask=self.price(cid, self.ticks[cid] + 1))
        return Event(EventKind.QUOTE, quote, None, cid, 0, "stream", received_ns)

    def user_event(self, received_ns: int) -> Any:
        from risk_manager.events import Event, EventKind

        rng = self.rng
        aid = self.accounts[rng.randrange(len(self.accounts))]
        if rng.random() < 0.7:
            order = self._stop(aid, self.holding[aid])
            return Event(EventKind.ORDER, order, aid, order.contract_id, 1, "stream", received_ns)
        account = self.Account(id=aid, balance=50_000.0 + rng.randrange(-500, 500), can_trade=True)
        return Event(EventKind.ACCOUNT, account, aid, None, 1, "stream", received_ns)


FILL_BOOK = {"depth": [1, 2]}  # the fill model's book on every contract in --fill-model runs
MAX_HELD = 3


class FillFeeder(Feeder):
    """User events are the simulator engine's own fill event sets (decoded as the hub decodes them)."""

    def __init__(self, accounts: list[int], catalog: dict[str, Any], seed: int, engine: Any) -> None:
        super().__init__(accounts, catalog, seed)
        from collections import deque

        self.engine = engine
        self.pending: deque[tuple[str, dict[str, Any]]] = deque()
        self.held = {aid: 0 for aid in accounts}
        engine.fills.config.update(FILL_BOOK)

    def opening_events(self) -> list[Any]:
        from risk_manager.events import make_event

        out = []
        for aid, cid in self.holding.items():  # really open the held position: 1 lot each
            self._trade(aid, 0, 1)
            out.append(make_event(self._stop(aid, cid), source="rest"))
            last = self.price(cid, self.ticks[cid])
            out.append(make_event(self.Quote(cid, best_bid=last, best_ask=self.price(cid, self.ticks[cid] + 1),
                                             last_price=last), source="rest"))
        while self.pending:
            out.append(self._decode(time.monotonic_ns()))
        return out

    def _trade(self, aid: int, side: int, size: int) -> None:
        engine = self.engine
        result = engine.place(aid, self.holding[aid], 2, side, size)
        if not result.success:
            raise RuntimeError(f"the simulator refused a bench order: {result}")
        self.held[aid] += size if side == 0 else -size
        self.pending.extend((e.target, e.argument()) for e in engine.drain_user())
        engine.drain_market()

    def _decode(self, received_ns: int) -> Any:
        from risk_manager.gateway.decode import decode_user_event

        target, argument = self.pending.popleft()
        (event,) = decode_user_event(target, [argument], received_ns=received_ns)
        return event

    def user_event(self, received_ns: int) -> Any:
        if not self.pending:  # the next order's whole event set, handed out one event per slot
            self._new_order()
        return self._decode(received_ns)

    def _new_order(self) -> None:
        aid = self.accounts[self.rng.randrange(len(self.accounts))]
        held = self.held[aid]
        buy = held == 0 or (held < MAX_HELD and self.rng.random() < 0.5)
        size = self.rng.randint(1, MAX_HELD - held if buy else held)
        self._trade(aid, 0 if buy else 1, size)


async def run_step(pipeline: Any, feeder: Feeder, rate: float, seconds: float) -> dict[str, Any]:
    """Feed `rate` events/s for `seconds`; latencies of every event, received → decided.

    A frame is fed as the daemon's hubs deliver one (`Pipeline.feed_many`). An event is decided
    when the engine's handling of it (and the executor hand-off) returned: the pipeline's
    `after_event` hook; a raw quote when the coalesced quote of its contract was handled.
    `frame_done` is the older, coarser measure: every event of a frame counts until the whole
    frame, all its quotes included, has been handled.
    """
    from risk_manager.events import EventKind

    latencies: list[int] = []
    frame_done: list[int] = []
    quote_waiting: dict[str | None, list[int]] = {}
    frame_quotes: list[int] = []
    original_flush = pipeline.flush_quotes
    original_hook = pipeline.after_event

    def decided(event: Any) -> None:
        done = time.monotonic_ns()
        if event.kind is EventKind.QUOTE:
            waiting = quote_waiting.pop(event.contract_id, None)
            if waiting:
                latencies.extend(done - t for t in waiting)
        else:
            latencies.append(done - event.received_ns)

    def timed_flush() -> None:
        original_flush()
        done = time.monotonic_ns()
        frame_done.extend(done - t for t in frame_quotes)
        frame_quotes.clear()

    pipeline.flush_quotes = timed_flush  # the pipeline schedules `self.flush_quotes`: ours now
    pipeline.after_event = decided
    interval_ns = int(1e9 / rate)
    start = time.monotonic_ns()
    end = start + int(seconds * 1e9)
    sent = 0
    feed_many = pipeline.feed_many
    try:
        while True:
            now = time.monotonic_ns()
            due = min(end, now)
            received = time.monotonic_ns()  # one "frame": every event due now, received together
            frame = []
            while start + sent * interval_ns <= due:
                event = feeder.next(received)
                frame.append(event)
                if event.kind is EventKind.QUOTE:
                    quote_waiting.setdefault(event.contract_id, []).append(received)
                    frame_quotes.append(received)
                sent += 1
            if frame:
                feed_many(frame)
                users = len(frame) - sum(1 for e in frame if e.kind is EventKind.QUOTE)
                frame_done.extend([time.monotonic_ns() - received] * users)
            if now >= end:
                break
            await asyncio.sleep(BATCH_S)
        lag_ms = (time.monotonic_ns() - end) / 1e6
        await asyncio.sleep(0)  # let the last quote flush run
        await asyncio.sleep(0)
    finally:
        pipeline.flush_quotes = original_flush
        pipeline.after_event = original_hook
    elapsed = (time.monotonic_ns() - start) / 1e9
    summary = latency_summary(latencies)
    achieved = sent / elapsed
    no_backlog = achieved >= 0.98 * rate and lag_ms < 50
    return {"target": rate, "achieved": round(achieved), "lag_ms": round(lag_ms, 1),
            "decision": summary, "frame_done": latency_summary(frame_done), "no_backlog": no_backlog,
            "p99_under_1ms": no_backlog and summary.get("p99_ms", 1e9) < 1.0}


async def run_throughput(n_accounts: int, seconds: float, start_rate: float, max_rate: float,
                         seed: int, journal_sync: str = DAEMON_JOURNAL_SYNC,
                         fill_model: bool = False) -> dict[str, Any]:
    from bench._setup import all_rules, all_rules_config, sim_contracts
    from risk_manager.config.models import RiskConfig
    from risk_manager.clock import SystemClock
    from risk_manager.daemon.adapters import GatewayBroker
    from risk_manager.daemon.pipeline import Pipeline
    from risk_manager.enforcement.executor import Executor
    from risk_manager.engine.catalog import ContractCatalog
    from risk_manager.engine.engine import RiskEngine
    from risk_manager.gateway.decode import merge_quote
    from risk_manager.gateway.rest import GatewayRest
    from risk_manager.sim import Simulator
    from risk_manager.store import Store

    clock = SystemClock()
    sim = Simulator(accounts=n_accounts, seed=seed, speed=0.0, rate_limit=None)
    await sim.start()
    tmp = tempfile.TemporaryDirectory(prefix="bench-throughput-")
    rest = GatewayRest(sim.info()["api"], "sim", "sim-key", clock=clock)
    store = Store(Path(tmp.name) / "risk_manager.db", clock, journal_synchronous=journal_sync)
    steps: list[dict[str, Any]] = []
    try:
        await rest.login()
        accounts = list(sim.info()["accounts"])
        config = all_rules_config(loose=True, trade_management=False)
        if fill_model:  # real executions: loosen the rules that would otherwise lock every account
            rules = all_rules(loose=True, trade_management=False)
            rules["trade_frequency_limit"].update(per_minute=1_000_000, per_hour=1_000_000, per_session=1_000_000)
            rules["no_stop_loss_grace"]["grace_period_seconds"] = 86_400
            config = RiskConfig.model_validate({"trading_day": config.trading_day.model_dump(),
                                                "pnl_basis": "net", "rules": rules})
        engine = RiskEngine(config, ContractCatalog(sim_contracts()))
        executor = Executor(GatewayBroker(rest), store, clock)
        pipeline = Pipeline(engine, executor, clock, merge_quote=merge_quote,
                            journal=lambda evs: store.append_event(evs[0]) if len(evs) == 1
                            else store.append_events(evs))
        engine.apply_reset(clock.now())
        feeder = (FillFeeder(accounts, sim.catalog, seed, sim.engine) if fill_model
                  else Feeder(accounts, sim.catalog, seed))
        for event in feeder.opening_events():
            pipeline.feed(event)
        await asyncio.sleep(0.05)
        await run_step(pipeline, feeder, start_rate, 1.0)  # warm-up
        rate = start_rate
        while rate <= max_rate:
            step = await run_step(pipeline, feeder, rate, seconds)
            steps.append(step)
            if not step["no_backlog"]:
                break
            rate *= 2
        locked = [aid for aid in accounts if engine.locks.is_locked(aid)]
        counters = dict(pipeline.counters)
        await executor.drain(5.0)
        await executor.close()
    finally:
        store.close()
        await rest.close()
        await sim.stop()
        tmp.cleanup()
    no_backlog = [s["achieved"] for s in steps if s["no_backlog"]]
    fast = [s["achieved"] for s in steps if s["p99_under_1ms"]]
    return {
        "bench": "throughput", "mode": "in-process pipeline, synthetic events (no hub decode)",
        "accounts": n_accounts, "step_seconds": seconds, "journal_synchronous": journal_sync,
        "max_events_per_s_no_backlog": max(no_backlog) if no_backlog else None,
        "max_events_per_s_p99_under_1ms": max(fast) if fast else None,
        "steps": steps, "locked_accounts": len(locked), "pipeline_counters": counters, "machine": machine(),
        "fill_model": {"user_events": "fill event sets", **FILL_BOOK,
                       "orders": len([o for o in sim.engine.orders.values() if o.account_id in accounts]),
                       "trades": len(sim.engine.trades)} if fill_model else None,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench throughput")
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each rate step")
    parser.add_argument("--start", type=float, default=500.0, help="first rate (events/s); doubles per step")
    parser.add_argument("--max", type=float, default=64_000.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fill-model", action="store_true",
                        help="user events are the simulator's fill event sets (multi-fill orders) instead of "
                             "synthetic stop updates and balances")
    parser.add_argument("--journal-sync", choices=("FULL", "NORMAL"), default=DAEMON_JOURNAL_SYNC,
                        help=f"the journal's SQLite synchronous mode (default: the daemon's, {DAEMON_JOURNAL_SYNC})")
    args = parser.parse_args(argv)
    quiet_logs()
    try:
        result = asyncio.run(run_throughput(args.accounts, args.seconds, args.start, args.max, args.seed,
                                            args.journal_sync, args.fill_model))
    except (RuntimeError, OSError, TimeoutError) as exc:
        return fail("throughput", f"{type(exc).__name__}: {exc}")
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
