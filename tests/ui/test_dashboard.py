"""Pilot tests: the dashboard against a real status API server on loopback (in-memory daemon behind it)."""

from __future__ import annotations

import asyncio
import socket

from textual.widgets.data_table import CellDoesNotExist

from risk_manager.clock import ManualClock
from risk_manager.daemon.status_api import StatusAPI
from risk_manager.ui.dashboard import DashboardApp
from risk_manager.ui.dashboard_model import usage_level
from status_fakes import T0, InMemoryDaemon, sample_account

SIZE = (150, 48)


async def wait_for(pilot, cond, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout} s")
        await pilot.pause(0.02)


def banner_shown(app) -> bool:
    return app.query_one("#lock-banner").has_class("locked")


def banner_text(app) -> str:
    return str(app.query_one("#lock-text").render())


def used_style(app, rule: str) -> str | None:
    try:
        return str(app.query_one("#rules").get_cell(rule, "used").style)
    except CellDoesNotExist:  # first poll not in yet
        return None


def test_usage_levels():
    assert [usage_level(p) for p in (0, 69.9, 70, 89.9, 90, 150, None)] == [
        "ok", "ok", "warn", "warn", "danger", "danger", "none"]


async def test_lock_banner_follows_events(served):
    api, daemon = served
    # Polling every 30 s: only the /events push can make the banner appear within the test's wait.
    app = DashboardApp(api.url, poll_s=30.0, clock=daemon.clock)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.model.reachable and app.model.events_connected and api.client_count)
        await pilot.pause(0.1)
        assert not banner_shown(app)
        daemon.set_lock(123, {"rule": "R03", "kind": "lockout", "reason": "Daily loss limit: -$512.40 <= -$500.00",
                              "until": "2026-11-21T15:32:05+00:00", "remaining_s": 125.0, "ends": "reset",
                              "symbol": None})
        await wait_for(pilot, lambda: banner_shown(app), timeout=2.0)
        text = banner_text(app)
        assert "LOCKED" in text and "R03" in text and "Daily loss limit" in text
        assert "until Sat 09:32:05 CST" in text
        digits = app.query_one("#lock-countdown")
        assert digits.value == "00:02:05"
        # The countdown runs on its own between updates (the view ticks every second).
        app.clock.advance(3)
        await wait_for(pilot, lambda: digits.value == "00:02:02", timeout=3.0)

        daemon.clear_locks(123, "admin: reviewed with trader")
        await wait_for(pilot, lambda: not banner_shown(app), timeout=2.0)
        assert "reviewed with trader" in str(app.query_one("#unlock-note").render())


async def test_broker_lock_without_end(served):
    api, daemon = served
    daemon.accounts[123]["locks"] = [{"rule": "R10", "kind": "lockout", "reason": "canTrade is false",
                                      "until": None, "remaining_s": None, "ends": "can_trade", "symbol": None}]
    app = DashboardApp(api.url, poll_s=0.2, clock=ManualClock(T0))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: banner_shown(app))
        assert "until TopstepX allows trading again" in banner_text(app)
        assert app.query_one("#lock-countdown").value == ""


async def test_rule_colours_cross_thresholds(served):
    api, daemon = served
    app = DashboardApp(api.url, poll_s=0.1, clock=ManualClock(T0))
    rule = daemon.accounts[123]["rules"][1]
    async with app.run_test(size=SIZE) as pilot:
        for pct, style in ((65.0, "bold green"), (75.0, "bold yellow"), (95.0, "bold white on red"),
                           (40.0, "bold green")):
            rule["used_pct"] = pct
            await wait_for(pilot, lambda: used_style(app, "R03") == style)  # noqa: B023 - awaited here
        assert str(app.query_one("#rules").get_cell("R03", "used")) == "40 %"


async def test_pending_change_shown(served):
    api, daemon = served
    daemon.pending = [{"rule": "max_contracts", "key": "limit", "from": 3, "to": 5,
                       "applies_at": "2026-11-21T23:00:00+00:00"}]
    app = DashboardApp(api.url, poll_s=0.1, clock=ManualClock(T0))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: used_style(app, "R01") is not None)
        assert str(app.query_one("#rules").get_cell("R01", "pending")) == "limit: 3 → 5 at 17:00"


async def test_daemon_down_then_recovered():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = DashboardApp(f"http://127.0.0.1:{port}", poll_s=0.1, clock=ManualClock(T0))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.polls >= 2)
        notice = app.query_one("#unreachable")
        assert notice.has_class("shown")
        assert "DAEMON UNREACHABLE" in str(notice.render()) and "retrying" in str(notice.render())
        assert "unreachable" in str(app.query_one("#conn").render())

        daemon = InMemoryDaemon()
        api = StatusAPI(daemon, port=port)
        daemon.api = api
        await api.start()
        try:
            await wait_for(pilot, lambda: not notice.has_class("shown"))
            assert "daemon connected" in str(app.query_one("#conn").render())
            await wait_for(pilot, lambda: app.model.events_connected)
            await api.stop()
            await wait_for(pilot, lambda: notice.has_class("shown"))
        finally:
            await api.stop()


async def test_keys_switch_panels_and_accounts(served):
    api, daemon = served
    daemon.accounts[456] = sample_account(456, "PRAC-V2-2-456")
    daemon.accounts[456]["positions"][0]["has_stop"] = True
    app = DashboardApp(api.url, poll_s=0.2, clock=ManualClock(T0))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.model.reachable)
        panels = app.query_one("#panels")
        await pilot.press("2")
        assert panels.active == "positions"
        await pilot.pause(0.05)
        stop_cell = str(app.query_one("#positions-table").get_cell("CON.F.US.MNQ.U26", "stop"))
        assert stop_cell.startswith("NO STOP — closes in")
        await pilot.press("a")
        assert app.model.selected == 456
        await pilot.pause(0.05)
        assert str(app.query_one("#positions-table").get_cell("CON.F.US.MNQ.U26", "stop")) == "stop ✓"
        await pilot.press("tab")
        assert panels.active == "history"
        await pilot.press("4")
        assert panels.active == "session"
        assert "Market session: OPEN" in str(app.query_one("#session-info").render())
        await pilot.press("q")
    assert app.return_code in (0, None)
