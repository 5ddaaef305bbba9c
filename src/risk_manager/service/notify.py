"""systemd's sd_notify protocol in a few lines: one datagram per message to $NOTIFY_SOCKET.

Every function is a no-op returning False when the process is not run by systemd with
``Type=notify`` (no NOTIFY_SOCKET), and never raises: a failed ping must not take the daemon down.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Mapping

import structlog

log = structlog.get_logger("risk_manager.service.notify")


def _address(env: Mapping[str, str]) -> str | bytes | None:
    path = env.get("NOTIFY_SOCKET", "")
    if not path:
        return None
    if path.startswith("@"):  # Linux abstract namespace: leading NUL byte instead of '@'
        return b"\0" + path[1:].encode()
    return path


def notify(message: str, env: Mapping[str, str] | None = None) -> bool:
    """Send one state line (or several, newline separated) to systemd. True if it was sent."""
    address = _address(os.environ if env is None else env)
    if address is None or not hasattr(socket, "AF_UNIX"):
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)  # a full receive buffer must not stall the event loop
            sock.sendto(message.encode(), address)
        return True
    except OSError as exc:
        log.warning("sd_notify failed", message=message, error=str(exc))
        return False


def ready(status: str | None = None, env: Mapping[str, str] | None = None) -> bool:
    """Start-up is complete (Type=notify units become 'active' only now)."""
    return notify("READY=1" + (f"\nSTATUS={status}" if status else ""), env)


def watchdog(env: Mapping[str, str] | None = None) -> bool:
    """Keep-alive ping; systemd restarts the service if none arrives within WatchdogSec."""
    return notify("WATCHDOG=1", env)


def stopping(env: Mapping[str, str] | None = None) -> bool:
    """Shutdown has begun (so a slow, clean stop is not mistaken for a hang)."""
    return notify("STOPPING=1", env)


def status(text: str, env: Mapping[str, str] | None = None) -> bool:
    """Free-form status line shown by `systemctl status`."""
    return notify(f"STATUS={text}", env)


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """WatchdogSec in seconds if systemd expects pings from this process, else None.

    Ping at about half this interval. WATCHDOG_PID, when set, names the process meant to ping.
    """
    env = os.environ if env is None else env
    raw = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not raw:
        return None
    if pid and pid != str(os.getpid()):
        return None
    try:
        usec = int(raw)
    except ValueError:
        log.warning("ignoring malformed WATCHDOG_USEC", value=raw)
        return None
    return usec / 1_000_000 if usec > 0 else None


async def watchdog_loop(
    healthy: Callable[[], bool] = lambda: True, env: Mapping[str, str] | None = None
) -> None:
    """Ping the watchdog at half its interval while `healthy()` is true; returns at once if off.

    Run it as a task on the daemon's event loop: a blocked loop stops the pings, which is exactly
    what should make systemd restart us. Cancel the task on shutdown.
    """
    interval = watchdog_interval(env)
    if interval is None:
        return
    while True:
        if healthy():
            watchdog(env)
        await asyncio.sleep(interval / 2)
