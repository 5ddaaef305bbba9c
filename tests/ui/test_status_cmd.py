"""`risk-manager status` against a real status API (in-memory daemon behind it) and against nothing."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

from typer.testing import CliRunner

from risk_manager.cli import app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_status_text(live_api):
    api, daemon = live_api
    daemon.accounts[123]["locks"] = [{"rule": "R03", "kind": "lockout", "reason": "Daily loss limit hit",
                                      "until": "2026-11-21T23:00:00+00:00", "remaining_s": 27000.0,
                                      "ends": "reset", "symbol": None}]
    daemon.enforcement = [{"ts": "2026-11-21T15:29:00+00:00", "account_id": 123, "rule": "R03",
                           "action": "flatten", "reason": "loss", "outcome": "ok", "latency_ms": 3.1}]
    result = CliRunner().invoke(app, ["status", "--url", api.url])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Accounts monitored: 1" in out
    assert "PRAC-V2-1-123 (123)" in out and "LOCKED" in out
    assert "lock R03 (lockout) until Sat 17:00:00 CST (in 7h 30m 00s): Daily loss limit hit" in out
    assert "R03 flatten → ok in 3.1 ms" in out


def test_status_json(live_api):
    api, _ = live_api
    result = CliRunner().invoke(app, ["status", "--json", "--url", api.url])
    assert result.exit_code == 0
    assert json.loads(result.output)["accounts"][0]["id"] == 123


def test_status_daemon_not_running():
    url = f"http://127.0.0.1:{free_port()}"
    proc = subprocess.run([sys.executable, "-m", "risk_manager", "status", "--url", url],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "daemon is not running" in proc.stderr and url in proc.stderr
    result = CliRunner().invoke(app, ["status", "--json", "--url", url])
    assert result.exit_code == 1
    assert json.loads(result.stdout.splitlines()[0])["running"] is False
