"""The service plumbing against the real daemon and the real simulator (loopback only).

- Linux: `risk-manager run` as a subprocess with a fake NOTIFY_SOCKET: READY=1, then STOPPING=1.
- Windows adapter (fake win32 modules, real Daemon): SvcStop stops the daemon from another thread.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import threading
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from risk_manager.sim import Simulator

pytestmark = pytest.mark.e2e


def _write_config(root: Path, api: str, account: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    ws = api.replace("http://", "ws://")
    yaml = YAML()
    with (root / "accounts.yaml").open("w") as fh:
        yaml.dump({
            "gateway": {"api_url": api, "user_hub_url": f"{ws}/hubs/user", "market_hub_url": f"{ws}/hubs/market",
                        "username": "sim", "api_key_env": "PROJECTX_API_KEY"},
            "accounts": [{"id": account}],
            "daemon": {"status_api": "127.0.0.1:0"},
        }, fh)
    with (root / "risk_config.yaml").open("w") as fh:
        yaml.dump({"rules": {"daily_realized_loss": {"loss_limit": 500}}}, fh)
    return root


@pytest.fixture
async def sim():
    simulator = Simulator(accounts=1, speed=0.0)
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


def _notify_socket(path: Path) -> socket.socket:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    return sock


async def _recv(sock: socket.socket, timeout: float) -> bytes:
    loop = asyncio.get_running_loop()
    return await asyncio.wait_for(loop.sock_recv(sock, 4096), timeout)


async def test_daemon_reports_ready_and_stopping_over_notify_socket(sim, tmp_path: Path) -> None:
    info = sim.info()
    config = _write_config(tmp_path / "config", info["api"], info["accounts"][0])
    path = tmp_path / "notify.sock"
    sock = _notify_socket(path)
    env = {**os.environ, "PROJECTX_API_KEY": info["api_key"], "NOTIFY_SOCKET": str(path)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "risk_manager", "run", "--config", str(config), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        ready = await _recv(sock, 30)
        assert ready.startswith(b"READY=1"), ready
        proc.send_signal(signal.SIGTERM)
        messages = []
        while b"STOPPING=1" not in messages:
            messages.append(await _recv(sock, 15))
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        sock.close()


async def test_daemon_pings_the_watchdog(sim, tmp_path: Path) -> None:
    info = sim.info()
    config = _write_config(tmp_path / "config", info["api"], info["accounts"][0])
    path = tmp_path / "notify.sock"
    sock = _notify_socket(path)
    env = {**os.environ, "PROJECTX_API_KEY": info["api_key"], "NOTIFY_SOCKET": str(path),
           "WATCHDOG_USEC": "1000000"}  # 1 s: a ping at least every 0.5 s
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "risk_manager", "run", "--config", str(config), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        messages = [await _recv(sock, 30)]
        while sum(m == b"WATCHDOG=1" for m in messages) < 2:
            messages.append(await _recv(sock, 3))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        sock.close()


async def test_windows_service_stops_the_real_daemon(sim, tmp_path: Path, monkeypatch) -> None:
    from test_service_windows import FakeWindows  # the fake pywin32 of the adapter tests

    fw = FakeWindows()
    for name, module in fw.modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.delitem(sys.modules, "risk_manager.service.windows", raising=False)
    from risk_manager.service import windows

    info = sim.info()
    config = _write_config(tmp_path / "config", info["api"], info["accounts"][0])
    monkeypatch.setenv("PROJECTX_API_KEY", info["api_key"])
    fw.options["config_dir"] = str(config)
    service = windows.RiskManagerService(["RiskManager"])
    thread = threading.Thread(target=service.SvcDoRun, daemon=True)
    thread.start()
    runtime = config / "state" / "daemon.json"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not runtime.exists():  # the daemon writes it once ready
        assert thread.is_alive(), fw.events
        assert loop.time() < deadline, "daemon did not become ready within 30 s"
        await asyncio.sleep(0.05)
    assert json.loads(runtime.read_text())["pid"] == os.getpid()
    await asyncio.to_thread(service.SvcStop)  # the SCM's control thread
    await asyncio.to_thread(thread.join, 30)
    assert not thread.is_alive()
    assert ("msg", 0x1004) in fw.events, fw.events  # logged "stopped", not a failure
    assert not any(kind == "error" for kind, _ in fw.events), fw.events
    sys.modules.pop("risk_manager.service.windows", None)
