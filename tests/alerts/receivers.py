"""Loopback stand-ins for Discord, Telegram and an SMTP server (asyncio streams, no dependency)."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class HttpReceiver:
    """Answers Discord webhook and Telegram sendMessage calls; `plan` scripts the answers."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    #: Each call pops the next (status, json body) from here; empty = success.
    plan: list[tuple[int, Any]] = field(default_factory=list)
    delay: float = 0.0
    gate: asyncio.Event | None = None  # when set, hold every answer until the gate opens
    answered: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    base: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> HttpReceiver:
        app = web.Application()
        app.router.add_post("/api/webhooks/{hook_id}/{token}", self._discord)
        app.router.add_post("/bot{token}/sendMessage", self._telegram)
        app.router.add_post("/apprise/{tail:.*}", self._apprise)  # apprise's json:// and form://
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _answer(self, request: web.Request, kind: str, ok: tuple[int, Any]) -> web.Response:
        if request.content_type == "application/json":
            body = await request.json()
        else:
            body = dict(await request.post())
        self.requests.append({"kind": kind, "path": request.path, "json": body,
                              "headers": dict(request.headers)})
        self.arrived.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        status, payload = self.plan.pop(0) if self.plan else ok
        self.answered += 1
        if payload is None:
            return web.Response(status=status)
        if callable(payload):
            payload = payload(request)
        return web.json_response(payload, status=status)

    async def _discord(self, request: web.Request) -> web.Response:
        return await self._answer(request, "discord", (204, None))

    async def _apprise(self, request: web.Request) -> web.Response:
        return await self._answer(request, "apprise", (200, {"ok": True}))

    async def _telegram(self, request: web.Request) -> web.Response:
        return await self._answer(request, "telegram", (200, {"ok": True, "result": {"message_id": 1}}))


@dataclass
class SmtpReceiver:
    """A minimal ESMTP server: EHLO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    accept_password: str | None = None  # None: no AUTH offered
    received: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    _server: asyncio.Server | None = None

    async def start(self) -> SmtpReceiver:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def say(line: str) -> None:
            writer.write(line.encode() + b"\r\n")

        envelope: dict[str, Any] = {"rcpt": [], "auth": None}
        say("220 loopback ESMTP test")
        try:
            while True:
                raw = await reader.readline()
                if not raw:
                    break
                line = raw.decode().rstrip("\r\n")
                verb = line.split(" ", 1)[0].upper()
                if verb in ("EHLO", "HELO"):
                    lines = ["loopback", "8BITMIME"] + (["AUTH PLAIN"] if self.accept_password else [])
                    for i, text in enumerate(lines):
                        say(f"250{'-' if i < len(lines) - 1 else ' '}{text}")
                elif verb == "AUTH":
                    _, _, rest = line.partition(" ")
                    mech, _, initial = rest.partition(" ")
                    _, user, password = base64.b64decode(initial).decode().split("\0")
                    if mech.upper() == "PLAIN" and password == self.accept_password:
                        envelope["auth"] = user
                        say("235 2.7.0 Authentication successful")
                    else:
                        say("535 5.7.8 Authentication credentials invalid")
                elif verb == "MAIL":
                    envelope["from"] = line.split(":", 1)[1].strip()
                    say("250 OK")
                elif verb == "RCPT":
                    envelope["rcpt"].append(line.split(":", 1)[1].strip())
                    say("250 OK")
                elif verb == "DATA":
                    say("354 End data with <CR><LF>.<CR><LF>")
                    await writer.drain()
                    data = []
                    while (chunk := await reader.readline()) not in (b".\r\n", b""):
                        data.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                    envelope["data"] = b"".join(data).decode()
                    self.messages.append(dict(envelope))
                    envelope = {"rcpt": [], "auth": envelope["auth"]}
                    self.received.set()
                    say("250 OK queued")
                elif verb in ("RSET", "NOOP"):
                    say("250 OK")
                elif verb == "QUIT":
                    say("221 Bye")
                    await writer.drain()
                    break
                else:
                    say("502 Command not implemented")
                await writer.drain()
        finally:
            writer.close()
