"""`alerts.urls` through apprise, against a loopback HTTP receiver (apprise's json:// and form://)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from receivers import HttpReceiver
from risk_manager.alerts import AlertDispatcher, messages, parse_alerts_config
from risk_manager.alerts.apprise_channel import url_secrets
from risk_manager.clock import ManualClock
from risk_manager.engine.actions import Lock, LockEnd, LockKind, SetLock

NOW = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)
TOPIC = "topicSECRET4711"
PASSWORD = "pw-s3cret-xyz"
FAST_RETRY = {"attempts": 3, "backoff_seconds": 0.01, "max_backoff_seconds": 0.05}


def _url(http: HttpReceiver, scheme: str = "json") -> str:
    host_port = http.base.removeprefix("http://")
    return f"{scheme}://rm:{PASSWORD}@{host_port}/apprise/{TOPIC}"


def _config(urls: list[str] | None = None, **extra: Any):
    raw: dict[str, Any] = {"retry": FAST_RETRY, "timeout_seconds": 3}
    if urls is not None:
        raw["urls"] = urls
    raw.update(extra)
    return parse_alerts_config(raw)


def _lock() -> SetLock:
    return SetLock(Lock(account_id=7, rule="R03", kind=LockKind.LOCKOUT, reason="Daily loss limit",
                        ends=LockEnd.RESET, until=datetime(2026, 3, 10, 22, 0, tzinfo=UTC), created_at=NOW))


async def _until(predicate, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("scheme", ["json", "form"])
async def test_lock_alert_reaches_the_apprise_url(http: HttpReceiver, scheme: str) -> None:
    dispatcher = AlertDispatcher(_config([_url(http, scheme)]), ManualClock(NOW))
    await dispatcher.start()
    assert list(dispatcher.stats) == [f"apprise-1:{scheme}"]
    assert dispatcher.send_action(_lock(), account_name="PRAC-V2-1")
    await _until(lambda: dispatcher.stats[f"apprise-1:{scheme}"].sent == 1)
    await dispatcher.stop()
    [req] = http.requests
    assert req["path"] == f"/apprise/{TOPIC}"
    assert "Trading locked until the daily reset" in req["json"]["title"]
    assert "PRAC-V2-1" in req["json"]["message"]
    assert req["headers"]["Authorization"].startswith("Basic ")  # the URL's user:password was used


async def test_urls_sit_beside_the_existing_channels(http: HttpReceiver) -> None:
    cfg = _config([_url(http)], discord={"webhook_url_env": "RM_TEST_DISCORD"})
    env = {"RM_TEST_DISCORD": f"{http.base}/api/webhooks/42/hooktoken"}
    dispatcher = AlertDispatcher(cfg, ManualClock(NOW), env=env)
    await dispatcher.start()
    dispatcher.send(messages.feed_blind(NOW, 7, 61, 2))
    await _until(lambda: all(s.sent == 1 for s in dispatcher.stats.values()))
    await dispatcher.stop()
    assert sorted(dispatcher.stats) == ["apprise-1:json", "discord"]
    assert sorted(r["kind"] for r in http.requests) == ["apprise", "discord"]


async def test_urls_from_the_environment(http: HttpReceiver) -> None:
    cfg = _config(urls_env="RM_ALERT_URLS")
    env = {"RM_ALERT_URLS": f"{_url(http)}  {_url(http, 'form')}"}
    dispatcher = AlertDispatcher(cfg, ManualClock(NOW), env=env)
    await dispatcher.start()
    dispatcher.send_action(_lock())
    await _until(lambda: sum(s.sent for s in dispatcher.stats.values()) == 2)
    await dispatcher.stop()
    assert sorted(dispatcher.stats) == ["apprise-1:json", "apprise-2:form"]


async def test_retries_then_delivers_and_never_logs_the_secrets(http: HttpReceiver, caplog) -> None:
    http.plan = [(500, {"message": "oops"}), (503, None)]
    caplog.set_level(logging.DEBUG, logger="apprise")  # apprise logs URLs and payloads at debug
    dispatcher = AlertDispatcher(_config([_url(http)]), ManualClock(NOW))
    with capture_logs() as logs:
        await dispatcher.start()
        dispatcher.send_action(_lock())
        await _until(lambda: dispatcher.stats["apprise-1:json"].sent == 1)
        await dispatcher.stop()
    stats = dispatcher.stats["apprise-1:json"]
    assert stats.retries == 2 and stats.failed == 0 and len(http.requests) == 3
    retries = [e for e in logs if e["event"] == "alert delivery failed, retrying"]
    assert len(retries) == 2 and "500" in retries[0]["error"]
    text = repr(logs) + "\n".join(r.getMessage() for r in caplog.records) + repr(stats.last_error)
    assert caplog.records  # apprise did log about the sends
    assert TOPIC not in text and PASSWORD not in text


async def test_a_silent_service_times_out_off_the_loop(http: HttpReceiver) -> None:
    http.gate = asyncio.Event()  # the receiver never answers
    cfg = _config([_url(http)], timeout_seconds=0.5, retry={"attempts": 2, "backoff_seconds": 0.01})
    dispatcher = AlertDispatcher(cfg, ManualClock(NOW))
    await dispatcher.start()
    dispatcher.send_action(_lock())
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    await _until(lambda: dispatcher.stats["apprise-1:json"].failed == 1)
    task.cancel()
    assert len(http.requests) == 2  # two attempts, each given up after its timeout
    assert ticks > 10  # the event loop ran on while apprise waited in its thread
    assert dispatcher.stats["apprise-1:json"].last_error  # apprise's read timeout (0.5 s) ended each
    http.gate.set()
    await dispatcher.stop()


def test_a_bad_url_is_refused_without_echoing_it(caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="apprise")
    with pytest.raises(ValidationError) as err:
        _config(["nosuchservice://SECRETtoken123"])
    # what the config loader shows (message and location; pydantic's own repr echoes any input)
    shown = " ".join(f"{e['loc']} {e['msg']}" for e in err.value.errors(include_input=False))
    assert "urls[0]" in shown and "nosuchservice://" in shown
    assert "SECRETtoken123" not in shown
    assert "SECRETtoken123" not in "\n".join(r.getMessage() for r in caplog.records)
    with pytest.raises(ValidationError):
        _config(["not a url"])


def test_url_secrets_cover_tokens_in_host_path_and_password() -> None:
    secrets = url_secrets("pover://userKEY123@appTOKEN456/device1?sound=siren-long")
    for part in ("userKEY123", "appTOKEN456", "siren-long"):
        assert part in secrets
    assert "127.0.0.1" not in url_secrets("json://127.0.0.1:8080/x")
