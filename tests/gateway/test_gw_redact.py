"""Secrets never reach a log line."""

from __future__ import annotations

import logging

import structlog
from structlog.testing import capture_logs

from gw_fake_server import make_jwt
from risk_manager.gateway.redact import MASK, RedactingFilter, get_logger, redact, redact_processor, redact_value

JWT = make_jwt(2_000_000_000)


def test_plain_strings():
    assert redact(f"wss://rtc.topstepx.com/hubs/user?access_token={JWT}&x=1") == \
        f"wss://rtc.topstepx.com/hubs/user?access_token={MASK}&x=1"
    assert redact("Authorization: Bearer abc.def-ghi") == f"Authorization: Bearer {MASK}"
    assert JWT not in redact(f"got token {JWT} back")
    assert redact('{"userName": "me", "apiKey": "k3y-value"}') == f'{{"userName": "me", "apiKey": "{MASK}"}}'
    assert redact("api_key=abc123 other=1") == f"api_key={MASK} other=1"
    assert redact("nothing secret here: 42") == "nothing secret here: 42"


def test_nested_values_and_secret_keys():
    value = {"token": "opaque", "newToken": None, "nested": [{"api_key": "x"}, f"url?access_token={JWT}"], "n": 3}
    assert redact_value(value) == {"token": MASK, "newToken": None, "nested": [{"api_key": MASK}, f"url?access_token={MASK}"], "n": 3}


def test_structlog_processor_and_gateway_logger():
    assert redact_processor(None, "info", {"event": f"url?access_token={JWT}", "Authorization": "Bearer x"}) == \
        {"event": f"url?access_token={MASK}", "Authorization": MASK}
    with capture_logs() as logs:
        get_logger("t").warning(f"login with token {JWT}", apiKey="secret-key", url=f"ws://h/?access_token={JWT}")
    text = repr(logs)
    assert JWT not in text and "secret-key" not in text and logs[0]["apiKey"] == MASK


def test_stdlib_filter(caplog):
    logger = logging.getLogger("test.redact")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="test.redact"):
        logger.info("GET %s", f"/hubs/user?access_token={JWT}")
    assert JWT not in caplog.text and f"access_token={MASK}" in caplog.text


def test_processor_in_a_structlog_chain():
    seen = []
    logger = structlog.wrap_logger(None, processors=[redact_processor, lambda _l, _m, ed: seen.append(ed) or ""],
                                   wrapper_class=structlog.BoundLogger)
    logger.info("x", password="hunter2")
    assert seen == [{"event": "x", "password": MASK}]
