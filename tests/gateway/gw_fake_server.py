"""A small, scriptable ProjectX-like server for gateway client tests (loopback, port 0).

It speaks just enough REST and SignalR to let a test inject exact frames, splits, pings, closes and
HTTP faults (401/429/500/timeouts) — things the full simulator does not let us aim precisely.
Also `until`, the bounded wait the gateway tests share, and `start_hub`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable

from aiohttp import web

from risk_manager.gateway import signalr_protocol as sp


async def until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def start_hub(hub: Any, hubs: list) -> Any:
    """Start a hub client, noted in the `hubs` fixture's list (which stops it), and wait until it is
    connected."""
    hubs.append(hub)
    await hub.start()
    assert await hub.wait_connected(5), hub.snapshot()
    return hub


def make_jwt(exp: float, sub: str = "user") -> str:
    def seg(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{seg({'alg': 'HS256', 'typ': 'JWT'})}.{seg({'sub': sub, 'exp': exp})}.c2lnbmF0dXJl"


@dataclass
class HubConn:
    ws: web.WebSocketResponse
    path: str
    token: str
    invocations: list[dict[str, Any]] = field(default_factory=list)


class FakeGateway:
    def __init__(self, *, token_lifetime: float = 86400.0) -> None:
        self.token_lifetime = token_lifetime
        self.valid_tokens: set[str] = set()
        self.issued = 0
        self.calls: list[tuple[str, dict[str, Any] | None, str | None]] = []
        self.arrivals: list[float] = []
        #: endpoint ("Order/place") -> list of scripted responses, consumed in order:
        #: (status, body_dict_or_text, headers) or a float = sleep seconds before the default.
        self.script: dict[str, list[Any]] = {}
        self.handlers: dict[str, Callable[[dict[str, Any] | None], dict[str, Any]]] = {}
        self.conns: list[HubConn] = []
        self.hub_tokens: list[str] = []
        self.reject_upgrades = 0  # answer this many upgrades with 401
        self.handshake_reply = "{}" + sp.RS
        self.invocation_errors: dict[str, str] = {}
        self.silent_invocations: set[str] = set()
        self.connected = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base = ""

    # -- tokens ------------------------------------------------------------------------------
    def issue(self) -> str:
        self.issued += 1
        token = make_jwt(time.time() + self.token_lifetime, sub=f"u{self.issued}")
        self.valid_tokens.add(token)
        return token

    def expire_all(self) -> None:
        self.valid_tokens.clear()

    # -- server --------------------------------------------------------------------------------
    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/api/{path:.*}", self._rest)
        app.router.add_get("/hubs/{hub}", self._hub)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"
        return self.base

    async def stop(self) -> None:
        for conn in list(self.conns):
            await conn.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- REST ---------------------------------------------------------------------------------
    async def _rest(self, request: web.Request) -> web.StreamResponse:
        endpoint = request.match_info["path"]
        raw = await request.text()
        body = json.loads(raw) if raw else None
        auth = request.headers.get("Authorization")
        self.calls.append((endpoint, body, auth))
        self.arrivals.append(time.monotonic())
        scripted = self.script.get(endpoint)
        if scripted:
            item = scripted.pop(0)
            if isinstance(item, (int, float)):
                await asyncio.sleep(item)
            else:
                status, payload, headers = item
                text = payload if isinstance(payload, str) else json.dumps(payload)
                return web.Response(status=status, text=text, headers=headers or {}, content_type="application/json")
        if endpoint == "Auth/loginKey":
            if body == {"userName": "user", "apiKey": "key"}:
                return web.json_response({"token": self.issue(), "success": True, "errorCode": 0, "errorMessage": None})
            return web.json_response({"token": None, "success": False, "errorCode": 3, "errorMessage": "bad credentials"})
        token = (auth or "").removeprefix("Bearer ")
        if token not in self.valid_tokens:
            return web.Response(status=401)
        if endpoint == "Auth/validate":
            return web.json_response({"newToken": self.issue(), "success": True, "errorCode": 0, "errorMessage": None})
        handler = self.handlers.get(endpoint)
        if handler is None:
            return web.json_response({"success": True, "errorCode": 0, "errorMessage": None})
        return web.json_response(handler(body))

    # -- hubs ---------------------------------------------------------------------------------
    async def _hub(self, request: web.Request) -> web.StreamResponse:
        token = request.query.get("access_token", "")
        self.hub_tokens.append(token)
        if self.reject_upgrades > 0 or token not in self.valid_tokens:
            self.reject_upgrades = max(0, self.reject_upgrades - 1)
            return web.Response(status=401)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = HubConn(ws, request.path, token)
        decoder = sp.RecordDecoder()
        handshaken = False
        try:
            async for msg in ws:
                if msg.type is not web.WSMsgType.TEXT:
                    break
                for record in decoder.feed_json(msg.data):
                    if not handshaken:
                        handshaken = True
                        if self.handshake_reply:
                            await ws.send_str(self.handshake_reply)
                        self.conns.append(conn)
                        self.connected.set()
                        continue
                    conn.invocations.append(record)
                    if record.get("type") == 1 and "invocationId" in record:
                        target = record["target"]
                        if target in self.silent_invocations:
                            continue
                        error = self.invocation_errors.get(target)
                        await ws.send_str(sp.encode(sp.completion(record["invocationId"], error=error)))
        finally:
            if conn in self.conns:
                self.conns.remove(conn)
        return ws

    def live(self, path: str | None = None) -> list[HubConn]:
        return [c for c in self.conns if path is None or c.path == path]

    async def send(self, text: str, path: str | None = None) -> None:
        for conn in self.live(path):
            await conn.ws.send_str(text)

    async def drop(self, path: str | None = None) -> None:
        for conn in self.live(path):
            await conn.ws.close()

    async def wait_conns(self, count: int, path: str | None = None, timeout: float = 5.0) -> list[HubConn]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            conns = self.live(path)
            if len(conns) >= count:
                return conns
            await asyncio.sleep(0.01)
        raise AssertionError(f"expected {count} hub connections on {path}, have {len(self.live(path))}")
