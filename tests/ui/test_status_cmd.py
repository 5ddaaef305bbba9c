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


def _status_api_in(config_dir, address: str) -> None:
    path = config_dir / "accounts.yaml"
    path.write_text(path.read_text().replace("status_api: 127.0.0.1:8765", f"status_api: {address}"))


def _runtime_file(config_dir, url: str, pid: int) -> None:
    state = config_dir / "state"
    state.mkdir(exist_ok=True)
    (state / "daemon.json").write_text(json.dumps({"pid": pid, "status_url": url, "started_at": "x"}))


def test_status_config_reads_the_address_from_accounts_yaml(live_api, config_dir):
    api, _ = live_api
    _status_api_in(config_dir, api.url.removeprefix("http://"))
    result = CliRunner().invoke(app, ["status", "--config", str(config_dir)])
    assert result.exit_code == 0, result.output
    assert f"at {api.url}" in result.output and "PRAC-V2-1-123 (123)" in result.output


def test_status_finds_the_running_daemon_by_its_runtime_file(live_api, config_dir, monkeypatch):
    import os

    api, _ = live_api
    _status_api_in(config_dir, f"127.0.0.1:{free_port()}")  # the file says another port: the runtime file wins
    _runtime_file(config_dir, api.url, os.getpid())
    result = CliRunner().invoke(app, ["status", "--config", str(config_dir)])
    assert result.exit_code == 0 and f"at {api.url}" in result.output, result.output
    # Neither --url nor --config: the default config dir ($RISK_MANAGER_CONFIG here).
    monkeypatch.setenv("RISK_MANAGER_CONFIG", str(config_dir))
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 0 and f"at {api.url}" in result.output, result.output
    # One login per instance: the default dir holds one config dir per login.
    monkeypatch.setenv("RISK_MANAGER_CONFIG", str(config_dir.parent))
    result = CliRunner().invoke(app, ["status", "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["accounts"][0]["id"] == 123


def test_status_ignores_a_stale_runtime_file(live_api, config_dir):
    api, _ = live_api
    _status_api_in(config_dir, api.url.removeprefix("http://"))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    _runtime_file(config_dir, f"http://127.0.0.1:{free_port()}", int(dead))
    result = CliRunner().invoke(app, ["status", "--config", str(config_dir)])
    assert result.exit_code == 0 and f"at {api.url}" in result.output, result.output


def test_dashboard_takes_config_too(live_api, config_dir, monkeypatch):
    import os

    import risk_manager.ui.dashboard as dashboard

    api, _ = live_api
    _runtime_file(config_dir, api.url, os.getpid())
    opened: list[str] = []  # the address resolution is under test here, not the Textual app
    monkeypatch.setattr(dashboard, "run_dashboard", lambda url: opened.append(url) or 0)
    result = CliRunner().invoke(app, ["dashboard", "--config", str(config_dir)])
    assert result.exit_code == 0 and opened == [api.url], result.output
