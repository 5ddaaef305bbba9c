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
    out = result.output
    spec = systemd.UnitSpec(exec_start=systemd.default_exec_start(systemd.Path("/srv/rm-config")),
                            user="alice", config_dir=systemd.Path("/srv/rm-config"),
                            env_paths=systemd.environment_paths())
    # This machine's installation may be one the service user cannot run (a venv over /root): refused.
    refused = bool(systemd.start_problems(spec))
    assert result.exit_code == (1 if refused else 0), result.output
    assert ("The service would fail to start" in out) == refused
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
    # --force: past the start check (this machine's installation may be refused first).
    result = runner.invoke(cli.app, [command, *(["--force"] if command == "install" else [])])
    assert result.exit_code == 1
    assert f"needs root: sudo risk-manager service {command}" in result.output


@pytest.mark.parametrize("command", ["install", "start", "status"])
def test_clear_message_without_systemd(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(systemd.os, "geteuid", lambda: 0)
    monkeypatch.setattr(systemd.shutil, "which", lambda name: None)
    result = runner.invoke(cli.app, [command, *(["--force"] if command == "install" else [])])
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
    refused = "The service would fail to start" in proc.stderr
    assert proc.returncode == (1 if refused else 0), proc.stderr
    assert "Type=notify" in proc.stdout and "systemctl enable risk-manager.service" in proc.stdout


def _venv_in(directory) -> str:
    """A real venv in `directory` that sees this installation (its packages and source) via a .pth."""
    import site

    venv = directory / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    here = [p for p in site.getsitepackages()] + [str(systemd.Path(cli.__file__).resolve().parents[2])]
    (systemd.Path(purelib) / "this_install.pth").write_text("\n".join(here) + "\n")
    return str(python)


def test_install_refuses_an_installation_under_tmp(tmp_path) -> None:
    """The real command from a venv in /tmp: PrivateTmp=yes would hide it, so install refuses."""
    python = _venv_in(tmp_path)
    for args in (["--dry-run"], []):
        proc = subprocess.run([python, "-m", "risk_manager", "service", "install", *args],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        if args:  # the dry run still shows the plan; the real install refuses before touching anything
            assert "Type=notify" in proc.stdout
        assert f"{tmp_path}/venv/bin/python is under /tmp: the unit runs with PrivateTmp=yes" in proc.stderr
        assert "sudo python3 -m venv /opt/risk-manager" in proc.stderr and "uv tool install" in proc.stderr


def test_instance_commands_name_the_templated_unit() -> None:
    result = runner.invoke(cli.app, ["uninstall", "--dry-run", "--instance", "alice"])
    assert result.exit_code == 0, result.output
    assert "systemctl disable --now risk-manager@alice.service" in result.output
    assert "rm -f" not in result.output  # the template stays for the other logins
    assert systemd.control_command("start", "alice") == ["systemctl", "start", "risk-manager@alice.service"]
    result = runner.invoke(cli.app, ["install", "--dry-run", "--instance", "../etc"])
    assert result.exit_code == 1 and "instance name '../etc'" in result.output
