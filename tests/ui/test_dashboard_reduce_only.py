"""Pilot: a reduce-only lock (docs/rules.md) is shown as reduce-only, not as a full lock."""

from __future__ import annotations

from risk_manager.ui.dashboard import DashboardApp
from ui.test_dashboard import SIZE, banner_shown, banner_text, wait_for


async def test_reduce_only_banner(served):
    api, daemon = served
    app = DashboardApp(api.url, poll_s=30.0, clock=daemon.clock)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.model.reachable and app.model.events_connected and api.client_count)
        await pilot.pause(0.1)
        daemon.set_lock(123, {"rule": "R03:reduce_only", "kind": "reduce_only",
                              "reason": "Daily loss at 80% of the limit; reduce-only until the daily reset",
                              "until": "2026-11-21T15:32:05+00:00", "remaining_s": 125.0, "ends": "reset",
                              "symbol": None})
        await wait_for(pilot, lambda: banner_shown(app), timeout=2.0)
        text = banner_text(app)
        assert text.startswith("REDUCE-ONLY — ONLY CLOSING ORDERS PASS") and "R03:reduce_only (reduce_only)" in text
        assert "TRADING IS BLOCKED" not in text
