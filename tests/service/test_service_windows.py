"""The pywin32 adapter on Linux: fake win32 modules injected into sys.modules record every call."""

from __future__ import annotations

import asyncio
import importlib
import shutil
import subprocess
import sys
import threading
import types
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]


class Win32Error(Exception):
    def __init__(self, winerror: int, funcname: str, strerror: str) -> None:
        super().__init__(winerror, funcname, strerror)
        self.winerror, self.funcname, self.strerror = winerror, funcname, strerror


class FakeWindows:
    """Just enough of pywin32 (and winreg) for the adapter, recording what it is asked to do."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.events: list[tuple[str, Any]] = []  # event log
        self.options: dict[str, str] = {}
        self.registry: dict[str, Any] = {}
        self.service_state: int | None = None  # None = not installed
        self.modules = self._build()

    def _rec(self, name: str):
        def record(*args: Any, **kwargs: Any) -> None:
            self.calls.append((name, args, kwargs))
        return record

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def _build(self) -> dict[str, types.ModuleType]:
        fake = self
        svc = types.ModuleType("win32service")
        for i, name in enumerate(["SERVICE_STOPPED", "SERVICE_START_PENDING", "SERVICE_STOP_PENDING",
                                  "SERVICE_RUNNING"], start=1):
            setattr(svc, name, i)
        svc.SERVICE_AUTO_START = 2
        svc.SC_MANAGER_ALL_ACCESS = 0xF003F
        svc.SERVICE_ALL_ACCESS = 0xF01FF
        svc.SC_ACTION_RESTART = 1
        svc.SERVICE_CONFIG_FAILURE_ACTIONS = 2
        svc.SERVICE_CONFIG_FAILURE_ACTIONS_FLAG = 4
        svc.OpenSCManager = lambda *a: fake._rec("OpenSCManager")(*a) or "scm"
        svc.OpenService = lambda *a: fake._rec("OpenService")(*a) or "svc"
        svc.ChangeServiceConfig2 = self._rec("ChangeServiceConfig2")
        svc.CloseServiceHandle = self._rec("CloseServiceHandle")

        api = types.ModuleType("win32api")
        api.error = Win32Error

        util = types.ModuleType("win32serviceutil")

        class ServiceFramework:
            def __init__(self, args: Any) -> None:
                self.reported: list[tuple[int, dict[str, Any]]] = []

            def ReportServiceStatus(self, status: int, **kw: Any) -> None:
                self.reported.append((status, kw))

        util.ServiceFramework = ServiceFramework
        util.InstallService = self._rec("InstallService")
        util.RemoveService = self._rec("RemoveService")
        util.SetServiceCustomOption = lambda name, opt, value: fake.options.__setitem__(opt, value)
        util.GetServiceCustomOption = lambda name, opt, default=None: fake.options.get(opt, default)
        util.StartService = self._rec("StartService")
        util.StopService = self._rec("StopService")
        util.WaitForServiceStatus = self._rec("WaitForServiceStatus")
        util.HandleCommandLine = self._rec("HandleCommandLine")
        util.LocatePythonServiceExe = lambda exe=None: r"C:\venv\Lib\site-packages\win32\pythonservice.exe"

        def query(name: str) -> tuple[int, int]:
            if fake.service_state is None:
                raise Win32Error(1060, "OpenService", "The specified service does not exist as an installed service.")
            return (16, fake.service_state)

        util.QueryServiceStatus = query

        event = types.ModuleType("win32event")
        event.CreateEvent = lambda *a: threading.Event()
        event.SetEvent = lambda e: e.set()
        event.WaitForSingleObject = lambda e, ms: 0 if e.wait(ms / 1000) else 258

        sm = types.ModuleType("servicemanager")
        sm.EVENTLOG_INFORMATION_TYPE = 4
        sm.PYS_SERVICE_STARTED, sm.PYS_SERVICE_STOPPED = 0x1003, 0x1004
        sm.LogMsg = lambda kind, event_id, inserts=None: fake.events.append(("msg", event_id))
        sm.LogErrorMsg = lambda text: fake.events.append(("error", text))
        sm.LogWarningMsg = lambda text: fake.events.append(("warning", text))
        sm.LogInfoMsg = lambda text: fake.events.append(("info", text))

        reg = types.ModuleType("winreg")
        reg.HKEY_LOCAL_MACHINE, reg.KEY_SET_VALUE, reg.REG_MULTI_SZ = "HKLM", 2, 7

        class Key:
            def __init__(self, root: str, path: str, *a: Any) -> None:
                self.path = f"{root}\\{path}"

            def __enter__(self) -> Key:
                return self

            def __exit__(self, *exc: Any) -> None:
                return None

        reg.OpenKey = Key
        reg.SetValueEx = lambda key, name, _r, kind, value: fake.registry.__setitem__(f"{key.path}\\{name}", value)
        return {"win32service": svc, "win32api": api, "win32serviceutil": util, "win32event": event,
                "servicemanager": sm, "winreg": reg}


class FakeDaemon:
    """Stands in for risk_manager.daemon.app.Daemon: `run()` waits until `request_stop()`."""

    def __init__(self, exit_code: int = 0, error: Exception | None = None) -> None:
        self.started = threading.Event()
        self.stopped_by_request = False
        self.config_dir: Path | None = None
        owner = self

        class Daemon:
            def __init__(self, config_dir: Path) -> None:
                owner.config_dir = config_dir
                self._stop = asyncio.Event()

            def request_stop(self) -> None:  # like the real one: not thread-safe on its own
                self._stop.set()

            async def run(self) -> int:
                owner.started.set()
                if error is not None:
                    raise error
                if exit_code:
                    return exit_code
                await asyncio.wait_for(self._stop.wait(), 10)
                owner.stopped_by_request = True
                return 0

        self.module = types.ModuleType("risk_manager.daemon.app")
        self.module.Daemon = Daemon


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch):
    fw = FakeWindows()
    for name, module in fw.modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.delitem(sys.modules, "risk_manager.service.windows", raising=False)
    windows = importlib.import_module("risk_manager.service.windows")
    yield fw, windows
    sys.modules.pop("risk_manager.service.windows", None)


def _daemon(monkeypatch: pytest.MonkeyPatch, daemon: FakeDaemon) -> None:
    monkeypatch.setitem(sys.modules, "risk_manager.daemon.app", daemon.module)


def test_service_runs_the_daemon_and_stops_it_cleanly(fake, monkeypatch) -> None:
    fw, windows = fake
    daemon = FakeDaemon()
    _daemon(monkeypatch, daemon)
    fw.options["config_dir"] = r"C:\ProgramData\RiskManager"
    service = windows.RiskManagerService(["RiskManager"])
    thread = threading.Thread(target=service.SvcDoRun)
    thread.start()
    assert daemon.started.wait(5)
    service.SvcStop()
    thread.join(5)
    assert not thread.is_alive() and daemon.stopped_by_request
    assert daemon.config_dir == Path(r"C:\ProgramData\RiskManager")
    assert service.reported[0][0] == fw.modules["win32service"].SERVICE_STOP_PENDING
    assert service.reported[0][1]["waitHint"] == windows.STOP_WAIT_S * 1000
    assert ("msg", 0x1003) in fw.events and ("msg", 0x1004) in fw.events


def test_unexpected_daemon_exit_is_a_failure_for_recovery(fake, monkeypatch) -> None:
    fw, windows = fake
    _daemon(monkeypatch, FakeDaemon(exit_code=2))
    service = windows.RiskManagerService(["RiskManager"])
    with pytest.raises(SystemExit) as exc:
        service.SvcDoRun()
    assert exc.value.code == 2
    assert any(kind == "error" and "exited with code 2" in text for kind, text in fw.events)


def test_daemon_crash_is_logged_to_the_event_log_and_reraised(fake, monkeypatch) -> None:
    fw, windows = fake
    _daemon(monkeypatch, FakeDaemon(error=RuntimeError("config invalid: accounts.yaml line 3")))
    service = windows.RiskManagerService(["RiskManager"])
    with pytest.raises(RuntimeError):
        service.SvcDoRun()
    assert ("error", "RiskManager failed: RuntimeError: config invalid: accounts.yaml line 3") in fw.events


def test_stop_during_startup_does_not_hang(fake, monkeypatch) -> None:
    fw, windows = fake
    daemon = FakeDaemon()
    _daemon(monkeypatch, daemon)
    service = windows.RiskManagerService(["RiskManager"])
    service.runner.request_stop()  # the SCM may stop us before the daemon's loop exists
    service.SvcDoRun()  # returns at once instead of waiting for a stop that already happened
    assert daemon.started.is_set() and daemon.stopped_by_request


def test_warnings_reach_the_event_log(fake) -> None:
    fw, windows = fake
    import logging

    logger = logging.getLogger("risk_manager.test.eventlog")
    handler = windows.EventLogHandler()
    logger.addHandler(handler)
    try:
        logger.info("not copied")
        logger.warning("hub disconnected")
        logger.error("enforcement failed")
    finally:
        logger.removeHandler(handler)
    assert fw.events == [("warning", "hub disconnected"), ("error", "enforcement failed")]


def _env(windows, tmp_path: Path, **over: Any):
    service_dir = tmp_path / "venv" / "Lib" / "site-packages" / "win32"
    service_dir.mkdir(parents=True)
    exe = service_dir / "pythonservice.exe"
    exe.write_text("")
    base = tmp_path / "Python311"
    (base / "Lib").mkdir(parents=True)
    (base / "python311.dll").write_text("")
    pywin_dll = tmp_path / "venv" / "Lib" / "site-packages" / "pywin32_system32" / "pywintypes311.dll"
    pywin_dll.parent.mkdir(parents=True)
    pywin_dll.write_text("")
    src = tmp_path / "src"
    src.mkdir()
    values: dict[str, Any] = dict(
        executable=tmp_path / "venv" / "Scripts" / "pythonw.exe",
        prefix=tmp_path / "venv",
        base_prefix=base,
        sys_path=("", str(base / "Lib"), str(service_dir.parent), str(src), str(tmp_path / "missing")),
        package_dir=src / "risk_manager",
        user_site=tmp_path / "AppData" / "Python311" / "site-packages",
        pythonservice_exe=exe,
        dll_sources={"python311.dll": base / "python311.dll", "pywintypes311.dll": pywin_dll},
        system32=tmp_path / "System32",
        is_admin=True,
    )
    values.update(over)
    return windows.WinEnv(**values)


def test_venv_preconditions_copy_the_dlls_beside_pythonservice(fake, tmp_path) -> None:
    _, windows = fake
    env = _env(windows, tmp_path)
    check = windows.check_preconditions(env)
    assert check.problems == []
    beside = env.pythonservice_exe.parent
    assert sorted(dst.name for _, dst in check.dll_copies) == ["python311.dll", "pywintypes311.dll"]
    assert all(dst.parent == beside for _, dst in check.dll_copies)
    assert windows.python_exe(env.executable).name == "python.exe"


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"is_admin": False}, "Administrator rights are required"),
        ({"pythonservice_exe": None}, "pythonservice.exe (part of pywin32) was not found"),
        ({"dll_sources": {"pywintypes311.dll": None}}, "pywintypes311.dll not found"),
        ({"prefix": Path(r"\\fileserver\share\venv")}, "network share or mapped drive"),
        ({"prefix": Path("/Users/al/OneDrive/venv")}, "inside OneDrive"),
    ],
)
def test_precondition_failures_are_explained(fake, tmp_path, override, expected) -> None:
    _, windows = fake
    check = windows.check_preconditions(_env(windows, tmp_path, **override))
    assert any(expected in p for p in check.problems), check.problems


def test_per_user_site_packages_is_refused(fake, tmp_path) -> None:
    _, windows = fake
    user_site = tmp_path / "AppData" / "Python311" / "site-packages"
    check = windows.check_preconditions(_env(windows, tmp_path, user_site=user_site,
                                             package_dir=user_site / "risk_manager"))
    assert any("per-user site-packages" in p and "LocalSystem" in p for p in check.problems)


def test_install_steps_register_service_recovery_and_environment(fake, tmp_path, monkeypatch) -> None:
    fw, windows = fake
    env = _env(windows, tmp_path)
    check = windows.check_preconditions(env)
    copied: list[tuple[Path, Path]] = []
    monkeypatch.setattr(windows, "_copy", lambda s, d: copied.append((s, d)))
    for step in windows.install_steps(env, check, Path(r"C:\ProgramData\RiskManager")):
        step.run()
    assert copied == check.dll_copies
    name, args, kwargs = next(c for c in fw.calls if c[0] == "InstallService")
    assert args[:2] == ("risk_manager.service.windows.RiskManagerService", "RiskManager")
    assert kwargs["startType"] == fw.modules["win32service"].SERVICE_AUTO_START
    assert kwargs["exeName"] == str(env.pythonservice_exe)
    assert "userName" not in kwargs  # LocalSystem
    assert fw.options["config_dir"] == r"C:\ProgramData\RiskManager"
    configs = [c[1] for c in fw.calls if c[0] == "ChangeServiceConfig2"]
    actions = configs[0][2]
    assert [a[0] for a in actions["Actions"]] == [1, 1, 1] and actions["ResetPeriod"] == 86400
    assert configs[1][1:] == (4, True)  # failure actions also on non-crash failures
    environment = fw.registry[r"HKLM\SYSTEM\CurrentControlSet\Services\RiskManager\Environment"]
    assert environment[0] == f"PYTHONHOME={env.base_prefix}"
    path_entries = environment[1].removeprefix("PYTHONPATH=").split(";")
    assert path_entries == [env.sys_path[2], env.sys_path[3]]  # site-packages and src, not stdlib


def test_status_start_stop(fake) -> None:
    fw, windows = fake
    assert windows.status() == "not installed"
    fw.service_state = fw.modules["win32service"].SERVICE_RUNNING
    assert windows.status() == "running"
    windows.stop()
    windows.start()
    assert fw.names() == ["StopService", "WaitForServiceStatus", "StartService", "WaitForServiceStatus"]
    assert "administrator rights" in windows.error_text(Win32Error(5, "StopService", "Access is denied."))


def test_cli_on_windows_dry_run_and_refusal(fake, tmp_path, monkeypatch) -> None:
    fw, windows = fake
    from risk_manager.service import cli

    monkeypatch.setattr(cli, "_is_windows", lambda: True)
    monkeypatch.setattr(windows, "gather_env", lambda: _env(windows, tmp_path))
    result = CliRunner().invoke(cli.app, ["install", "--dry-run", "--config", str(tmp_path / "cfg")])
    assert result.exit_code == 0, result.output
    assert "pythonservice.exe" in result.output and "recovery: restart after 5s, 15s, 60s" in result.output
    assert fw.calls == [] and fw.registry == {}

    monkeypatch.setattr(windows, "gather_env", lambda: _env(windows, tmp_path / "b", is_admin=False))
    result = CliRunner().invoke(cli.app, ["install"])
    assert result.exit_code == 1 and "Administrator rights are required" in result.output
    assert fw.calls == []

    fw.service_state = fw.modules["win32service"].SERVICE_STOPPED
    result = CliRunner().invoke(cli.app, ["status"])
    assert result.exit_code == 3 and "RiskManager: stopped" in result.output


def test_windows_module_type_checks_for_win32(tmp_path: Path) -> None:
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent))
    if mypy is None:
        pytest.skip("mypy is not installed in this environment (uv sync --group dev)")
    # The daemon is type-checked on its own; following it here would only make this test slow.
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\n[mypy-risk_manager.daemon.*]\nfollow_imports = skip\n")
    proc = subprocess.run(
        [mypy, "--config-file", str(config), "--platform", "win32", "--python-version", "3.11", "--strict",
         "--no-incremental", "src/risk_manager/service/windows.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    if "Cannot find implementation or library stub" in proc.stdout and "win32" in proc.stdout:
        pytest.skip("mypy cannot resolve the pywin32 stubs (install types-pywin32)")
    assert proc.returncode == 0, proc.stdout + proc.stderr
