"""`Simulator`: the aiohttp application tying REST, hubs, matching engine, prices, faults and control API."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import web

from risk_manager.clock import Clock, SystemClock
from risk_manager.sim.catalog import load_catalog
from risk_manager.sim.control import ControlApi
from risk_manager.sim.engine import EngineResult, MatchingEngine
from risk_manager.sim.faults import FaultState
from risk_manager.sim.hubs import HubServer
from risk_manager.sim.prices import MarketModel, PriceWalker, QuoteStream
from risk_manager.sim.ratelimit import SlidingWindowLimiter, retry_after_header
from risk_manager.sim.rest import BadRequest, RestApi
from risk_manager.sim.tokens import TokenIssuer

REQUEST_LOG_LIMIT = 200_000
PUSH_LOG_LIMIT = REQUEST_LOG_LIMIT


@dataclass(slots=True)
class SimConfig:
    ping_interval: float = 15.0
    client_timeout: float = 30.0
    handshake_timeout: float = 15.0


class Simulator:
    def __init__(
        self,
        accounts: int = 1,
        seed: int = 1,
        user: str = "sim",
        api_key: str = "sim-key",
        speed: float = 0.0,
        clock: Clock | None = None,
        *,
        starting_balance: float = 50_000.0,
        rate_limit: tuple[int, float] | None = (200, 60.0),
        bars_rate_limit: tuple[int, float] | None = (50, 30.0),
        ping_interval: float = 15.0,
        client_timeout: float = 30.0,
        handshake_timeout: float = 15.0,
        account_event_copies: int = 2,
        token_lifetime: float = 86_400.0,
        fees: dict[str, tuple[float, float]] | None = None,
        fills: dict[str, Any] | None = None,
        reemit_opening_trade: bool = True,
        market_model: MarketModel | None = None,
    ) -> None:
        if accounts < 1:
            raise ValueError(f"accounts must be >= 1, got {accounts}")
        if speed < 0:
            raise ValueError(f"speed must be >= 0, got {speed}")
        self.user = user
        self.api_key = api_key
        self.seed = seed
        self.speed = speed
        self.clock: Clock = clock or SystemClock()
        self.config = SimConfig(ping_interval, client_timeout, handshake_timeout)
        self.catalog = load_catalog()
        self.engine = MatchingEngine(
            self.catalog, self.clock, seed=seed, account_event_copies=account_event_copies, fees=fees,
            fills=fills,
            reemit_opening_trade=reemit_opening_trade,
        )
        for _ in range(accounts):
            self.engine.add_account(balance=starting_balance)
        self.tokens = TokenIssuer(self.clock, token_lifetime)
        self.faults = FaultState()
        self.request_log: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_LIMIT)
        self._seq = 0
        # User-hub pushes as written, with their own seq (so request seqs stay consecutive).
        self.push_log: deque[dict[str, Any]] = deque(maxlen=PUSH_LOG_LIMIT)
        self._push_seq = 0
        self.limiter: SlidingWindowLimiter | None = None
        self.bars_limiter: SlidingWindowLimiter | None = None
        self.set_rate_limit(rate_limit)
        if bars_rate_limit is not None:
            self.bars_limiter = SlidingWindowLimiter(*bars_rate_limit, now=self.clock.monotonic)
        self.rest = RestApi(self)
        self.hubs = HubServer(self)
        self.control = ControlApi(self)
        self.market_model = market_model or MarketModel()
        self.walker = PriceWalker(self, seed, self.market_model)
        self.quote_stream = QuoteStream(self, seed, self.market_model)
        self._runner: web.AppRunner | None = None
        self.base_url: str | None = None
        self._fill_timer: asyncio.TimerHandle | None = None  # runs the fill model's next due step
        self._fill_timer_due = 0.0

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/api/{tail:.*}", self._api)
        app.router.add_routes(self.hubs.routes())
        app.router.add_routes(self.control.routes())
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = cast("asyncio.Server | None", site._server)  # aiohttp types it as AbstractServer
        sockets = server.sockets if server else []  # noqa: SLF001 - aiohttp exposes no port getter
        bound_port = sockets[0].getsockname()[1]
        self.base_url = f"http://{host}:{bound_port}"
        self.walker.start()
        return self.base_url

    async def stop(self) -> None:
        if self._fill_timer is not None:
            self._fill_timer.cancel()
            self._fill_timer = None
        self.walker.stop()
        self.quote_stream.stop()
        await self.hubs.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def info(self) -> dict[str, Any]:
        if self.base_url is None:
            raise RuntimeError("Simulator.info() needs a started simulator (await sim.start())")
        # http(s) hub URLs, as TopstepX publishes them: SignalR clients switch to ws(s) themselves.
        return {
            "api": self.base_url, "user_hub": f"{self.base_url}/hubs/user", "market_hub": f"{self.base_url}/hubs/market",
            "user": self.user, "api_key": self.api_key, "accounts": list(self.engine.accounts),
        }

    # ------------------------------------------------------------------ engine access

    def mutate(self, action: Callable[[], EngineResult]) -> EngineResult:
        """Run one engine mutation and push the events it produced."""
        try:
            return action()
        finally:
            self.publish()

    def publish(self) -> None:
        self.hubs.broadcast_user(self.engine.drain_user())
        self.hubs.broadcast_market(self.engine.drain_market())
        self._arm_fill_timer()

    def _arm_fill_timer(self) -> None:
        """Wake up when the fill model's next fill is due (latency, interval between fills)."""
        due = self.engine.fills.next_due()
        if due is None or (self._fill_timer is not None and self._fill_timer_due <= due):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # used without a loop (no server): the caller runs fills itself
            return
        if self._fill_timer is not None:
            self._fill_timer.cancel()
        self._fill_timer_due = due
        self._fill_timer = loop.call_later(max(0.0, due - self.clock.monotonic()), self._run_fills)

    def _run_fills(self) -> None:
        self._fill_timer = None
        try:
            self.engine.fills.run_due()
        finally:
            self.publish()

    async def set_price(self, contract_id: str, price: float, spread_ticks: int = 0) -> None:
        if contract_id not in self.catalog:
            raise KeyError(f"unknown contract {contract_id!r}")
        try:
            self.engine.set_price(contract_id, price, spread_ticks)
        finally:
            self.publish()

    def state(self) -> dict[str, Any]:
        return self.engine.snapshot()

    def on_market_subscribe(self, contract_id: str) -> None:
        if contract_id in self.catalog:
            self.engine.market(contract_id)  # start its price path (no snapshot is pushed)
            # Depth is built only for contracts someone watches (it costs on every price move).
            self.engine.fills.depth_watch = {
                cid for conn in self.hubs.connections["market"] for cid in conn.topics.get("GatewayDepth", ())
            }

    def set_rate_limit(self, rate_limit: tuple[int, float] | None) -> None:
        self.limiter = None if rate_limit is None else SlidingWindowLimiter(*rate_limit, now=self.clock.monotonic)

    # ------------------------------------------------------------------ REST pipeline

    def _log_request(self, t_ns: int, method: str, path: str, body: Any) -> None:
        self._seq += 1
        self.request_log.append({"seq": self._seq, "t_ns": t_ns, "method": method, "path": path, "body": body})

    def log_pushes(self, t_ns: int, hub: str, conn: int, pushes: list[dict[str, Any]]) -> None:
        """One row per record one connection wrote in a frame; t_ns is taken just before the write."""
        for push in pushes:
            self._push_seq += 1
            self.push_log.append({"seq": self._push_seq, "t_ns": t_ns, "hub": hub, "conn": conn, **push})

    async def _api(self, request: web.Request) -> web.StreamResponse:
        t_ns = time.monotonic_ns()
        raw = await request.read()
        body: Any = None
        parse_error = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError as exc:
                body = raw.decode("utf-8", errors="replace")
                parse_error = f"request body is not JSON: {exc}"
        path = request.path
        self._log_request(t_ns, request.method, path, body)
        key = path[len("/api/"):].strip("/").lower()

        delay = self.faults.take_delay(path)
        if delay:
            await asyncio.sleep(delay)
        fault = self.faults.take_http(path)
        if fault is not None:
            if fault.status == 429:
                return web.Response(status=429, headers={"Retry-After": str(fault.retry_after)})
            return web.json_response({"title": "Internal Server Error (injected fault)", "status": 500}, status=500)
        limiter = self.bars_limiter if key == "history/retrievebars" else self.limiter
        if limiter is not None:
            wait = limiter.acquire()
            if wait is not None:
                return web.Response(status=429, headers={"Retry-After": retry_after_header(wait)})

        if key == "status/ping":
            if request.method != "GET":
                raise web.HTTPMethodNotAllowed(request.method, ["GET"])
            return web.Response(text="pong")
        handler = self.rest.handlers.get(key)
        if handler is None:
            return web.Response(status=404)
        if request.method != "POST":
            raise web.HTTPMethodNotAllowed(request.method, ["POST"])
        token = ""
        if key not in self.rest.unauthenticated:
            header = request.headers.get("Authorization", "")
            token = header[7:].strip() if header.lower().startswith("bearer ") else ""
            if self.tokens.verify(token) is None:
                return web.Response(status=401, headers={"WWW-Authenticate": "Bearer"})
        if parse_error is None and body is None:
            body = {}
        if parse_error is not None or not isinstance(body, dict):
            return _problem(parse_error or "request body must be a JSON object", path)
        try:
            return web.json_response(await handler(body, token))
        except BadRequest as exc:
            return _problem(str(exc), path)


def _problem(detail: str, path: str) -> web.Response:
    """ASP.NET-style RFC 7807 ProblemDetails for a body that fails model binding."""
    return web.json_response(
        {
            "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
            "title": "One or more validation errors occurred.", "status": 400, "detail": detail, "instance": path,
        },
        status=400, content_type="application/problem+json",
    )
