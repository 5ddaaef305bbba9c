"""sd_notify against a real AF_UNIX datagram socket standing in for systemd's NOTIFY_SOCKET."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from risk_manager.service import notify


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[socket.socket, dict[str, str]]]:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    try:
        yield sock, {"NOTIFY_SOCKET": str(path)}
    finally:
        sock.close()


def test_no_socket_is_a_quiet_noop() -> None:
    assert notify.notify("READY=1", env={}) is False
    assert notify.ready(env={}) is False
    assert notify.watchdog(env={}) is False
    assert notify.stopping(env={}) is False
    assert notify.watchdog_interval(env={}) is None


def test_messages_arrive_on_the_socket(receiver: tuple[socket.socket, dict[str, str]]) -> None:
    sock, env = receiver
    assert notify.ready(env=env)
    assert sock.recv(4096) == b"READY=1"
    assert notify.ready("2 accounts guarded", env=env)
    assert sock.recv(4096) == b"READY=1\nSTATUS=2 accounts guarded"
    assert notify.watchdog(env=env)
    assert sock.recv(4096) == b"WATCHDOG=1"
    assert notify.status("reconnecting", env=env)
    assert sock.recv(4096) == b"STATUS=reconnecting"
    assert notify.stopping(env=env)
    assert sock.recv(4096) == b"STOPPING=1"


def test_reads_notify_socket_from_the_process_environment(
    receiver: tuple[socket.socket, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, env = receiver
    monkeypatch.setenv("NOTIFY_SOCKET", env["NOTIFY_SOCKET"])
    assert notify.ready()
    assert sock.recv(4096) == b"READY=1"


def test_abstract_namespace_socket() -> None:
    name = f"risk-manager-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(5)
    try:
        assert notify.watchdog(env={"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(4096) == b"WATCHDOG=1"
    finally:
        sock.close()


def test_dead_socket_does_not_raise(tmp_path: Path) -> None:
    assert notify.ready(env={"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")}) is False


def test_watchdog_interval() -> None:
    assert notify.watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 30.0
    mine = {"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": str(os.getpid())}
    assert notify.watchdog_interval(mine) == 5.0
    assert notify.watchdog_interval({"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": "1"}) is None
    assert notify.watchdog_interval({"WATCHDOG_USEC": "soon"}) is None
    assert notify.watchdog_interval({"WATCHDOG_USEC": "0"}) is None


async def test_watchdog_loop_pings_at_half_the_interval(
    receiver: tuple[socket.socket, dict[str, str]],
) -> None:
    sock, env = receiver
    sock.setblocking(False)
    env = {**env, "WATCHDOG_USEC": "100000"}  # 0.1 s: pings every 0.05 s
    task = asyncio.create_task(notify.watchdog_loop(env=env))
    pings: list[bytes] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while len(pings) < 3 and loop.time() < deadline:
        await asyncio.sleep(0.02)
        try:
            pings.append(sock.recv(4096))
        except BlockingIOError:
            pass
    task.cancel()
    assert pings[:3] == [b"WATCHDOG=1"] * 3


async def test_watchdog_loop_returns_without_watchdog() -> None:
    await asyncio.wait_for(notify.watchdog_loop(env={}), timeout=1)


async def test_watchdog_loop_skips_pings_while_unhealthy(
    receiver: tuple[socket.socket, dict[str, str]],
) -> None:
    sock, env = receiver
    sock.setblocking(False)
    task = asyncio.create_task(notify.watchdog_loop(lambda: False, env={**env, "WATCHDOG_USEC": "40000"}))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(BlockingIOError):
        sock.recv(4096)
