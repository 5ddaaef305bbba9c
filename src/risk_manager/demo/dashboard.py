"""The demo with a screen: the trader's real dashboard, with the scripted session running behind it.

The simulator, the daemon and the script run on their own event loop in a background thread
(`StackThread`), so drawing the screen never delays the daemon's reaction. Each step is announced
and its outcome shown as a notification; the dashboard shows the daemon's side (positions, lock
banner, enforcement history).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

from textual.binding import Binding

from risk_manager.demo.feed import EventFeed
from risk_manager.demo.script import DemoScript
from risk_manager.demo.stack import SIM_API_KEY, SIM_USER, DemoStack
from risk_manager.demo.timeline import StepResult, Timeline
from risk_manager.demo.trader import DemoTrader
from risk_manager.ui.dashboard import DashboardApp

T = TypeVar("T")


class StackThread:
    """An event loop in a daemon thread; coroutines are sent to it and awaited from the UI loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="demo-stack", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(self.submit(coro))

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self.loop.close()


@contextlib.asynccontextmanager
async def stack_in_thread(stack: DemoStack | None = None) -> AsyncIterator[tuple[DemoStack, StackThread]]:
    """Start the demo stack on a background loop; stop it there and end the thread on the way out."""
    stack = stack or DemoStack()
    runner = StackThread()
    runner.start()
    try:
        await runner.call(stack.start())
        yield stack, runner
    finally:
        try:
            await asyncio.shield(runner.call(stack.stop()))
        finally:
            runner.close()


class DemoDashboard(DashboardApp):
    TITLE = "Simple Risk Manager — demo"
    # Ctrl+C ends the demo (Textual's default only hints at Ctrl+Q); the caller then cleans up.
    BINDINGS = [Binding("ctrl+c", "quit", "Quit", priority=True, show=False)]

    def __init__(self, stack: DemoStack, runner: StackThread, *, pace_s: float = 4.0) -> None:
        super().__init__(stack.status_url)
        self.stack = stack
        self.runner = runner
        self.pace_s = pace_s
        self.timeline: Timeline | None = None
        self.script_done = False
        self.script_future: concurrent.futures.Future[None] | None = None
        self._ui_loop: asyncio.AbstractEventLoop | None = None

    def on_ready(self) -> None:
        # `on_ready`, not `on_mount`: Textual runs every class's handler and the dashboard owns on_mount.
        self._ui_loop = asyncio.get_running_loop()
        self.script_future = self.runner.submit(self._run_script())
        self.script_future.add_done_callback(self._script_ended)

    async def stop_script(self) -> None:
        """Cancel the script if it still runs and wait until its clean-up is done."""
        future = self.script_future
        if future is not None and not future.done():
            future.cancel()
            with contextlib.suppress(concurrent.futures.CancelledError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.wrap_future(future), 10)

    # -- runs on the stack's loop ------------------------------------------------------------
    async def _run_script(self) -> None:
        feed = EventFeed(self.stack.status_url)
        trader = DemoTrader(self.stack.api, SIM_USER, SIM_API_KEY, self.stack.account_id)
        try:
            await feed.start()
            self._notify("A scripted trader is about to break the rules on a simulated account.",
                         title="Demo", timeout=self.pace_s + 2)
            script = DemoScript(trader, feed, self.stack.market_subscribed, pace_s=self.pace_s,
                                say=self._say, on_step=self._on_step)
            self.timeline = script.timeline
            await script.run()
            self.script_done = True
        finally:
            await trader.close()
            await feed.stop()

    def _notify(self, text: str, **kw: Any) -> None:
        """Thread-safe and non-blocking: the script's loop never waits for the screen."""
        if self._ui_loop is not None and not self._ui_loop.is_closed():
            self._ui_loop.call_soon_threadsafe(lambda: self.notify(text, **kw))

    def _say(self, text: str) -> None:
        self._notify(text, title="Trader", timeout=max(self.pace_s + 1, 5))

    def _on_step(self, step: StepResult) -> None:
        took = f" in {step.reaction_ms:.1f} ms" if step.reaction_ms is not None else ""
        if step.ok:
            self._notify(f"{step.action}{took}", title=step.rule, timeout=max(self.pace_s + 2, 6))
        else:
            self._notify(step.action, title=step.rule, severity="error", timeout=30)

    # -- back on the UI loop -------------------------------------------------------------------
    def _script_ended(self, future: concurrent.futures.Future[None]) -> None:
        if future.cancelled() or self._ui_loop is None or self._ui_loop.is_closed():
            return
        self._ui_loop.call_soon_threadsafe(self._show_end, future.exception())

    def _show_end(self, error: BaseException | None) -> None:
        if error is not None:  # shown, not swallowed: the user must know the demo broke
            self.notify(f"The demo script stopped: {error}", title="Demo", severity="error", timeout=60)
            return
        ok = self.timeline is not None and self.timeline.all_ok
        self.action_panel("history")
        verdict = "every rule fired" if ok else "some enforcement was NOT observed"
        self.notify(f"Demo finished: {verdict}. The account stays locked until the daily reset. "
                    "Press q to quit.", title="Demo", timeout=60, severity="information" if ok else "error")
