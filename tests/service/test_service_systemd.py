"""The generated systemd unit and the install/uninstall plans (generated into temp dirs)."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from risk_manager.service import systemd
from risk_manager.service.cli import execute_plan


def _parse(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=True, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(text)
    return parser


def test_unit_has_the_required_settings() -> None:
    spec = systemd.UnitSpec(exec_start=("/opt/risk-manager/bin/risk-manager", "run", "--config", "/etc/risk-manager"))
    unit = _parse(systemd.render_unit(spec))
    svc = unit["Service"]
    assert svc["Type"] == "notify"
    assert svc["WatchdogSec"] == "30"
    assert svc["Restart"] == "on-failure"
    assert int(svc["RestartSec"]) > 0
    assert svc["User"] == "risk-manager"
    assert svc["StateDirectory"] == "risk-manager"
    assert svc["ExecStart"] == "/opt/risk-manager/bin/risk-manager run --config /etc/risk-manager"
    assert svc["NoNewPrivileges"] == "yes"
    assert svc["ProtectSystem"] == "strict"
    assert "/var/lib/risk-manager" in svc["ReadWritePaths"].split()
    assert svc["PrivateTmp"] == "yes"
    assert svc["ProtectHome"] == "yes"
    assert "AF_UNIX" in svc["RestrictAddressFamilies"]  # the notify socket
    assert svc["EnvironmentFile"] == "-/etc/risk-manager/env"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_default_exec_start_is_this_installation() -> None:
    argv = systemd.default_exec_start(Path("/etc/risk-manager"))
    assert Path(argv[0]).is_absolute() and Path(argv[0]).exists()
    assert argv[-3:] == ("run", "--config", "/etc/risk-manager")
    assert Path(argv[0]).parent == Path(sys.executable).absolute().parent


def test_venv_under_home_keeps_home_readable() -> None:
    spec = systemd.UnitSpec(exec_start=("/home/alice/venv/bin/risk-manager", "run"))
    assert _parse(systemd.render_unit(spec))["Service"]["ProtectHome"] == "read-only"


def test_exec_start_with_spaces_is_quoted() -> None:
    spec = systemd.UnitSpec(exec_start=("/opt/risk manager/bin/risk-manager", "run"))
    assert "ExecStart='/opt/risk manager/bin/risk-manager' run" in systemd.render_unit(spec)


def test_generated_unit_passes_systemd_analyze(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here")
    spec = systemd.UnitSpec(exec_start=systemd.default_exec_start())
    plan = systemd.install_plan(spec, unit_dir=tmp_path, user_exists=True)
    assert plan.unit_path is not None and plan.unit_text is not None
    plan.unit_path.write_text(plan.unit_text)
    proc = subprocess.run(["systemd-analyze", "verify", str(plan.unit_path)],
                          capture_output=True, text=True, timeout=60)
    problems = [line for line in proc.stderr.splitlines()
                if any(w in line for w in ("Unknown", "Failed", "ignoring", "not executable"))]
    assert proc.returncode == 0 and not problems, proc.stderr


def test_install_plan_creates_the_user_only_when_missing(tmp_path: Path) -> None:
    spec = systemd.UnitSpec(exec_start=("/opt/rm/bin/risk-manager", "run"), user="guard")
    fresh = systemd.install_plan(spec, unit_dir=tmp_path, user_exists=False)
    assert fresh.before[0][0] == "useradd" and fresh.before[0][-1] == "guard"
    again = systemd.install_plan(spec, unit_dir=tmp_path, user_exists=True)
    assert all(argv[0] != "useradd" for argv in again.before)
    assert again.after == [["systemctl", "daemon-reload"], ["systemctl", "enable", "risk-manager.service"]]


def test_execute_plan_writes_the_unit_and_runs_commands_in_order(tmp_path: Path) -> None:
    spec = systemd.UnitSpec(exec_start=("/opt/rm/bin/risk-manager", "run"))
    plan = systemd.install_plan(spec, unit_dir=tmp_path / "system", user_exists=True)
    ran: list[tuple[str, bool]] = []
    unit_file = tmp_path / "system" / systemd.UNIT_NAME

    def runner(argv):  # records the order relative to the unit file appearing
        ran.append((" ".join(argv), unit_file.exists()))
        return 0

    assert execute_plan(plan, runner) == 0
    assert unit_file.read_text() == plan.unit_text
    assert oct(unit_file.stat().st_mode & 0o777) == "0o644"
    assert ran[0] == ("install -d -m 0750 -o root -g risk-manager /etc/risk-manager", False)
    assert ("ln -sfn /var/lib/risk-manager /etc/risk-manager/state", False) in ran
    assert ran[-2:] == [("systemctl daemon-reload", True), ("systemctl enable risk-manager.service", True)]

    removed: list[str] = []
    code = execute_plan(systemd.uninstall_plan(unit_dir=tmp_path / "system"),
                        lambda argv: removed.append(" ".join(argv)) or 0)
    assert code == 0 and not unit_file.exists()
    assert removed[0] == "systemctl disable --now risk-manager.service"


def test_execute_plan_stops_at_the_first_failure(tmp_path: Path) -> None:
    spec = systemd.UnitSpec(exec_start=("/opt/rm/bin/risk-manager", "run"))
    plan = systemd.install_plan(spec, unit_dir=tmp_path, user_exists=False)
    assert execute_plan(plan, lambda argv: 9) == 9
    assert not (tmp_path / systemd.UNIT_NAME).exists()


def test_state_and_logs_links_only_when_absent(tmp_path: Path) -> None:
    config = tmp_path / "etc-rm"
    (config / "state").mkdir(parents=True)  # the admin already chose a real directory
    spec = systemd.UnitSpec(exec_start=("/opt/rm/bin/risk-manager", "run"), config_dir=config)
    commands = [" ".join(a) for a in systemd.install_plan(spec, unit_dir=tmp_path, user_exists=True).before]
    assert f"ln -sfn /var/log/risk-manager {config}/logs" in commands
    assert not any(c.endswith(f"{config}/state") for c in commands)


@pytest.fixture
def open_dir():
    """A world-searchable directory outside /tmp (pytest's tmp_path is private and under /tmp)."""
    import tempfile

    path = Path(tempfile.mkdtemp(dir="/var/tmp" if Path("/var/tmp").is_dir() else None))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_refused_when_the_service_user_cannot_reach_the_program(open_dir: Path) -> None:
    private = open_dir / "private"
    (private / "bin").mkdir(parents=True)
    script = private / "bin" / "risk-manager"
    script.write_text("#!/bin/sh\n")
    private.chmod(0o700)
    try:
        problems = systemd.start_problems(systemd.UnitSpec(exec_start=(str(script), "run")))
    finally:
        private.chmod(0o755)
    assert f"{private} is not searchable by other users, so risk-manager cannot reach {script}" in problems


def test_refused_when_the_interpreter_lives_in_roots_home() -> None:
    # A venv in /opt whose python links into /root (pyenv or a uv-managed Python of root).
    spec = systemd.UnitSpec(exec_start=("/opt/rm/bin/risk-manager", "run"),
                            env_paths=("/root/.local/share/uv/python/cpython-3.12/bin/python3.12",))
    problems = systemd.start_problems(spec)
    assert len(problems) == 1 and "is in root's home /root" in problems[0] and "ProtectHome" in problems[0]


def test_refused_when_a_file_is_not_readable_by_others(open_dir: Path) -> None:
    lib = open_dir / "lib"
    lib.mkdir()
    lib.chmod(0o750)
    try:
        problems = systemd.start_problems(systemd.UnitSpec(exec_start=("/usr/bin/env", "run"), env_paths=(str(lib),)))
    finally:
        lib.chmod(0o755)
    assert f"{lib} is not readable by other users, so risk-manager cannot use it" in problems


def test_a_system_installation_is_accepted() -> None:
    spec = systemd.UnitSpec(exec_start=("/usr/bin/env", "run"), env_paths=("/usr/bin", "/usr/lib"))
    assert systemd.start_problems(spec) == []


def test_interpreter_under_home_keeps_home_readable() -> None:
    # The venv is in /opt, its interpreter in a home: ProtectHome=yes would hide it.
    spec = systemd.UnitSpec(exec_start=("/opt/rm/bin/risk-manager", "run"),
                            env_paths=("/home/alice/.local/share/uv/python/cpython-3.12/bin/python3.12",))
    assert _parse(systemd.render_unit(spec))["Service"]["ProtectHome"] == "read-only"


def _template_spec() -> systemd.UnitSpec:
    return systemd.UnitSpec(exec_start=("/opt/rm/bin/risk-manager", "run", "--config", "/etc/risk-manager/%i"),
                            template=True)


def test_template_unit_gives_each_login_its_own_dirs() -> None:
    svc = _parse(systemd.render_unit(_template_spec()))["Service"]
    assert svc["ExecStart"] == "/opt/rm/bin/risk-manager run --config /etc/risk-manager/%i"
    assert svc["StateDirectory"] == "risk-manager/%i" and svc["LogsDirectory"] == "risk-manager/%i"
    assert svc["WorkingDirectory"] == "/var/lib/risk-manager/%i"
    assert svc["ReadWritePaths"].split() == ["/var/lib/risk-manager/%i", "/var/log/risk-manager/%i"]
    assert svc["EnvironmentFile"] == "-/etc/risk-manager/%i/env"
    # The single unit is unchanged by the template's existence.
    single = _parse(systemd.render_unit(systemd.UnitSpec(exec_start=("/opt/rm/bin/risk-manager", "run"))))["Service"]
    assert single["StateDirectory"] == "risk-manager" and single["WorkingDirectory"] == "/var/lib/risk-manager"


def test_template_install_plan_per_login(tmp_path: Path) -> None:
    plan = systemd.install_plan(_template_spec(), unit_dir=tmp_path, user_exists=True, check_links=False,
                                instance="alice")
    commands = [" ".join(a) for a in plan.before]
    assert plan.unit_path == tmp_path / "risk-manager@.service"
    assert "install -d -m 0750 -o root -g risk-manager /etc/risk-manager/alice" in commands
    assert "install -d -m 0700 -o risk-manager -g risk-manager /var/lib/risk-manager/alice" in commands
    assert "ln -sfn /var/lib/risk-manager/alice /etc/risk-manager/alice/state" in commands
    assert "ln -sfn /var/log/risk-manager/alice /etc/risk-manager/alice/logs" in commands
    assert plan.after == [["systemctl", "daemon-reload"], ["systemctl", "enable", "risk-manager@alice.service"]]
    assert any("status_api" in note for note in plan.notes)


def test_template_unit_passes_systemd_analyze(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here")
    spec = systemd.UnitSpec(exec_start=(*systemd.default_exec_start()[:-2], "--config", "/etc/risk-manager/%i"),
                            template=True)
    template = tmp_path / systemd.TEMPLATE_NAME
    template.write_text(systemd.render_unit(spec))
    instance = tmp_path / "risk-manager@bob.service"
    instance.symlink_to(template)
    proc = subprocess.run(["systemd-analyze", "verify", str(instance)], capture_output=True, text=True, timeout=60)
    problems = [line for line in proc.stderr.splitlines()
                if any(w in line for w in ("Unknown", "Failed", "ignoring", "not executable"))]
    assert proc.returncode == 0 and not problems, proc.stderr
