"""Issue 15 dashboard items against the real daemon and simulator (Pilot): R02/R07 limits while flat,
the R08 countdown, the session from the calendar with R09 off, "done for the day" from the dashboard,
and a lock-gate row opened in full. SVG screenshots go to the test's tmp dir; with
RM_UPDATE_SCREENSHOTS=1 they are also written to docs/screenshots/ (the README shows them)."""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

from e2e.conftest import rig  # noqa: F401  (the e2e harness: real simulator + in-process daemon)
from e2e.helpers import BUY, LIMIT, MNQ, SELL, account_locks, get_status
from risk_manager.ui.dashboard import DashboardApp
from risk_manager.ui.history_view import HistoryDetail
from risk_manager.ui.self_lock_dialog import SelfLockDialog
from test_dashboard import banner_shown, banner_text, wait_for

pytestmark = pytest.mark.e2e

CHICAGO = ZoneInfo("America/Chicago")
WEDNESDAY_0930 = datetime(2026, 11, 18, 9, 30, tzinfo=CHICAGO)
SIZE = (150, 44)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
RULES = {
    "max_contracts": {"enabled": True, "limit": 5},
    "max_contracts_per_instrument": {"enabled": True},
    "daily_realized_loss": {"enabled": True, "loss_limit": 500, "include_unrealized": False},
    "trade_frequency_limit": {"enabled": True, "per_minute": 6},
    "cooldown_after_loss": {"enabled": True, "tiers": [{"loss_amount": -400, "cooldown_seconds": 300},
                                                       {"loss_amount": -800, "cooldown_seconds": 1800}]},
    "no_stop_loss_grace": {"enabled": True, "grace_period_seconds": 600},
    # session_block_outside (R09) stays off: the Session tab must still show the market session.
}


def screenshot(app: DashboardApp, tmp_path: Path, name: str) -> Path:
    path = Path(app.save_screenshot(filename=f"{name}.svg", path=str(tmp_path)))
    if os.environ.get("RM_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS / path.name)
    return path


def cell(app, table: str, row: str, column: str) -> str:
    return str(app.query_one(f"#{table}").get_cell(row, column))


async def test_overview_limits_countdown_and_session_with_r09_off(rig, tmp_path):  # noqa: F811
    with time_machine.travel(WEDNESDAY_0930, tick=True):
        rig.configure(RULES)
        daemon = await rig.start_daemon()
        app = DashboardApp(daemon.status_url, poll_s=0.3)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.model.reachable and app.query_one("#rules").row_count == 6, 10.0)
            # Flat: R02 and R07 show their limits, not a dash.
            assert cell(app, "rules", "R02", "limit") == "MNQ 2 · NQ 1 · ES 1 · MES 3"
            assert cell(app, "rules", "R07", "limit") == "-$400→5m · -$800→30m"
            assert cell(app, "rules", "R06", "limit") == "6/min · 10/h · 50/session"

            t = rig.trader  # up a little, then a loss, then a position without a stop
            await t.price(MNQ, 20000.0)
            await t.place(rig.account, MNQ, BUY, 1)
            for price in (20010.0, 20025.0, 20015.0, 19990.0, 19960.0, 19940.0):
                await t.price(MNQ, price)
                await pilot.pause(0.7)  # the daemon samples the day's P&L about twice a second
            await t.place(rig.account, MNQ, SELL, 1)
            await t.place(rig.account, MNQ, BUY, 1)
            await t.price(MNQ, 19935.0)
            await wait_for(pilot, lambda: cell(app, "rules", "R08", "value").startswith("closing MNQ in"), 10.0)
            left = int(cell(app, "rules", "R08", "value").split(" in ")[1].split()[0])
            assert 590 <= left <= 600
            await wait_for(pilot, lambda: (app.model.account() or {}).get("total_pnl", 0) < -120, 10.0)
            await pilot.pause(1.2)
            chart = str(app.query_one("#pnl-chart").render())
            assert "P&L today -$" in chart and "$0 ┼" in chart
            screenshot(app, tmp_path, "dashboard-overview")

            await pilot.press("4")
            await pilot.pause(0.1)
            info = str(app.query_one("#session-info").render())
            assert "Market session: OPEN" in info, info
            assert "Next close: Wed 18 Nov 15:00 CST" in info and "Next open:  Thu 19 Nov 08:30 CST" in info
            assert "R09 is off" in info


