"""The daemon's local status API (docs/status-api.md): aiohttp on 127.0.0.1 only.

Read-only routes (`/status`, `/events`, `/metrics`) serve the dashboard and `risk-manager status`;
`/admin/*` routes need a session token obtained with the admin password.

The daemon plugs in by implementing :class:`StatusProvider` and calling :meth:`StatusAPI.publish`
for every change worth showing. Publishing never waits on a client: each WebSocket client has its
own bounded queue, and a client that falls behind is disconnected instead of slowing the daemon.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from aiohttp import WSCloseCode, WSMsgType, web

from risk_manager import admin_auth
from risk_manager.clock import Clock, SystemClock
from risk_manager.daemon.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from risk_manager.daemon.metrics import generate_latest, status_api_registry

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "::1")
ALLOWED_HOST_NAMES = ("127.0.0.1", "localhost", "[::1]", "::1")


class AdminRequestError(Exception):
    """Raised by a provider's admin method for a request it refuses (bad account, nothing to unlock…).

    The message goes back to the admin verbatim, with HTTP `status`.
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@runtime_checkable
class StatusProvider(Protocol):
    """What the daemon gives the status API. All methods run on the daemon's event loop.

    - ``status()`` — the `/status` JSON document (docs/status-api.md), built fresh on every call;
      must be cheap (it is polled about once a second per dashboard).
    - ``metrics_text()`` — Prometheus text exposition of the daemon's metrics.
    - ``admin_lock(account_id, until, until_reset, reason, by)`` — lock an account manually.
      `until` is an aware datetime or None; `until_reset` True = until the next daily reset;
      `until is None and not until_reset` = until an admin unlocks it. Returns a JSON-able dict
      (e.g. the lock, shaped like a `locks` entry) or None.
    - ``admin_unlock(account_id, reason, by, rule)`` — clear the account's locks (`rule` None = all,
      else only that rule id, e.g. "R03"); `reason` is never empty. Returns a dict (e.g.
      ``{"cleared": ["R03"]}``) or None.
    - ``apply_pending(by)`` — apply pending looser config changes now.
    - ``reload(by)`` — re-read the config files now (invalid → raise AdminRequestError with why).
    - ``audit(event, detail)`` — append to the durable audit log (login attempts, admin commands).
    - optional ``self_lock(account_id, until, reason, by)`` — the trader's own lock (POST /self/lock,
      no session): until `until` or, when None, the next reset; only tightens. Without it: 501.

    Admin methods raise :class:`AdminRequestError` (message + HTTP status) to refuse a request;
    `by` names who asked (e.g. ``"admin@127.0.0.1"``) for the audit log.
    """

    def status(self) -> dict[str, Any]: ...

    def metrics_text(self) -> str: ...

    async def admin_lock(
        self, account_id: int, until: datetime | None, until_reset: bool, reason: str, by: str
    ) -> dict[str, Any] | None: ...

    async def admin_unlock(
        self, account_id: int, reason: str, by: str, rule: str | None
    ) -> dict[str, Any] | None: ...

    async def apply_pending(self, by: str) -> dict[str, Any] | None: ...

    async def reload(self, by: str) -> dict[str, Any] | None: ...

    def audit(self, event: str, detail: dict[str, Any]) -> None: ...


@dataclass
class _Session:
    expires_mono: float
    expires_at: datetime
    client: str


@dataclass(eq=False)  # identity semantics: clients live in a set
class _EventClient:
    ws: web.WebSocketResponse
    queue: asyncio.Queue[str]
    peer: str
    transport: asyncio.Transport | None
    sender: asyncio.Task[None] | None = None
    dropped: bool = False


