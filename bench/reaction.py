"""Lock reaction: an order appears on a locked account → the daemon's cancel reaches the gateway.

The simulator runs in this process; the daemon is a real `risk-manager run` subprocess. The
account is locked by a real R03 breach (a losing round trip), then the scripted trader places N
resting limit orders at random moments (mean gap 0.4 s: the daemon's REST client keeps to the
gateway's 200 requests/60 s, one cancel each) through the simulator REST, on 10 contracts, while the
simulator streams Q quotes/s across those contracts to the daemon (a second, unlocked guarded
account holds one contract of each, so the daemon subscribes to and evaluates all their quotes). Reported, from
the simulator's request log (`/sim/log`: arrival times), its push log (`/sim/pushes`: emit times of
user-hub records) and the daemon's own journal (all `time.monotonic_ns()`, one machine):

- `emit_to_cancel` (the headline, issue 7's definition): the simulator writes the order's first
  working GatewayUserOrder record (Pending/Open) to the daemon's user-hub WebSocket → the
  /api/Order/cancel request for that order arrives. Directly comparable to `floor`.
- `received_to_cancel` (SPEC §8's wording): the order event received by the daemon (its journal's
  `received_ns`) → cancel request arrived; `emit_to_received` is the share before it (the wire,
  the daemon's frame read and decode up to the timestamp).
- `place_to_cancel`: /api/Order/place request arrived → cancel arrived; `place_to_emit` is the
  simulator's own share (order handling, queueing the push).
- `floor`: bench.floor on the same loopback, and the ratios of our figures to it.

`--fill-model` (optionally `--fills JSON`, default `FILL_MODEL`): once the account is locked, the
simulator fills as a market does and the measured orders are 2-lot market orders instead of far
limits. Each is Pending for the fill latency, then walks the book: the guard's cancel races the
fill. Also reported: how many orders the cancel caught before any fill, partly filled, or too late
(then the kill switch closes the position; the run ends when the account is flat).

    uv run python -m bench reaction [--n 200] [--quotes 1000] [--contracts 10] [--floor-n 300]
                                    [--fill-model [--fills '{"fill_latency_ms": 50, "depth": [1, 2, 3]}']]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from collections import Counter
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._stats import emit, fail, latency_summary, machine, quiet_logs

LIMIT, MARKET, BUY, SELL = 1, 2, 0, 1
LOSS_CONTRACT = "CON.F.US.MNQ.U26"
# Ten liquid contracts of the simulator's catalog for the orders and the quote load.
CONTRACTS = (
    "CON.F.US.MNQ.U26", "CON.F.US.MES.U26", "CON.F.US.ENQ.U26", "CON.F.US.EP.U26", "CON.F.US.M2K.U26",
    "CON.F.US.MYM.U26", "CON.F.US.CLE.V26", "CON.F.US.MGC.Z26", "CON.F.US.GCE.Z26", "CON.F.US.RTY.U26",
)
TRADER_PATHS = {"/api/order/place", "/api/auth/loginkey"}
WORKING_ORDER_STATUSES = {1, 6}  # Open, Pending: the order is live on the locked account
R03 = {"daily_realized_loss": {"enabled": True, "loss_limit": 50, "include_unrealized": False}}
#: The fill model of `--fill-model` runs: 50 +/- 20 ms to the first fill, a 1-2-3 lot book.
FILL_MODEL = {"fill_latency_ms": 50, "fill_jitter_ms": 20, "depth": [1, 2, 3]}
MEASURED_MARKET_SIZE = 2


def _ratio(ours: dict[str, Any], floor: dict[str, Any], key: str) -> float | None:
    if key in ours and key in floor and floor[key]:
        return round(ours[key] / floor[key], 1)
    return None


def _ratios(ours: dict[str, Any], floor: dict[str, Any]) -> dict[str, float | None]:
    return {p: _ratio(ours, floor, f"{p}_ms") for p in ("p50", "p95", "p99", "max")}


async def _lock_by_r03(trader: Any, account: int, status_url: str) -> None:
    from bench._rig import wait_for
    from e2e.helpers import account_locks, get_status

    await trader.price(LOSS_CONTRACT, 20000.0)
    await trader.place(account, LOSS_CONTRACT, BUY, 1)
    await trader.price(LOSS_CONTRACT, 19970.0)  # -30 points on one MNQ = -$60 gross
    await trader.place(account, LOSS_CONTRACT, SELL, 1)

    async def locked() -> Any:
        return account_locks(await get_status(status_url), account)

    await wait_for(locked, timeout=10.0, what="R03 lock in /status")


async def _place_far(trader: Any, sim: Any, account: int, contract: str) -> int:
    """A buy limit 100 ticks under the market: it rests (until the daemon cancels it)."""
    market = sim.engine.market(contract)
    tick = market.contract.tick_size
    price = round(round((market.last - 100 * tick) / tick) * tick, 10)
    reply = await trader.place(account, contract, BUY, 1, type=LIMIT, limitPrice=price)
    if not reply.get("success"):
        raise RuntimeError(f"Order/place refused: {reply}")
    return int(reply["orderId"])


async def _place_market(trader: Any, sim: Any, account: int, contract: str) -> int:
    reply = await trader.place(account, contract, BUY, MEASURED_MARKET_SIZE, type=MARKET)
    if not reply.get("success"):
        raise RuntimeError(f"Order/place refused: {reply}")
    return int(reply["orderId"])


def race_outcomes(sim: Any, order_ids: list[int]) -> dict[str, int]:
    """Per measured market order: the cancel came before any fill, after some, or after all."""
    out = {"cancelled_unfilled": 0, "cancelled_partly_filled": 0, "filled_before_cancel": 0, "other": 0}
    for oid in order_ids:
        order = sim.engine.orders[oid]
        if order.status == 3:
            out["cancelled_partly_filled" if order.fill_volume else "cancelled_unfilled"] += 1
        elif order.status == 2:
            out["filled_before_cancel"] += 1
        else:
            out["other"] += 1
    return out


async def run_reaction(n: int, quotes: float, n_contracts: int, floor_n: int, seed: int,
                       workdir_arg: str | None = None, gap: float = 0.4,
                       fills: dict[str, Any] | None = None) -> dict[str, Any]:
    from bench._rig import DaemonProcess, Trader, wait_for, write_config
    from bench.floor import measure_floor
    from risk_manager.clock import SystemClock
    from risk_manager.sim import Simulator
    from risk_manager.store import Store

    floor = latency_summary(await measure_floor(floor_n)) if floor_n else {}
    contracts = list(CONTRACTS[:n_contracts])
    rng = random.Random(seed)
    sim = Simulator(accounts=2, seed=seed, speed=0.0, rate_limit=None)
    await sim.start()
    account, holder = sim.info()["accounts"]
    tmp = tempfile.TemporaryDirectory(prefix="bench-reaction-")
    workdir = Path(workdir_arg) if workdir_arg else Path(tmp.name)
    config_dir = write_config(workdir / "config", sim.info()["api"], [account, holder], R03)
    daemon = DaemonProcess(config_dir)
    trader = Trader(sim.info()["api"])
    try:
        daemon.start()
        await daemon.wait_ready()
        await trader.login()
        assert daemon.status_url is not None
        await _lock_by_r03(trader, account, daemon.status_url)

        async def none_working() -> bool:
            if fills is not None and await trader.positions(account):
                return False  # a market order that filled first: done when the guard closed it
            return not await trader.working_orders(account)

        # The second (unlocked) account holds one contract of each: the daemon subscribes to all
        # their quotes and evaluates them. Warm-up: one order per contract on the locked account.
        for contract in contracts:
            await trader.place(holder, contract, BUY, 1)
            await _place_far(trader, sim, account, contract)
        await wait_for(none_working, timeout=10.0, what="warm-up orders cancelled")
        await wait_for(lambda: _subscribed(sim, contracts), timeout=10.0, what="daemon quote subscriptions")
        if fills is not None:  # set up with instant fills; the measured phase fills as a market does
            sim.engine.fills.config.load(fills)
        place_measured = _place_market if fills is not None else _place_far
        sim.quote_stream.start(quotes, contracts, seconds=3600.0)
        await asyncio.sleep(1.0)
        first_seq = sim.request_log[-1]["seq"] if sim.request_log else 0
        first_push_seq = sim.push_log[-1]["seq"] if sim.push_log else 0
        quotes_before, t_quotes = sim.quote_stream.sent, time.monotonic()
        daemon_quotes_before = await _daemon_quotes(daemon.status_url)
        placed: list[tuple[int, str]] = []
        for _ in range(n):
            await asyncio.sleep(rng.uniform(0.25 * gap, 1.75 * gap))
            contract = rng.choice(contracts)
            placed.append((await place_measured(trader, sim, account, contract), contract))
        try:
            await wait_for(none_working, timeout=15.0, what="all measured orders cancelled")
        except AssertionError:
            left = [o["id"] for o in await trader.working_orders(account)]
            raise RuntimeError(f"orders still working 15 s after the last place: {left}; "
                               f"daemon output:\n{daemon.tail(6000)}") from None
        quote_seconds = time.monotonic() - t_quotes
        quote_rate = (sim.quote_stream.sent - quotes_before) / quote_seconds
        daemon_quote_rate = (await _daemon_quotes(daemon.status_url) - daemon_quotes_before) / quote_seconds
        sim.quote_stream.stop()
        daemon_rss = daemon.rss_kb()
        outcomes = race_outcomes(sim, [oid for oid, _ in placed]) if fills is not None else None
        log = [r for r in sim.request_log if r["seq"] > first_seq]
        pushes = [r for r in sim.push_log if r["seq"] > first_push_seq]
    finally:
        sim.quote_stream.stop()
        code = daemon.stop()
        await trader.close()
        await sim.stop()
    if code != 0:
        raise RuntimeError(f"daemon exit code {code}:\n{daemon.tail()}")

    place_ns = [r["t_ns"] for r in log if r["path"].lower() == "/api/order/place"]
    if len(place_ns) != len(placed):
        raise RuntimeError(f"{len(place_ns)} Order/place requests logged for {len(placed)} orders placed")
    cancel_ns: dict[int, int] = {}
    for r in log:
        if r["path"].lower() == "/api/order/cancel" and isinstance(r["body"], dict):
            cancel_ns.setdefault(int(r["body"].get("orderId", -1)), r["t_ns"])
    store = Store(daemon.state_dir / "risk_manager.db", SystemClock())
    try:
        received: dict[int, int] = {}
        for event in store.iter_events(account_id=account):
            if event.kind.value == "order" and event.source == "stream":
                received.setdefault(event.data.id, event.received_ns)  # type: ignore[union-attr]
        # The daemon's own timings of each cancel (audit log): event received → request sent.
        inside: dict[int, tuple[int, int | None, int]] = {}
        for row in store.audit_rows(account, limit=100_000):
            oid = row.detail.get("order_id") or row.detail.get("orderId")
            if row.action == "cancel_order" and row.sent_ns and row.event_received_ns and oid:
                inside.setdefault(int(oid), (row.event_received_ns, row.decided_ns, row.sent_ns))
    finally:
        store.close()
        tmp.cleanup()
    missing = [oid for oid, _ in placed if oid not in cancel_ns]
    # With the fill model an order the market filled first is closed, not cancelled: not measured.
    if missing and (fills is None or outcomes is None or len(missing) > outcomes["filled_before_cancel"]):
        raise RuntimeError(f"{len(missing)} of {len(placed)} orders never got a cancel request: {missing[:5]}")
    emitted, connections = first_order_pushes(pushes)
    unseen = [oid for oid, _ in placed if oid not in emitted]
    if unseen:
        raise RuntimeError(f"{len(unseen)} of {len(placed)} orders have no GatewayUserOrder push in the "
                           f"simulator's push log: {unseen[:5]}")
    daemon_requests = Counter(r["path"] for r in log if r["path"].lower() not in TRADER_PATHS)
    place_at = dict(zip([oid for oid, _ in placed], place_ns))
    oids = [oid for oid, _ in placed if oid in cancel_ns]
    headline = latency_summary([cancel_ns[oid] - emitted[oid] for oid in oids])
    spec = latency_summary([cancel_ns[oid] - received[oid] for oid in oids if oid in received])
    ours = latency_summary([cancel_ns[oid] - place_at[oid] for oid in oids])
    timed = [inside[oid] for oid in oids if oid in inside]
    return {
        "bench": "reaction", "orders": n, "mean_gap_s": gap, "contracts": n_contracts,
        "quotes_per_s_target": quotes, "quotes_per_s_sent": round(quote_rate),
        "quotes_per_s_received_by_daemon": round(daemon_quote_rate),
        "emit_to_cancel": headline, "ratio_emit_to_cancel_vs_floor": _ratios(headline, floor),
        "received_to_cancel": spec, "ratio_received_to_cancel_vs_floor": _ratios(spec, floor),
        "place_to_cancel": ours, "ratio_place_to_cancel_vs_floor": _ratios(ours, floor),
        "place_to_emit": latency_summary([emitted[oid] - place_at[oid] for oid in oids]),
        "emit_to_received": latency_summary([received[oid] - emitted[oid] for oid in oids if oid in received]),
        "floor": floor,
        "daemon_received_to_sent": latency_summary([sent - rec for rec, _, sent in timed]),
        "daemon_decided_to_sent": latency_summary([sent - dec for _, dec, sent in timed if dec]),
        "daemon_requests": dict(daemon_requests),
        "daemon_rss_mb_after": round(daemon_rss / 1024, 1) if daemon_rss else None,
        "user_hub_connections": len(connections),
        "fill_model": None if fills is None else {**fills, "measured_orders": f"market, {MEASURED_MARKET_SIZE} lots",
                                                  "race": outcomes},
        "headline": "emit_to_cancel: the order's first working GatewayUserOrder record written to the "
                    "daemon's user hub -> its /api/Order/cancel request arrived",
        "machine": machine(),
    }


def first_order_pushes(pushes: list[dict[str, Any]]) -> tuple[dict[int, int], set[int]]:
    """Per order id, the emit time of its first working GatewayUserOrder record; the connections seen.

    The daemon is the only user-hub client here (the trader uses REST only); after a reconnect
    the earliest write still counts, as that is when the daemon could first have seen the order.
    """
    emitted: dict[int, int] = {}
    connections: set[int] = set()
    for row in pushes:
        connections.add(row["conn"])
        if row["target"] == "GatewayUserOrder" and row.get("status") in WORKING_ORDER_STATUSES:
            oid = int(row["order_id"])
            if oid not in emitted or row["t_ns"] < emitted[oid]:
                emitted[oid] = row["t_ns"]
    return emitted, connections


async def _daemon_quotes(status_url: str) -> int:
    from bench._rig import fetch_status

    status = await fetch_status(status_url)
    if status is None:
        raise RuntimeError("the daemon's /status did not answer")
    return int(status.get("counters", {}).get("quotes", 0))


async def _subscribed(sim: Any, contracts: list[str]) -> bool:
    return set(contracts) <= sim.hubs.market_subscriptions()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench reaction")
    parser.add_argument("--n", type=int, default=200, help="orders placed on the locked account")
    parser.add_argument("--quotes", type=float, default=1000.0, help="background quotes per second")
    parser.add_argument("--contracts", type=int, default=10, choices=range(1, len(CONTRACTS) + 1))
    parser.add_argument("--floor-n", type=int, default=300, help="floor samples (0 = skip the floor)")
    parser.add_argument("--gap", type=float, default=0.4,
                        help="mean seconds between orders (0.4 keeps the daemon's cancels inside the "
                             "gateway's 200 requests/60 s, which its REST client enforces)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fill-model", action="store_true",
                        help="measure 2-lot market orders against the simulator's fill model (latency, book)")
    parser.add_argument("--fills", type=json.loads, default=None,
                        help=f"the fill model's settings as JSON (implies --fill-model; default {FILL_MODEL})")
    parser.add_argument("--workdir", help="keep the daemon's config, state and logs here (default: a temp dir)")
    args = parser.parse_args(argv)
    quiet_logs()
    try:
        fills = args.fills if args.fills is not None else (FILL_MODEL if args.fill_model else None)
        result = asyncio.run(run_reaction(args.n, args.quotes, args.contracts, args.floor_n, args.seed,
                                          args.workdir, args.gap, fills))
    except (RuntimeError, AssertionError, OSError, TimeoutError) as exc:
        return fail("reaction", f"{type(exc).__name__}: {exc}")
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
