"""Issue 15 dashboard items, Pilot against a real status API server on loopback (the in-memory
daemon behind it sends /status documents shaped like the real daemon's, docs/status-api.md)."""

from __future__ import annotations

from risk_manager.clock import ManualClock
from risk_manager.ui.dashboard import DashboardApp
from risk_manager.ui.history_view import HistoryDetail
from risk_manager.ui.pnl_chart import render_pnl_chart
from status_fakes import T0
from test_dashboard import SIZE, banner_shown, wait_for


def cell(app, table: str, row: str, column: str) -> str:
    return str(app.query_one(f"#{table}").get_cell(row, column))


def gate_record(i: int) -> dict:
    return {"ts": f"2026-11-21T15:{i // 60:02d}:{i % 60:02d}+00:00", "account_id": 123, "rule": "lock_gate",
            "action": "cancel_order", "reason": f"Account locked (R03): order {4700 + i} cancelled",
            "outcome": "ok", "latency_ms": 3.25, "contract_id": "CON.F.US.MNQ.U26", "symbol": "MNQ",
            "order_id": 4700 + i, "timings": {"decided_ms": 0.05, "sent_ms": 0.4, "response_ms": 3.1,
                                              "confirmed_ms": 3.25}}


async def test_history_scrolls_names_targets_and_opens_a_row(served):
    api, daemon = served
    daemon.enforcement = [gate_record(i) for i in range(80)] + [
        {"ts": "2026-11-21T15:29:00+00:00", "account_id": 123, "rule": "manual", "action": "unlock",
         "reason": "reviewed with trader", "outcome": "ok", "latency_ms": None, "by": "admin@127.0.0.1",
         "cleared": ["R03"]}]
    app = DashboardApp(api.url, poll_s=0.2, clock=ManualClock(T0))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.model.reachable)
        await pilot.press("3")
        table = app.query_one("#history-table")
        await wait_for(pilot, lambda: table.row_count == 81)
        assert app.focused is table
        # Newest first: the admin unlock is listed, and gate rows name the order and symbol they hit.
        assert cell(app, "history-table", "h81", "action") == "admin unlock"
        assert cell(app, "history-table", "h80", "target") == "order 4779 MNQ"
        assert table.max_scroll_y > 0  # more rows than the screen: it scrolls
        for _ in range(40):
            await pilot.press("down")
        await pilot.pause(0.3)  # a re-poll in between must not send the reader back to the top
        assert table.cursor_row == 40 and table.scroll_y > 0
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryDetail))
        body = str(app.screen.query_one("#detail-body").render())
        for part in ("cancel_order", "order 4740 MNQ", "Order id      4740", "CON.F.US.MNQ.U26",
                     "Account locked (R03): order 4740 cancelled", "request sent +0.4 ms",
                     "confirmed +3.2 ms", "Outcome       ok", "3.2 ms"):
            assert part in body, (part, body)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, HistoryDetail))


async def test_pnl_chart_has_scale_zero_line_and_colour_by_sign(served):
    api, daemon = served
    daemon.accounts[123]["pnl_history"] = [["t", v] for v in (0.0, -20.0, -60.0, -45.0, -121.0)]
    app = DashboardApp(api.url, poll_s=0.2, clock=ManualClock(T0))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.model.reachable)
        await pilot.pause(0.1)
        chart = app.query_one("#pnl-chart")
        text = chart.render()
        plain = str(text)
        assert "P&L today -$121.00" in plain and "low -$121.00" in plain
        assert "$0 ┼" in plain and "-$121.00 ┤" in plain  # scale: the zero line and the low end
        bar_styles = {str(span.style).removeprefix("ansi_") for span in text.spans
                      if "█" in plain[span.start:span.end]}
        assert bar_styles == {"red"}, bar_styles  # a loss all day: no green anywhere


def test_chart_colours_follow_the_sign():
    text = render_pnl_chart([0.0, 50.0, -30.0], width=40, height=5)
    plain = str(text)
    styles = {str(s.style) for s in text.spans if "█" in plain[s.start:s.end]}
    assert styles == {"green", "red"}
    assert "+$50.00 ┤" in plain and "-$30.00 ┤" in plain and "$0 ┼" in plain


