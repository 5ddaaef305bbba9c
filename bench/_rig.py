"""The daemon as a real subprocess (`risk-manager run --config DIR`) against a simulator.

Config dirs and the scripted trader come from the e2e harness (tests/e2e/helpers.py): one way to
write a config that points at the simulator, one trading front end. Used by the reaction and
startup benchmarks and by tests/chaos (kill -9 and restart).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

from e2e.helpers import Trader, wait_for, write_config  # noqa: E402  (after the path set-up)

API_KEY_ENV = {"PROJECTX_API_KEY": "sim-key"}
RUNTIME_FILE = "daemon.json"  # written by the daemon once ready: pid, status_url

__all__ = ["DaemonProcess", "Trader", "daemon_command", "wait_for", "write_config", "fetch_status"]


def daemon_command(config_dir: Path) -> list[str]:
    """The installed console script when present (what the service runs), else `python -m`."""
    profile = os.environ.get("RM_BENCH_PROFILE")
    if profile:  # diagnostics: the daemon under cProfile, stats written to this path at exit
        return [sys.executable, "-m", "cProfile", "-o", profile, "-m", "risk_manager", "run",
                "--config", str(config_dir)]
    script = Path(sys.executable).parent / "risk-manager"
    if script.exists():
        return [str(script), "run", "--config", str(config_dir)]
    return [sys.executable, "-m", "risk_manager", "run", "--config", str(config_dir)]


async def fetch_status(status_url: str, timeout: float = 2.0) -> dict[str, Any] | None:
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http, \
                http.get(status_url + "/status") as resp:
            if resp.status != 200:
                return None
            return await resp.json()
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None


class DaemonProcess:
    """One `risk-manager run` subprocess; output goes to `<config>/daemon-<n>.out`."""

    def __init__(self, config_dir: Path, *, env: dict[str, str] | None = None) -> None:
        self.config_dir = Path(config_dir)
        self.env = {**os.environ, **API_KEY_ENV, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.status_url: str | None = None
        self.started_ns = 0
        self.runs = 0

    @property
    def state_dir(self) -> Path:
        return self.config_dir / "state"

    @property
    def output(self) -> Path:
        return self.config_dir / f"daemon-{self.runs}.out"

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("daemon already running")
        (self.state_dir / RUNTIME_FILE).unlink(missing_ok=True)  # a stale one from a killed run
        self.runs += 1
        self.status_url = None
        out = self.output.open("wb")
        self.started_ns = time.monotonic_ns()
        self.proc = subprocess.Popen(daemon_command(self.config_dir), stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self.env)
        out.close()

    async def wait_ready(self, timeout: float = 20.0) -> int:
        """Until /status says ready:true; returns monotonic ns at that moment. Fails with the
        daemon's output when it exits or does not get ready in time."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        runtime = self.state_dir / RUNTIME_FILE
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.proc.returncode} before ready:\n{self.tail()}")
            if self.status_url is None and runtime.exists():
                try:
                    self.status_url = json.loads(runtime.read_text())["status_url"]
                except (ValueError, KeyError):
                    pass  # being written
            if self.status_url is not None:
                status = await fetch_status(self.status_url)
                if status and status.get("ready") is True:
                    return time.monotonic_ns()
            await asyncio.sleep(0.01)
        raise RuntimeError(f"daemon not ready after {timeout} s:\n{self.tail()}")

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.output.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no output)"

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, wait for the clean exit; SIGKILL if it hangs. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def rss_kb(self) -> int | None:
        from bench._stats import proc_status_kb

        return None if self.proc is None else proc_status_kb("VmRSS", self.proc.pid)
