"""End-to-end helpers: a trader talking to the simulator's REST, config dirs, bounded waits."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from ruamel.yaml import YAML

MNQ = "CON.F.US.MNQ.U26"  # tick 0.25, $0.50 per tick
MES = "CON.F.US.MES.U26"

MARKET, LIMIT, STOP = 2, 1, 4
BUY, SELL = 0, 1

#: R03 at $50 on realized P&L only: `lose_60` breaches it.
R03_REALIZED = {"daily_realized_loss": {"enabled": True, "loss_limit": 50, "include_unrealized": False}}
#: No rule at all: a risk config must say so explicitly (an empty `rules:` is refused as truncated).
NO_RULES = {"max_contracts": {"enabled": False}}


@contextmanager
def daemon_logging_undone() -> Iterator[None]:
    """On the way out, undo the daemon's `setup_logging`: its handlers removed and closed, the root
    level and the structlog configuration as they were on the way in."""
    saved_structlog, saved_level = structlog.get_config(), logging.getLogger().level
    try:
        yield
    finally:
        root = logging.getLogger()
        for handler in list(root.handlers):
            if getattr(handler, "_risk_manager_daemon", False):
                root.removeHandler(handler)
                handler.close()
        root.setLevel(saved_level)
        structlog.configure(**saved_structlog)


def write_config(
    root: Path,
    api: str,
    accounts: list[int],
    rules: dict[str, Any] | None = None,
    *,
    status_api: str = "127.0.0.1:0",
    daemon: dict[str, Any] | None = None,
    trading_day: dict[str, str] | None = None,
) -> Path:
    """A config dir pointing at the simulator; rules not listed stay disabled."""
    root.mkdir(parents=True, exist_ok=True)
    accounts_doc = {
        "gateway": {
            "api_url": api,
            # http hub URLs as `sim` prints them (and TopstepX publishes them): the daemon converts.
            "user_hub_url": f"{api}/hubs/user",
            "market_hub_url": f"{api}/hubs/market",
            "username": "sim",
            "api_key_env": "PROJECTX_API_KEY",
            "request_timeout_seconds": 5,
        },
        "accounts": [{"id": a} for a in accounts],
        "daemon": {"status_api": status_api, "state_dir": "state", "log_dir": "logs",
                   "poll_interval_seconds": 0.5, **(daemon or {})},
    }
    risk_doc: dict[str, Any] = {
        "trading_day": trading_day or {"reset_time": "17:00", "timezone": "America/Chicago"},
        "pnl_basis": "net",
        "rules": rules or NO_RULES,
    }
    yaml = YAML()
    with (root / "accounts.yaml").open("w") as fh:
        yaml.dump(accounts_doc, fh)
    with (root / "risk_config.yaml").open("w") as fh:
        yaml.dump(risk_doc, fh)
    return root


def write_rules(root: Path, rules: dict[str, Any], trading_day: dict[str, str] | None = None) -> None:
    yaml = YAML()
    doc = {"trading_day": trading_day or {"reset_time": "17:00", "timezone": "America/Chicago"},
           "pnl_basis": "net", "rules": rules or NO_RULES}
    tmp = root / "risk_config.yaml.tmp"
    with tmp.open("w") as fh:
        yaml.dump(doc, fh)
    tmp.replace(root / "risk_config.yaml")


async def wait_for(
    check: Callable[[], Awaitable[Any]], timeout: float = 5.0, interval: float = 0.05, what: str = ""
) -> Any:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = await check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or check}: last={last!r}")
        await asyncio.sleep(interval)


class Trader:
    """A trading front end: logs in with the API key and places orders via /api/Order/place."""

    def __init__(self, api: str, user: str = "sim", api_key: str = "sim-key") -> None:
        self.api = api.rstrip("/")
        self.user = user
        self.api_key = api_key
        self.http = aiohttp.ClientSession()
        self.token: str | None = None

    async def close(self) -> None:
        await self.http.close()

    async def login(self) -> None:
        body = await self._post("/api/Auth/loginKey", {"userName": self.user, "apiKey": self.api_key},
                                auth=False)
        self.token = body["token"]

    async def _post(self, path: str, body: dict[str, Any], auth: bool = True) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if auth and self.token else {}
        async with self.http.post(self.api + path, json=body, headers=headers) as resp:
            return await resp.json(content_type=None)

    async def place(self, account: int, contract: str, side: int, size: int, type: int = MARKET,
                    **extra: Any) -> dict[str, Any]:
        if self.token is None:
            await self.login()
        body = {"accountId": account, "contractId": contract, "type": type, "side": side,
                "size": size, **extra}
        return await self._post("/api/Order/place", body)

    # -- simulator control ---------------------------------------------------------------
    async def price(self, contract: str, price: float) -> None:
        async with self.http.post(self.api + "/sim/price", json={"contractId": contract, "price": price}) as r:
            assert r.status == 200, await r.text()

    async def account(self, account: int, **fields: Any) -> None:
        async with self.http.post(self.api + "/sim/account", json={"accountId": account, **fields}) as r:
            assert r.status == 200, await r.text()

    async def fault(self, kind: str, **fields: Any) -> None:
        async with self.http.post(self.api + "/sim/fault", json={"kind": kind, **fields}) as r:
            assert r.status == 200, await r.text()

    async def state(self) -> dict[str, Any]:
        async with self.http.get(self.api + "/sim/state") as r:
            return await r.json()

    async def log(self, since: int = 0) -> list[dict[str, Any]]:
        async with self.http.get(self.api + f"/sim/log?since={since}") as r:
            return (await r.json())["requests"]

    async def last_seq(self) -> int:
        requests = await self.log()
        return requests[-1]["seq"] if requests else 0

    async def positions(self, account: int) -> list[dict[str, Any]]:
        return [p for p in (await self.state())["positions"]
                if p["accountId"] == account and p.get("size", 0) > 0]

    async def working_orders(self, account: int) -> list[dict[str, Any]]:
        return [o for o in (await self.state())["orders"]
                if o["accountId"] == account and o["status"] in (1, 6, 8)]

    async def flat(self, account: int) -> bool:
        return not await self.positions(account) and not await self.working_orders(account)


async def lose_60(trader: Trader, account: int) -> None:
    """One MNQ round trip, long at 20000 and out at 19970: -$60 realized."""
    await trader.price(MNQ, 20000.0)
    await trader.place(account, MNQ, BUY, 1)
    await trader.price(MNQ, 19970.0)
    await trader.place(account, MNQ, SELL, 1)


async def get_status(status_url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(status_url + "/status") as r:
        return await r.json()


def account_locks(status: dict[str, Any], account: int) -> list[dict[str, Any]]:
    for row in status.get("accounts", []):
        if row.get("id") == account:
            return row.get("locks", [])
    return []


async def sim_net_realized(rig: Any) -> float:
    """The simulator's truth for the daemon's net realized P&L: Σ(profitAndLoss (or 0) − fees −
    commissions) over the account's fills, opening fills' fees included (= the balance change)."""
    trades = [t for t in (await rig.trader.state())["trades"]
              if t["accountId"] == rig.account and not t.get("voided")]
    return round(sum((t.get("profitAndLoss") or 0.0) - t["fees"] - t.get("commissions", 0.0)
                     for t in trades), 2)


@asynccontextmanager
async def group_of_accounts(tmp_path: Path, accounts: int = 3,
                            group: dict[str, Any] | None = None) -> AsyncIterator[tuple[Any, Trader, list[int], Path]]:
    """A simulator with `accounts` accounts, a logged-in trader and a config dir guarding them all
    (no rules; `group`, e.g. {"daily_loss_limit": 150}, makes them one account group "copy")."""
    from risk_manager.sim import Simulator

    sim = Simulator(accounts=accounts, speed=0.0)
    await sim.start()
    trader = Trader(sim.info()["api"])
    try:
        await trader.login()
        ids = sim.info()["accounts"]
        root = write_config(tmp_path / "cfg", sim.info()["api"], ids, {})
        if group is not None:
            set_group(root, ids, **group)
        yield sim, trader, ids, root
    finally:
        await trader.close()
        await sim.stop()


def set_group(root: Path, ids: list[int], **limits: Any) -> None:
    """accounts.yaml: the accounts `ids` are one group "copy" with these limits (docs/rules.md)."""
    yaml = YAML()
    doc = yaml.load((root / "accounts.yaml").read_text())
    doc["groups"] = [{"name": "copy", "accounts": ids, **limits}]
    with (root / "accounts.yaml").open("w") as fh:
        yaml.dump(doc, fh)