@dataclass
class LoginLimiter:
    """Slows password guessing without ever refusing the right password (issue 12 item 6).

    Failures are counted for the whole daemon, not per client: every local process is
    127.0.0.1, so a per-address limit let any of them lock the admin out. After `free_failures`
    failures within `window_s` (each failure extends the window), every wrong answer is held
    back for a delay that doubles with each further failure up to `max_delay_s`; the check
    itself is never refused or delayed, so the right password is accepted at once. A success
    starts over.
    """

    free_failures: int = 3
    window_s: float = 60.0
    base_delay_s: float = 0.5
    max_delay_s: float = 10.0
    _failures: int = 0
    _last_failure: float | None = None

    def failures(self, now: float) -> int:
        """Failures in the current run (0 once `window_s` passed without one)."""
        if self._last_failure is not None and now - self._last_failure >= self.window_s:
            self._failures, self._last_failure = 0, None
        return self._failures

    def failed(self, now: float) -> float:
        """Count a failure; returns how long its answer is held back (seconds)."""
        n = self.failures(now) + 1
        self._failures, self._last_failure = n, now
        over = n - self.free_failures
        return 0.0 if over <= 0 else min(self.max_delay_s, self.base_delay_s * 2 ** (over - 1))

    def succeeded(self) -> None:
        self._failures, self._last_failure = 0, None


@dataclass
class _FailureBurst:
    """Failed logins audited as bursts: the first one of a burst is written at once, the rest
    are counted and written as one row when the burst has been quiet for `quiet_s` (or has
    lasted `quiet_s`), so a flood of wrong passwords costs a few audit rows, not one each."""

    quiet_s: float = 60.0
    started: float | None = None
    last: float = 0.0
    count: int = 0  # failures since the last row written
    whys: dict[str, int] = field(default_factory=dict)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def dumps(doc: Any) -> str:
    return json.dumps(doc, default=_json_default, separators=(",", ":"))


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status, dumps=dumps)


#: How long an admin request may take to send its body (a half-sent body must not hold anything).
BODY_TIMEOUT_S = 5.0


