"""The floor: the fastest a "push arrives → HTTP request sent" reaction can be on this loopback.

A bare aiohttp WebSocket server (this process) pushes a small message; a client in a separate
process (like the daemon) reads it and at once POSTs to an aiohttp HTTP server in this process
(like the gateway). Measured: message sent → request arrived, both `time.monotonic_ns()` (one
machine, one clock: CLOCK_MONOTONIC is system-wide on Linux). Our lock reaction is compared to it.

    uv run python -m bench floor [--n 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import time
from typing import Any

import aiohttp
from aiohttp import web

from bench._stats import emit, fail, latency_summary, machine, quiet_logs


async def measure_floor(n: int = 500, seed: int = 7) -> list[int]:
    """n push → request latencies in ns (client in a subprocess)."""
    rng = random.Random(seed)
    arrivals: dict[int, asyncio.Future[int]] = {}
    connected: asyncio.Future[web.WebSocketResponse] = asyncio.get_running_loop().create_future()

    async def on_request(request: web.Request) -> web.Response:
        t_ns = time.monotonic_ns()
        body = await request.json()
        future = arrivals.get(body["i"])
        if future is not None and not future.done():
            future.set_result(t_ns)
        return web.json_response({"success": True})

    async def on_ws(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        if not connected.done():
            connected.set_result(ws)
        async for _ in ws:  # keep the socket open until the client leaves
            pass
        return ws

    app = web.Application()
    app.router.add_post("/api/Order/cancel", on_request)
    app.router.add_get("/ws", on_ws)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # noqa: SLF001
    base = f"http://127.0.0.1:{port}"
    client = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.floor", "--client", base, stdin=subprocess.DEVNULL)
    samples: list[int] = []
    try:
        ws = await asyncio.wait_for(connected, 20.0)
        for i in range(-20, n):  # 20 warm-up rounds (connection pool, code paths)
            await asyncio.sleep(rng.uniform(0.002, 0.010))
            arrival = arrivals[i] = asyncio.get_running_loop().create_future()
            sent = time.monotonic_ns()
            await ws.send_str(json.dumps({"type": 1, "target": "GatewayUserOrder", "i": i}))
            arrived = await asyncio.wait_for(arrival, 5.0)
            del arrivals[i]
            if i >= 0:
                samples.append(arrived - sent)
        await ws.close()
    finally:
        if client.returncode is None:
            client.terminate()
        await client.wait()
        await runner.cleanup()
    return samples


async def _client(base: str) -> None:
    """The reacting side: on every push, POST at once over a kept-alive connection."""
    async with aiohttp.ClientSession() as http, http.ws_connect(base.replace("http", "ws", 1) + "/ws") as ws:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            i = json.loads(msg.data)["i"]
            async with http.post(base + "/api/Order/cancel", json={"i": i}) as resp:
                await resp.read()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench floor")
    parser.add_argument("--n", type=int, default=500, help="pushes to time")
    parser.add_argument("--client", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quiet_logs()
    if args.client:
        asyncio.run(_client(args.client))
        return 0
    try:
        samples = asyncio.run(measure_floor(args.n))
    except (TimeoutError, OSError) as exc:
        return fail("floor", f"{type(exc).__name__}: {exc}")
    emit(result(samples))
    return 0


def result(samples: list[int]) -> dict[str, Any]:
    return {"bench": "floor", "what": "ws push sent -> http request arrived (separate client process)",
            **latency_summary(samples), "machine": machine()}


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
