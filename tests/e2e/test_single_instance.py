"""A second daemon on the same state dir exits with code 2 and says who holds it."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from e2e.conftest import ENV
from risk_manager.daemon.app import EXIT_CONFIG, RUNTIME_FILE, Daemon

pytestmark = pytest.mark.e2e


async def test_second_daemon_in_process_is_refused(start_rig, capsys):
    rig = await start_rig({})
    state_dir = rig.daemon.config.state_dir
    second = Daemon(rig.config_dir, environ=ENV, configure_logging=False)
    assert await second.run() == EXIT_CONFIG
    out = capsys.readouterr().out
    assert f"pid {os.getpid()}" in out and str(state_dir) in out
    # The refused daemon touched nothing of the running one.
    assert (state_dir / RUNTIME_FILE).exists()
    assert rig.daemon.state == "running"


async def test_second_daemon_via_cli_exits_2(start_rig):
    rig = await start_rig({})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "risk_manager", "run", "--config", str(rig.config_dir),
        env={**os.environ, **ENV}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    text = out.decode()
    assert proc.returncode == 2, text
    assert f"pid {os.getpid()}" in text and str(rig.daemon.config.state_dir) in text