async def test_rule_rows_grace_countdown_and_whole_limits(served):
    api, daemon = served
    daemon.accounts[123]["rules"] += [
        {"rule": "R02", "name": "max_contracts_per_instrument", "enabled": True, "mode": "enforce",
         "value": 0, "limit": {"MNQ": 2, "NQ": 1, "ES": 1, "MES": 3}, "used_pct": 0.0, "pending": None},
        {"rule": "R06", "name": "trade_frequency_limit", "enabled": True, "mode": "enforce",
         "value": {"minute": 12, "hour": 110, "session": 480},
         "limit": {"minute": 30, "hour": 300, "session": 5000}, "used_pct": 40.0, "pending": None},
        {"rule": "R07", "name": "cooldown_after_loss", "enabled": True, "mode": "enforce", "value": None,
         "limit": [{"loss": -100, "cooldown_s": 300}, {"loss": -200, "cooldown_s": 900},
                   {"loss": -300, "cooldown_s": 1800}], "used_pct": None, "pending": None},
        {"rule": "R08", "name": "no_stop_loss_grace", "enabled": True, "mode": "enforce", "value": 1,
         "limit": 0, "used_pct": None, "pending": None},
    ]
    clock = ManualClock(T0)
    app = DashboardApp(api.url, poll_s=30.0, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.model.events_connected and api.client_count
                       and app.query_one("#rules").row_count == 6)
        await pilot.pause(0.2)  # the re-poll after the events connect is in: the next is 30 s away
        assert cell(app, "rules", "R08", "value") == "closing MNQ in 12 s"
        clock.advance(5)  # the countdown runs between polls
        await wait_for(pilot, lambda: cell(app, "rules", "R08", "value") == "closing MNQ in 8 s", 3.0)
        assert cell(app, "rules", "R02", "limit") == "MNQ 2 · NQ 1 · ES 1 · MES 3"
        assert cell(app, "rules", "R07", "limit") == "-$100→5m · -$200→15m · -$300→30m"
        table = app.query_one("#rules")
        for row in ("R02", "R06", "R07"):
            for key in ("value", "limit"):
                text = cell(app, "rules", row, key)
                assert table.columns[key].get_render_width(table) - 2 * table.cell_padding >= len(text), (row, key)
        assert cell(app, "rules", "R06", "limit") == "30/min · 300/h · 5000/session"


async def test_a_blocked_symbol_is_one_compact_line(served):
    api, daemon = served
    daemon.accounts[123]["locks"] = [{"rule": "R11:ES", "kind": "symbol", "reason": "ES is on the blocked list",
                                      "until": None, "remaining_s": None, "ends": "symbol_unlisted",
                                      "symbol": "ES"}]
    app = DashboardApp(api.url, poll_s=0.2, clock=ManualClock(T0))
    async with app.run_test(size=SIZE) as pilot:
        line = app.query_one("#symbol-blocks")
        await wait_for(pilot, lambda: line.has_class("shown"))
        await pilot.pause(0.05)
        assert not banner_shown(app)
        assert line.size.height == 1
        assert "ES (R11:ES: ES is on the blocked list, while the symbol stays blocked)" in str(line.render())


async def test_unreachable_daemon_shows_every_connection_unknown(served):
    api, daemon = served
    app = DashboardApp(api.url, poll_s=0.1, clock=ManualClock(T0))
    async with app.run_test(size=SIZE) as pilot:
        conn = app.query_one("#conn")
        await wait_for(pilot, lambda: app.model.reachable and "user hub connected" in str(conn.render()))
        await api.stop()
        await wait_for(pilot, lambda: not app.model.reachable)
        await pilot.pause(0.05)
        text = str(conn.render())
        for part in ("REST unknown", "user hub unknown", "market hub unknown"):
            assert part in text, text
        assert "connected" not in text.replace("daemon", "") and "last event" not in text


async def test_enter_never_opens_the_selector_and_q_always_quits(served):
    api, daemon = served
    app = DashboardApp(api.url, poll_s=0.2, clock=ManualClock(T0))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.model.reachable)
        select = app.query_one("#account")
        for panel in ("1", "2", "4"):
            await pilot.press(panel, "enter")
            await pilot.pause(0.05)
            assert not select.expanded and app.focused is not select
        await pilot.click("#account")  # given the focus on purpose, Enter opens it
        await pilot.pause(0.05)
        assert select.expanded
        await pilot.press("q")
    assert app.return_code in (0, None)


async def test_q_quits_from_an_open_detail(served):
    api, daemon = served
    daemon.enforcement = [gate_record(1)]
    app = DashboardApp(api.url, poll_s=0.2, clock=ManualClock(T0))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.model.reachable)
        await pilot.press("3")
        await wait_for(pilot, lambda: app.query_one("#history-table").row_count == 1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryDetail))
        await pilot.press("q")
    assert app.return_code in (0, None)
