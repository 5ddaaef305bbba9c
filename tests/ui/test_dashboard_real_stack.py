"""Issue 5 acceptance: the real dashboard fed by the real daemon and simulator during a scripted R03
breach. A trader loses $60 through the simulator's REST (/api/Order/place, /sim/price); the lock
banner must show LOCKED, R03, its reason and a countdown. The screen is captured as plain text into
the test's tmp dir and printed (`pytest -s` shows it)."""

from __future__ import annotations

import io
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from rich.console import Console

from e2e.conftest import rig  # noqa: F401  (the e2e harness: real simulator + in-process daemon)
from e2e.helpers import BUY, MNQ, SELL, account_locks, get_status
from risk_manager.ui.dashboard import DashboardApp
from test_dashboard import banner_shown, banner_text, wait_for

pytestmark = pytest.mark.e2e

CHICAGO = ZoneInfo("America/Chicago")
# A Wednesday morning, far from the 17:00 CT reset, so the lock cannot end during the test.
WEDNESDAY_0930 = datetime(2026, 11, 18, 9, 30, tzinfo=CHICAGO)
R03 = {"daily_realized_loss": {"enabled": True, "loss_limit": 50, "include_unrealized": False}}
SIZE = (150, 48)


def screen_text(app: DashboardApp) -> str:
    """The screen as plain text: the same composited frame `export_screenshot` turns into SVG,
    printed to a recording console and exported as text."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True,
                      force_terminal=True, color_system=None, legacy_windows=False)
    console.print(app.screen._compositor.render_update(full=True))
    return "\n".join(line.rstrip() for line in console.export_text(styles=False).splitlines())


async def test_dashboard_shows_the_r03_lock_of_a_scripted_breach(rig, tmp_path):  # noqa: F811
    with time_machine.travel(WEDNESDAY_0930, tick=True):
        rig.configure(R03)
        daemon = await rig.start_daemon()
        app = DashboardApp(daemon.status_url, poll_s=0.5)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.model.reachable and app.model.events_connected, 10.0)
            assert not banner_shown(app)

            # The scripted trader: long 1 MNQ at 20000, out at 19970: -30 points = -$60 < -$50.
            t = rig.trader
            await t.price(MNQ, 20000.0)
            await t.place(rig.account, MNQ, BUY, 1)
            await t.price(MNQ, 19970.0)
            await t.place(rig.account, MNQ, SELL, 1)

            await wait_for(pilot, lambda: banner_shown(app), timeout=10.0)
            locks = account_locks(await get_status(daemon.status_url), rig.account)
            assert [lock["rule"] for lock in locks] == ["R03"]
            text = banner_text(app)
            assert "LOCKED" in text and "R03" in text, text
            assert locks[0]["reason"] in text and "Daily loss limit" in text, text
            countdown = app.query_one("#lock-countdown").value
            assert re.fullmatch(r"\d\d:\d\d:\d\d", countdown) and countdown != "00:00:00", countdown
            await pilot.pause(0.2)  # let the last refresh reach the screen

            capture = screen_text(app)
            out = tmp_path / "dashboard_r03_lock.txt"
            out.write_text(capture + "\n")
            print(f"\n--- dashboard screen ({out}) ---\n{capture}\n--- end ---")
            assert "LOCKED" in capture and "R03" in capture and "Daily loss limit" in capture
