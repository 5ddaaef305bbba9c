"""SignalR hub clients (JSON hub protocol over an aiohttp WebSocket) for the ProjectX user and
market hubs (reference §5–§7).

One `HubClient` keeps one hub connected for as long as it runs:
- connect directly (no negotiate) to ``ws(s)://…/hubs/x?access_token=<token>``, with a token fetched
  from the async `token_provider` on every attempt (``refresh=True`` after a 401 or GatewayLogout);
- handshake, then a reader task queues text frames and the dispatch loop splits them into records
  (several per frame, or split across frames), completes invocations, counts pings, honours close
  messages, decodes events and calls ``on_event(Event)`` synchronously, in wire order;
- quotes are coalesced: everything already received is drained in one batch, partial quotes of the
  same contract are merged (latest value wins per field) and delivered once at the end of the batch,
  so a quote burst costs one delivery per contract and cannot starve the event loop;
- a ping every `ping_interval`; if nothing at all arrives for `server_timeout` seconds (or no data
  for `data_timeout`, when set) the connection is declared dead and replaced;
- reconnect with jittered exponential backoff; the backoff only resets after a connection stayed up
  `stable_after` seconds, and there is always a small floor, so a server that accepts and then drops
  us cannot drive a hot loop;
- hostile input never stops the feed: any exception while decoding or handling one record counts
  it as malformed (logged, throttled) and skips it; a record over `max_record_bytes` (or a frame
  over `max_frame_bytes`) is dropped and counted and the connection recycled; a connection task
  that dies anyway shows the hub as `failed` (logged, counted in `task_failures`). Connections we
  end for what they sent are replaced at once, the first time in a row;
- after every (re)connect the subscriptions are made again before `on_connected` (first time) or
  `on_reconnected` (later times) is called — the daemon reconciles over REST in the latter.

Callbacks may be plain functions or return awaitables (those run as tasks; the hub does not wait).

Events are delivered once a WebSocket frame is decoded (and a batch's coalesced quotes at its
end): to ``on_events(list[Event])`` as one list, so the consumer can journal a frame with one
commit, or else to ``on_event(Event)`` one at a time, in the same order.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import random
import time
import traceback
from dataclasses import asdict, dataclass
from typing import Any
from collections.abc import Awaitable, Callable, Iterable

import aiohttp
from yarl import URL

from risk_manager.clock import Clock, SystemClock
from risk_manager.events import Event, EventKind, Quote
from risk_manager.gateway import decode
from risk_manager.gateway import signalr_protocol as sp
from risk_manager.gateway.redact import get_logger, redact

log = get_logger("risk_manager.gateway.hub")

TokenProvider = Callable[..., Awaitable[str]]
EventCallback = Callable[[Event], Any]
BatchCallback = Callable[[list[Event]], Any]


class HubState(enum.StrEnum):
    IDLE = "idle"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    BACKOFF = "backoff"
    FAILED = "failed"  # a connection task died: replaced at once (see `_task_done`)
    STOPPED = "stopped"


class HubError(Exception):
    pass


class HubDisconnected(HubError):
    """The connection is not up (or went down while an invocation was waiting)."""


class HubInvocationError(HubError):
    """The server completed an invocation with an error."""


class HubHandshakeError(HubError):
    pass


class HubAuthRejected(HubError):
    """The WebSocket upgrade was refused with 401/403: get a fresh token."""


@dataclass
class HubStats:
    connects: int = 0
    reconnects: int = 0
    connect_failures: int = 0
    frames: int = 0
    records: int = 0
    events: int = 0
    malformed: int = 0
    oversized: int = 0  # records/frames over the size limits (also counted in `malformed`)
    task_failures: int = 0
    unknown_targets: int = 0
    depth_ignored: int = 0
    quotes_coalesced: int = 0
    pings_sent: int = 0
    pings_received: int = 0
    completions: int = 0
    closes_received: int = 0
    logouts: int = 0
    callback_errors: int = 0
    subscribe_errors: int = 0


def hub_ws_url(url: str, token: str) -> URL:
    """http(s) → ws(s), plus ``access_token`` in the query (kept out of logs by `redact`)."""
    u = URL(url)
    scheme = {"http": "ws", "https": "wss"}.get(u.scheme, u.scheme)
    if scheme not in ("ws", "wss"):
        raise ValueError(f"hub URL must be http(s) or ws(s): {url!r}")
    return u.with_scheme(scheme).update_query(access_token=token)


class HubClient:
    """A self-healing connection to one SignalR hub. Subclasses say what to subscribe."""

    #: Used in logs and stats.
    name = "hub"

    def __init__(
        self,
        url: str,
        token_provider: TokenProvider,
        *,
        on_event: EventCallback | None = None,
        on_events: BatchCallback | None = None,
        on_connected: Callable[[], Any] | None = None,
        on_disconnected: Callable[[str], Any] | None = None,
        on_reconnected: Callable[[], Any] | None = None,
        clock: Clock | None = None,
        session: aiohttp.ClientSession | None = None,
        ping_interval: float = 10.0,
        server_timeout: float = 30.0,
        data_timeout: float | None = None,
        handshake_timeout: float = 10.0,
        invoke_timeout: float = 10.0,
        backoff_initial: float = 0.25,
        backoff_max: float = 30.0,
        stable_after: float = 10.0,
        max_batch_frames: int = 256,
        frame_queue_size: int = 10_000,
        max_record_bytes: int = sp.DEFAULT_MAX_RECORD,
        max_frame_bytes: int | None = None,
    ) -> None:
        hub_ws_url(url, "x")  # validate the scheme early
        self.url = url
        self._token_provider = token_provider
        params = inspect.signature(token_provider).parameters.values()
        self._provider_takes_refresh = any(
            p.name == "refresh" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params
        )
        self.on_event = on_event
        self.on_events = on_events
        self._outbox: list[Event] = []  # the current frame's events, delivered together
        self.on_connected = on_connected
        self.on_disconnected = on_disconnected
        self.on_reconnected = on_reconnected
        self.clock: Clock = clock or SystemClock()
        self._session = session
        self._own_session = session is None
        self.ping_interval = ping_interval
        self.server_timeout = server_timeout
        self.data_timeout = data_timeout
        self.handshake_timeout = handshake_timeout
        self.invoke_timeout = invoke_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stable_after = stable_after
        self.max_batch_frames = max_batch_frames
        self.frame_queue_size = frame_queue_size
        self.max_record_bytes = max_record_bytes
        #: A frame may batch many records; only an absurd one is refused by the transport.
        self.max_frame_bytes = max_frame_bytes or 16 * max_record_bytes

        self.state = HubState.IDLE
        self.stats = HubStats()
        self.last_disconnect_reason: str | None = None
        self.connected_since: float | None = None
        self.last_message_monotonic: float | None = None
        self.last_data_monotonic: float | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._force_refresh = False
        self._ever_connected = False
        self._connected = asyncio.Event()
        self._end: asyncio.Future[str] | None = None
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._next_invocation = 0
        self._callback_tasks: set[asyncio.Task[Any]] = set()
        self._unknown_logged: set[str] = set()
        self._decoder = sp.RecordDecoder(max_record_bytes)
        #: Set when we end a connection for what it sent (or a task of it died): reconnect at once.
        self._recycle_now = False

    # -- what to subscribe (subclasses) ------------------------------------------------------
    def subscriptions(self) -> list[tuple[str, list[Any]]]:
        return []

    # -- lifecycle --------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.state is HubState.CONNECTED

    async def start(self) -> None:
        """Start connecting in the background (returns at once; see `wait_connected`)."""
        if self._task is not None and not self._task.done():
            return
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"{self.name}-hub")

    async def wait_connected(self, timeout: float | None = None) -> bool:
        """True once connected and subscribed (False on timeout)."""
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
            return True
        except TimeoutError:
            return False

    async def stop(self) -> None:
        self._stopping = True
        self._finish("stopped by the client")
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for task in list(self._callback_tasks):
            task.cancel()
        self.state = HubState.STOPPED
        self._connected.clear()
        if self._own_session and self._session is not None and not self._session.closed:
            await self._session.close()

    async def reconnect(self, reason: str = "reconnect requested") -> None:
        """Drop the current connection; the run loop connects again (fresh token, resubscribe)."""
        self._finish(reason)

    def snapshot(self) -> dict[str, Any]:
        """State and counters for the status API."""
        now = time.monotonic()
        return {
            "name": self.name,
            "state": self.state.value,
            "connected_for_s": None if self.connected_since is None else round(now - self.connected_since, 3),
            "last_message_age_s": None
            if self.last_message_monotonic is None
            else round(now - self.last_message_monotonic, 3),
            "last_data_age_s": None
            if self.last_data_monotonic is None
            else round(now - self.last_data_monotonic, 3),
            "last_disconnect_reason": self.last_disconnect_reason,
            **asdict(self.stats),
        }

    # -- invocations ------------------------------------------------------------------------------
    async def invoke(self, target: str, *args: Any, timeout: float | None = None) -> Any:
        """Invoke a hub method and wait for its completion (result, or HubInvocationError)."""
        ws = self._ws
        if ws is None or ws.closed:
            raise HubDisconnected(f"{self.name} hub is not connected")
        self._next_invocation += 1
        invocation_id = str(self._next_invocation)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[invocation_id] = future
        try:
            await ws.send_str(sp.encode(sp.invocation(target, list(args), invocation_id)))
            return await asyncio.wait_for(future, timeout or self.invoke_timeout)
        except (ConnectionError, aiohttp.ClientError) as exc:
            raise HubDisconnected(f"{self.name} hub: send failed: {exc}") from None
        finally:
            self._pending.pop(invocation_id, None)

    async def send(self, target: str, *args: Any) -> None:
        """Fire-and-forget invocation (no completion)."""
        ws = self._ws
        if ws is None or ws.closed:
            raise HubDisconnected(f"{self.name} hub is not connected")
        await ws.send_str(sp.encode(sp.invocation(target, list(args))))

    # -- run loop ---------------------------------------------------------------------------------
    async def _token(self) -> str:
        refresh, self._force_refresh = self._force_refresh, False
        if refresh and self._provider_takes_refresh:
            return await self._token_provider(refresh=True)
        return await self._token_provider()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        return self._session

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            self.state = HubState.CONNECTING
            reason = "unknown"
            try:
                token = await self._token()
                ws, leftover = await self._open(token)
                self._ws = ws
                reason = await self._serve(ws, leftover)
            except asyncio.CancelledError:
                raise
            except HubAuthRejected as exc:
                self._force_refresh = True
                reason = str(exc)
            except Exception as exc:  # any failure means: try again later
                reason = f"{type(exc).__name__}: {redact(str(exc))}"
            finally:
                await self._teardown(reason)
            recycle, self._recycle_now = self._recycle_now, False
            if self._stopping:
                self.state = HubState.STOPPED
            elif self.state is not HubState.FAILED:
                self.state = HubState.BACKOFF
            up_for = 0.0
            if self.connected_since is not None:
                up_for = time.monotonic() - self.connected_since
            if self.connected_since is not None:
                self.last_disconnect_reason = reason
                self._fire(self.on_disconnected, reason)
                (log.info if self._stopping else log.warning)(
                    "hub disconnected", hub=self.name, reason=reason, up_for_s=round(up_for, 3)
                )
            else:
                self.stats.connect_failures += 1
                log.warning("hub connect failed", hub=self.name, reason=reason)
            self._connected.clear()
            self.connected_since = None
            if self._stopping:
                break
            # Hot-loop guard: only a connection that stayed up resets the backoff.
            failures = 0 if up_for >= self.stable_after else failures + 1
            # A recycled connection is replaced at once unless the previous one was too (a peer
            # that keeps sending garbage gets the ordinary backoff).
            await asyncio.sleep(0 if recycle and failures <= 1 else self._delay(failures))
        self.state = HubState.STOPPED

    def _delay(self, failures: int) -> float:
        ceiling = min(self.backoff_max, self.backoff_initial * (2 ** min(failures, 30)))
        return max(self.backoff_initial / 2, ceiling * random.uniform(0.5, 1.0))

    async def _open(self, token: str) -> tuple[aiohttp.ClientWebSocketResponse, list[tuple[str, int, Any]]]:
        url = hub_ws_url(self.url, token)
        log.debug("hub connecting", hub=self.name, url=str(url))  # token redacted by the logger
        try:
            async with asyncio.timeout(self.handshake_timeout):
                ws = await self._http().ws_connect(
                    url, autoping=True, heartbeat=None, max_msg_size=self.max_frame_bytes,
                    timeout=aiohttp.ClientWSTimeout(ws_close=2.0),
                )
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status in (401, 403):
                raise HubAuthRejected(f"{self.name} hub refused the token (HTTP {exc.status})") from None
            raise HubError(f"{self.name} hub upgrade failed: HTTP {exc.status}") from None
        try:
            await ws.send_str(sp.encode(sp.HANDSHAKE_REQUEST))
            self._decoder = sp.RecordDecoder(self.max_record_bytes)
            async with asyncio.timeout(self.handshake_timeout):
                while True:
                    msg = await ws.receive()
                    if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                        raise HubHandshakeError(f"{self.name} hub closed during the handshake ({msg.type.name})")
                    text = msg.data if isinstance(msg.data, str) else msg.data.decode("utf-8", "replace")
                    records = self._decoder.feed(text)
                    if records:
                        break
            reply = sp.parse(records[0])
            if reply.get("error"):
                raise HubHandshakeError(f"{self.name} hub handshake refused: {reply['error']}")
        except BaseException:
            await ws.close()
            raise
        self.last_message_monotonic = time.monotonic()
        # Records that arrived in the same frame as the handshake reply are dispatched first.
        leftover = [(raw, time.monotonic_ns(), self.clock.now()) for raw in records[1:]]
        return ws, leftover

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse, leftover: list[tuple[str, int, Any]]) -> str:
        loop = asyncio.get_running_loop()
        self._end = loop.create_future()
        queue: asyncio.Queue[tuple[str, int, Any] | None] = asyncio.Queue(self.frame_queue_size)
        self.last_data_monotonic = time.monotonic()
        tasks = [
            asyncio.create_task(self._read(ws, queue), name=f"{self.name}-read"),
            asyncio.create_task(self._dispatch(queue, leftover), name=f"{self.name}-dispatch"),
            asyncio.create_task(self._ping(ws), name=f"{self.name}-ping"),
            asyncio.create_task(self._watch(), name=f"{self.name}-watch"),
        ]
        for task in tasks:
            task.add_done_callback(self._task_done)
        try:
            if not await self._subscribe_all():
                self._finish("subscribing failed")
            if not self._end.done():
                self.state = HubState.CONNECTED
                self.connected_since = time.monotonic()
                self.stats.connects += 1
                self._connected.set()
                if self._ever_connected:
                    self.stats.reconnects += 1
                    log.info("hub reconnected", hub=self.name)
                    self._fire(self.on_reconnected)
                else:
                    self._ever_connected = True
                    log.info("hub connected", hub=self.name)
                    self._fire(self.on_connected)
            return await self._end
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _teardown(self, reason: str) -> None:
        ws, self._ws = self._ws, None
        if ws is not None and not ws.closed:
            try:
                await asyncio.wait_for(ws.close(), 2.0)
            except (TimeoutError, aiohttp.ClientError, ConnectionError):
                pass
        for future in self._pending.values():
            if not future.done():
                future.set_exception(HubDisconnected(f"{self.name} hub disconnected: {reason}"))
        self._pending.clear()

    def _finish(self, reason: str) -> None:
        if self._end is not None and not self._end.done():
            self._end.set_result(reason)

    def _recycle(self, reason: str) -> None:
        """End this connection because of what it sent; the next one is made at once."""
        if self._end is not None and not self._end.done():
            self._recycle_now = True
            self._finish(reason)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        """A connection task that dies must not leave the hub 'connected' but deaf (its death
        would only surface at the next server timeout): show it, and replace the connection."""
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        self.stats.task_failures += 1
        log.error("hub task failed: replacing the connection", hub=self.name, task=task.get_name(),
                  error=f"{type(exc).__name__}: {exc}",
                  traceback="".join(traceback.format_exception(exc))[-2000:])
        if self._end is not None and not self._end.done():
            self.state = HubState.FAILED
            self._recycle(f"{task.get_name()} task failed: {type(exc).__name__}: {redact(str(exc))}")

    async def _subscribe_all(self) -> bool:
        subs = self.subscriptions()
        if not subs:
            return True
        results = await asyncio.gather(*(self.invoke(t, *a) for t, a in subs), return_exceptions=True)
        ok = True
        for (target, args), result in zip(subs, results):
            if isinstance(result, HubInvocationError):
                self.stats.subscribe_errors += 1
                log.error("hub subscription refused", hub=self.name, target=target, args=args, error=str(result))
            elif isinstance(result, BaseException):
                self.stats.subscribe_errors += 1
                log.warning("hub subscription got no answer", hub=self.name, target=target, error=repr(result))
                ok = False
        return ok

    async def _subscribe(self, calls: Iterable[tuple[str, list[Any]]]) -> None:
        """Invoke (un)subscriptions on the live connection; failures are logged, not raised."""
        if not self.connected:
            return  # the next connect subscribes from the current sets
        calls = list(calls)
        results = await asyncio.gather(*(self.invoke(t, *a) for t, a in calls), return_exceptions=True)
        for (target, args), result in zip(calls, results):
            if isinstance(result, BaseException):
                self.stats.subscribe_errors += 1
                log.warning("hub (un)subscribe failed", hub=self.name, target=target, args=args, error=repr(result))

    # -- connection tasks ---------------------------------------------------------------------------
    async def _read(self, ws: aiohttp.ClientWebSocketResponse, queue: asyncio.Queue) -> None:
        now = self.clock.now
        try:
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    await queue.put((msg.data, time.monotonic_ns(), now()))
                elif msg.type is aiohttp.WSMsgType.BINARY:
                    await queue.put((msg.data.decode("utf-8", "replace"), time.monotonic_ns(), now()))
                elif msg.type is aiohttp.WSMsgType.ERROR:
                    exc = msg.data  # the exception the reader saw
                    if isinstance(exc, aiohttp.WebSocketError) and exc.code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG:
                        self.stats.oversized += 1
                        self._malformed(f"frame over {self.max_frame_bytes} bytes", "")
                        self._recycle(f"frame over {self.max_frame_bytes} bytes: connection recycled")
                    else:
                        self._finish(f"websocket error: {type(exc).__name__}: {exc}")
                    break
        finally:
            await queue.put(None)

    async def _dispatch(self, queue: asyncio.Queue, leftover: list[tuple[str, int, Any]]) -> None:
        quotes: dict[str, tuple[Quote, int, Any]] = {}
        for raw, rns, rat in leftover:
            self.stats.records += 1
            self._handle_record(raw, rns, rat, quotes)
        self._deliver_outbox()
        self._deliver_quotes(quotes)
        decoder = self._decoder
        stats = self.stats
        while True:
            item = await queue.get()
            batch = [item]
            while len(batch) < self.max_batch_frames and not queue.empty():
                batch.append(queue.get_nowait())
            closed = False
            for item in batch:
                if item is None:
                    closed = True
                    break
                text, rns, rat = item
                stats.frames += 1
                try:
                    records = decoder.feed(text)
                except sp.RecordTooLarge as exc:
                    # The framing of this stream can no longer be trusted: keep what was whole,
                    # then start over on a fresh connection (and reconcile).
                    stats.oversized += 1
                    self._malformed(str(exc), text[:300])
                    for raw in exc.records:
                        stats.records += 1
                        self._handle_record(raw, rns, rat, quotes)
                    self._deliver_outbox()
                    self._deliver_quotes(quotes)
                    self._recycle(f"{exc}: connection recycled")
                    return
                for raw in records:
                    stats.records += 1
                    self._handle_record(raw, rns, rat, quotes)
                self._deliver_outbox()
            self.last_message_monotonic = time.monotonic()
            if quotes:
                self._deliver_quotes(quotes)
            if closed:
                self._finish("connection closed by the server")
                return
            if not queue.empty():
                await asyncio.sleep(0)  # a burst must not starve the rest of the program

    def _handle_record(self, raw: str, rns: int, rat: Any, quotes: dict[str, tuple[Quote, int, Any]]) -> None:
        """One record; whatever it makes go wrong is this record's problem, never the feed's."""
        try:
            self._handle_one(raw, rns, rat, quotes)
        except Exception as exc:
            self._malformed(f"{type(exc).__name__}: {exc}", raw)

    def _handle_one(self, raw: str, rns: int, rat: Any, quotes: dict[str, tuple[Quote, int, Any]]) -> None:
        try:
            msg = sp.parse(raw)
        except sp.ProtocolError as exc:
            self._malformed(str(exc), raw)
            return
        mtype = msg.get("type")
        if mtype == 1:
            self._handle_invocation(msg, rns, rat, quotes)
        elif mtype == 6:
            self.stats.pings_received += 1
        elif mtype == 3:
            self.stats.completions += 1
            future = self._pending.get(str(msg.get("invocationId")))
            if future is not None and not future.done():
                if msg.get("error") is not None:
                    future.set_exception(HubInvocationError(str(msg["error"])))
                else:
                    future.set_result(msg.get("result"))
        elif mtype == 7:
            self.stats.closes_received += 1
            error = msg.get("error")
            log.warning("hub close message", hub=self.name, error=error, allow_reconnect=msg.get("allowReconnect"))
            self._finish(f"server sent close: {error or 'no error'}")
        # types 2, 4, 5 (streaming) are not used by these hubs

    def _handle_invocation(self, msg: dict[str, Any], rns: int, rat: Any, quotes: dict[str, tuple[Quote, int, Any]]) -> None:
        target = msg.get("target")
        arguments = msg.get("arguments")
        if target == "GatewayQuote":
            self.last_data_monotonic = time.monotonic()
            try:
                cid, data = decode.market_arguments(target, arguments)
                quote = decode.parse_quote(cid, data)
            except decode.DecodeError as exc:
                self._malformed(str(exc), msg)
                return
            held = quotes.get(quote.contract_id)
            if held is not None:
                quote = decode.merge_quote(held[0], quote)
                self.stats.quotes_coalesced += 1
            quotes[quote.contract_id] = (quote, rns, rat)
            return
        if target == "GatewayLogout":
            self.stats.logouts += 1
            log.warning("hub received GatewayLogout: reconnecting with a fresh login", hub=self.name)
            self._force_refresh = True
            self._finish("GatewayLogout")
            return
        if not isinstance(target, str):
            self._malformed("invocation without a target", msg)
            return
        try:
            events = decode.decode_invocation(target, arguments, received_ns=rns, received_at=rat)
        except decode.DecodeError as exc:
            self._malformed(str(exc), msg)
            events = exc.events
        if events is None:
            self.stats.unknown_targets += 1
            if target not in self._unknown_logged:
                self._unknown_logged.add(target)
                log.warning("hub invocation with an unknown target ignored", hub=self.name, target=target)
            return
        self.last_data_monotonic = time.monotonic()
        if not events and target in decode.IGNORED_TARGETS:
            self.stats.depth_ignored += 1
            return
        for event in events:
            self._emit(event)

    def _deliver_quotes(self, quotes: dict[str, tuple[Quote, int, Any]]) -> None:
        for quote, rns, rat in quotes.values():
            self._emit(Event(EventKind.QUOTE, quote, None, quote.contract_id, None, "stream", rns, rat))
        quotes.clear()
        self._deliver_outbox()

    def _deliver_outbox(self) -> None:
        """Hand the collected events over: to `on_events` as one batch, else to `on_event` one
        at a time (nothing when empty). A consumer bug must not kill the feed."""
        if not self._outbox:
            return
        batch, self._outbox = self._outbox, []
        if self.on_events is not None:
            self._call_consumer(self.on_events, batch)
        elif self.on_event is not None:
            for event in batch:
                self._call_consumer(self.on_event, event)

    def _call_consumer(self, callback: Callable[[Any], Any], arg: Any) -> None:
        try:
            callback(arg)
        except Exception as exc:
            self.stats.callback_errors += 1
            log.error("event callback failed", hub=self.name, error=f"{type(exc).__name__}: {exc}")

    def _emit(self, event: Event) -> None:
        self.stats.events += 1
        self._outbox.append(event)

    def _malformed(self, problem: str, payload: Any) -> None:
        self.stats.malformed += 1
        # Log the first few in full, then one in a hundred, so a bad stream cannot flood the log.
        if self.stats.malformed <= 20 or self.stats.malformed % 100 == 0:
            log.warning(
                "hub payload skipped", hub=self.name, problem=problem[:300],
                payload=_preview(payload), malformed_total=self.stats.malformed,
            )

    async def _ping(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        ping = sp.encode(sp.PING)
        while True:
            await asyncio.sleep(self.ping_interval)
            try:
                await ws.send_str(ping)
                self.stats.pings_sent += 1
            except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
                self._finish(f"ping failed: {exc}")
                return

    async def _watch(self) -> None:
        tick = max(0.05, min(1.0, self.server_timeout / 4))
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            last = self.last_message_monotonic or now
            if now - last > self.server_timeout:
                self._finish(f"server timeout: nothing received for {now - last:.1f} s")
                return
            if (
                self.data_timeout is not None
                and self.last_data_monotonic is not None
                and now - self.last_data_monotonic > self.data_timeout
            ):
                self._finish(f"stale feed: no data for {now - self.last_data_monotonic:.1f} s")
                return

    def _fire(self, callback: Callable[..., Any] | None, *args: Any) -> None:
        if callback is None:
            return
        try:
            result = callback(*args)
        except Exception as exc:
            self.stats.callback_errors += 1
            log.error("hub callback failed", hub=self.name, error=f"{type(exc).__name__}: {exc}")
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._callback_tasks.add(task)
            task.add_done_callback(self._callback_done)

    def _callback_done(self, task: asyncio.Task[Any]) -> None:
        self._callback_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.stats.callback_errors += 1
            exc = task.exception()
            log.error("hub callback failed", hub=self.name, error=f"{type(exc).__name__}: {exc}")


def _preview(payload: Any, limit: int = 300) -> str:
    """A short repr for the log, safe on anything a record decoded to (a huge string is cut
    before repr; a deeply nested value may be too deep to repr at all)."""
    if isinstance(payload, str):
        return repr(payload[:limit])
    try:
        return repr(payload)[:limit]
    except Exception as exc:  # RecursionError, or a repr that fails
        return f"<{type(payload).__name__}: {type(exc).__name__}>"


class UserHub(HubClient):
    """The user hub: accounts (all of the login) plus orders/positions/trades per account."""

    name = "user"

    def __init__(self, url: str, token_provider: TokenProvider, *, account_ids: Iterable[int] = (), **kw: Any) -> None:
        super().__init__(url, token_provider, **kw)
        self._accounts: set[int] = set(account_ids)

    @property
    def account_ids(self) -> frozenset[int]:
        return frozenset(self._accounts)

    def subscriptions(self) -> list[tuple[str, list[Any]]]:
        subs: list[tuple[str, list[Any]]] = [("SubscribeAccounts", [])]
        for account_id in sorted(self._accounts):
            subs += [
                ("SubscribeOrders", [account_id]),
                ("SubscribePositions", [account_id]),
                ("SubscribeTrades", [account_id]),
            ]
        return subs

    async def set_accounts(self, account_ids: Iterable[int]) -> None:
        """Watch exactly these accounts from now on (and after every reconnect)."""
        new = set(account_ids)
        added, removed = new - self._accounts, self._accounts - new
        self._accounts = new
        calls = [(f"Subscribe{k}", [a]) for a in sorted(added) for k in ("Orders", "Positions", "Trades")]
        calls += [(f"Unsubscribe{k}", [a]) for a in sorted(removed) for k in ("Orders", "Positions", "Trades")]
        await self._subscribe(calls)


class MarketHub(HubClient):
    """The market hub: quotes (and optionally prints) per contract, changeable at runtime."""

    name = "market"

    def __init__(
        self,
        url: str,
        token_provider: TokenProvider,
        *,
        contract_ids: Iterable[str] = (),
        subscribe_trades: bool = False,
        **kw: Any,
    ) -> None:
        super().__init__(url, token_provider, **kw)
        self._contracts: set[str] = set(contract_ids)
        self.subscribe_trades = subscribe_trades

    @property
    def contract_ids(self) -> frozenset[str]:
        return frozenset(self._contracts)

    def _calls(self, verb: str, contracts: Iterable[str]) -> list[tuple[str, list[Any]]]:
        kinds = ("Quotes", "Trades") if self.subscribe_trades else ("Quotes",)
        return [(f"{verb}Contract{k}", [c]) for c in sorted(contracts) for k in kinds]

    def subscriptions(self) -> list[tuple[str, list[Any]]]:
        return self._calls("Subscribe", self._contracts)

    async def add_contracts(self, contract_ids: Iterable[str]) -> None:
        added = set(contract_ids) - self._contracts
        self._contracts |= added
        await self._subscribe(self._calls("Subscribe", added))

    async def remove_contracts(self, contract_ids: Iterable[str]) -> None:
        removed = set(contract_ids) & self._contracts
        self._contracts -= removed
        await self._subscribe(self._calls("Unsubscribe", removed))
