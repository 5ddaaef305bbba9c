"""A status-API port already taken: one clear line naming the holder, no traceback, no leaks."""

from __future__ import annotations

import asyncio
import os
import socket
import sys

import pytest

from e2e.conftest import ENV
from risk_manager.daemon.app import EXIT_FAILURE, RUNTIME_FILE, Daemon

pytestmark = pytest.mark.e2e


@pytest.fixture
def taken_port():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


async def test_port_in_use_via_cli_is_one_clear_line(rig, taken_port):
    rig.configure({}, daemon={"status_api": f"127.0.0.1:{taken_port}"})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-X", "dev", "-m", "risk_manager", "run", "--config", str(rig.config_dir),
        env={**os.environ, **ENV}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    text = out.decode() + err.decode()
    assert proc.returncode == EXIT_FAILURE, text
    expected = (f"risk-manager: port {taken_port} is in use by ")
    lines = [line for line in out.decode().splitlines() if line.startswith("risk-manager:")]
    assert len(lines) == 1 and lines[0].startswith(expected), text
    assert f"(pid {os.getpid()})" in lines[0] and "set daemon.status_api in accounts.yaml" in lines[0]
    for noise in ("Traceback", "Unclosed", "unclosed", "Task was destroyed"):
        assert noise not in text, text


async def test_port_in_use_in_process_touches_nothing(rig, taken_port, capsys):
    rig.configure({}, daemon={"status_api": f"127.0.0.1:{taken_port}"})
    daemon = Daemon(rig.config_dir, environ=ENV, configure_logging=False)
    assert await daemon.run() == EXIT_FAILURE
    assert f"port {taken_port} is in use by" in capsys.readouterr().out
    # Refused before the gateway: no login was made, and the state dir is free again.
    assert daemon.rest is None and daemon.user_hub is None
    assert not (daemon.config.state_dir / RUNTIME_FILE).exists()
    again = Daemon(rig.config_dir, environ=ENV, configure_logging=False)
    assert await again.run() == EXIT_FAILURE  # not "already running": the instance lock was released
