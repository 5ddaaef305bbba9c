"""`risk-manager service …` on Linux through the real typer app (never touching the machine)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from risk_manager.service import cli, systemd

runner = CliRunner()


def test_install_dry_run_prints_the_exact_unit_and_commands() -> None:
    result = runner.invoke(cli.app, ["install", "--dry-run", "--config", "/srv/rm-config", "--user", "alice"])
    assert result.exit_code == 0, result.output
    out = result.output
    spec = systemd.UnitSpec(exec_start=systemd.default_exec_start(systemd.Path("/srv/rm-config")),
                            user="alice", config_dir=systemd.Path("/srv/rm-config"))
    assert systemd.render_unit(spec).rstrip("\n") in out  # byte-for-byte the unit that would be written
    assert "cat > /etc/systemd/system/risk-manager.service <<'EOF'" in out
    assert "install -d -m 0750 -o root -g alice /srv/rm-config" in out
    assert "systemctl daemon-reload\nsystemctl enable risk-manager.service" in out
    assert "User=alice" in out and "run --config /srv/rm-config" in out


def test_uninstall_dry_run() -> None:
    result = runner.invoke(cli.app, ["uninstall", "--dry-run"])
    assert result.exit_code == 0
    assert "systemctl disable --now risk-manager.service" in result.output
    assert "rm -f /etc/systemd/system/risk-manager.service" in result.output


@pytest.mark.parametrize("command", ["install", "uninstall", "start", "stop"])
def test_changing_commands_need_root(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(systemd.os, "geteuid", lambda: 1000)
    result = runner.invoke(cli.app, [command])
    assert result.exit_code == 1
    assert f"needs root: sudo risk-manager service {command}" in result.output


@pytest.mark.parametrize("command", ["install", "start", "status"])
def test_clear_message_without_systemd(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(systemd.os, "geteuid", lambda: 0)
    monkeypatch.setattr(systemd.shutil, "which", lambda name: None)
    result = runner.invoke(cli.app, [command])
    assert result.exit_code == 1
    assert "systemctl not found: this machine does not use systemd" in result.output


def test_systemd_not_running_message(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setattr(systemd.shutil, "which", lambda name: "/usr/bin/systemctl")
    monkeypatch.setattr(systemd, "Path", lambda p: tmp_path / "no-such-dir")
    assert "not running as the init system" in (systemd.systemd_problem() or "")


def test_real_console_entry_point() -> None:
    """`python -m risk_manager service install --dry-run` as a user would run it."""
    proc = subprocess.run([sys.executable, "-m", "risk_manager", "service", "install", "--dry-run"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Type=notify" in proc.stdout and "systemctl enable risk-manager.service" in proc.stdout
