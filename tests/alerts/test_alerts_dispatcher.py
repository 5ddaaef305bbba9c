"""AlertDispatcher end to end against loopback receivers (Discord, Telegram, SMTP)."""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import UTC, datetime
from email import message_from_string
from email.policy import default as email_policy
from typing import Any

import pytest
from structlog.testing import capture_logs

from receivers import HttpReceiver, SmtpReceiver
from risk_manager.alerts import AlertDispatcher, messages, parse_alerts_config
from risk_manager.clock import ManualClock, SystemClock
from risk_manager.engine.actions import ClearLock, Lock, LockEnd, LockKind, SetLock

NOW = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)
HOOK_TOKEN = "hookSECRETtoken-abc123"
BOT_TOKEN = "987654:BOTsecretTOKEN"
SMTP_PASSWORD = "smtp-s3cret-pw"
FAST_RETRY = {"attempts": 3, "backoff_seconds": 0.01, "max_backoff_seconds": 0.05}


@pytest.fixture
async def smtp():
    receiver = await SmtpReceiver(accept_password=SMTP_PASSWORD).start()
    yield receiver
    await receiver.close()


def _config(http: HttpReceiver | None = None, smtp: SmtpReceiver | None = None, **extra: Any):
    raw: dict[str, Any] = {"retry": FAST_RETRY, "timeout_seconds": 5}
    if http is not None:
        raw["discord"] = {"webhook_url_env": "RM_TEST_DISCORD"}
        raw["telegram"] = {"bot_token_env": "RM_TEST_TELEGRAM", "chat_id": "-100777", "api_base": http.base}
    if smtp is not None:
        raw["email"] = {"host": "127.0.0.1", "port": smtp.port, "starttls": False, "username": "rm",
                        "password_env": "RM_TEST_SMTP", "from_addr": "rm@example.com",
                        "to": ["admin@example.com", "partner@example.com"]}
    raw.update(extra)  # e.g. telegram=None leaves Telegram out
    return parse_alerts_config(raw)


def _env(http: HttpReceiver | None) -> dict[str, str]:
    env = {"RM_TEST_TELEGRAM": BOT_TOKEN, "RM_TEST_SMTP": SMTP_PASSWORD}
    if http is not None:
        env["RM_TEST_DISCORD"] = f"{http.base}/api/webhooks/42/{HOOK_TOKEN}"
    return env


def _lock_action(reason: str = "Daily loss limit: -$512.40 <= -$500.00") -> SetLock:
    return SetLock(Lock(account_id=7, rule="R03", kind=LockKind.LOCKOUT, reason=reason, ends=LockEnd.RESET,
                        until=datetime(2026, 3, 10, 22, 0, tzinfo=UTC), created_at=NOW))


