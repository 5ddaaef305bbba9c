"""Log files are JSON with secrets redacted; reload splits tightening from loosening."""

from __future__ import annotations

import json
import logging

import structlog

from risk_manager.config.models import RiskConfig
from risk_manager.daemon.logs import setup_logging
from risk_manager.daemon.reload import split_changes
from e2e.helpers import daemon_logging_undone


def test_json_log_file_redacts_secrets(tmp_path):
    with daemon_logging_undone():
        path = setup_logging(tmp_path, console=False)
        logging.getLogger("aiohttp.client").warning("GET ws://h/hubs/user?access_token=eyJabc.def.ghi")
        structlog.get_logger("risk_manager.test").info("login", token="very-secret-token", user="sim")
        for handler in logging.getLogger().handlers:
            handler.flush()
        lines = [json.loads(line) for line in path.read_text().splitlines()]
    text = json.dumps(lines)
    assert "eyJabc" not in text and "very-secret-token" not in text
    assert any(line.get("event") == "login" and line.get("user") == "sim" for line in lines)


def _cfg(**rules):
    return RiskConfig.model_validate({"rules": rules})


def test_split_changes_tightens_now_and_holds_looser_fields():
    old = _cfg(max_contracts={"limit": 5}, daily_realized_loss={"loss_limit": 500})
    new = _cfg(max_contracts={"limit": 3}, daily_realized_loss={"loss_limit": 900})
    applied, pending, waits = split_changes(old, new, apply_now=False)
    assert waits and applied.rules.max_contracts.limit == 3
    assert applied.rules.daily_realized_loss.loss_limit == 500
    assert pending == [{"rule": "daily_realized_loss", "key": "loss_limit", "from": 500.0, "to": 900.0}]
    applied, pending, waits = split_changes(old, new, apply_now=True)
    assert not waits and applied.rules.daily_realized_loss.loss_limit == 900
