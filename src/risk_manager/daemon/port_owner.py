"""Why the status API cannot listen: one clear line naming who holds the port.

`port 18765 is in use by risk-manager (pid 4242); set daemon.status_api in accounts.yaml to a
free address` instead of an OSError traceback. The owner is found best effort: on Linux from
/proc (the listening socket's inode, then the process holding it); elsewhere it stays unnamed.
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path


def probe(host: str, port: int) -> OSError | None:
    """Try to bind `host:port` as the status API would; the error, or None if it is free."""
    if port == 0:
        return None
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return OSError(errno.EADDRNOTAVAIL, str(exc))
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        if os.name != "nt":  # as aiohttp's reuse_address: a TIME_WAIT socket is no conflict
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            return exc
    return None


def bind_problem(host: str, port: int, exc: OSError) -> str:
    """The one line the daemon prints when `host:port` cannot be bound."""
    where = f"{host}:{port}"
    if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)) or "in use" in str(exc).lower():
        owner = port_owner(port)
        return (f"port {port} is in use by {owner or 'another program'}; set daemon.status_api in "
                f"accounts.yaml to a free address (now {where}) or stop that program")
    return f"cannot listen on {where} ({exc.strerror or exc}); set daemon.status_api in accounts.yaml"


def port_owner(port: int) -> str | None:
    """`name (pid N)` of the process listening on TCP `port`, if this machine tells (Linux /proc)."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    proc = Path("/proc")
    for pid_dir in proc.iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            for fd in (pid_dir / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return f"{_process_name(pid_dir)} (pid {pid_dir.name})"
        except OSError:
            continue  # gone, or another user's process: skip it
    return "another process (not visible to this user)"


def _listening_inodes(port: int) -> set[str]:
    out: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local_address is HEXIP:HEXPORT; state 0A is LISTEN.
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                out.add(fields[9])
    return out


def _process_name(pid_dir: Path) -> str:
    try:
        cmdline = (pid_dir / "cmdline").read_bytes().split(b"\0")
        words = [w.decode(errors="replace") for w in cmdline if w]
        if any("risk_manager" in w or w.endswith("risk-manager") for w in words):
            return "risk-manager (another daemon?)"
        return (pid_dir / "comm").read_text().strip() or "a process"
    except OSError:
        return "a process"