async def _until(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met within 5 s")
        await asyncio.sleep(0.01)


async def test_lock_alert_reaches_all_three_channels(http: HttpReceiver, smtp: SmtpReceiver) -> None:
    dispatcher = AlertDispatcher(_config(http, smtp), ManualClock(NOW), env=_env(http))
    await dispatcher.start()
    assert dispatcher.send_action(_lock_action(), account_name="PRAC-V2-1")
    await _until(lambda: len(http.requests) == 2 and smtp.messages)
    await _until(lambda: all(s.sent == 1 for s in dispatcher.stats.values()))
    await dispatcher.stop()

    by_kind = {r["kind"]: r for r in http.requests}
    discord = by_kind["discord"]
    assert discord["path"] == f"/api/webhooks/42/{HOOK_TOKEN}"
    assert "Trading locked until the daily reset" in discord["json"]["content"]
    assert discord["json"]["allowed_mentions"] == {"parse": []}
    telegram = by_kind["telegram"]
    assert telegram["path"] == f"/bot{BOT_TOKEN}/sendMessage"
    assert telegram["json"]["chat_id"] == "-100777" and "PRAC-V2-1" in telegram["json"]["text"]

    mail = smtp.messages[0]
    assert mail["auth"] == "rm"
    assert mail["rcpt"] == ["<admin@example.com>", "<partner@example.com>"]
    parsed = message_from_string(mail["data"].replace("\r\n", "\n"), policy=email_policy)
    assert parsed["Subject"].strip().startswith("[risk-manager] Trading locked until the daily reset")
    assert "-$512.40" in parsed.get_content()


async def test_send_never_waits_for_a_slow_receiver(http: HttpReceiver, smtp: SmtpReceiver) -> None:
    http.gate = asyncio.Event()  # Discord and Telegram hold every answer until released
    dispatcher = AlertDispatcher(_config(http, smtp), SystemClock(), env=_env(http))
    await dispatcher.start()
    timings = []
    for i in range(20):
        start = time.perf_counter()
        dispatcher.send_action(_lock_action(f"loss #{i}"))
        timings.append(time.perf_counter() - start)
    await _until(lambda: len(http.requests) >= 2)  # the receivers are now holding the requests
    assert http.answered == 0  # send() returned long before any receiver answered
    timings.sort()
    print(f"\nsend(): median {timings[10] * 1e6:.1f} us, max {timings[-1] * 1e6:.1f} us (20 calls, 3 channels)")
    http.gate.set()
    await _until(lambda: dispatcher.stats["discord"].sent == 20 and dispatcher.stats["telegram"].sent == 20)
    await _until(lambda: len(smtp.messages) == 20)
    await dispatcher.stop()


async def test_a_dead_channel_does_not_hold_up_the_others(http: HttpReceiver) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: connections are refused
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    env = {**_env(http), "RM_TEST_DISCORD": f"http://127.0.0.1:{dead_port}/api/webhooks/1/dead"}
    dispatcher = AlertDispatcher(_config(http), ManualClock(NOW), env=env)
    await dispatcher.start()
    dispatcher.send(messages.feed_blind(NOW, 7, 61, 2))
    await _until(lambda: dispatcher.stats["telegram"].sent == 1)
    await _until(lambda: dispatcher.stats["discord"].failed == 1)
    assert dispatcher.stats["discord"].retries == 2  # 3 attempts
    await dispatcher.stop()


async def test_retries_with_backoff_then_delivers(http: HttpReceiver) -> None:
    http.plan = [(500, {"message": "oops"}), (429, {"retry_after": 0.05, "message": "rate limited"})]
    dispatcher = AlertDispatcher(_config(http, None, telegram=None), ManualClock(NOW), env=_env(http))
    await dispatcher.start()
    dispatcher.send_action(_lock_action())
    await _until(lambda: dispatcher.stats["discord"].sent == 1)
    stats = dispatcher.stats["discord"]
    assert stats.retries == 2 and stats.failed == 0
    assert len(http.requests) == 3
    await dispatcher.stop()


async def test_permanent_errors_are_not_retried_and_secrets_never_logged(http: HttpReceiver) -> None:
    # Both services answer with an error that echoes the secret-bearing path back.
    echo = lambda request: {"ok": False, "description": f"Not Found: {request.path}",  # noqa: E731
                            "message": f"Unknown Webhook {request.path}"}
    http.plan = [(404, echo), (404, echo)]
    dispatcher = AlertDispatcher(_config(http), ManualClock(NOW), env=_env(http))
    with capture_logs() as logs:
        await dispatcher.start()
        dispatcher.send_action(_lock_action())
        await _until(lambda: all(s.failed == 1 for s in dispatcher.stats.values()))
        await dispatcher.stop()
    assert len(http.requests) == 2  # one attempt each: a 404 will not heal
    text = repr(logs) + repr(dispatcher.stats)
    assert "HTTP 404" in text and "[REDACTED]" in text
    for secret in (HOOK_TOKEN, BOT_TOKEN, "BOTsecretTOKEN"):
        assert secret not in text


async def test_smtp_password_not_logged_on_refused_login(smtp: SmtpReceiver) -> None:
    dispatcher = AlertDispatcher(_config(None, smtp), ManualClock(NOW),
                                 env={"RM_TEST_SMTP": "wrong-" + SMTP_PASSWORD})
    with capture_logs() as logs:
        await dispatcher.start()
        dispatcher.send_action(_lock_action())
        await _until(lambda: dispatcher.stats["email"].failed == 1)
        await dispatcher.stop()
    assert "SMTP login refused (535)" in repr(logs)
    assert SMTP_PASSWORD not in repr(logs)
    assert smtp.messages == []


async def test_starttls_required_but_not_offered(smtp: SmtpReceiver) -> None:
    cfg = _config(None, smtp)
    cfg = cfg.model_copy(update={"email": cfg.email.model_copy(update={"starttls": True})})
    dispatcher = AlertDispatcher(cfg, ManualClock(NOW), env=_env(None))
    await dispatcher.start()
    dispatcher.send_action(_lock_action())
    await _until(lambda: dispatcher.stats["email"].failed == 1)
    assert "does not offer STARTTLS" in (dispatcher.stats["email"].last_error or "")
    await dispatcher.stop()


async def test_full_queue_drops_the_oldest(http: HttpReceiver) -> None:
    http.gate = asyncio.Event()
    dispatcher = AlertDispatcher(_config(http, None, queue_size=3, telegram=None), ManualClock(NOW),
                                 env=_env(http))
    await dispatcher.start()
    for i in range(10):  # no await in between: the worker has not picked anything up yet
        dispatcher.send_action(_lock_action(f"loss #{i}"))
    assert dispatcher.stats["discord"].dropped == 7
    http.gate.set()
    await _until(lambda: dispatcher.stats["discord"].sent == 3)
    await dispatcher.stop()
    contents = [r["json"]["content"] for r in http.requests]
    assert ["#7" in contents[0], "#8" in contents[1], "#9" in contents[2]] == [True, True, True]


async def test_identical_alerts_are_deduplicated(http: HttpReceiver) -> None:
    clock = ManualClock(NOW)
    dispatcher = AlertDispatcher(_config(http, None, telegram=None, dedupe_seconds=60), clock, env=_env(http))
    await dispatcher.start()
    assert dispatcher.send_action(_lock_action())
    assert not dispatcher.send_action(_lock_action())
    assert not dispatcher.send_action(_lock_action())
    assert dispatcher.send_action(_lock_action("a different reason"))
    clock.advance(61)
    assert dispatcher.send_action(_lock_action())
    await _until(lambda: dispatcher.stats["discord"].sent == 3)
    await dispatcher.stop()
    assert dispatcher.deduped == 2
    assert "(+2 identical alert(s) suppressed)" in http.requests[2]["json"]["content"]


async def test_event_and_severity_filters(http: HttpReceiver) -> None:
    cfg = _config(http, None, telegram=None, min_severity="warning", events=["lock_set", "lock_cleared"])
    dispatcher = AlertDispatcher(cfg, ManualClock(NOW), env=_env(http))
    await dispatcher.start()
    assert not dispatcher.send_action(ClearLock(7, "R03", "daily reset"))  # info < warning
    assert not dispatcher.send(messages.feed_blind(NOW, 7, 61, 1))  # event not selected
    assert dispatcher.send_action(_lock_action())
    await _until(lambda: dispatcher.stats["discord"].sent == 1)
    await dispatcher.stop()
    assert dispatcher.filtered == 2


async def test_missing_secret_disables_only_that_channel(http: HttpReceiver) -> None:
    env = _env(http)
    del env["RM_TEST_DISCORD"]
    with capture_logs() as logs:
        dispatcher = AlertDispatcher(_config(http), ManualClock(NOW), env=env)
        await dispatcher.start()
    assert list(dispatcher.stats) == ["telegram"]
    assert any(e["event"] == "alert channel disabled" and "RM_TEST_DISCORD" in e["reason"] for e in logs)
    await dispatcher.stop()


async def test_no_channels_and_send_after_stop_are_harmless(http: HttpReceiver) -> None:
    idle = AlertDispatcher(parse_alerts_config({}), ManualClock(NOW))
    await idle.start()
    assert not idle.send_action(_lock_action())
    await idle.stop()

    dispatcher = AlertDispatcher(_config(http, None, telegram=None), ManualClock(NOW), env=_env(http))
    await dispatcher.start()
    dispatcher.send_action(_lock_action())
    await dispatcher.stop()  # drains what was queued
    assert len(http.requests) == 1
    dispatcher.send_action(_lock_action("after stop"))
    await asyncio.sleep(0.05)
    assert len(http.requests) == 1
