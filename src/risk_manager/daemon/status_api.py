"""The daemon's local status API (SPEC §3, docs/status-api.md): aiohttp on 127.0.0.1 only.

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
from collections import deque
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
    transport: asyncio.BaseTransport | None
    sender: asyncio.Task[None] | None = None
    dropped: bool = False


@dataclass
class LoginLimiter:
    """At most `max_failures` failed logins per client within `window_s`; then 429 until they age out."""

    max_failures: int = 5
    window_s: float = 60.0
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def retry_after(self, client: str, now: float) -> float:
        """Seconds the client must wait before trying again (0 = may try now)."""
        failures = self._failures.get(client)
        if not failures:
            return 0.0
        while failures and now - failures[0] >= self.window_s:
            failures.popleft()
        if len(failures) < self.max_failures:
            return 0.0
        return max(0.0, self.window_s - (now - failures[0]))

    def failed(self, client: str, now: float) -> None:
        self._failures.setdefault(client, deque()).append(now)

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)


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
        # One password check at a time: the limiter cannot be raced by parallel guesses, and
        # scrypt's memory/CPU stays bounded whatever a client sends.
        async with self._login_lock:
            return await self._login_once(request)

    async def _login_once(self, request: web.Request) -> web.Response:
        client = _peer(request)
        now = self._clock.monotonic()
        wait = self._limiter.retry_after(client, now)
        if wait > 0:
            self._audit("admin_login_rate_limited", {"client": client, "retry_after_s": round(wait, 1)})
            return web.json_response(
                {"error": f"too many failed logins; try again in {int(wait) + 1} s"},
                status=429,
                headers={"Retry-After": str(int(wait) + 1)},
            )
        body = await _json_body(request)
        if isinstance(body, web.Response):
            return body
        password = body.get("password")
        if not isinstance(password, str) or not password:
            return _error(400, "'password' (a non-empty string) is required")
        if self._password_file is None:
            return _error(503, "admin commands are disabled: no password file configured")
        try:
            ok = await asyncio.to_thread(admin_auth.verify_file, self._password_file, password)
        except admin_auth.PasswordFileError as exc:
            self._audit("admin_login_failed", {"client": client, "why": str(exc)})
            return _error(503, str(exc))
        if not ok:
            self.failed_logins += 1
            self._limiter.failed(client, self._clock.monotonic())
            self._audit("admin_login_failed", {"client": client, "why": "wrong password"})
            return _error(401, "wrong password")
        self._limiter.succeeded(client)
        self._expire_sessions()
        token = secrets.token_urlsafe(32)
        expires_at = self._clock.now() + timedelta(seconds=self._session_ttl_s)
        self._sessions[_digest(token)] = _Session(
            expires_mono=self._clock.monotonic() + self._session_ttl_s, expires_at=expires_at, client=client
        )
        self._audit("admin_login", {"client": client, "expires_at": expires_at.isoformat()})
        return web.json_response({"token": token, "expires_at": expires_at.isoformat()})

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
        body = await _json_body(request)
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
            try:
                until = datetime.fromisoformat(str(until_raw))
            except ValueError:
                return _error(400, f"'until' is not an ISO-8601 time: {until_raw!r}")
            if until.tzinfo is None:
                return _error(400, "'until' needs a timezone offset (e.g. 2026-11-21T16:00:00-06:00)")
            if until <= self._clock.now():
                return _error(400, f"'until' is in the past: {until.isoformat()}")
        reason = body.get("reason") or "manual lock by admin"
        if not isinstance(reason, str):
            return _error(400, "'reason' must be text")
        return await self._admin_call(
            request, "lock",
            self._provider.admin_lock(account_id, until, until_reset, reason.strip(), by),
        )

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
