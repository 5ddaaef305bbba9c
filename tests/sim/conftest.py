"""Fixtures for simulator tests: a started in-process Simulator and a tiny REST/hub client."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from risk_manager.gateway import signalr_protocol as sp
from risk_manager.sim import Simulator

MNQ = "CON.F.US.MNQ.U26"


class SimClient:
    """Plain aiohttp calls against the simulator (independent of our gateway client)."""

    def __init__(self, sim: Simulator, session: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.session = session
        self.base = sim.info()["api"]
        self.token: str | None = None
        self.account_id = sim.info()["accounts"][0]

    async def login(self) -> str:
        body = await self.post("/api/Auth/loginKey", {"userName": self.sim.user, "apiKey": self.sim.api_key})
        assert body["success"], body
        self.token = body["token"]
        return self.token

    async def raw(self, path: str, body: Any = None, *, token: str | None = None, method: str = "POST") -> aiohttp.ClientResponse:
        headers = {}
        tok = token if token is not None else self.token
        if tok:
            headers["Authorization"] = f"Bearer {tok}"
        resp = await self.session.request(method, self.base + path, json=body, headers=headers)
        await resp.read()
        return resp

    async def post(self, path: str, body: Any = None, **kw: Any) -> dict[str, Any]:
        resp = await self.raw(path, body if body is not None else {}, **kw)
        assert resp.status == 200, (path, resp.status, await resp.text())
        return await resp.json()

    async def control(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        if body is None:
            async with self.session.get(self.base + path) as resp:
                assert resp.status == 200, await resp.text()
                return await resp.json()
        async with self.session.post(self.base + path, json=body) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def place(self, **fields: Any) -> dict[str, Any]:
        body = {"accountId": self.account_id, "contractId": MNQ, "type": 2, "side": 0, "size": 1, **fields}
        return await self.post("/api/Order/place", body)


class RawHub:
    """Minimal SignalR JSON client over aiohttp, for checking exact records."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.decoder = sp.RecordDecoder()
        self.pending: list[dict[str, Any]] = []
        self._ids = 0

    @classmethod
    async def connect(cls, session: aiohttp.ClientSession, url: str, token: str) -> RawHub:
        ws = await session.ws_connect(f"{url}?access_token={token}")
        hub = cls(ws)
        await ws.send_str(sp.encode(sp.HANDSHAKE_REQUEST))
        first = await hub.next_record(raw_handshake=True)
        assert first == {}, first
        return hub

    async def next_record(self, timeout: float = 5.0, *, raw_handshake: bool = False) -> dict[str, Any]:
        while not self.pending:
            msg = await self.ws.receive(timeout=timeout)
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"socket ended: {msg.type} {msg.data!r}")
            self.pending.extend(self.decoder.feed_json(msg.data))
        return self.pending.pop(0)

    async def invoke(self, target: str, *args: Any) -> dict[str, Any]:
        self._ids += 1
        inv_id = str(self._ids)
        await self.ws.send_str(sp.encode(sp.invocation(target, list(args), inv_id)))
        while True:
            rec = await self.next_record()
            if rec.get("type") == 3 and rec.get("invocationId") == inv_id:
                return rec
            self.pending.append(rec) if rec.get("type") != 6 else None

    async def events(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The next `count` invocation records (pings skipped)."""
        out = []
        while len(out) < count:
            rec = await asyncio.wait_for(self.next_record(timeout), timeout)
            if rec.get("type") == 1:
                out.append(rec)
        return out

    async def quiet(self, seconds: float = 0.2) -> list[dict[str, Any]]:
        """Invocations that arrive within `seconds` (for asserting that nothing else came)."""
        out = []
        try:
            while True:
                rec = await self.next_record(seconds)
                if rec.get("type") == 1:
                    out.append(rec)
        except TimeoutError:
            return out

    async def close(self) -> None:
        await self.ws.close()


@pytest.fixture
async def sim():
    simulator = Simulator(accounts=2, seed=1, speed=0.0)
    await simulator.start(host="127.0.0.1", port=0)
    try:
        yield simulator
    finally:
        await simulator.stop()


@pytest.fixture
async def client(sim):
    async with aiohttp.ClientSession() as session:
        c = SimClient(sim, session)
        await c.login()
        yield c
