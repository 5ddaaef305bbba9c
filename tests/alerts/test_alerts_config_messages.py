"""alerts: config validation and the text of each kind of alert."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from risk_manager.alerts import messages
from risk_manager.alerts.config import MissingSecret, parse_alerts_config
from risk_manager.engine.actions import (
    Alert,
    CancelOrder,
    ClearLock,
    ClosePosition,
    Flatten,
    Lock,
    LockEnd,
    LockKind,
    ModifyStop,
    PlaceStop,
    SetLock,
)

NOW = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)


def test_empty_block_means_no_alerts() -> None:
    for raw in (None, {}):
        cfg = parse_alerts_config(raw)
        assert not cfg.any_channel


def test_full_config_parses() -> None:
    cfg = parse_alerts_config({
        "min_severity": "warning",
        "discord": {"webhook_url_env": "RM_DISCORD"},
        "telegram": {"bot_token": "123:abc", "chat_id": -100123},
        "email": {"host": "smtp.example.com", "username": "u", "password_env": "RM_SMTP",
                  "from_addr": "rm@example.com", "to": ["a@example.com"]},
    })
    assert cfg.any_channel and cfg.email is not None and cfg.email.port == 587 and cfg.email.starttls
    assert "123:abc" not in repr(cfg)  # secrets do not leak through repr/logging of the model
    assert cfg.telegram is not None and cfg.telegram.resolve_token() == "123:abc"
    assert cfg.discord is not None and cfg.discord.resolve_webhook({"RM_DISCORD": "https://x/y/z"}) == "https://x/y/z"
    with pytest.raises(MissingSecret, match="RM_DISCORD is not set"):
        cfg.discord.resolve_webhook({})


@pytest.mark.parametrize(
    ("raw", "where", "message"),
    [
        ({"discrod": {}}, ("discrod",), "Extra inputs are not permitted"),
        ({"discord": {"webhook_url": "https://x", "webhook_url_env": "X"}}, ("discord",), "exactly one of"),
        ({"discord": {}}, ("discord",), "exactly one of"),
        ({"discord": {"webhook_url": "discord.com/api"}}, ("discord",), "http(s) URL"),
        ({"telegram": {"bot_token": "t"}}, ("telegram", "chat_id"), "Field required"),
        ({"email": {"host": "h", "from_addr": "a@b", "to": ["c@d"], "ssl": True}}, ("email",), "either"),
        ({"email": {"host": "h", "from_addr": "a@b", "to": []}}, ("email", "to"), "at least 1"),
        ({"email": {"host": "h", "from_addr": "nobody", "to": ["c@d"]}}, ("email",), "not an email"),
        ({"events": ["lock_set", "lunch"]}, ("events", 1), "Input should be"),
        ({"min_severity": "loud"}, ("min_severity",), "Input should be"),
    ],
)
def test_errors_name_the_field(raw, where, message) -> None:
    with pytest.raises(ValidationError) as exc:
        parse_alerts_config(raw)
    errors = exc.value.errors()
    assert any(tuple(e["loc"][: len(where)]) == where and message in e["msg"] for e in errors), errors


def test_non_mapping_is_refused() -> None:
    with pytest.raises(TypeError, match="must be a mapping"):
        parse_alerts_config(["discord"])  # type: ignore[arg-type]


def _lock(kind=LockKind.LOCKOUT, ends=LockEnd.RESET, until=datetime(2026, 3, 10, 22, 0, tzinfo=UTC)):
    return Lock(account_id=7, rule="R03", kind=kind, reason="Daily loss limit: -$512.40 <= -$500.00",
                ends=ends, until=until, created_at=NOW)


def test_lock_set_message() -> None:
    note = messages.from_action(SetLock(_lock()), NOW, account_name="PRAC-V2-1")
    assert note is not None and note.event == "lock_set" and note.severity == "critical"
    text = note.text()
    assert "Trading locked until the daily reset (2026-03-10 22:00 UTC)" in text
    assert "Account: PRAC-V2-1" in text and "Rule: R03" in text and "-$512.40" in text


def test_other_lock_kinds_read_well() -> None:
    cooldown = messages.from_action(SetLock(_lock(LockKind.COOLDOWN, LockEnd.TIME)), NOW)
    assert cooldown is not None and cooldown.severity == "warning"
    assert cooldown.title == "Cooldown until 2026-03-10 22:00 UTC"
    broker = messages.from_action(SetLock(_lock(ends=LockEnd.CAN_TRADE, until=None)), NOW)
    assert broker is not None and broker.title == "Trading locked until the broker allows trading again"


def test_clear_alert_and_enforcement_messages() -> None:
    cleared = messages.from_action(ClearLock(7, "manual", "done reviewing", cleared_by="admin"), NOW)
    assert cleared is not None and cleared.event == "lock_cleared" and cleared.title == "Lock cleared (by admin)"
    alert = messages.from_action(
        Alert(7, "R01", "5 contracts > 4", would_have=(Flatten(7, "R01", "x"),)), NOW)
    assert alert is not None and alert.event == "rule_fired"
    assert "Would have: Flattened the account (orders cancelled, positions closed)" in alert.body
    close = messages.from_action(ClosePosition(7, "CON.F.US.EP.H26", "R04", "loss -$310"), NOW)
    assert close is not None and close.title == "Closed the CON.F.US.EP.H26 position"
    cancel = messages.from_action(CancelOrder(7, 991, "CON.F.US.EP.H26", "lock_gate", "locked"), NOW)
    assert cancel is not None and cancel.title == "Cancelled order 991 (CON.F.US.EP.H26)"
    assert messages.from_action(PlaceStop(7, "C", 2, 1, 100.0, "R12", "be"), NOW) is None
    assert messages.from_action(ModifyStop(7, 1, "C", 101.0, "R12", "trail"), NOW) is None


def test_limit_warning_and_feed_blind() -> None:
    warn = messages.limit_warning(NOW, 7, "R03", "Daily loss", -400.0, -500.0)
    assert warn.title == "Daily loss at 80% of its limit" and warn.body == "Daily loss: -400.00 of -500.00"
    blind = messages.feed_blind(NOW, 7, 61.2, 2, flattening=True)
    assert blind.severity == "critical" and "61 s with 2 open position(s)" in blind.body
    assert "Flattening now" in blind.body
