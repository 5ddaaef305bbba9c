"""`risk-manager sim`: run the simulator in the foreground until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys

from typing import Any

from risk_manager.sim.catalog import load_catalog
from risk_manager.sim.fill_config import FillConfig
from risk_manager.sim.server import Simulator


async def _serve(port: int, accounts: int, seed: int, user: str, api_key: str, speed: float,
                 fills: dict[str, Any] | None) -> None:
    sim = Simulator(accounts=accounts, seed=seed, user=user, api_key=api_key, speed=speed, fills=fills)
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


def fill_spec(latency_ms: float = 0.0, jitter_ms: float = 0.0, interval_ms: float = 0.0,
              depth: str | None = None, contract_fills: list[str] | None = None) -> dict[str, Any]:
    """The `--fill-*`, `--depth 1,2,3` and `--contract-fills ID=JSON` options as a `fills=` spec."""
    spec: dict[str, Any] = {"fill_latency_ms": latency_ms, "fill_jitter_ms": jitter_ms,
                            "fill_interval_ms": interval_ms}
    if depth:
        try:
            spec["depth"] = [int(part) for part in depth.split(",")]
        except ValueError:
            raise ValueError(f"--depth must be lots per level like 1,2,3; got {depth!r}") from None
    contracts: dict[str, Any] = {}
    for item in contract_fills or []:
        contract_id, sep, text = item.partition("=")
        try:
            values = json.loads(text) if sep else None
        except ValueError:
            values = None
        if not isinstance(values, dict):
            raise ValueError(f'--contract-fills must be ID={{"depth": [1, 2], ...}}; got {item!r}')
        contracts[contract_id.strip()] = values
    if contracts:
        spec["contracts"] = contracts
    return spec


def run_sim(port: int = 0, accounts: int = 1, seed: int = 1, user: str = "sim", api_key: str = "sim-key",
            speed: float = 1.0, fills: dict[str, Any] | None = None) -> int:
    try:
        FillConfig().load(fills, known=load_catalog())  # a bad fill setting fails before listening
    except ValueError as exc:
        print(f"risk-manager sim: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(port, accounts, seed, user, api_key, speed, fills))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"risk-manager sim: cannot listen on 127.0.0.1:{port}: {exc}", file=sys.stderr)
        return 1
    return 0
