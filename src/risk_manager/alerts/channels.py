"""Delivery to one service each. `send` raises `DeliveryError` saying whether a retry can help."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Protocol

import aiohttp

from risk_manager.alerts.config import DiscordChannel, EmailChannel, TelegramChannel
from risk_manager.alerts.messages import Notification

DISCORD_MAX = 2000  # characters per message
TELEGRAM_MAX = 4096


class DeliveryError(Exception):
    def __init__(self, message: str, retryable: bool = True, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class Channel(Protocol):
    name: str
    #: Values that must never appear in a log line (webhook URL, token, password).
    secrets: tuple[str, ...]

    async def send(self, note: Notification) -> None: ...


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\N{HORIZONTAL ELLIPSIS}"


async def _post_json(
    session: aiohttp.ClientSession, url: str, payload: Mapping[str, Any], timeout: float
) -> tuple[int, Any]:
    try:
        async with session.post(url, json=payload, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            try:
                body: Any = await resp.json(content_type=None)
            except (ValueError, aiohttp.ContentTypeError):
                body = None
            return resp.status, body
    except TimeoutError as exc:
        raise DeliveryError(f"no answer within {timeout:g} s") from exc
    except aiohttp.ClientError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc


def _http_error(service: str, status: int, body: Any, retry_after: float | None) -> DeliveryError:
    # 429 and 5xx are worth retrying; other 4xx mean bad URL/token/chat and will not heal.
    retryable = status == 429 or status >= 500
    detail = body.get("description") or body.get("message") if isinstance(body, dict) else None
    return DeliveryError(f"{service} answered HTTP {status}" + (f": {detail}" if detail else ""),
                         retryable=retryable, retry_after=retry_after)


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class DiscordSender:
    name = "discord"

    def __init__(self, cfg: DiscordChannel, session: aiohttp.ClientSession, timeout: float,
                 env: Mapping[str, str] | None = None) -> None:
        self._url = cfg.resolve_webhook(env)
        self._username = cfg.username
        self._session = session
        self._timeout = timeout
        # The whole URL and its token path segment are secret.
        self.secrets: tuple[str, ...] = (self._url, self._url.rstrip("/").rsplit("/", 1)[-1])

    async def send(self, note: Notification) -> None:
        payload = {"content": _clip(note.text(), DISCORD_MAX), "username": self._username,
                   "allowed_mentions": {"parse": []}}
        status, body = await _post_json(self._session, self._url, payload, self._timeout)
        if 200 <= status < 300:
            return
        retry_after = _float(body.get("retry_after")) if isinstance(body, dict) else None
        raise _http_error("Discord", status, body, retry_after)


class TelegramSender:
    name = "telegram"

    def __init__(self, cfg: TelegramChannel, session: aiohttp.ClientSession, timeout: float,
                 env: Mapping[str, str] | None = None) -> None:
        token = cfg.resolve_token(env)
        self._url = f"{cfg.api_base.rstrip('/')}/bot{token}/sendMessage"
        self._chat_id = cfg.chat_id
        self._session = session
        self._timeout = timeout
        self.secrets: tuple[str, ...] = (token,)

    async def send(self, note: Notification) -> None:
        payload = {"chat_id": self._chat_id, "text": _clip(note.text(), TELEGRAM_MAX),
                   "disable_web_page_preview": True}
        status, body = await _post_json(self._session, self._url, payload, self._timeout)
        if 200 <= status < 300 and isinstance(body, dict) and body.get("ok") is True:
            return
        retry_after = None
        if isinstance(body, dict) and isinstance(body.get("parameters"), dict):
            retry_after = _float(body["parameters"].get("retry_after"))
        if 200 <= status < 300:  # 200 without ok=true: not the Bot API we expected
            raise DeliveryError(f"Telegram answered without ok=true: {str(body)[:200]}", retryable=False)
        raise _http_error("Telegram", status, body, retry_after)


class EmailSender:
    """SMTP with the standard library, run in a worker thread so the event loop never blocks."""

    name = "email"

    def __init__(self, cfg: EmailChannel, env: Mapping[str, str] | None = None) -> None:
        self._cfg = cfg
        self._password = cfg.resolve_password(env)
        self.secrets: tuple[str, ...] = (self._password,) if self._password else ()

    def build(self, note: Notification) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = f"{self._cfg.subject_prefix} {note.title}".strip()
        msg["From"] = self._cfg.from_addr
        msg["To"] = ", ".join(self._cfg.to)
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain="risk-manager.local")
        msg.set_content(note.text())
        return msg

    async def send(self, note: Notification) -> None:
        await asyncio.to_thread(self._send_blocking, self.build(note))

    def _send_blocking(self, msg: EmailMessage) -> None:
        cfg = self._cfg
        try:
            smtp: smtplib.SMTP
            if cfg.ssl:
                smtp = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout_seconds,
                                        context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_seconds)
            with smtp:
                smtp.ehlo()
                if cfg.starttls:
                    if not smtp.has_extn("starttls"):
                        raise DeliveryError(f"{cfg.host}:{cfg.port} does not offer STARTTLS "
                                            "(set `starttls: false` only for a trusted local relay)",
                                            retryable=False)
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if cfg.username and self._password is not None:
                    smtp.login(cfg.username, self._password)
                smtp.send_message(msg)
        except DeliveryError:
            raise
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"SMTP login refused ({exc.smtp_code})", retryable=False) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"SMTP recipients refused: {', '.join(exc.recipients)}",
                                retryable=False) from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP error {exc.smtp_code}", retryable=exc.smtp_code >= 400 and
                                exc.smtp_code < 500) from exc
        except (OSError, smtplib.SMTPException) as exc:  # refused, timeout, TLS, disconnect
            raise DeliveryError(f"SMTP {type(exc).__name__}: {exc}") from exc
