"""Runs a generated day: the real simulator on 127.0.0.1 port 0, the real daemon in process, a
trader on the gateway REST. Every network call and every wait is bounded."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

from e2e.helpers import LIMIT, MARKET, STOP, Trader, write_config
from model.days import BUY, CONTRACTS, SELL, Day, Step
from risk_manager.daemon.app import Daemon
from risk_manager.sim import Simulator

ENV = {"PROJECTX_API_KEY": "sim-key"}
WORKING = (1, 6, 8)  # Open, Pending, Suspended
CANCELLED = 3
QUIET_BOUND_S = 12.0
STORM_RETRIES = 8
# The enforcement path and the daemon's reads; the trader's calls on them retry.
STORM_PATHS = ["/api/Order/cancel", "/api/Position/closeContract", "/api/Position/partialCloseContract",
               "/api/Order/searchOpen", "/api/Position/searchOpen", "/api/Order/place"]  # a day's steps must settle within this; longer is itself a finding (I2)


class World:
    def __init__(self, day: Day, root: Path) -> None:
        self.day = day
        self.root = root
        self.sim: Simulator | None = None
        self.trader: Trader | None = None
        self.daemon: Daemon | None = None
        self.accounts: list[int] = []
        self.start_balance: dict[int, float] = {}
        self.trader_orders: set[int] = set()  # ids the trader placed (everything else is the guard's)
        self.restarts = 0
        self.faults = 0
        self.steps_run = 0
        self.enforcements: list[dict[str, Any]] = []  # every record, over restarts
        self.reported_locks: list[tuple[int, str]] = []  # (account, rule) the daemon ever showed

    # -- life cycle -------------------------------------------------------------------------
    async def start(self) -> None:
        # Seeded per day: the same day gets the same account ids and fill jitter in every run.
        self.sim = Simulator(accounts=self.day.accounts, seed=self.day.seed % 1000 + 1, speed=0.0,
                             rate_limit=None)
        await self.sim.start()
        info = self.sim.info()
        self.accounts = list(info["accounts"])
        self.trader = Trader(info["api"])
        await self.trader.login()
        state = self.sim.state()
        self.start_balance = {a["id"]: a["balance"] for a in state["accounts"]}
        write_config(self.root / "config", info["api"], self.accounts, self.day.rules,
                     daemon={"poll_interval_seconds": 0.5})
        await self.start_daemon()

    async def start_daemon(self) -> None:
        daemon = Daemon(self.root / "config", environ=ENV, configure_logging=False)
        await asyncio.wait_for(daemon.start(), 30)
        daemon._on_outcome = self._wrap_outcome(daemon._on_outcome)  # type: ignore[method-assign]
        if daemon.executor is not None:
            daemon.executor._on_outcome = daemon._on_outcome
        self.daemon = daemon
        await self.wait_subscribed()

    def _wrap_outcome(self, sink: Any) -> Any:
        def record(rec: dict[str, Any]) -> None:
            self.enforcements.append(dict(rec))
            sink(rec)
        return record

    async def wait_subscribed(self) -> None:
        assert self.sim is not None
        want = set(CONTRACTS[s] for s in self.day.syms)
        deadline = time.monotonic() + 10
        while not want <= self.sim.hubs.market_subscriptions() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def stop_daemon(self) -> None:
        if self.daemon is not None:
            await asyncio.wait_for(self.daemon.shutdown(), 30)
            self.daemon = None

    async def close(self) -> None:
        try:
            await self.stop_daemon()
        finally:
            if self.trader is not None:
                await self.trader.close()
            if self.sim is not None:
                await self.sim.stop()

    @property
    def db_path(self) -> Path:
        return self.root / "config" / "state" / "risk_manager.db"

    # -- reading both sides -----------------------------------------------------------------
    def sim_state(self) -> dict[str, Any]:
        assert self.sim is not None
        return self.sim.state()

    def status(self) -> dict[str, Any]:
        assert self.daemon is not None
        doc = self.daemon.status()
        for row in doc["accounts"]:
            for lk in row.get("locks", []):
                key = (row["id"], lk["rule"])
                if key not in self.reported_locks:
                    self.reported_locks.append(key)
        return doc

    def db_rows(self, sql: str) -> list[tuple[Any, ...]]:
        if not self.db_path.exists():
            return []
        con = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=5.0)
        try:
            return list(con.execute(sql))
        finally:
            con.close()

    def _fingerprint(self) -> tuple[Any, ...]:
        s = self.sim_state()
        return (tuple((o["id"], o["status"], o.get("fillVolume")) for o in s["orders"]),
                tuple((p["accountId"], p["contractId"], p["size"]) for p in s["positions"]),
                len(s["trades"]))

    def _caught_up(self) -> bool:
        if self.daemon is None or self.daemon.executor is None:
            return False
        if self.daemon.executor.busy():
            return False
        s = self.sim_state()
        rows = {r["id"]: r for r in self.status()["accounts"]}
        for acct in self.accounts:
            filled = len({t["orderId"] for t in s["trades"] if t["accountId"] == acct})
            if rows.get(acct, {}).get("trades_today") != filled:
                return False
        return True

    async def settle(self, bound: float = QUIET_BOUND_S) -> bool:
        """Until the simulator stops changing and the daemon has seen every fill and has no
        enforcement in flight (three polls in a row); False when the bound ran out."""
        deadline = time.monotonic() + bound
        last = None
        stable = 0
        await asyncio.sleep(0.05)
        while time.monotonic() < deadline:
            fp = self._fingerprint()
            stable = stable + 1 if fp == last and self._caught_up() else 0
            if stable >= 3:
                return True
            last = fp
            await asyncio.sleep(0.1)
        return False

    # -- steps ------------------------------------------------------------------------------
    def _price(self, sym: str) -> tuple[float, float]:
        assert self.sim is not None
        cid = CONTRACTS[sym]
        return self.sim.engine.market(cid).last, self.sim.catalog[cid].tick_size

    def _net(self, acct: int, sym: str) -> int:
        for p in self.sim_state()["positions"]:
            if p["accountId"] == acct and p["contractId"] == CONTRACTS[sym]:
                return p["size"] if p["type"] == 1 else -p["size"]
        return 0

    def _my_working(self, acct: int) -> list[dict[str, Any]]:
        return sorted((o for o in self.sim_state()["orders"]
                       if o["accountId"] == acct and o["status"] in WORKING and o["id"] in self.trader_orders),
                      key=lambda o: o["id"])

    async def _place(self, acct: int, sym: str, side: int, size: int, type: int = MARKET, **extra: Any) -> None:
        body = {"accountId": acct, "contractId": CONTRACTS[sym], "type": type, "side": side, "size": size, **extra}
        res = await self._post("/api/Order/place", body)
        if isinstance(res, dict) and res.get("orderId"):
            self.trader_orders.add(int(res["orderId"]))

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """A front end retries a 5xx/429 (an injected storm may meet the trader's call first)."""
        assert self.trader is not None
        res: dict[str, Any] = {}
        for _ in range(STORM_RETRIES):
            res = await self.trader._post(path, body)
            if isinstance(res, dict) and "success" in res:
                return res
            await asyncio.sleep(0.05)
        return res

    async def run_step(self, step: Step) -> None:
        assert self.sim is not None and self.trader is not None
        kind = step[0]
        acct = self.accounts[step[1] % len(self.accounts)] if kind not in ("px", "restart", "hubdrop", "storm") else None
        self.steps_run += 1
        if kind == "px":
            _, sym, dticks = step
            last, tick = self._price(sym)
            await self.trader.price(CONTRACTS[sym], max(tick * 10, last + dticks * tick))
        elif kind == "mkt":
            await self._place(acct, step[2], step[3], step[4])
        elif kind in ("lmt", "stp"):
            _, _, sym, side, size, off = step
            last, tick = self._price(sym)
            away = -1 if side == BUY else 1  # a buy limit rests below, a buy stop above
            if kind == "lmt":
                await self._place(acct, sym, side, size, LIMIT, limitPrice=round(last + away * off * tick, 10))
            else:
                await self._place(acct, sym, side, size, STOP, stopPrice=round(last - away * off * tick, 10))
        elif kind in ("mod", "cxl"):
            working = self._my_working(acct)
            if working:
                order = working[step[2] % len(working)]
                if kind == "cxl":
                    await self._post("/api/Order/cancel", {"accountId": acct, "orderId": order["id"]})
                else:
                    sym = next(s for s, c in CONTRACTS.items() if c == order["contractId"])
                    last, tick = self._price(sym)
                    away = -1 if order["side"] == BUY else 1
                    if order["type"] == LIMIT:
                        body = {"limitPrice": round(last + away * step[3] * tick, 10)}
                    else:
                        body = {"stopPrice": round(last - away * max(1, step[3]) * tick, 10)}
                    await self._post("/api/Order/modify", {"accountId": acct, "orderId": order["id"], **body})
        elif kind == "close":
            await self._post("/api/Position/closeContract", {"accountId": acct, "contractId": CONTRACTS[step[2]]})
        elif kind == "pclose":
            await self._post("/api/Position/partialCloseContract",
                             {"accountId": acct, "contractId": CONTRACTS[step[2]], "size": 1})
        elif kind == "flip":
            net = self._net(acct, step[2])
            side = SELL if net > 0 else BUY
            await self._place(acct, step[2], side, abs(net) * 2 or 2)
        elif kind == "burst":
            _, _, sym, n = step
            await asyncio.gather(*(self._place(acct, sym, i % 2, 1) for i in range(n)))
        elif kind == "restart":
            self.restarts += 1
            await self.settle()
            await self.stop_daemon()
            await self.start_daemon()
        elif kind == "hubdrop":
            self.faults += 1
            await self.trader.fault(f"drop_{step[1]}_hub", down_ms=step[2])
            if step[1] == "market":
                await asyncio.sleep(step[2] / 1000)
                await self.wait_subscribed()
        elif kind == "storm":
            self.faults += 1
            await self.trader.fault("http_500" if step[1] == 500 else "http_429", count=step[2], paths=STORM_PATHS)
        elif kind == "cantrade":
            self.faults += 1
            await self.trader.account(acct, canTrade=step[2])
        else:
            raise ValueError(f"unknown step {step!r}")
