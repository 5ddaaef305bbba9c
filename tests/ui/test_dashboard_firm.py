"""The firm-account guards on the dashboard against the real daemon and simulator (Pilot): R14,
R15 and R16 rows with their value and limit, then an R14 breach shown as the account's lock."""

from __future__ import annotations

import pytest

from e2e.conftest import rig  # noqa: F401  (the e2e harness: real simulator + in-process daemon)
from e2e.helpers import BUY, MNQ
from risk_manager.ui.dashboard import DashboardApp
from test_dashboard import banner_shown, banner_text, wait_for

pytestmark = pytest.mark.e2e
SIZE = (150, 44)
FIRM = {
    "max_loss_floor": {"starting_balance": 50_000, "max_drawdown": 2_000, "floor_now": 49_950},
    "consistency_guard": {"max_day_share": 0.5, "profit_target": 3_000, "starting_balance": 50_000},
    "scaling_plan": {"tiers": [{"balance_at_least": 0, "max_contracts": 2},
                               {"balance_at_least": 51_500, "max_contracts": 5}]},
}


def cell(app, row: str, column: str) -> str:
    return str(app.query_one("#rules").get_cell(row, column))


async def test_firm_rows_and_an_r14_breach_on_the_dashboard(rig):  # noqa: F811
    rig.configure({name: {"enabled": True, **cfg} for name, cfg in FIRM.items()})
    daemon = await rig.start_daemon()
    app = DashboardApp(daemon.status_url, poll_s=0.3)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.model.reachable and app.query_one("#rules").row_count >= 3, 10.0)
        assert (cell(app, "R14", "value"), cell(app, "R14", "limit")) == ("50,000", "49,950")  # equity, floor
        assert (cell(app, "R16", "value"), cell(app, "R16", "limit")) == ("0", "2")  # contracts, tier allowance
        assert (cell(app, "R15", "value"), cell(app, "R15", "limit")) == ("0", "1,500")  # half the $3,000 target
        t = rig.trader
        await t.price(MNQ, 20_000.0)
        await t.place(rig.account, MNQ, BUY, 1)
        await rig.wait_quotes(MNQ)
        await t.price(MNQ, 19_970.0)  # −$60 open: equity below the $49,950 floor
        await wait_for(pilot, lambda: banner_shown(app) and "R14" in banner_text(app), 10.0)
        assert "Max loss floor" in banner_text(app)