async def test_done_for_the_day_from_the_dashboard_and_a_gate_row_in_full(rig, tmp_path):  # noqa: F811
    with time_machine.travel(WEDNESDAY_0930, tick=True):
        rig.configure(RULES)
        daemon = await rig.start_daemon()
        app = DashboardApp(daemon.status_url, poll_s=0.3)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.model.reachable and app.model.events_connected, 10.0)
            await pilot.press("d")
            await wait_for(pilot, lambda: isinstance(app.screen, SelfLockDialog))
            await pilot.press("escape")  # cancel: nothing happens
            await pilot.pause(0.2)
            assert account_locks(await get_status(daemon.status_url), rig.account) == []

            await pilot.press("d")
            await wait_for(pilot, lambda: isinstance(app.screen, SelfLockDialog))
            await pilot.press("enter")  # empty: until the reset
            await pilot.pause(1.0)
            await wait_for(pilot, lambda: banner_shown(app), 10.0)
            (lock,) = account_locks(await get_status(daemon.status_url), rig.account)
            assert lock["rule"] == "manual" and lock["set_by"] == "trader@127.0.0.1"
            assert datetime.fromisoformat(lock["until"]) == datetime(2026, 11, 18, 17, 0, tzinfo=CHICAGO)
            text = banner_text(app)
            assert "manual" in text and "Done for the day" in text and "until Wed 17:00:00 CST" in text
            await pilot.pause(0.3)
            screenshot(app, tmp_path, "dashboard-locked")

            # While locked the gate cancels a new order; its history row names the order and symbol.
            await rig.trader.price(MNQ, 20000.0)
            placed = await rig.trader.place(rig.account, MNQ, BUY, 1, type=LIMIT, limitPrice=19900.0)
            order_id = placed["orderId"]
            await pilot.press("3")
            table = app.query_one("#history-table")

            def gate_row() -> str | None:
                for key, ev in app._history_by_key.items():
                    if ev.get("rule") == "lock_gate" and ev.get("order_id") == order_id:
                        return key
                return None

            await wait_for(pilot, lambda: gate_row() is not None, 10.0)
            await pilot.pause(0.3)
            key = gate_row()
            assert cell(app, "history-table", key, "target") == f"order {order_id} MNQ"
            assert any(str(table.get_cell(k, "action")) == "self-lock (done for the day)"
                       for k in app._history_by_key)
            table.move_cursor(row=table.get_row_index(key))
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, HistoryDetail))
            body = str(app.screen.query_one("#detail-body").render())
            assert f"Order id      {order_id}" in body and "MNQ" in body and "lock_gate" in body
            assert "request sent +" in body and "Outcome       ok" in body, body
            await pilot.pause(0.2)
            screenshot(app, tmp_path, "dashboard-history-detail")


async def test_done_for_the_day_until_a_time(rig):  # noqa: F811
    with time_machine.travel(WEDNESDAY_0930, tick=True):
        rig.configure(RULES)
        daemon = await rig.start_daemon()
        app = DashboardApp(daemon.status_url, poll_s=0.3)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.model.reachable and app.model.events_connected, 10.0)
            await pilot.press("d")
            await wait_for(pilot, lambda: isinstance(app.screen, SelfLockDialog))
            await pilot.press(*"09:00", "enter")  # already passed today: refused, nothing locked
            await wait_for(pilot, lambda: any("already passed" in n.message for n in app._notifications))
            assert account_locks(await get_status(daemon.status_url), rig.account) == []

            await pilot.press("d")
            await wait_for(pilot, lambda: isinstance(app.screen, SelfLockDialog))
            await pilot.press(*"14:30", "enter")
            await wait_for(pilot, lambda: banner_shown(app), 10.0)
            (lock,) = account_locks(await get_status(daemon.status_url), rig.account)
            assert datetime.fromisoformat(lock["until"]) == datetime(2026, 11, 18, 14, 30, tzinfo=CHICAGO)
            assert lock["ends"] == "time" and lock["set_by"] == "trader@127.0.0.1"
            assert "until Wed 14:30:00 CST" in banner_text(app)
