"""`risk-manager run`: the daemon in the foreground, with signal handling."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path


async def _main(config_dir: Path | None) -> int:
    from risk_manager.daemon.app import Daemon

    daemon = Daemon(config_dir)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, daemon.request_stop)
        except (NotImplementedError, RuntimeError):  # Windows: KeyboardInterrupt path below
            pass
    return await daemon.run()


def run_daemon(config_dir: Path | None = None) -> int:
    """Run until SIGINT/SIGTERM; 0 on a clean stop, 2 on invalid config, 1 on other failures."""
    try:
        return asyncio.run(_main(config_dir))
    except KeyboardInterrupt:
        return 0
