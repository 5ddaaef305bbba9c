"""The demo's trader: a trading front end on the gateway REST, plus the simulator's control API.

It logs in with the API key and places orders through `/api/Order/place`, exactly as a platform
would; prices move only when it calls `/sim/price` (the simulator runs with speed 0).
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp

MARKET, LIMIT, STOP = 2, 1, 4
BUY, SELL = 0, 1
WORKING_STATUSES = (1, 6, 8)  # Open, Pending, Suspended


class GatewayCallFailed(RuntimeError):
    pass


class DemoTrader:
    def __init__(self, api: str, user: str, api_key: str, account_id: int) -> None:
        self.api = api.rstrip("/")
        self.user = user
        self.api_key = api_key
        self.account_id = account_id
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self.token: str | None = None

    async def close(self) -> None:
        await self.http.close()

    # -- the gateway, as a trading front end uses it ------------------------------------------
    async def login(self) -> None:
        body = await self._api("/api/Auth/loginKey", {"userName": self.user, "apiKey": self.api_key})
        self.token = body["token"]

    async def place(self, contract_id: str, side: int, size: int, type: int = MARKET,
                    **prices: float) -> int:
        """Place an order; returns its id. The gateway accepting it is not the rules allowing it."""
        body = {"accountId": self.account_id, "contractId": contract_id, "type": type, "side": side,
                "size": size, **prices}
        return int((await self._api("/api/Order/place", body))["orderId"])

    async def close_position(self, contract_id: str) -> None:
        await self._api("/api/Position/closeContract",
                        {"accountId": self.account_id, "contractId": contract_id})

    async def cancel(self, order_id: int) -> None:
        await self._api("/api/Order/cancel", {"accountId": self.account_id, "orderId": order_id})

    async def _api(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self.http.post(self.api + path, json=body, headers=headers) as resp:
            if resp.status != 200:
                raise GatewayCallFailed(f"{path}: HTTP {resp.status}: {(await resp.text())[:200]}")
            doc = await resp.json(content_type=None)
        if not isinstance(doc, dict) or not doc.get("success", False):
            raise GatewayCallFailed(f"{path} refused: {doc!r}"[:300])
        return doc

    # -- the simulator's control API ------------------------------------------------------------
    async def set_price(self, contract_id: str, price: float) -> int:
        """Move the market; returns time.monotonic_ns() just before the request was sent."""
        sent_ns = time.monotonic_ns()
        async with self.http.post(self.api + "/sim/price",
                                  json={"contractId": contract_id, "price": price}) as resp:
            if resp.status != 200:
                raise GatewayCallFailed(f"/sim/price: HTTP {resp.status}: {await resp.text()}")
        return sent_ns

    async def state(self) -> dict[str, Any]:
        async with self.http.get(self.api + "/sim/state") as resp:
            return await resp.json()

    async def requests_since(self, seq: int) -> list[dict[str, Any]]:
        async with self.http.get(self.api + f"/sim/log?since={seq}") as resp:
            return (await resp.json())["requests"]

    async def last_seq(self) -> int:
        async with self.http.get(self.api + "/sim/log") as resp:
            rows = (await resp.json())["requests"]
        return rows[-1]["seq"] if rows else 0

    async def positions(self) -> list[dict[str, Any]]:
        return [p for p in (await self.state())["positions"]
                if p["accountId"] == self.account_id and p.get("size", 0) > 0]

    async def working_orders(self) -> list[dict[str, Any]]:
        return [o for o in (await self.state())["orders"]
                if o["accountId"] == self.account_id and o["status"] in WORKING_STATUSES]

    async def tidy(self) -> None:
        """Cancel what is working and close what is open (used only after a step failed)."""
        for order in await self.working_orders():
            try:
                await self.cancel(order["id"])
            except GatewayCallFailed:
                pass
        for position in await self.positions():
            try:
                await self.close_position(position["contractId"])
            except GatewayCallFailed:
                pass
