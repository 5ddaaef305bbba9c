"""Runs a generated day: the real simulator on 127.0.0.1 port 0, the real daemon in process, a
trader on the gateway REST. Every network call and every wait is bounded."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import urllib.request
from pathlib import Path
from typing import Any

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bench._rig import DaemonProcess
from e2e.helpers import LIMIT, MARKET, STOP, Trader, write_config
from model.days import BUY, CONTRACTS, SELL, Day, Step
from risk_manager.clock import SystemClock
from risk_manager.daemon.app import Daemon
from risk_manager.sim import Simulator

ENV = {"PROJECTX_API_KEY": "sim-key"}
WORKING = (1, 6, 8)  # Open, Pending, Suspended
CANCELLED = 3
TRAILING = 5
#: An enforcement's last audit phase -> the outcome its history record carries (executor.py).
OUTCOME_OF_PHASE = {"confirmed": "ok", "refused": "refused", "failed": "failed"}
CHICAGO = ZoneInfo("America/Chicago")
KILL_WAIT_S = 1.5  # a kill -9 "mid-flatten" waits this long for the phase it aims at
QUIET_BOUND_S = 12.0
STORM_RETRIES = 8
# The enforcement path and the daemon's reads; the trader's calls on them retry.
STORM_PATHS = ["/api/Order/cancel", "/api/Position/closeContract", "/api/Position/partialCloseContract",
               "/api/Order/searchOpen", "/api/Position/searchOpen", "/api/Order/place"]  # a day's steps must settle within this; longer is itself a finding (I2)


class JumpClock(SystemClock):
    """The wall clock plus an offset that only jumps forward; monotonic time is untouched (what a
    machine whose clock is stepped sees). Shared by the simulator and an in-process daemon."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return super().now() + self.offset

    def jump_past_reset(self) -> datetime:
        """To one second after the next 17:00 America/Chicago; returns that moment."""
        local = self.now().astimezone(CHICAGO)
        reset = local.replace(hour=17, minute=0, second=0, microsecond=0)
        if reset <= local:
            reset = (local + timedelta(days=1)).replace(hour=17, minute=0, second=0, microsecond=0)
        target = reset.astimezone(UTC) + timedelta(seconds=1)
        self.offset += target - self.now()
        return target


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class World:
    def __init__(self, day: Day, root: Path) -> None:
        self.day = day
        self.root = root
        self.sim: Simulator | None = None
        self.trader: Trader | None = None
        self.daemon: Daemon | None = None
        self.process: DaemonProcess | None = None  # process days: `risk-manager run`
        self.clock = JumpClock()
        #: Start of the trading day the checker judges (None: the day the run began in).
        self.day_start: datetime | None = None
        self.kills = 0
        self.kills_mid = 0  # kills that met the enforcement phase they aimed at
        self.accounts: list[int] = []
        self.start_balance: dict[int, float] = {}
        self.trader_orders: set[int] = set()  # ids the trader placed (everything else is the guard's)
        self.restarts = 0
        self.faults = 0
        self.steps_run = 0
        self.reported_locks: list[tuple[int, str]] = []  # (account, rule) the daemon ever showed

    # -- life cycle -------------------------------------------------------------------------
    async def start(self) -> None:
        # Seeded per day: the same day gets the same account ids and fill jitter in every run.
        self.sim = Simulator(accounts=self.day.accounts, seed=self.day.seed % 1000 + 1, speed=0.0,
                             rate_limit=None, fills=self.day.fills, clock=self.clock)
        await self.sim.start()
        info = self.sim.info()
        self.accounts = list(info["accounts"])
        self.trader = Trader(info["api"])
        await self.trader.login()
        state = self.sim.state()
        self.start_balance = {a["id"]: a["balance"] for a in state["accounts"]}
        if any(step[0] == "bracket" for step in self.day.steps):
            for acct in self.accounts:  # brackets need the account's Auto OCO mode, as on TopstepX
                await self.trader.account(acct, autoOco=True)
        write_config(self.root / "config", info["api"], self.accounts, self.day.rules,
                     daemon={"poll_interval_seconds": 0.5})
        await self.start_daemon()

    async def start_daemon(self) -> None:
        if self.day.process:
            if self.process is None:
                self.process = DaemonProcess(self.root / "config", env=ENV)
            self.process.start()
            await self.process.wait_ready(30)
        else:
            daemon = Daemon(self.root / "config", environ=ENV, configure_logging=False, clock=self.clock)
            await asyncio.wait_for(daemon.start(), 30)
            self.daemon = daemon
        await self.wait_subscribed()

    @property
    def running(self) -> bool:
        return self.daemon is not None or (self.process is not None and self.process.status_url is not None)

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
        if self.process is not None and self.process.proc is not None:
            code = await asyncio.to_thread(self.process.stop)
            self.process.status_url = None
            if code not in (0, None):
                raise RuntimeError(f"risk-manager run exited {code} on SIGTERM:\n{self.process.tail()}")

    async def kill9(self, when: str, mark: int) -> None:
        """SIGKILL at the first audit row of phase `when` after row `mark` (mid-enforcement), or at
        once; then a restart on the same state dir, as a service manager would."""
        assert self.process is not None and self.process.proc is not None
        if when != "any":
            deadline = time.monotonic() + KILL_WAIT_S
            while time.monotonic() < deadline:
                if self.db_rows(f"SELECT 1 FROM audit WHERE id > {mark} AND phase = '{when}' LIMIT 1"):
                    self.kills_mid += 1
                    break
                await asyncio.sleep(0.002)
        self.process.kill9()
        await asyncio.to_thread(self.process.proc.wait, 10)
        self.process.status_url = None
        self.kills += 1
        await self.start_daemon()

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
        if self.daemon is not None:
            doc = self.daemon.status()
        else:  # the same document over the status API (a process day)
            assert self.process is not None and self.process.status_url is not None
            with urllib.request.urlopen(self.process.status_url + "/status", timeout=5) as resp:
                doc = json.loads(resp.read())
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

    def audit_mark(self) -> int:
        rows = self.db_rows("SELECT COALESCE(MAX(id), 0) FROM audit")
        return int(rows[0][0]) if rows else 0

    @property
    def enforcements(self) -> list[dict[str, Any]]:
        """Every enforcement the daemon finished, over restarts and kills: the audit's final rows
        (one per enforcement, written before the history record is emitted)."""
        out = []
        for ts, acct, rule, action, reason, phase, received, decided, response, confirmed in self.db_rows(
                "SELECT ts, account_id, rule, action, reason, phase, event_received_ns, decided_ns, "
                "response_ns, confirmed_ns FROM audit WHERE phase IN ('confirmed', 'refused', 'failed') "
                "ORDER BY id"):
            start, end = received or decided, confirmed or response
            out.append({"ts": ts, "account_id": acct, "rule": rule, "action": action, "reason": reason,
                        "outcome": OUTCOME_OF_PHASE[phase],
                        "latency_ms": (end - start) / 1e6 if start and end else None})
        return out

    def busy(self) -> bool:
        """An enforcement in flight (queued or running), as the status document says."""
        if not self.running:
            return True
        return self.status()["daemon"]["enforcing"] > 0

    def _fingerprint(self) -> tuple[Any, ...]:
        s = self.sim_state()
        return (tuple((o["id"], o["status"], o.get("fillVolume")) for o in s["orders"]),
                tuple((p["accountId"], p["contractId"], p["size"]) for p in s["positions"]),
                len(s["trades"]))

    def today(self, trades: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The fills of the trading day being judged (all of them until a clock jump)."""
        if self.day_start is None:
            return trades
        return [t for t in trades if ts(t["creationTimestamp"]) >= self.day_start]

    def _caught_up(self) -> bool:
        if not self.running or self.busy():
            return False
        s = self.sim_state()
        rows = {r["id"]: r for r in self.status()["accounts"]}
        for acct in self.accounts:
            filled = len({t["orderId"] for t in self.today(s["trades"]) if t["accountId"] == acct})
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
            parent = int(res["orderId"])
            self.trader_orders.add(parent)
            # a bracket's stop-loss and take-profit are the trader's orders too
            self.trader_orders.update(o.id for o in self.sim.engine.orders.values() if o.parent_order_id == parent)

    async def _close(self, acct: int, sym: str, path: str, extra: dict[str, Any]) -> None:
        """The trader's close: the server creates its market order (no id in the answer); it is
        the trader's, as the orders it places are."""
        assert self.sim is not None
        before = max(self.sim.engine.orders, default=0)
        await self._post(path, {"accountId": acct, "contractId": CONTRACTS[sym], **extra})
        self.trader_orders.update(o.id for o in self.sim.engine.orders.values()
                                  if o.id > before and o.account_id == acct and o.contract_id == CONTRACTS[sym])

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
        acct = (self.accounts[step[1] % len(self.accounts)]
                if kind not in ("px", "restart", "hubdrop", "storm", "slow", "tokens", "kill9", "jump") else None)
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
                    elif order["type"] == TRAILING:
                        body = {"trailPrice": round(last - away * max(1, step[3]) * tick, 10)}
                    else:
                        body = {"stopPrice": round(last - away * max(1, step[3]) * tick, 10)}
                    await self._post("/api/Order/modify", {"accountId": acct, "orderId": order["id"], **body})
        elif kind == "trail":
            _, _, sym, side, size, ticks = step
            last, tick = self._price(sym)
            away = -1 if side == BUY else 1
            await self._place(acct, sym, side, size, TRAILING, trailPrice=round(last - away * ticks * tick, 10))
        elif kind == "bracket":
            _, _, sym, side, size, sl, tp = step
            await self._place(acct, sym, side, size, MARKET, stopLossBracket={"ticks": sl, "type": STOP},
                              takeProfitBracket={"ticks": tp, "type": LIMIT})
        elif kind == "lossexit":
            _, _, sym, ticks = step
            await self._place(acct, sym, BUY, 3)
            deadline = time.monotonic() + 2
            while self._net(acct, sym) < 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            last, tick = self._price(sym)
            await self.trader.price(CONTRACTS[sym], max(tick * 10, last - ticks * tick))
            await self._place(acct, sym, SELL, 3)
        elif kind == "slow":
            self.faults += 1
            await self.trader.fault("delay_ms", ms=step[1], count=step[2], paths=STORM_PATHS)
        elif kind == "tokens":
            self.faults += 1
            await self.trader.fault("expire_tokens")
        elif kind == "jump":
            self.faults += 1
            await self.settle()
            self.day_start = self.clock.jump_past_reset()
            # The new trading day's P&L starts from the balances at the reset.
            self.start_balance = {a["id"]: a["balance"] for a in self.sim_state()["accounts"]}
        elif kind == "close":
            await self._close(acct, step[2], "/api/Position/closeContract", {})
        elif kind == "pclose":
            await self._close(acct, step[2], "/api/Position/partialCloseContract", {"size": 1})
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
        elif kind == "nocantrade":
            await self.trader.account(acct, omitCanTrade=True)
        else:
            raise ValueError(f"unknown step {step!r}")
