"""`risk-manager sim`: run the simulator in the foreground until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys

from risk_manager.sim.server import Simulator


async def _serve(port: int, accounts: int, seed: int, user: str, api_key: str, speed: float) -> None:
    sim = Simulator(accounts=accounts, seed=seed, user=user, api_key=api_key, speed=speed)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows: no loop signal handlers
            loop.add_signal_handler(sig, stop.set)
    await sim.start(host="127.0.0.1", port=port)
    try:
        sys.stdout.write(json.dumps(sim.info()) + "\n")
        sys.stdout.flush()
        await stop.wait()
    finally:
        await sim.stop()


def run_sim(port: int = 0, accounts: int = 1, seed: int = 1, user: str = "sim", api_key: str = "sim-key",
            speed: float = 1.0) -> int:
    try:
        asyncio.run(_serve(port, accounts, seed, user, api_key, speed))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"risk-manager sim: cannot listen on 127.0.0.1:{port}: {exc}", file=sys.stderr)
        return 1
    return 0
