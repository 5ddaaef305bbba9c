"""The non-headless demo: the real dashboard against the demo stack, with the script behind it."""

from __future__ import annotations

import asyncio

import pytest

from risk_manager.demo.dashboard import DemoDashboard, stack_in_thread
from risk_manager.demo.stack import DemoStack

pytestmark = pytest.mark.e2e


async def _until(pilot, cond, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        assert asyncio.get_running_loop().time() < deadline, "not within the bound"
        await pilot.pause(0.05)


async def test_dashboard_starts_on_the_demo_stack_and_the_script_runs(tmp_path):
    async with stack_in_thread(DemoStack(temp_root=tmp_path)) as (stack, runner):
        root = stack.root
        app = DemoDashboard(stack, runner, pace_s=0.0)
        async with app.run_test(size=(150, 48)) as pilot:
            await _until(pilot, lambda: app.model.reachable and app.model.events_connected)
            # The first scripted steps (R02, R04) are enforced while the dashboard watches.
            await _until(pilot, lambda: app.timeline is not None and len(app.timeline.steps) >= 2)
            assert [s.ok for s in app.timeline.steps[:2]] == [True, True], app.timeline.steps
            await pilot.press("ctrl+c")  # quits the demo mid-script
        await app.stop_script()
        assert app.script_future is not None and app.script_future.done()
        assert not app.script_done
    assert root is not None and not root.exists()
