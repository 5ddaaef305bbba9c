"""Windows service adapter (pywin32): install/uninstall/start/stop/status and the service class.

The service is hosted by pywin32's ``pythonservice.exe``, runs as LocalSystem, starts at boot and is
restarted by the Service Control Manager when it fails. It runs the daemon
(``risk_manager.daemon.app.Daemon(config_dir).run()``) on the service thread; SvcStop hands
``Daemon.request_stop`` to the daemon's loop (thread-safe) and waits for the daemon to shut down.

Known pywin32-in-a-virtualenv pitfalls, checked at install time (`check_preconditions`):
- pythonservice.exe in a venv cannot load ``pythonXY.dll`` / ``pywintypesXY.dll`` (they live in the
  base install and in ``pywin32_system32``): install copies them beside pythonservice.exe.
- The service process does not see the venv or an editable ``src/`` (no activation, no .pth):
  install writes PYTHONHOME and PYTHONPATH into the service's own environment (registry).
- LocalSystem has no mapped drives, no OneDrive files-on-demand and no per-user site-packages
  (``pip install --user``): such installs are refused with a clear message.
- Under pythonservice.exe, ``sys.executable`` is pythonservice.exe, and under pythonw.exe there is no
  console: commands shown to the admin always name ``python.exe``.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import logging
import os
import shutil
import site
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.platform == "win32":
    import winreg
    from ctypes import windll
else:  # only the tests import this elsewhere, with a fake winreg (typeshed has these on win32 only)
    import importlib

    winreg: Any = importlib.import_module("winreg")
    windll: Any = getattr(ctypes, "windll", None)

import servicemanager
import win32api
import win32event
import win32service
import win32serviceutil

# The loader's default_config_dir is the single source of truth (%ProgramData%\risk-manager unless
# $RISK_MANAGER_CONFIG says otherwise): the service reads the same dir the CLI defaults to.
from risk_manager.config.loader import default_config_dir

SERVICE_NAME = "RiskManager"
DISPLAY_NAME = "Simple Risk Manager"
DESCRIPTION = "Real-time risk rules for futures accounts (TopstepX / ProjectX Gateway)."
CLASS_STRING = "risk_manager.service.windows.RiskManagerService"
CONFIG_OPTION = "config_dir"  # stored under the service's Parameters key
#: Recovery: restart after 5 s, 15 s, then every 60 s; the failure count resets after a day.
RESTART_DELAYS_MS = (5_000, 15_000, 60_000)
RESET_PERIOD_S = 86_400
STOP_WAIT_S = 30


# --- the service ------------------------------------------------------------------------------
class DaemonRunner:
    """Runs the daemon on the calling thread; `request_stop()` may be called from any thread.

    Drives `risk_manager.daemon.app.Daemon` (what `run_daemon` wraps) so the stop can be handed to
    its event loop with call_soon_threadsafe; `run_daemon` itself only stops on signals, which
    pythonservice.exe does not deliver. A stop that arrives before the loop exists is remembered.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_daemon: Callable[[], None] | None = None

    def run(self, config_dir: Path) -> int:
        from risk_manager.daemon.app import Daemon

        async def main() -> int:
            daemon = Daemon(config_dir)
            with self._lock:
                self._loop, self._stop_daemon = asyncio.get_running_loop(), daemon.request_stop
                if self._stop:
                    daemon.request_stop()
            return int(await daemon.run())

        try:
            return asyncio.run(main())
        finally:
            with self._lock:
                self._loop = self._stop_daemon = None

    def request_stop(self) -> None:
        with self._lock:
            self._stop = True
            if self._loop is not None and self._stop_daemon is not None:
                self._loop.call_soon_threadsafe(self._stop_daemon)


