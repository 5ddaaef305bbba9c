"""`risk-manager admin …` through the real CLI, real config files and a real status API on loopback."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from risk_manager import admin_auth
from risk_manager.ui.admin_cli import app

PASSWORD = "trader-partner-42"
runner = CliRunner()


def run(*args, input=None, env=None):
    return runner.invoke(app, [str(a) for a in args], input=input, env=env)


def free_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def pw_env(config_dir):
    admin_auth.set_password(config_dir, PASSWORD)
    return {"RISK_MANAGER_ADMIN_PASSWORD": PASSWORD}


def risk_text(config_dir) -> str:
    return (config_dir / "risk_config.yaml").read_text()


# --- set-password -----------------------------------------------------------------------------
def test_set_password_first_then_change(config_dir):
    path = config_dir / "admin_password.hash"
    result = run("set-password", "--config", config_dir, input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert admin_auth.verify_password(config_dir, PASSWORD)
    first = path.read_text()

    result = run("set-password", "--config", config_dir, input="not-the-old-one\n")
    assert result.exit_code == 1 and "wrong admin password" in result.output
    assert path.read_text() == first

    result = run("set-password", "--config", config_dir, input=f"{PASSWORD}\nnew-password-9\nnew-password-9\n")
    assert result.exit_code == 0, result.output
    assert admin_auth.verify_password(config_dir, "new-password-9")


def test_set_password_too_short_or_mismatch(config_dir):
    result = run("set-password", "--config", config_dir, input="short\nshort\n")
    assert result.exit_code == 1 and "at least 8" in result.output
    result = run("set-password", "--config", config_dir, input="abcdefgh1\nabcdefgh2\n")
    assert result.exit_code != 0
    assert not (config_dir / "admin_password.hash").exists()


# --- rules ------------------------------------------------------------------------------------
def test_rules_show_without_daemon(config_dir):
    result = run("rules", "show", "--config", config_dir, "--url", free_url())
    assert result.exit_code == 0, result.output
    assert "max_contracts" in result.output and "limit=5" in result.output
    assert "daemon is not running" in result.output


def test_rules_show_with_daemon_values_and_pending(config_dir, live_api):
    api, daemon = live_api
    daemon.pending = [{"rule": "max_contracts", "key": "limit", "from": 5, "to": 8,
                       "applies_at": "2026-11-21T23:00:00+00:00"}]
    result = run("rules", "show", "--config", config_dir, "--url", api.url)
    assert result.exit_code == 0, result.output
    assert "PRAC-V2-1-123: -120.5 (24 %)" in result.output
    assert "limit: 5 → 8 at Sat 17:00 CST" in result.output


def test_rules_set_tighten_applies_now_and_keeps_comments(config_dir):
    result = run("rules", "set", "max_contracts", "limit", "3", "--config", config_dir, "--url", free_url())
    assert result.exit_code == 0, result.output
    assert "takes effect now" in result.output
    text = risk_text(config_dir)
    assert "limit: 3" in text and "# R01: total open contracts" in text
    assert (config_dir / "risk_config.yaml.bak").exists()


def test_rules_set_loosen_waits_for_reset(config_dir, pw_env):
    result = run("rules", "set", "max_contracts", "limit", "8", "--config", config_dir, "--url", free_url(),
                 env=pw_env)
    assert result.exit_code == 0, result.output
    assert "loosens" in result.output and "max_contracts.limit: 5 → 8" in result.output
    assert "next daily reset (17:00 America/Chicago)" in result.output


def test_rules_set_now_applies_pending_with_password(config_dir, live_api, pw_env):
    api, daemon = live_api
    result = run("rules", "set", "daily_realized_loss", "loss_limit", "900", "--now",
                 "--config", config_dir, "--url", api.url, env=pw_env)
    assert result.exit_code == 0, result.output
    assert "Applied now" in result.output
    assert [c[0] for c in daemon.calls] == ["reload", "apply_pending"]
    assert "loss_limit: 900" in risk_text(config_dir)
    assert daemon.audit_log[0][:1] == ("admin_login", )


@pytest.mark.parametrize(
    "args,fragment",
    [
        (("rules", "set", "max_contract", "limit", "3"), "unknown rule 'max_contract'"),
        (("rules", "set", "max_contracts", "limit", "lots"), "limit"),
        (("rules", "set", "max_contracts", "limit", "-1"), "greater than or equal to 0"),
        (("rules", "set", "daily_realized_loss", "loss_limit", "-500"), "loss_limit"),
        (("rules", "set", "max_contracts", "limt", "3"), "did you mean 'limit'"),
        (("rules", "enable", "no_such_rule"), "unknown rule"),
        (("rules", "disable", "no_such_rule"), "unknown rule"),
    ],
)
def test_rules_bad_input_leaves_file_untouched(config_dir, args, fragment):
    before = risk_text(config_dir)
    result = run(*args, "--config", config_dir, "--url", free_url())
    assert result.exit_code == 1, result.output
    assert "error:" in result.output and fragment in result.output
    assert risk_text(config_dir) == before
    assert not (config_dir / "risk_config.yaml.bak").exists()


def test_rules_now_wrong_password_leaves_file_untouched(config_dir, live_api, pw_env):
    api, daemon = live_api
    before = risk_text(config_dir)
    result = run("rules", "disable", "daily_realized_loss", "--now", "--config", config_dir, "--url", api.url,
                 env={"RISK_MANAGER_ADMIN_PASSWORD": "guessing-1234"})
    assert result.exit_code == 1 and "wrong admin password" in result.output
    assert risk_text(config_dir) == before
    assert daemon.audit_log[-1][0] == "admin_login_failed"


def test_rules_now_daemon_not_running_leaves_file_untouched(config_dir, pw_env):
    before = risk_text(config_dir)
    result = run("rules", "set", "max_contracts", "limit", "9", "--now", "--config", config_dir,
                 "--url", free_url(), env=pw_env)
    assert result.exit_code == 1 and "daemon is not running" in result.output
    assert risk_text(config_dir) == before


def test_rules_disable_then_enable(config_dir, pw_env):
    url = free_url()
    result = run("rules", "disable", "no_stop_loss_grace", "--config", config_dir, "--url", url, env=pw_env)
    assert result.exit_code == 0, result.output
    assert "loosens" in result.output and "no_stop_loss_grace.enabled: yes → no" in result.output
    result = run("rules", "enable", "no_stop_loss_grace", "--config", config_dir, "--url", url)
    assert result.exit_code == 0 and "takes effect now" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ("rules", "set", "max_contracts", "limit", "8"),
        ("rules", "set", "R01", "limit", "8"),
        ("rules", "disable", "daily_realized_loss"),
        ("rules", "disable", "R03"),
    ],
)
def test_loosening_at_reset_needs_the_password(config_dir, pw_env, args):
    # Deferred to the reset is still loosening: no password, wrong password -> file untouched.
    before = risk_text(config_dir)
    result = run(*args, "--config", config_dir, "--url", free_url(), input="not-the-password\n")
    assert result.exit_code == 1 and "wrong admin password" in result.output, result.output
    result = run(*args, "--config", config_dir, "--url", free_url(), env={"RISK_MANAGER_ADMIN_PASSWORD": "guess-123"})
    assert result.exit_code == 1 and "wrong admin password" in result.output, result.output
    assert risk_text(config_dir) == before
    result = run(*args, "--config", config_dir, "--url", free_url(), env=pw_env)
    assert result.exit_code == 0 and "next daily reset" in result.output, result.output
    assert risk_text(config_dir) != before


def test_loosening_without_a_password_set_is_refused(config_dir):
    before = risk_text(config_dir)
    result = run("rules", "disable", "R08", "--config", config_dir, "--url", free_url())
    assert result.exit_code == 1 and "set-password" in result.output
    assert risk_text(config_dir) == before


def test_tightening_needs_no_password(config_dir, pw_env):
    # No env, no input: a prompt would abort the command.
    for args in (("rules", "set", "R01", "limit", "2"), ("rules", "enable", "R13"),
                 ("rules", "set", "daily_realized_loss", "loss_limit", "400")):
        result = run(*args, "--config", config_dir, "--url", free_url())
        assert result.exit_code == 0 and "takes effect now" in result.output, result.output
    text = risk_text(config_dir)
    assert "limit: 2" in text and "loss_limit: 400" in text


def test_rules_by_id_and_by_name_edit_the_same_block(config_dir, pw_env):
    result = run("rules", "set", "r2", "unknown_symbol_action", "block", "--config", config_dir, "--url", free_url(),
                 env=pw_env)
    assert result.exit_code == 0 and "rules.max_contracts_per_instrument.unknown_symbol_action" in result.output, \
        result.output
    result = run("rules", "set", "R99", "limit", "1", "--config", config_dir, "--url", free_url())
    assert result.exit_code == 1 and "unknown rule 'R99'" in result.output


# --- accounts ---------------------------------------------------------------------------------
def test_accounts_list_add_remove(config_dir, live_api, pw_env):
    api, _ = live_api
    result = run("accounts", "add", "PRAC-V2-1-123", "--config", config_dir, "--url", api.url)
    assert result.exit_code == 0, result.output
    result = run("accounts", "add", "777", "--config", config_dir)
    assert result.exit_code == 0, result.output
    assert "id: 777" in (config_dir / "accounts.yaml").read_text()
    result = run("accounts", "list", "--config", config_dir, "--url", api.url)
    assert result.exit_code == 0, result.output
    assert "PRAC-V2-1-123" in result.output and "$50,000.00" in result.output and "777" in result.output
    result = run("accounts", "remove", "777", "--config", config_dir, env=pw_env)
    assert result.exit_code == 0 and "id: 777" not in (config_dir / "accounts.yaml").read_text()


def test_accounts_remove_needs_the_password(config_dir):
    admin_auth.set_password(config_dir, PASSWORD)
    before = (config_dir / "accounts.yaml").read_text()
    result = run("accounts", "remove", "PRAC-V2-123456-12345678", "--config", config_dir,
                 env={"RISK_MANAGER_ADMIN_PASSWORD": "guess-123"})
    assert result.exit_code == 1 and "wrong admin password" in result.output
    assert (config_dir / "accounts.yaml").read_text() == before
    result = run("accounts", "remove", "PRAC-V2-123456-12345678", "--config", config_dir, input=f"{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "PRAC-V2-123456-12345678" not in (config_dir / "accounts.yaml").read_text()


def test_accounts_bad_input(config_dir):
    before = (config_dir / "accounts.yaml").read_text()
    result = run("accounts", "remove", "NOPE-1", "--config", config_dir)
    assert result.exit_code == 1 and "no account 'NOPE-1'" in result.output
    result = run("accounts", "add", "PRAC-V2-123456-12345678", "--config", config_dir)
    assert result.exit_code == 1 and "already listed" in result.output
    assert (config_dir / "accounts.yaml").read_text() == before


@pytest.fixture
def sim(bg_loop):
    from risk_manager.sim import Simulator

    simulator = Simulator(accounts=2, seed=1, user="sim", api_key="sim-key", speed=0.0)
    bg_loop.run(simulator.start(host="127.0.0.1", port=0))
    yield simulator.info()
    bg_loop.run(simulator.stop())


def _point_at(config_dir, info):
    text = (config_dir / "accounts.yaml").read_text()
    text = text.replace("https://api.topstepx.com", info["api"]).replace("your-topstepx-username", info["user"])
    (config_dir / "accounts.yaml").write_text(text)


def test_accounts_test_with_typed_key_stored(config_dir, sim, monkeypatch):
    monkeypatch.delenv("PROJECTX_API_KEY", raising=False)
    _point_at(config_dir, sim)
    result = run("accounts", "test", "--store-key", "--config", config_dir, input="sim-key\n")
    assert result.exit_code == 0, result.output
    assert "sim-key" not in result.output  # never echoed
    for account_id in sim["accounts"]:
        assert str(account_id) in result.output
    assert "Login OK: 2 active account(s)" in result.output and "$50,000.00" in result.output
    assert "API key stored" in result.output
    secret = config_dir / "state" / "secrets" / "projectx-api-key"
    assert secret.read_text() == "sim-key" and stat.S_IMODE(secret.stat().st_mode) == 0o600


def test_accounts_test_wrong_key(config_dir, sim, monkeypatch):
    monkeypatch.setenv("PROJECTX_API_KEY", "wrong-key")
    _point_at(config_dir, sim)
    result = run("accounts", "test", "--config", config_dir)
    assert result.exit_code == 1 and "login to" in result.output and "failed" in result.output
    assert "wrong-key" not in result.output


# --- lock / unlock ----------------------------------------------------------------------------
def test_lock_until_reset_and_unlock(config_dir, live_api, pw_env):
    api, daemon = live_api
    result = run("lock", "PRAC-V2-1-123", "--reason", "done for today", "--config", config_dir,
                 "--url", api.url, env=pw_env)
    assert result.exit_code == 0, result.output
    assert "Locked PRAC-V2-1-123 (123) until Sat 17:00:00 CST" in result.output
    assert daemon.calls[-1][0] == "lock" and daemon.calls[-1][1][2] is True
    assert daemon.accounts[123]["locked"]
    result = run("unlock", "123", "--reason", "talked it through", "--config", config_dir, "--url", api.url,
                 env=pw_env)
    assert result.exit_code == 0, result.output
    assert "cleared manual" in result.output and not daemon.accounts[123]["locked"]
    assert daemon.calls[-1] == ("unlock", (123, "talked it through", "admin@127.0.0.1", None))


def test_lock_until_duration(config_dir, live_api, pw_env):
    api, daemon = live_api
    result = run("lock", "123", "--until", "90m", "--config", config_dir, "--url", api.url, env=pw_env)
    assert result.exit_code == 0, result.output
    _, (account_id, until, until_reset, _, _) = daemon.calls[-1]
    assert account_id == 123 and until is not None and until_reset is False


def test_lock_prompts_for_password(config_dir, live_api, pw_env):
    api, daemon = live_api
    result = run("lock", "123", "--config", config_dir, "--url", api.url, input=f"{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output


@pytest.mark.parametrize(
    "args,fragment",
    [
        (("lock", "NOPE"), "unknown account 'NOPE'"),
        (("lock", "123", "--until", "yesterday"), "cannot read --until"),
        (("lock", "123", "--until", "2020-01-01T10:00"), "in the past"),
        (("lock", "123", "--until", "1h", "--until-reset"), "not both"),
        (("unlock", "123"), "--reason TEXT is required"),
        (("unlock", "999", "--reason", "x"), "unknown account '999'"),
        (("unlock", "123", "--reason", "nothing locked"), "Nothing to unlock on PRAC-V2-1-123 (123)"),
    ],
)
def test_lock_unlock_bad_input(config_dir, live_api, pw_env, args, fragment):
    api, daemon = live_api
    result = run(*args, "--config", config_dir, "--url", api.url, env=pw_env)
    assert result.exit_code == 1, result.output
    assert fragment in result.output
    assert not daemon.accounts[123]["locked"]


def test_lock_wrong_password(config_dir, live_api, pw_env):
    api, daemon = live_api
    result = run("lock", "123", "--config", config_dir, "--url", api.url,
                 env={"RISK_MANAGER_ADMIN_PASSWORD": "not-it-at-all"})
    assert result.exit_code == 1 and "wrong admin password" in result.output
    assert daemon.calls == [] and daemon.audit_log[-1][0] == "admin_login_failed"


def test_lock_daemon_not_running(config_dir, pw_env):
    for args in (("lock", "123"), ("unlock", "123", "--reason", "x")):
        result = run(*args, "--config", config_dir, "--url", free_url(), env=pw_env)
        assert result.exit_code == 1 and "daemon is not running" in result.output


def test_admin_mounted_in_main_cli(config_dir):
    proc = subprocess.run([sys.executable, "-m", "risk_manager", "admin", "rules", "show", "--config",
                           str(config_dir), "--url", free_url()], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "daily_realized_loss" in proc.stdout


def test_unlock_with_nothing_to_unlock_lists_the_active_locks(config_dir, live_api, pw_env):
    api, daemon = live_api
    result = run("lock", "123", "--reason", "done for today", "--config", config_dir, "--url", api.url, env=pw_env)
    assert result.exit_code == 0, result.output
    # By name or by id, the rule has no lock here: refused before the password, the locks listed.
    for ref in ("daily_realized_loss", "R03"):
        result = run("unlock", "123", "--rule", ref, "--reason", "x", "--config", config_dir, "--url", api.url)
        assert result.exit_code == 1, result.output
        assert "Nothing to unlock on PRAC-V2-1-123 (123) for R03" in result.output
        assert "Active locks:" in result.output and "manual" in result.output and "done for today" in result.output
    assert daemon.accounts[123]["locked"] and daemon.calls[-1][0] == "lock"
    result = run("unlock", "123", "--rule", "MANUAL", "--reason", "ok", "--config", config_dir, "--url", api.url,
                 env=pw_env)
    assert result.exit_code == 0 and daemon.calls[-1] == ("unlock", (123, "ok", "admin@127.0.0.1", "manual"))


@pytest.mark.parametrize("argv", [["demo", "--help"], ["status", "--help"], ["admin", "accounts", "test", "--help"]])
def test_boolean_flags_show_as_flags_in_help(argv):
    proc = subprocess.run([sys.executable, "-m", "risk_manager", *argv], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "COLUMNS": "120"})
    assert proc.returncode == 0, proc.stderr
    assert "<bool>" not in proc.stdout and "--help" in proc.stdout


def test_accounts_test_prints_no_debug_lines(config_dir, sim):
    _point_at(config_dir, sim)
    proc = subprocess.run([sys.executable, "-m", "risk_manager", "admin", "accounts", "test", "--config",
                           str(config_dir)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PROJECTX_API_KEY": "sim-key", "COLUMNS": "160"})
    assert proc.returncode == 0, proc.stderr
    assert "Login OK: 2 active account(s)" in proc.stdout
    for noise in ("debug", "gateway call", "gateway login ok"):
        assert noise not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