class StatusAPI:
    """HTTP + WebSocket server for the dashboard, `risk-manager status` and the admin CLI."""

    def __init__(
        self,
        provider: StatusProvider,
        *,
        host: str = "127.0.0.1",
        port: int = 8765,
        clock: Clock | None = None,
        password_file: Path | str | None = None,
        session_ttl_s: float = 900.0,
        client_queue_size: int = 1024,
        login_limiter: LoginLimiter | None = None,
        body_timeout_s: float = BODY_TIMEOUT_S,
        audit_burst_s: float = 60.0,
    ) -> None:
        if host == "localhost":
            host = "127.0.0.1"
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"the status API binds to loopback only (127.0.0.1), not {host!r}")
        self._provider = provider
        self._host = host
        self._port = port
        self._clock = clock or SystemClock()
        self._password_file = Path(password_file) if password_file is not None else None
        self._session_ttl_s = session_ttl_s
        self._queue_size = client_queue_size
        self._limiter = login_limiter or LoginLimiter()
        self._body_timeout_s = body_timeout_s
        self._burst = _FailureBurst(quiet_s=audit_burst_s)
        self._burst_flush: asyncio.TimerHandle | None = None
        self._sessions: dict[str, _Session] = {}  # keyed by sha256(token): no raw tokens kept
        self._clients: set[_EventClient] = set()
        self._login_lock = asyncio.Lock()
        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None
        self.dropped_clients = 0
        self.failed_logins = 0
        self._metrics_registry = status_api_registry(self)
        self.published = 0

    # --- lifecycle -----------------------------------------------------------------------
    @property
    def port(self) -> int | None:
        return self._bound_port

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._bound_port}"

    @property
    def bound_addresses(self) -> list[tuple[str, int]]:
        """(host, port) of every listening socket."""
        return [tuple(a[:2]) for a in self._runner.addresses] if self._runner else []

    @property
    def login_limiter(self) -> LoginLimiter:
        return self._limiter

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard_host], client_max_size=64 * 1024)
        app.router.add_get("/status", self._status)
        app.router.add_get("/events", self._events)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_post("/admin/login", self._login)
        app.router.add_post("/admin/logout", self._logout)
        app.router.add_post("/admin/lock", self._lock)
        app.router.add_post("/admin/unlock", self._unlock)
        app.router.add_post("/admin/apply-pending", self._apply_pending)
        app.router.add_post("/admin/reload", self._reload)
        app.router.add_post("/self/lock", self._self_lock)
        return app

    async def start(self) -> int:
        """Bind and serve; returns the actual port (useful with port 0)."""
        if self._runner is not None:
            raise RuntimeError("status API already started")
        runner = web.AppRunner(self.make_app(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port, reuse_address=True)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self._bound_port = runner.addresses[0][1]
        log.info("status API listening on %s", self.url)
        return self._bound_port

    async def stop(self) -> None:
        self._flush_failures()
        for client in list(self._clients):
            self._drop(client, code=WSCloseCode.GOING_AWAY, why="daemon stopping")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- fan-out ------------------------------------------------------------------------
    def publish(self, msg: dict[str, Any]) -> None:
        """Queue `msg` ({"type", "account_id", "ts", "data"}) for every /events client. Never blocks.

        Call from the event loop the API runs on. A client whose queue is full is disconnected.
        """
        if not self._clients:
            return
        try:
            text = dumps(msg)
        except (TypeError, ValueError) as exc:  # a bug upstream must not break the daemon
            log.error("status API: cannot serialise event %r: %s", msg.get("type"), exc)
            return
        self.published += 1
        for client in list(self._clients):
            try:
                client.queue.put_nowait(text)
            except asyncio.QueueFull:
                self._drop(client, code=WSCloseCode.TRY_AGAIN_LATER, why="client too slow")

    def _drop(self, client: _EventClient, *, code: int, why: str) -> None:
        if client.dropped:
            return
        client.dropped = True
        self._clients.discard(client)
        if code == WSCloseCode.TRY_AGAIN_LATER:
            self.dropped_clients += 1
            log.warning("status API: dropped /events client %s (%s)", client.peer, why)
        if client.sender is not None:
            client.sender.cancel()
        # A slow reader cannot take a close frame either: cut the connection outright.
        if client.transport is not None and not client.transport.is_closing():
            client.transport.abort()

    async def _send_loop(self, client: _EventClient) -> None:
        try:
            while True:
                text = await client.queue.get()
                await client.ws.send_str(text)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # connection went away mid-send
            log.debug("status API: /events send to %s failed: %s", client.peer, exc)
            self._drop(client, code=WSCloseCode.GOING_AWAY, why=str(exc))

    # --- middleware ---------------------------------------------------------------------
    @web.middleware
    async def _guard_host(self, request: web.Request, handler: Any) -> web.StreamResponse:
        # Defeats DNS rebinding: a web page cannot reach us under a foreign host name.
        if _host_name(request.host or "") not in ALLOWED_HOST_NAMES:
            return _error(403, f"forbidden host {request.host!r}: the status API is local only")
        if request.path.startswith("/admin/"):
            refused = _refuse_foreign_admin_request(request)
            if refused is not None:
                return refused
        return await handler(request)

    # --- read-only routes ---------------------------------------------------------------
    async def _status(self, request: web.Request) -> web.Response:
        try:
            doc = self._provider.status()
        except Exception as exc:
            log.exception("status API: provider.status() failed")
            return _error(500, f"status unavailable: {exc}")
        return web.json_response(doc, dumps=dumps)

    async def _metrics(self, request: web.Request) -> web.Response:
        try:
            text = self._provider.metrics_text()
        except Exception as exc:
            log.exception("status API: provider.metrics_text() failed")
            text = f"# provider metrics unavailable: {exc}\n"
        if text and not text.endswith("\n"):
            text += "\n"
        # The provider's exposition (the daemon's own registry) followed by the API's series,
        # both rendered by prometheus_client, which also names the content type.
        body = text.encode() + generate_latest(self._metrics_registry)
        return web.Response(body=body, headers={"Content-Type": METRICS_CONTENT_TYPE})

    async def _events(self, request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin and not _is_local_origin(origin):
            # Cross-site WebSocket hijacking: a web page may not read the trader's accounts.
            return _error(403, f"forbidden origin {origin!r}")
        ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=64 * 1024)
        await ws.prepare(request)
        client = _EventClient(
            ws=ws,
            queue=asyncio.Queue(maxsize=self._queue_size),
            peer=_peer(request),
            transport=request.transport,
        )
        client.sender = asyncio.create_task(self._send_loop(client))
        self._clients.add(client)
        try:
            async for msg in ws:  # clients have nothing to say; read only to see the close
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            self._drop(client, code=WSCloseCode.GOING_AWAY, why="client closed")
        return ws

    # --- admin --------------------------------------------------------------------------
    async def _login(self, request: web.Request) -> web.Response:
        # The body is read first, with a deadline and outside the lock: a client that sends half
        # a body must not hold the door shut for everyone else.
        body = await self._json_body(request)
        if isinstance(body, web.Response):
            return body
        password = body.get("password")
        if not isinstance(password, str) or not password:
            return _error(400, "'password' (a non-empty string) is required")
        if self._password_file is None:
            return _error(503, "admin commands are disabled: no password file configured")
        client = _peer(request)
        # One password check at a time: scrypt's memory/CPU stays bounded whatever arrives.
        async with self._login_lock:
            try:
                ok = await asyncio.to_thread(admin_auth.verify_file, self._password_file, password)
            except admin_auth.PasswordFileError as exc:
                self._audit("admin_login_failed", {"client": client, "why": str(exc)})
                return _error(503, str(exc))
            if ok:
                self._limiter.succeeded()
            else:
                delay = self._limiter.failed(self._clock.monotonic())
        if not ok:
            self.failed_logins += 1
            self._failed_login("wrong password")
            if delay > 0:  # held back outside the lock: the next check (the admin's) goes on
                await asyncio.sleep(delay)
            return _error(401, "wrong password")
        self._expire_sessions()
        token = secrets.token_urlsafe(32)
        expires_at = self._clock.now() + timedelta(seconds=self._session_ttl_s)
        self._sessions[_digest(token)] = _Session(
            expires_mono=self._clock.monotonic() + self._session_ttl_s, expires_at=expires_at, client=client
        )
        self._audit("admin_login", {"client": client, "expires_at": expires_at.isoformat()})
        return web.json_response({"token": token, "expires_at": expires_at.isoformat()})

    def _failed_login(self, why: str) -> None:
        burst, now = self._burst, self._clock.monotonic()
        if burst.started is not None and now - burst.last >= burst.quiet_s:
            self._flush_failures()  # the earlier burst ended long ago
        burst.last = now
        if burst.started is None:
            burst.started = now
            self._audit("admin_login_failed", {"why": why})
            self._burst_flush = asyncio.get_running_loop().call_later(burst.quiet_s, self._burst_tick)
            return
        burst.count += 1
        burst.whys[why] = burst.whys.get(why, 0) + 1
        if now - burst.started >= burst.quiet_s:
            self._flush_failures(keep_open=True)  # a long flood still writes a row a minute

    def _burst_tick(self) -> None:
        self._burst_flush = None
        burst = self._burst
        if burst.started is None:
            return
        quiet_for = self._clock.monotonic() - burst.last
        if quiet_for >= burst.quiet_s:
            self._flush_failures()
        else:
            self._burst_flush = asyncio.get_running_loop().call_later(
                burst.quiet_s - quiet_for, self._burst_tick)

    def _flush_failures(self, keep_open: bool = False) -> None:
        """Write the failures counted since the last row as one audit row."""
        burst = self._burst
        if burst.count:
            self._audit("admin_login_failed_burst", {
                "failures": burst.count, "why": dict(burst.whys),
                "over_s": round(burst.last - (burst.started or burst.last), 1)})
        burst.count = 0
        burst.whys = {}
        if keep_open:
            burst.started = burst.last
            return
        burst.started = None
        if self._burst_flush is not None:
            self._burst_flush.cancel()
            self._burst_flush = None

    async def _json_body(self, request: web.Request) -> dict[str, Any] | web.Response:
        """The request's JSON object, read within `body_timeout_s`."""
        try:
            return await asyncio.wait_for(_json_body(request), self._body_timeout_s)
        except TimeoutError:
            response = _error(408, f"request body not received within {self._body_timeout_s:g} s")
            response.force_close()
            # Answer, then close: aiohttp would otherwise linger 10 s reading the rest.
            await response.prepare(request)
            await response.write_eof()
            request.protocol.force_close()
            return response

    def _expire_sessions(self) -> None:
        now = self._clock.monotonic()
        for key in [k for k, s in self._sessions.items() if s.expires_mono <= now]:
            del self._sessions[key]

    def _authorize(self, request: web.Request) -> str | web.Response:
        """`by` (who is asking) for a valid Bearer token, else the 401 response."""
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _error(401, "admin session required: log in with POST /admin/login first")
        self._expire_sessions()
        session = self._sessions.get(_digest(token.strip()))
        if session is None:
            return _error(401, "admin session invalid or expired: log in again")
        return f"admin@{session.client}"

    async def _logout(self, request: web.Request) -> web.Response:
        by = self._authorize(request)
        if isinstance(by, web.Response):
            return by
        token = request.headers["Authorization"].partition(" ")[2].strip()
        self._sessions.pop(_digest(token), None)
        return web.json_response({"ok": True})

    async def _admin_call(self, request: web.Request, command: str, call: Any) -> web.Response:
        try:
            result = await call
        except AdminRequestError as exc:
            self._audit(f"admin_{command}_refused", {"error": str(exc)})
            return _error(exc.status, str(exc))
        except Exception as exc:
            log.exception("status API: admin %s failed", command)
            return _error(500, f"{command} failed: {exc}")
        return web.json_response({"ok": True, "result": result}, dumps=dumps)

    async def _account_request(self, request: web.Request) -> tuple[str, dict[str, Any], int] | web.Response:
        """An admin request about one account: (who, JSON body, account id), or the refusal."""
        by = self._authorize(request)
        if isinstance(by, web.Response):
            return by
        body = await self._json_body(request)
        if isinstance(body, web.Response):
            return body
        account_id = _account_id(body)
        if isinstance(account_id, web.Response):
            return account_id
        return by, body, account_id

    async def _lock(self, request: web.Request) -> web.Response:
        checked = await self._account_request(request)
        if isinstance(checked, web.Response):
            return checked
        by, body, account_id = checked
        until_reset = body.get("until_reset", False)
        if not isinstance(until_reset, bool):
            return _error(400, "'until_reset' must be true or false")
        until_raw = body.get("until")
        until: datetime | None = None
        if until_raw is not None:
            if until_reset:
                return _error(400, "give either 'until' or 'until_reset', not both")
            parsed = self._future_time(until_raw)
            if isinstance(parsed, web.Response):
                return parsed
            until = parsed
        reason = body.get("reason") or "manual lock by admin"
        if not isinstance(reason, str):
            return _error(400, "'reason' must be text")
        return await self._admin_call(
            request, "lock",
            self._provider.admin_lock(account_id, until, until_reset, reason.strip(), by),
        )

    def _future_time(self, raw: Any) -> datetime | web.Response:
        """A lock's 'until': an ISO-8601 time with an offset that lies in the future, else a 400."""
        try:
            until = datetime.fromisoformat(str(raw))
        except ValueError:
            return _error(400, f"'until' is not an ISO-8601 time: {raw!r}")
        if until.tzinfo is None:
            return _error(400, "'until' needs a timezone offset (e.g. 2026-11-21T16:00:00-06:00)")
        if until <= self._clock.now():
            return _error(400, f"'until' is in the past: {until.isoformat()}")
        return until

    async def _unlock(self, request: web.Request) -> web.Response:
        checked = await self._account_request(request)
        if isinstance(checked, web.Response):
            return checked
        by, body, account_id = checked
        reason = body.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            return _error(400, "'reason' is required to unlock (it goes to the audit log)")
        rule = body.get("rule")
        if rule is not None and not isinstance(rule, str):
            return _error(400, "'rule' must be a rule id like 'R03' or null")
        return await self._admin_call(
            request, "unlock", self._provider.admin_unlock(account_id, reason.strip(), by, rule)
        )

    async def _apply_pending(self, request: web.Request) -> web.Response:
        by = self._authorize(request)
        if isinstance(by, web.Response):
            return by
        return await self._admin_call(request, "apply_pending", self._provider.apply_pending(by))

    async def _reload(self, request: web.Request) -> web.Response:
        by = self._authorize(request)
        if isinstance(by, web.Response):
            return by
        return await self._admin_call(request, "reload", self._provider.reload(by))

    # --- trader self-lock ("done for the day": tightening needs no password, docs/rules.md)
    async def _self_lock(self, request: web.Request) -> web.Response:
        """Lock one's own account until the next reset (or `until`), no admin session needed.

        Only tightens: the provider's ``self_lock(account_id, until, reason, by)`` never shortens a
        lock. A JSON content type and a local (or absent) Origin are required so a web page in the
        trader's browser cannot fire it as a simple cross-site form post.
        """
        origin = request.headers.get("Origin")
        if origin and not _is_local_origin(origin):
            return _error(403, f"forbidden origin {origin!r}")
        if request.content_type != "application/json":
            return _error(415, "send the request as JSON (Content-Type: application/json)")
        call = getattr(self._provider, "self_lock", None)
        if call is None:
            return _error(501, "this daemon does not offer the self-lock")
        body = await _json_body(request)
        if isinstance(body, web.Response):
            return body
        account_id = _account_id(body)
        if isinstance(account_id, web.Response):
            return account_id
        until: datetime | None = None
        if body.get("until") is not None:
            parsed = self._future_time(body["until"])
            if isinstance(parsed, web.Response):
                return parsed
            until = parsed
        reason = body.get("reason") or "Done for the day (self-lock by the trader)"
        if not isinstance(reason, str) or not reason.strip():
            return _error(400, "'reason' must be text")
        by = f"trader@{_peer(request)}"
        try:
            result = await call(account_id, until, reason.strip(), by)
        except AdminRequestError as exc:
            self._audit("self_lock_refused", {"account_id": account_id, "by": by, "error": str(exc)})
            return _error(exc.status, str(exc))
        except Exception as exc:
            log.exception("status API: self-lock failed")
            return _error(500, f"self-lock failed: {exc}")
        return web.json_response({"ok": True, "result": result}, dumps=dumps)

    def _audit(self, event: str, detail: dict[str, Any]) -> None:
        try:
            self._provider.audit(event, detail)
        except Exception:  # auditing must not turn a refusal into a crash
            log.exception("status API: audit(%s) failed", event)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _host_name(host_header: str) -> str:
    """The host part of a Host header ("127.0.0.1:8765" -> "127.0.0.1", "[::1]:80" -> "[::1]")."""
    if host_header.startswith("["):
        return host_header.split("]", 1)[0] + "]"
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def _peer(request: web.Request) -> str:
    return request.remote or "unknown"


def _is_local_origin(origin: str) -> bool:
    from urllib.parse import urlsplit

    try:
        host = urlsplit(origin).hostname or ""
    except ValueError:
        return False
    return host in ("127.0.0.1", "localhost", "::1")


def _refuse_foreign_admin_request(request: web.Request) -> web.Response | None:
    """/admin/* is for the local CLI: a web page may not use it (cross-site request forgery).
    A browser names the page in `Origin`; and only a JSON body is accepted, which a page cannot
    send cross-site without a CORS preflight that this API never grants."""
    origin = request.headers.get("Origin")
    if origin is not None and not _is_local_origin(origin):
        return _error(403, f"forbidden origin {origin!r}: admin requests come from the local CLI")
    if (request.method == "POST" and (request.can_read_body or request.path == "/admin/login")
            and request.content_type != "application/json"):
        return _error(415, "admin requests take a JSON body (Content-Type: application/json), "
                           f"not {request.content_type!r}")
    return None


async def _json_body(request: web.Request) -> dict[str, Any] | web.Response:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _error(400, "request body is not valid JSON")
    if not isinstance(body, dict):
        return _error(400, "request body must be a JSON object")
    return body


def _account_id(body: dict[str, Any]) -> int | web.Response:
    value = body.get("account_id")
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.isdigit():
            return int(value)
        return _error(400, "'account_id' (the account's numeric id) is required")
    return value