class EventLogHandler(logging.Handler):
    """Copies WARNING and above to the Windows event log (Application, source RiskManager)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            if record.levelno >= logging.ERROR:
                servicemanager.LogErrorMsg(text)
            else:
                servicemanager.LogWarningMsg(text)
        except Exception:  # the event log must never break the daemon
            self.handleError(record)


class RiskManagerService(win32serviceutil.ServiceFramework):
    _svc_name_ = SERVICE_NAME
    _svc_display_name_ = DISPLAY_NAME
    _svc_description_ = DESCRIPTION

    def __init__(self, args: Any) -> None:
        super().__init__(args)
        self.stop_requested = threading.Event()
        self.stopped = win32event.CreateEvent(None, True, False, None)  # set when the daemon returns
        self.runner = DaemonRunner()

    def SvcDoRun(self) -> None:
        servicemanager.LogMsg(
            servicemanager.EVENTLOG_INFORMATION_TYPE, servicemanager.PYS_SERVICE_STARTED, (self._svc_name_, "")
        )
        handler = EventLogHandler()
        logging.getLogger().addHandler(handler)
        try:
            config_dir = win32serviceutil.GetServiceCustomOption(self._svc_name_, CONFIG_OPTION) or str(
                default_config_dir()
            )
            code = self.runner.run(Path(config_dir))
        except BaseException as exc:
            servicemanager.LogErrorMsg(f"{SERVICE_NAME} failed: {type(exc).__name__}: {exc}")
            raise  # pythonservice reports a failure exit code, so the recovery actions restart us
        finally:
            logging.getLogger().removeHandler(handler)
            win32event.SetEvent(self.stopped)
        if code and not self.stop_requested.is_set():
            servicemanager.LogErrorMsg(f"{SERVICE_NAME}: daemon exited with code {code}; restarting")
            raise SystemExit(code)  # a failure, not a stop: let recovery restart the service
        servicemanager.LogMsg(
            servicemanager.EVENTLOG_INFORMATION_TYPE, servicemanager.PYS_SERVICE_STOPPED, (self._svc_name_, "")
        )

    def SvcStop(self) -> None:
        self.ReportServiceStatus(win32service.SERVICE_STOP_PENDING, waitHint=STOP_WAIT_S * 1000)
        self.stop_requested.set()
        self.runner.request_stop()
        win32event.WaitForSingleObject(self.stopped, STOP_WAIT_S * 1000)


# --- install-time checks ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WinEnv:
    """Facts about this Python installation that decide whether the service can start."""

    executable: Path
    prefix: Path
    base_prefix: Path
    sys_path: tuple[str, ...]
    package_dir: Path
    user_site: Path | None
    pythonservice_exe: Path | None
    #: DLL name -> where it is now (None: not found anywhere we know).
    dll_sources: dict[str, Path | None]
    system32: Path
    is_admin: bool
    remote_paths: tuple[Path, ...] = ()


@dataclass(slots=True)
class Check:
    problems: list[str] = field(default_factory=list)
    dll_copies: list[tuple[Path, Path]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def python_exe(executable: Path) -> Path:
    """python.exe for the running interpreter (never pythonw.exe or pythonservice.exe)."""
    name = executable.name.lower()
    if name in ("pythonw.exe", "pythonservice.exe"):
        return executable.with_name("python.exe")
    return executable


def _is_within(path: Path, parent: Path) -> bool:
    try:
        path.resolve().relative_to(parent.resolve())
        return True
    except ValueError:
        return False


def check_preconditions(env: WinEnv) -> Check:
    check = Check()
    python = python_exe(env.executable)
    if not env.is_admin:
        check.problems.append(
            "Administrator rights are required: open an elevated prompt (Run as administrator) and run "
            f'"{python}" -m risk_manager service install'
        )
    if env.pythonservice_exe is None:
        check.problems.append(
            "pythonservice.exe (part of pywin32) was not found. Reinstall pywin32 in this environment: "
            f'"{python}" -m pip install --force-reinstall pywin32'
        )
    else:
        beside = env.pythonservice_exe.parent
        for dll, source in env.dll_sources.items():
            if (beside / dll).is_file() or (env.system32 / dll).is_file():
                continue
            if source is None:
                check.problems.append(
                    f"{dll} not found: pythonservice.exe cannot start without it. Run "
                    f'"{python}" Scripts\\pywin32_postinstall.py -install from an elevated prompt.'
                )
            else:  # the venv case: the DLL exists, just not where pythonservice.exe looks
                check.dll_copies.append((source, beside / dll))
    if env.user_site is not None and _is_within(env.package_dir, env.user_site):
        check.problems.append(
            f"risk_manager is installed in your per-user site-packages ({env.user_site}, pip --user); "
            "the service runs as LocalSystem and cannot see it. Install it into a virtualenv or "
            "system-wide (e.g. under C:\\Program Files or C:\\ProgramData)."
        )
    for path in (env.prefix, env.base_prefix, env.package_dir):
        text = str(path)
        if text.startswith("\\\\") or path in env.remote_paths:
            check.problems.append(
                f"{path} is on a network share or mapped drive, which LocalSystem cannot see; "
                "install Python and risk-manager on a local disk."
            )
        elif "onedrive" in text.lower():
            check.problems.append(
                f"{path} is inside OneDrive; files-on-demand are not available to LocalSystem. "
                "Install on a local folder outside OneDrive."
            )
    if any(_is_within(p, Path(os.environ.get("SYSTEMDRIVE", "C:") + "\\Users")) for p in (env.prefix,)):
        check.warnings.append(
            f"{env.prefix} is inside a user profile; it works, but a folder such as "
            "C:\\ProgramData\\risk-manager survives that user being removed."
        )
    return check


def service_path_entries(env: WinEnv) -> list[str]:
    """sys.path entries the service needs (venv site-packages, .pth additions such as src/)."""
    stdlib = str(env.base_prefix).lower()
    out: list[str] = []
    for entry in env.sys_path:
        if not entry or not os.path.isdir(entry):
            continue
        low = entry.lower()
        if low.startswith(stdlib) and "site-packages" not in low:
            continue  # PYTHONHOME brings the standard library
        if entry not in out:
            out.append(entry)
    return out


def gather_env() -> WinEnv:  # pragma: no cover - reads the real Windows installation
    import pywintypes

    ver = f"{sys.version_info.major}{sys.version_info.minor}"
    try:
        exe: Path | None = Path(win32serviceutil.LocatePythonServiceExe())
    except Exception:
        exe = None
    base_dll = Path(sys.base_prefix) / f"python{ver}.dll"
    pywintypes_dll = Path(pywintypes.__file__)
    import risk_manager

    package_dir = Path(risk_manager.__file__).parent
    remote = tuple(p for p in (Path(sys.prefix), package_dir) if _drive_is_remote(p))
    return WinEnv(
        executable=Path(sys.executable),
        prefix=Path(sys.prefix),
        base_prefix=Path(sys.base_prefix),
        sys_path=tuple(sys.path),
        package_dir=package_dir,
        user_site=Path(site.getusersitepackages()) if site.ENABLE_USER_SITE else None,
        pythonservice_exe=exe if exe is not None and exe.is_file() else None,
        dll_sources={
            base_dll.name: base_dll if base_dll.is_file() else None,
            pywintypes_dll.name: pywintypes_dll if pywintypes_dll.is_file() else None,
        },
        system32=Path(os.environ.get("SYSTEMROOT", r"C:\Windows")) / "System32",
        is_admin=is_admin(),
        remote_paths=remote,
    )


def _drive_is_remote(path: Path) -> bool:  # pragma: no cover - Windows only
    drive = path.drive
    if not drive or drive.startswith("\\\\"):
        return False
    return bool(windll.kernel32.GetDriveTypeW(drive + "\\") == 4)  # DRIVE_REMOTE


def is_admin() -> bool:  # pragma: no cover - Windows only
    try:
        return bool(windll.shell32.IsUserAnAdmin())
    except Exception:
        return False


# --- install / control ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Step:
    describe: str
    run: Callable[[], None]


def install_steps(env: WinEnv, check: Check, config_dir: Path) -> list[Step]:
    """What `service install` does, in order. `check` must have no problems."""
    assert env.pythonservice_exe is not None
    exe = env.pythonservice_exe
    steps = [
        Step(f'copy "{src}" "{dst}"', functools.partial(_copy, src, dst))
        for src, dst in check.dll_copies
    ]
    environment = [f"PYTHONHOME={env.base_prefix}", "PYTHONPATH=" + ";".join(service_path_entries(env)),
                   "PYTHONUNBUFFERED=1"]
    steps += [
        Step(
            f"create service {SERVICE_NAME} ({CLASS_STRING}) host={exe}, start=auto, account=LocalSystem",
            lambda: win32serviceutil.InstallService(
                CLASS_STRING, SERVICE_NAME, DISPLAY_NAME, startType=win32service.SERVICE_AUTO_START,
                exeName=str(exe), description=DESCRIPTION,
            ),
        ),
        Step(f"set service option {CONFIG_OPTION}={config_dir}",
             lambda: win32serviceutil.SetServiceCustomOption(SERVICE_NAME, CONFIG_OPTION, str(config_dir))),
        Step("set service environment: " + "; ".join(environment),
             lambda: _set_service_environment(environment)),
        Step(
            "recovery: restart after "
            + ", ".join(f"{ms // 1000}s" for ms in RESTART_DELAYS_MS)
            + f"; reset failure count after {RESET_PERIOD_S // 3600}h; also on non-crash failures",
            _set_recovery,
        ),
    ]
    return steps


def _copy(src: Path, dst: Path) -> None:  # pragma: no cover - file copy
    shutil.copy2(src, dst)


def _set_service_environment(lines: list[str]) -> None:
    key_path = rf"SYSTEM\CurrentControlSet\Services\{SERVICE_NAME}"
    with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, key_path, 0, winreg.KEY_SET_VALUE) as key:
        winreg.SetValueEx(key, "Environment", 0, winreg.REG_MULTI_SZ, lines)


def _set_recovery() -> None:
    scm = win32service.OpenSCManager(None, None, win32service.SC_MANAGER_ALL_ACCESS)
    try:
        svc = win32service.OpenService(scm, SERVICE_NAME, win32service.SERVICE_ALL_ACCESS)
        try:
            actions = {
                "ResetPeriod": RESET_PERIOD_S,
                "RebootMsg": "",
                "Command": "",
                "Actions": [(win32service.SC_ACTION_RESTART, ms) for ms in RESTART_DELAYS_MS],
            }
            win32service.ChangeServiceConfig2(svc, win32service.SERVICE_CONFIG_FAILURE_ACTIONS, actions)
            # Exiting with an error code (not only crashing) counts as a failure too.
            win32service.ChangeServiceConfig2(svc, win32service.SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, True)
        finally:
            win32service.CloseServiceHandle(svc)
    finally:
        win32service.CloseServiceHandle(scm)


def uninstall_steps() -> list[Step]:
    return [
        Step(f"stop service {SERVICE_NAME} (if running)", _stop_quietly),
        Step(f"remove service {SERVICE_NAME}", lambda: win32serviceutil.RemoveService(SERVICE_NAME)),
    ]


def _stop_quietly() -> None:
    try:
        win32serviceutil.StopService(SERVICE_NAME)
        win32serviceutil.WaitForServiceStatus(SERVICE_NAME, win32service.SERVICE_STOPPED, STOP_WAIT_S)
    except Exception:  # not running, or already gone
        pass


def start() -> None:
    win32serviceutil.StartService(SERVICE_NAME)
    win32serviceutil.WaitForServiceStatus(SERVICE_NAME, win32service.SERVICE_RUNNING, STOP_WAIT_S)


def stop() -> None:
    win32serviceutil.StopService(SERVICE_NAME)
    win32serviceutil.WaitForServiceStatus(SERVICE_NAME, win32service.SERVICE_STOPPED, STOP_WAIT_S)


_STATES = {
    win32service.SERVICE_STOPPED: "stopped",
    win32service.SERVICE_START_PENDING: "starting",
    win32service.SERVICE_STOP_PENDING: "stopping",
    win32service.SERVICE_RUNNING: "running",
}


def status() -> str:
    """'running', 'stopped', … or 'not installed'."""
    try:
        state = win32serviceutil.QueryServiceStatus(SERVICE_NAME)[1]
    except win32api.error as exc:
        if getattr(exc, "winerror", None) == 1060:  # ERROR_SERVICE_DOES_NOT_EXIST
            return "not installed"
        raise
    return _STATES.get(state, f"state {state}")


def error_text(exc: BaseException) -> str:
    """A readable line for a pywin32 error (access denied gets the admin hint)."""
    code = getattr(exc, "winerror", None)
    text = getattr(exc, "strerror", None) or str(exc)
    if code == 5:
        return f"{text}: administrator rights are required (run from an elevated prompt)."
    return f"{text} (Windows error {code})" if code is not None else text


if __name__ == "__main__":  # pythonservice.exe / debugging: python -m risk_manager.service.windows debug
    win32serviceutil.HandleCommandLine(RiskManagerService)
