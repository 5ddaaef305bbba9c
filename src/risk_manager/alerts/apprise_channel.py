"""Alerts to any service apprise speaks (`alerts.urls`), one channel per URL.

apprise is synchronous (requests): each send runs in a worker thread so the event loop never
waits, bounded by apprise's own call timeout, its socket timeouts and an outer `wait_for`. The
dispatcher's lane gives it the same queue, de-duplication, retries and backoff as every other
channel; apprise's own retries stay off (`retry=0`, its default) so attempts are not multiplied.

An apprise URL carries the service's secret (a token, a password, an ntfy topic), so a channel is
named by its position and scheme only (`apprise-1:ntfy`), and the parts of the URL that may be
secret are masked in every log line, including apprise's own logger while the channel lives.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from risk_manager.alerts.channels import DeliveryError
from risk_manager.alerts.messages import Notification
from risk_manager.gateway.redact import MASK

APPRISE_LOGGER = "apprise"
#: Path segments / query values shorter than this are not treated as secrets (`/api`, `POST`).
MIN_SECRET_LEN = 6
_HOSTLIKE = re.compile(r"^(localhost|[0-9.]+|\[[0-9a-fA-F:]+\]|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+)$")


class InvalidAlertURL(ValueError):
    pass


def url_secrets(url: str) -> tuple[str, ...]:
    """The parts of an apprise URL that may be secret, longest first: the whole URL, user and
    password, a host that is not a host name (`pover://user@TOKEN`), long path segments and query
    values."""
    found = {url}
    scheme, _, rest = url.partition("://")
    try:
        parts = urlsplit("x://" + rest)
        username, password, host = parts.username, parts.password, parts.hostname
    except ValueError:
        return (url,)
    # A password is secret whatever its length; a user name only when long enough to be a key
    # (masking a short one like `rm` would mangle every word that contains it).
    for value, least in ((password, 3), (username, MIN_SECRET_LEN)):
        if value and len(value) >= least:
            found.update({value, unquote(value)})
    netloc_host = rest.split("/", 1)[0].rsplit("@", 1)[-1].split(":", 1)[0]
    if netloc_host and not _HOSTLIKE.match(netloc_host):
        found.add(netloc_host)
    if host and not _HOSTLIKE.match(host):
        found.add(host)
    for segment in parts.path.split("/"):
        if len(segment) >= MIN_SECRET_LEN:
            found.update({segment, unquote(segment)})
    for _, value in parse_qsl(parts.query, keep_blank_values=False):
        if len(value) >= MIN_SECRET_LEN:
            found.add(value)
    return tuple(sorted((s for s in found if s), key=len, reverse=True))


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


class ScrubFilter(logging.Filter):
    """Masks `secrets` in records of apprise's logger (it may log URLs and payloads)."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        clean = scrub(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, None
        return True


@contextmanager
def scrubbed_apprise_log(secrets: tuple[str, ...]) -> Iterator[None]:
    flt = ScrubFilter(secrets)
    logger = logging.getLogger(APPRISE_LOGGER)
    logger.addFilter(flt)
    try:
        yield
    finally:
        logger.removeFilter(flt)


def _asset() -> Any:
    import apprise

    # The daemon writes nothing under the service user's home: apprise's cache stays in memory.
    return apprise.AppriseAsset(storage_mode=apprise.PersistentStoreMode.MEMORY)


def instantiate(url: str) -> Any:
    """The apprise plugin for `url`, or None; apprise's log lines about it are scrubbed."""
    import apprise

    with scrubbed_apprise_log(url_secrets(url)):
        return apprise.Apprise.instantiate(url, asset=_asset(), suppress_exceptions=True)


_NOTIFY_TYPE = {"info": "info", "warning": "warning", "critical": "failure"}


class AppriseSender:
    """One apprise URL as a dispatcher channel."""

    def __init__(self, url: str, index: int, timeout: float) -> None:
        import apprise

        self.secrets: tuple[str, ...] = url_secrets(url)
        scheme = url.partition("://")[0].lower()
        self.name = f"apprise-{index}:{scheme}"
        plugin = instantiate(url)
        if plugin is None:
            raise InvalidAlertURL(f"{self.name}: apprise cannot use this {scheme}:// URL")
        # Socket timeouts inside the call's budget: a dead service frees its thread in time.
        plugin.socket_connect_timeout = min(float(plugin.socket_connect_timeout), timeout)
        plugin.socket_read_timeout = min(float(plugin.socket_read_timeout), timeout)
        self._apprise = apprise.Apprise(asset=_asset())
        self._apprise.add(plugin)
        self._timeout = timeout
        self._filter = ScrubFilter(self.secrets)
        logging.getLogger(APPRISE_LOGGER).addFilter(self._filter)

    def close(self) -> None:
        logging.getLogger(APPRISE_LOGGER).removeFilter(self._filter)

    async def send(self, note: Notification) -> None:
        try:
            result = await asyncio.wait_for(asyncio.to_thread(self._notify, note), self._timeout + 1.0)
        except TimeoutError as exc:
            raise DeliveryError(f"no answer within {self._timeout:g} s") from exc
        if result:
            return
        from apprise import AppriseResultStatus

        if result.status == AppriseResultStatus.TIMEOUT:
            raise DeliveryError(f"no answer within {self._timeout:g} s")
        levels = logging.getLevelNamesMapping()
        detail = "; ".join(str(e.message) for e in result.logs()
                           if levels.get(str(e.level).upper(), 0) >= logging.WARNING)[:300]
        # apprise does not say whether the service would take it later: retry (bounded).
        raise DeliveryError(scrub(detail or "the service did not accept the notification", self.secrets))

    def _notify(self, note: Notification) -> Any:
        return self._apprise.notify(body=note.text(), title=note.title,
                                    notify_type=_NOTIFY_TYPE.get(note.severity, "info"),
                                    timeout=self._timeout)
