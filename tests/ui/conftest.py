"""Fixtures for the UI/CLI tests: real servers on 127.0.0.1 running on a background event loop, so
the synchronous CLI (CliRunner) can talk to them."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

import pytest

# The in-memory daemon (StatusProvider) lives with the status API tests; the UI tests reuse it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "status_api"))

from status_fakes import InMemoryDaemon  # noqa: E402

from risk_manager.daemon.status_api import StatusAPI  # noqa: E402


class BackgroundLoop:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 15.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def bg_loop():
    bg = BackgroundLoop()
    yield bg
    bg.close()


@pytest.fixture
def config_dir(tmp_path) -> Path:
    from risk_manager.config.loader import write_example_config

    target = tmp_path / "config"
    write_example_config(target)
    return target


@pytest.fixture
def live_api(bg_loop, config_dir):
    """A StatusAPI with an in-memory daemon; admin password file in `config_dir` (not set yet)."""
    daemon = InMemoryDaemon()
    api = StatusAPI(daemon, port=0, password_file=config_dir / "admin_password.hash")
    daemon.api = api
    bg_loop.run(api.start())
    yield api, daemon
    bg_loop.run(api.stop())


@pytest.fixture
async def served():
    """A StatusAPI with an in-memory daemon behind it, on the test's own event loop (Pilot tests)."""
    daemon = InMemoryDaemon()
    api = StatusAPI(daemon, port=0)
    daemon.api = api
    await api.start()
    yield api, daemon
    await api.stop()
