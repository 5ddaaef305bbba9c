"""`risk-manager demo`: simulator + real daemon + scripted trader, no account and no config needed.

`run_demo(headless)` is the entry point. Everything runs in this one process on loopback ports and
a temp dir; every way out (the end, an error, Ctrl+C, SIGTERM) stops the servers and removes the
temp dir.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from risk_manager.demo.stack import DemoStack, DemoStartError

EXIT_OK, EXIT_MISSED, EXIT_INTERRUPTED = 0, 1, 130


def run_demo(headless: bool) -> int:
    """0 = every scripted enforcement was observed; 1 = some were not, or the demo could not start."""
    try:
        return asyncio.run(_main(headless))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("demo interrupted: simulator and daemon stopped, temp files removed.", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED


async def _main(headless: bool) -> int:
    _cancel_on_sigterm()
    try:
        if headless:
            return await _run_headless()
        return await _run_dashboard()
    except DemoStartError as exc:
        print(f"risk-manager demo: {exc}", file=sys.stderr, flush=True)
        return EXIT_MISSED


async def _run_headless() -> int:
    from risk_manager.demo.headless import run_headless

    async with DemoStack() as stack:
        return await run_headless(stack)


async def _run_dashboard() -> int:
    from risk_manager.demo.dashboard import DemoDashboard, stack_in_thread
    from risk_manager.demo.timeline import format_step

    async with stack_in_thread() as (stack, runner):
        app = DemoDashboard(stack, runner)
        try:
            await app.run_async()
        finally:
            await app.stop_script()
    timeline = app.timeline
    if timeline is None or not timeline.steps:
        print("demo closed before the first step.")
        return EXIT_OK
    for step in timeline.steps:
        print(format_step(step))
    if not app.script_done:
        print("demo closed before the script finished.")
        return EXIT_OK
    print(timeline.summary())
    return EXIT_OK if timeline.all_ok else EXIT_MISSED


def _cancel_on_sigterm() -> None:
    """SIGTERM cancels the demo like Ctrl+C does, so the `finally` clean-up runs."""
    task = asyncio.current_task()
    if task is None:
        return
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    except (NotImplementedError, RuntimeError, AttributeError):  # Windows: no loop signal handlers
        pass


__all__ = ["run_demo"]
