"""AlertDispatcher: accepts notifications without ever waiting, delivers them in the background.

Each channel has its own bounded queue and worker task, so a slow SMTP server does not hold up
Discord, and none of them holds up the caller: `send()` only filters, de-duplicates and appends.
When a queue is full the oldest waiting alert is dropped (newer news matters more) and counted.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

import aiohttp
import structlog

from risk_manager.alerts.channels import (
    Channel,
    DeliveryError,
    DiscordSender,
    EmailSender,
    TelegramSender,
)
from risk_manager.alerts.config import SEVERITY_RANK, AlertsConfig, MissingSecret
from risk_manager.alerts.messages import Notification, from_action
from risk_manager.clock import Clock
from risk_manager.engine.actions import Action
from risk_manager.gateway.redact import MASK, redact

_log = structlog.get_logger("risk_manager.alerts")


@dataclass(slots=True)
class ChannelStats:
    sent: int = 0
    failed: int = 0  # gave up after retries, or a permanent error
    retries: int = 0
    dropped: int = 0  # pushed out of a full queue
    last_error: str | None = None


@dataclass(slots=True)
class _Lane:
    channel: Channel
    queue: deque[Notification]
    wakeup: asyncio.Event
    stats: ChannelStats = field(default_factory=ChannelStats)
    task: asyncio.Task[None] | None = None


class AlertDispatcher:
    """Usage (all on the daemon's event loop)::

        dispatcher = AlertDispatcher(accounts_config.alerts, clock)
        await dispatcher.start()
        dispatcher.send_action(action, account_name="PRAC-V2-…")   # never blocks
        await dispatcher.stop()
    """

    def __init__(self, config: AlertsConfig, clock: Clock, *, env: Mapping[str, str] | None = None,
                 channels: list[Channel] | None = None) -> None:
        self.config = config
        self.clock = clock
        self._env = env
        self._given_channels = channels
        self._lanes: list[_Lane] = []
        self._secrets: tuple[str, ...] = ()
        self._session: aiohttp.ClientSession | None = None
        self._last_sent: dict[tuple[object, ...], float] = {}
        self._suppressed: dict[tuple[object, ...], int] = {}
        self.filtered = 0  # event type / severity not wanted
        self.deduped = 0  # identical alert inside dedupe_seconds
        self._running = False

    # --- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        if self._running:
            return
        if self._given_channels is None and self.config.enabled and self.config.resolve_urls(self._env):
            # apprise loads ~200 plugins on import (about a second): not on the event loop.
            import importlib

            await asyncio.to_thread(importlib.import_module, "apprise")
        channels = self._given_channels if self._given_channels is not None else self._build_channels()
        self._secrets = tuple(sorted({s for c in channels for s in c.secrets if s}, key=len, reverse=True))
        self._lanes = [_Lane(c, deque(), asyncio.Event()) for c in channels]
        for lane in self._lanes:
            lane.task = asyncio.create_task(self._worker(lane), name=f"alerts-{lane.channel.name}")
        self._running = True
        if self._lanes:
            _log.info("alerts started", channels=[lane.channel.name for lane in self._lanes])

    async def stop(self, drain_timeout: float = 2.0) -> None:
        """Give queued alerts `drain_timeout` seconds to go out, then cancel the rest."""
        if not self._running:
            return
        self._running = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain_timeout
        while any(lane.queue for lane in self._lanes) and loop.time() < deadline:
            await asyncio.sleep(0.02)
        for lane in self._lanes:
            if lane.task is not None:
                lane.task.cancel()
        await asyncio.gather(*(lane.task for lane in self._lanes if lane.task), return_exceptions=True)
        for lane in self._lanes:
            close = getattr(lane.channel, "close", None)
            if close is not None:
                close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _build_channels(self) -> list[Channel]:
        cfg = self.config
        if not cfg.any_channel:
            return []
        timeout = cfg.timeout_seconds
        out: list[Channel] = []
        needs_http = any(c is not None and c.enabled for c in (cfg.discord, cfg.telegram))
        if needs_http:
            self._session = aiohttp.ClientSession()
        candidates: list[tuple[str, object]] = [("discord", cfg.discord), ("telegram", cfg.telegram),
                                                ("email", cfg.email)]
        for name, sub in candidates:
            if sub is None or not getattr(sub, "enabled", False):
                continue
            try:
                if name == "discord":
                    assert self._session is not None and cfg.discord is not None
                    out.append(DiscordSender(cfg.discord, self._session, timeout, self._env))
                elif name == "telegram":
                    assert self._session is not None and cfg.telegram is not None
                    out.append(TelegramSender(cfg.telegram, self._session, timeout, self._env))
                elif cfg.email is not None:
                    out.append(EmailSender(cfg.email, self._env))
            except MissingSecret as exc:
                # Alerts are optional: a missing secret disables that channel, not the daemon.
                _log.error("alert channel disabled", channel=name, reason=str(exc))
        urls = cfg.resolve_urls(self._env)
        if urls:
            from risk_manager.alerts.apprise_channel import AppriseSender, InvalidAlertURL

            for index, url in enumerate(urls, start=1):
                try:
                    out.append(AppriseSender(url, index, timeout))
                except InvalidAlertURL as exc:  # e.g. a bad URL in `urls_env` (inline ones are validated)
                    _log.error("alert channel disabled", channel=f"apprise-{index}", reason=str(exc))
        return out

    # --- intake (never blocks) -----------------------------------------------------------------
    def send(self, note: Notification) -> bool:
        """Queue `note` for every channel. Returns False if it was filtered out or de-duplicated.

        Must be called from the event loop's thread. Cheap: no I/O, no awaiting.
        """
        cfg = self.config
        if not self._lanes or note.event not in cfg.events or (
            SEVERITY_RANK.get(note.severity, 1) < SEVERITY_RANK[cfg.min_severity]
        ):
            self.filtered += 1
            return False
        key = note.dedupe_key
        now = self.clock.monotonic()
        last = self._last_sent.get(key)
        if last is not None and now - last < cfg.dedupe_seconds:
            self.deduped += 1
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False
        self._last_sent[key] = now
        if len(self._last_sent) > 4096:  # forget keys whose window has passed
            self._last_sent = {k: t for k, t in self._last_sent.items() if now - t < cfg.dedupe_seconds}
        suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            note = replace(note, suppressed=suppressed)
        for lane in self._lanes:
            if len(lane.queue) >= cfg.queue_size:
                lane.queue.popleft()
                lane.stats.dropped += 1
            lane.queue.append(note)
            lane.wakeup.set()
        return True

    def send_action(self, action: Action, account_name: str | None = None,
                    now: datetime | None = None) -> bool:
        """Alert for an engine action (SetLock, ClearLock, Alert, Flatten, …); False if none."""
        note = from_action(action, now or self.clock.now(), account_name)
        return self.send(note) if note is not None else False

    # --- delivery ------------------------------------------------------------------------------
    @property
    def stats(self) -> dict[str, ChannelStats]:
        return {lane.channel.name: lane.stats for lane in self._lanes}

    def pending(self) -> int:
        return sum(len(lane.queue) for lane in self._lanes)

    def scrub(self, text: str) -> str:
        """`text` with every configured secret (and tokens the gateway knows) masked."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return redact(text)

    async def _worker(self, lane: _Lane) -> None:
        while True:
            while not lane.queue:
                lane.wakeup.clear()
                await lane.wakeup.wait()
            note = lane.queue[0]
            await self._deliver(lane, note)
            if lane.queue and lane.queue[0] is note:  # not already pushed out while sending
                lane.queue.popleft()

    async def _deliver(self, lane: _Lane, note: Notification) -> None:
        retry = self.config.retry
        name = lane.channel.name
        for attempt in range(1, retry.attempts + 1):
            try:
                await lane.channel.send(note)
                lane.stats.sent += 1
                _log.debug("alert sent", channel=name, alert=note.event, title=note.title)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a channel bug must not kill its worker
                retryable = exc.retryable if isinstance(exc, DeliveryError) else False
                retry_after = exc.retry_after if isinstance(exc, DeliveryError) else None
                error = self.scrub(str(exc) if isinstance(exc, DeliveryError) else f"{type(exc).__name__}: {exc}")
                lane.stats.last_error = error
                if not retryable or attempt == retry.attempts:
                    lane.stats.failed += 1
                    _log.error("alert not delivered", channel=name, alert=note.event, attempts=attempt,
                               error=error)
                    return
                lane.stats.retries += 1
                delay = min(retry.max_backoff_seconds, retry.backoff_seconds * 2 ** (attempt - 1))
                delay = delay * random.uniform(0.8, 1.2)  # jitter
                if retry_after is not None:
                    delay = max(delay, min(retry_after, retry.max_backoff_seconds))
                _log.warning("alert delivery failed, retrying", channel=name, attempt=attempt,
                             retry_in_s=round(delay, 2), error=error)
                await asyncio.sleep(delay)
