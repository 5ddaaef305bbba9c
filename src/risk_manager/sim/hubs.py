"""The two SignalR hubs (`/hubs/user`, `/hubs/market`): JSON hub protocol over aiohttp WebSockets.

Accepts both ways real clients connect: the direct WebSocket with `?access_token=` (skipNegotiation,
the official sample) and the negotiate step (`POST /hubs/{hub}/negotiate`, then `?id=`), as ASP.NET
Core does — pysignalr negotiates.

Every GatewayUser* record a user-hub connection actually writes is also logged with its emit time
(`Simulator.push_log`, `GET /sim/pushes`): benchmarks measure the daemon's reaction from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from risk_manager.gateway import signalr_protocol as sp
from risk_manager.sim.models import MarketEvent, UserEvent

if TYPE_CHECKING:
    from risk_manager.sim.server import Simulator

HUBS = ("user", "market")
_USER_SUBSCRIPTIONS = {"Orders": "orders", "Positions": "positions", "Trades": "trades"}
_USER_TARGET_TOPIC = {
    "GatewayUserOrder": "orders", "GatewayUserPosition": "positions", "GatewayUserTrade": "trades",
}
_CONNECTION_NUMBERS = itertools.count(1)
_MARKET_SUBSCRIPTIONS = {
    "ContractQuotes": "GatewayQuote", "ContractTrades": "GatewayTrade", "ContractMarketDepth": "GatewayDepth",
}


# What the writer logs when a user push goes out: target, account_id, id (+ order_id, status).
PushInfo = dict[str, Any]
# A queued record: its encoded text and, for user pushes, what to log once it is written.
Outgoing = tuple[str, PushInfo | None]


def push_info(event: UserEvent) -> PushInfo:
    """The loggable identity of one user push (built once per event, not per connection)."""
    data = event.data
    info: PushInfo = {"target": event.target, "account_id": event.account_id, "id": data.get("id")}
    if event.target == "GatewayUserOrder":
        info["order_id"] = data.get("id")
        info["status"] = data.get("status")
    elif event.target == "GatewayUserTrade":
        info["order_id"] = data.get("orderId")
    return info


@dataclass(eq=False)
class HubConnection:
    hub: str
    ws: web.WebSocketResponse
    loop_time: Callable[[], float]
    all_accounts: bool = False
    topics: dict[str, set[Any]] = field(default_factory=dict)  # topic -> account ids / contract ids
    last_received: float = 0.0
    queue: asyncio.Queue[Outgoing | None] = field(default_factory=asyncio.Queue)
    closing: bool = False
    writer: asyncio.Task[None] | None = None
    number: int = field(default_factory=lambda: next(_CONNECTION_NUMBERS))  # `conn` in the push log

    def send(self, message: dict[str, Any], push: PushInfo | None = None) -> None:
        if not self.closing:
            self.queue.put_nowait((sp.encode(message), push))

    async def shutdown(self, last_message: dict[str, Any] | None) -> None:
        """Flush what is queued (plus a final Close record), then close the socket."""
        if last_message is not None:
            self.send(last_message)
        if not self.closing:
            self.closing = True
            self.queue.put_nowait(None)
        if self.writer is not None and self.writer is not asyncio.current_task():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self.writer), 2.0)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 2.0)

    def subscribed(self, topic: str, key: Any) -> bool:
        keys = self.topics.get(topic)
        return keys is not None and key in keys


class HubServer:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.connections: dict[str, set[HubConnection]] = {hub: set() for hub in HUBS}
        self._negotiated: dict[str, tuple[str, float]] = {}  # connection token -> (hub, loop time)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/hubs/{hub}/negotiate", self.negotiate),
            web.get("/hubs/{hub}", self.websocket),
        ]

    # ------------------------------------------------------------------ connection set-up

    def _hub_name(self, request: web.Request) -> str:
        hub = request.match_info["hub"].lower()
        if hub not in HUBS:
            raise web.HTTPNotFound(text=f"no hub named {request.match_info['hub']!r}")
        return hub

    def _check_up(self, hub: str) -> None:
        until = self.sim.faults.hub_down_until.get(hub)
        if until is not None and asyncio.get_running_loop().time() < until:
            raise web.HTTPServiceUnavailable(text=f"{hub} hub is down (injected fault)")

    def _check_token(self, request: web.Request) -> None:
        token = request.query.get("access_token")
        header = request.headers.get("Authorization", "")
        if not token and header.lower().startswith("bearer "):
            token = header[7:].strip()
        if self.sim.tokens.verify(token) is None:
            raise web.HTTPUnauthorized()

    async def negotiate(self, request: web.Request) -> web.Response:
        hub = self._hub_name(request)
        self._check_up(hub)
        self._check_token(request)
        try:
            version = int(request.query.get("negotiateVersion", "0"))
        except ValueError:
            version = 0
        connection_id = secrets.token_urlsafe(16)
        body: dict[str, Any] = {"negotiateVersion": 1 if version >= 1 else 0, "connectionId": connection_id}
        if version >= 1:
            # Version 1 clients connect with the separate connectionToken; version 0 with the id.
            body["connectionToken"] = secrets.token_urlsafe(16)
        body["availableTransports"] = [{"transport": "WebSockets", "transferFormats": ["Text", "Binary"]}]
        key = body.get("connectionToken", connection_id)
        self._negotiated[key] = (hub, asyncio.get_running_loop().time())
        self._expire_negotiations()
        return web.json_response(body)

    def _expire_negotiations(self) -> None:
        horizon = asyncio.get_running_loop().time() - 60.0
        for key in [k for k, (_, t) in self._negotiated.items() if t < horizon]:
            del self._negotiated[key]

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        hub = self._hub_name(request)
        connection_key = request.query.get("id")
        if connection_key is not None:
            entry = self._negotiated.pop(connection_key, None)
            if entry is None or entry[0] != hub:
                raise web.HTTPNotFound(text="No Connection with that ID")
        self._check_up(hub)
        self._check_token(request)
        ws = web.WebSocketResponse(autoping=True, max_msg_size=4 * 1024 * 1024)
        if not ws.can_prepare(request).ok:
            raise web.HTTPBadRequest(text="WebSocket upgrade expected")
        await ws.prepare(request)
        loop = asyncio.get_running_loop()
        conn = HubConnection(hub, ws, loop.time, last_received=loop.time())
        conn.writer = asyncio.create_task(self._writer(conn), name=f"sim-{hub}-writer")
        try:
            await self._serve(conn)
        finally:
            self.connections[hub].discard(conn)  # subscriptions die with the connection
            await conn.shutdown(None)
            conn.writer.cancel()
        return ws

    async def _serve(self, conn: HubConnection) -> None:
        decoder = sp.RecordDecoder()
        handshaken = False
        keepalive: asyncio.Task[None] | None = None
        try:
            handshake_deadline = conn.loop_time() + self.sim.config.handshake_timeout
            while True:
                timeout = None if handshaken else max(0.0, handshake_deadline - conn.loop_time())
                try:
                    msg = await conn.ws.receive(timeout=timeout)
                except TimeoutError:
                    return  # handshake never came: drop, as ASP.NET does
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    return
                if msg.type == WSMsgType.BINARY:
                    text = msg.data.decode("utf-8", errors="replace")
                elif msg.type == WSMsgType.TEXT:
                    text = msg.data
                else:
                    continue
                conn.last_received = conn.loop_time()
                try:
                    records = decoder.feed_json(text)
                except sp.ProtocolError as exc:
                    conn.send(sp.close(error=f"Connection closed with an error. {exc}"))
                    return
                for record in records:
                    if not handshaken:
                        error = _handshake_error(record)
                        if error:
                            conn.queue.put_nowait((sp.encode({"error": error}), None))
                            return
                        handshaken = True
                        conn.queue.put_nowait((sp.encode({}), None))
                        self.connections[conn.hub].add(conn)
                        keepalive = asyncio.create_task(self._keepalive(conn), name=f"sim-{conn.hub}-keepalive")
                        continue
                    if not self._on_message(conn, record):
                        return
        finally:
            if keepalive is not None:
                keepalive.cancel()

    async def _writer(self, conn: HubConnection) -> None:
        """One task per connection writes queued records in order, batching what is ready into a frame."""
        while True:
            first = await conn.queue.get()
            if first is None:
                return
            batch = [first]
            done = False
            while not conn.queue.empty():
                item = conn.queue.get_nowait()
                if item is None:
                    done = True
                    break
                batch.append(item)
            texts = [text for text, _ in batch]
            pushes = [push for _, push in batch if push is not None]
            t_ns = time.monotonic_ns() if pushes else 0  # the emit time of every push in this frame
            try:
                await conn.ws.send_str("".join(texts))
            except (ConnectionError, RuntimeError):
                return  # not written: not logged
            if pushes:
                self.sim.log_pushes(t_ns, conn.hub, conn.number, pushes)
            if done:
                return

    async def _keepalive(self, conn: HubConnection) -> None:
        config = self.sim.config
        last_ping = conn.loop_time()
        while not conn.ws.closed:
            await asyncio.sleep(min(0.5, config.ping_interval, config.client_timeout))
            now = conn.loop_time()
            if now - conn.last_received > config.client_timeout:
                self.connections[conn.hub].discard(conn)
                await conn.shutdown(sp.close(error="Server timeout elapsed without receiving a message from the client."))
                return
            if now - last_ping >= config.ping_interval:
                last_ping = now
                conn.send(sp.PING)

    # ------------------------------------------------------------------ hub methods

    def _on_message(self, conn: HubConnection, record: dict[str, Any]) -> bool:
        kind = record.get("type")
        if kind == sp.MessageType.PING or kind == sp.MessageType.COMPLETION:
            return True
        if kind == sp.MessageType.CLOSE:
            return False
        if kind == sp.MessageType.STREAM_INVOCATION:
            # No hub method streams: ASP.NET answers with an error completion (else the caller hangs).
            invocation_id = record.get("invocationId")
            if isinstance(invocation_id, str):
                conn.send(sp.completion(invocation_id, error=_stream_error(conn.hub, record.get("target"))))
            return True
        if kind != sp.MessageType.INVOCATION:
            return True  # StreamItem / CancelInvocation: nothing streams here; ignore like an unknown record
        invocation_id = record.get("invocationId")
        target = record.get("target")
        arguments = record.get("arguments")
        error = None
        if not isinstance(target, str) or not isinstance(arguments, list):
            error = "Invocation needs a string target and an arguments list."
        else:
            method = hub_method(conn.hub, target)
            if method is None:
                error = f"Failed to invoke '{target}': the method does not exist on the {conn.hub} hub."
            else:
                error = (self._user_method if conn.hub == "user" else self._market_method)(conn, method, arguments)
        if isinstance(invocation_id, str):
            conn.send(sp.completion(invocation_id, error=error))
        return True

    def _user_method(self, conn: HubConnection, target: str, arguments: list[Any]) -> str | None:
        for verb in ("Subscribe", "Unsubscribe"):
            if not target.startswith(verb):
                continue
            topic_name = target[len(verb):]
            if topic_name == "Accounts":
                conn.all_accounts = verb == "Subscribe"
                return None
            topic = _USER_SUBSCRIPTIONS.get(topic_name)
            if topic is None:
                break
            if len(arguments) != 1 or not isinstance(arguments[0], int) or isinstance(arguments[0], bool):
                return f"{target} expects one integer account id, got {arguments!r}."
            keys = conn.topics.setdefault(topic, set())
            (keys.add if verb == "Subscribe" else keys.discard)(arguments[0])
            return None
        raise AssertionError(f"unresolved user hub method {target!r}")  # hub_method() resolved it

    def _market_method(self, conn: HubConnection, target: str, arguments: list[Any]) -> str | None:
        for verb in ("Subscribe", "Unsubscribe"):
            if not target.startswith(verb):
                continue
            topic = _MARKET_SUBSCRIPTIONS.get(target[len(verb):])
            if topic is None:
                break
            if len(arguments) != 1 or not isinstance(arguments[0], str):
                return f"{target} expects one contract id string, got {arguments!r}."
            contract_id = arguments[0]
            keys = conn.topics.setdefault(topic, set())
            if verb == "Subscribe":
                keys.add(contract_id)
                self.sim.on_market_subscribe(contract_id)
            else:
                keys.discard(contract_id)
            return None
        raise AssertionError(f"unresolved market hub method {target!r}")  # hub_method() resolved it

    # ------------------------------------------------------------------ pushes

    def broadcast_user(self, events: list[UserEvent]) -> None:
        connections = self.connections["user"]
        faults = self.sim.faults
        for event in events:
            copies = 1
            if faults.duplicate_events > 0:
                faults.duplicate_events -= 1
                copies = 2
            if not connections:
                continue
            message = sp.invocation(event.target, [event.argument()])
            info = push_info(event)
            topic = _USER_TARGET_TOPIC.get(event.target)
            for conn in connections:
                wanted = conn.all_accounts if topic is None else conn.subscribed(topic, event.account_id)
                if wanted:
                    for _ in range(copies):
                        conn.send(message, info)

    def broadcast_market(self, events: list[MarketEvent]) -> None:
        connections = self.connections["market"]
        if not connections:
            return
        for event in events:
            message = sp.invocation(event.target, [event.contract_id, event.payload])
            for conn in connections:
                if conn.subscribed(event.target, event.contract_id):
                    conn.send(message)

    def market_subscriptions(self) -> set[str]:
        return {cid for conn in self.connections["market"] for keys in conn.topics.values() for cid in keys}

    # ------------------------------------------------------------------ faults and shutdown

    async def drop(self, hub: str, *, error: str | None = "Connection closed with an error.") -> int:
        """Close every connection of a hub with a Close record (the client sees an error close)."""
        victims = list(self.connections[hub])
        self.connections[hub].clear()
        record = sp.close(error=error, allow_reconnect=True) if error else sp.close()
        await asyncio.gather(*(conn.shutdown(record) for conn in victims))
        return len(victims)

    async def close_all(self) -> None:
        for hub in HUBS:
            await self.drop(hub, error=None)


def _methods(hub: str) -> dict[str, str]:
    topics = ["Accounts", *_USER_SUBSCRIPTIONS] if hub == "user" else list(_MARKET_SUBSCRIPTIONS)
    return {f"{verb}{topic}".lower(): f"{verb}{topic}" for verb in ("Subscribe", "Unsubscribe") for topic in topics}


# ASP.NET Core resolves hub method names case-insensitively: lower-case name -> canonical name.
_HUB_METHODS = {hub: _methods(hub) for hub in HUBS}


def hub_method(hub: str, target: str) -> str | None:
    """The canonical name of `target` on `hub` (any letter case), or None if there is no such method."""
    return _HUB_METHODS[hub].get(target.lower())


def _stream_error(hub: str, target: Any) -> str:
    if isinstance(target, str) and hub_method(hub, target) is not None:
        return f"The client attempted to invoke the non-streaming '{hub_method(hub, target)}' method with a streaming invocation."
    return f"Failed to invoke '{target}': the method does not exist on the {hub} hub."


def _handshake_error(record: dict[str, Any]) -> str | None:
    if record.get("protocol") != "json":
        return f"The protocol '{record.get('protocol')}' is not supported; only 'json' is."
    if record.get("version") not in (1, "1"):
        return f"The server does not support version {record.get('version')} of the 'json' protocol."
    return None
