"""A failing store shows in the dashboard and in `risk-manager status` (issue 12 item 5)."""

from __future__ import annotations

from typing import Any

from typer.testing import CliRunner

from risk_manager.cli import app as cli
from risk_manager.clock import ManualClock
from risk_manager.daemon.status_api import StatusAPI
from risk_manager.ui.dashboard import DashboardApp
from status_fakes import T0, InMemoryDaemon

FAILING = {"state": "failing", "failing_since": T0.isoformat(), "write_errors": 3, "recoveries": 0,
           "last_error": "OperationalError: database or disk is full", "last_error_at": T0.isoformat(),
           "undurable_locks": [{"account_id": 123, "rule": "R03", "change": "set", "since": T0.isoformat()}]}


class FailingStoreDaemon(InMemoryDaemon):
    """The in-memory daemon, reporting its store the way the real one does when writes fail."""

    def status(self) -> dict[str, Any]:
        doc = super().status()
        doc["connections"]["store"] = "failing"
        doc["store"] = FAILING
        return doc


async def test_dashboard_shows_the_store_failing():
    daemon = FailingStoreDaemon()
    api = StatusAPI(daemon, port=0)
    await api.start()
    try:
        dash = DashboardApp(api.url, poll_s=0.1, clock=ManualClock(T0))
        async with dash.run_test(size=(150, 48)) as pilot:
            for _ in range(250):
                if "store failing" in str(dash.query_one("#conn").render()):
                    break
                await pilot.pause(0.02)
            line = dash.query_one("#conn").render()
            assert "store failing" in str(line)
            assert any("red" in str(span.style) for span in line.spans
                       if str(line)[span.start:span.end] == "failing")
    finally:
        await api.stop()


def test_status_command_shows_the_store_failing(bg_loop):
    daemon = FailingStoreDaemon()
    api = StatusAPI(daemon, port=0)
    bg_loop.run(api.start())
    try:
        result = CliRunner().invoke(cli, ["status", "--url", api.url])
    finally:
        bg_loop.run(api.stop())
    assert result.exit_code == 0, result.output
    assert "STORE FAILING since" in result.output
    assert "database or disk is full; 1 lock change(s) not saved" in result.output
