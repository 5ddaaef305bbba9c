"""What the daemon says about itself: its /events WebSocket (lock_set, enforcement, …) collected.

The demo reads the daemon's own account of every enforcement (rule, action, reason, outcome) and
every lock from here, the same stream the dashboard shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import aiohttp


class EventFeed:
    def __init__(self, status_url: str) -> None:
        self.url = status_url.rstrip("/")
        self.messages: list[dict[str, Any]] = []
        self.connected = asyncio.Event()
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None

    async def start(self, timeout: float = 5.0) -> None:
        self._http = aiohttp.ClientSession()
        self._task = asyncio.ensure_future(self._run())
        await asyncio.wait_for(self.connected.wait(), timeout)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._http is not None:
            await self._http.close()

    async def _run(self) -> None:
        assert self._http is not None
        while True:
            try:
                async with self._http.ws_connect(f"{self.url}/events") as ws:
                    self.connected.set()
                    async for msg in ws:
                        if msg.type == aiohttp.WSMsgType.TEXT:
                            await self._add(msg.data)
            except (TimeoutError, aiohttp.ClientError, OSError):
                pass
            await asyncio.sleep(0.2)  # the daemon is still starting or went away: retry

    async def _add(self, text: str) -> None:
        try:
            msg = json.loads(text)
        except json.JSONDecodeError:
            return
        if not isinstance(msg, dict) or msg.get("type") == "quote":
            return
        async with self._changed:
            self.messages.append(msg)
            self._changed.notify_all()

    def mark(self) -> int:
        """A position in the stream; `since(mark)` returns what arrived after it."""
        return len(self.messages)

    def since(self, mark: int, type_: str | None = None) -> list[dict[str, Any]]:
        return [m for m in self.messages[mark:] if type_ is None or m.get("type") == type_]

    async def wait(self, predicate: Callable[[dict[str, Any]], bool], mark: int,
                   timeout: float) -> dict[str, Any] | None:
        """The first message after `mark` that satisfies `predicate`, or None after `timeout` s."""
        async def first() -> dict[str, Any]:
            async with self._changed:
                while True:
                    for msg in self.messages[mark:]:
                        if predicate(msg):
                            return msg
                    await self._changed.wait()

        try:
            return await asyncio.wait_for(first(), timeout)
        except TimeoutError:
            return None
