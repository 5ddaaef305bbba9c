"""A hostile hub peer for e2e tests: a loopback WebSocket proxy between the daemon and the
simulator's hub that forwards every frame both ways and can inject raw frames (anything at all:
no separator, deep nesting, megabytes) into the daemon's side of the current connection."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import aiohttp
from aiohttp import web


class HostileHubProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")  # ws://127.0.0.1:PORT of the simulator
        self.connections = 0  # WebSocket connections the daemon made through us
        self.current: web.WebSocketResponse | None = None
        self._lock = asyncio.Lock()  # injected frames are never interleaved with forwarded ones
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self._pumps: set[asyncio.Task[None]] = set()
        self.base = ""

    async def start(self) -> str:
        self._http = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_get("/hubs/{hub}", self._hub)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"ws://127.0.0.1:{port}"
        return self.base

    async def stop(self) -> None:
        for task in list(self._pumps):
            task.cancel()
        if self.current is not None:
            await self.current.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._http is not None:
            await self._http.close()

    async def inject(self, frames: Iterable[str]) -> int:
        """Send these text frames to the daemon on the current connection, in order; stops when
        that connection closes (the daemon may drop it). Returns how many were sent."""
        ws, sent = self.current, 0
        if ws is None:
            return 0
        async with self._lock:
            for frame in frames:
                if ws.closed:
                    break
                try:
                    await ws.send_str(frame)
                except (ConnectionError, RuntimeError, aiohttp.ClientError):
                    break
                sent += 1
        return sent

    async def _hub(self, request: web.Request) -> web.StreamResponse:
        assert self._http is not None
        try:
            upstream = await self._http.ws_connect(self.upstream + request.path_qs, max_msg_size=0)
        except aiohttp.WSServerHandshakeError as exc:
            return web.Response(status=exc.status)
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self.connections += 1
        self.current = ws
        down = asyncio.create_task(self._downstream(upstream, ws))
        self._pumps.add(down)
        try:
            async for msg in ws:  # daemon → simulator
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    break
                await upstream.send_str(msg.data)
        finally:
            down.cancel()
            self._pumps.discard(down)
            await upstream.close()
            if self.current is ws:
                self.current = None
        return ws

    async def _downstream(self, upstream: aiohttp.ClientWebSocketResponse, ws: web.WebSocketResponse) -> None:
        """simulator → daemon"""
        try:
            async for msg in upstream:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    break
                async with self._lock:
                    await ws.send_str(msg.data)
        except (ConnectionError, RuntimeError, aiohttp.ClientError):
            pass
        finally:
            await ws.close()
