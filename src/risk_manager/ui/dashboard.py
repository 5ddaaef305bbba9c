"""`risk-manager dashboard`: the trader's live, read-only view (Textual).

Fed by polling GET /status (every `poll_s`, default 1 s) and by the /events WebSocket, which makes a
lock or an enforcement show at once and triggers an immediate re-poll. When the daemon cannot be
reached the screen says so and both feeds keep retrying.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widgets import DataTable, Digits, Footer, Select, Static, TabbedContent, TabPane

from risk_manager.clock import Clock, SystemClock
from risk_manager.ui.dashboard_model import DashboardModel, usage_level
from risk_manager.ui.format import (
    duration, local_time, lock_end_text, money, number, parse_time, pending_text, rule_cell, zone,
)
from risk_manager.ui.history_view import HistoryDetail, history_cells
from risk_manager.ui.pnl_chart import PnlChart
from risk_manager.ui.self_lock_dialog import SelfLockDialog

PANELS = ("overview", "positions", "history", "session")
USAGE_STYLES = {"ok": "bold green", "warn": "bold yellow", "danger": "bold white on red", "none": "dim"}


def pnl_style(value: Any) -> str:
    if not isinstance(value, (int, float)) or value == 0:
        return "bold"
    return "bold green" if value > 0 else "bold red"


class DashboardApp(App[int]):
    TITLE = "Simple Risk Manager"
    CSS = """
    Screen { layout: vertical; }
    #topbar { height: 3; }
    #account { width: 44; }
    #clock { width: 26; content-align: left middle; height: 3; padding: 0 1; text-style: bold; }
    #conn { width: 1fr; content-align: left middle; height: 3; }
    #day { height: 1; padding: 0 1; color: $text-muted; }
    #unreachable { display: none; height: auto; padding: 0 2; background: $warning; color: black;
                   text-style: bold; }
    #unreachable.shown { display: block; }
    #lock-banner { display: none; height: auto; background: red; color: white; border: heavy white;
                   padding: 0 2; }
    #lock-banner.locked { display: block; }
    #symbol-blocks { display: none; height: 1; padding: 0 2; background: darkorange; color: black;
                     text-style: bold; }
    #symbol-blocks.shown { display: block; }
    #lock-text { text-style: bold; }
    #lock-countdown { width: auto; color: white; }
    #unlock-note { height: auto; padding: 0 2; color: green; }
    #pnl { height: auto; padding: 0 1; }
    #pnl-chart { height: 7; }
    #rules { height: 1fr; }
    #positions-table { height: 1fr; }
    #orders-table { height: 1fr; }
    #session-info { padding: 1 2; }
    #history-table { height: 1fr; }
    /* The panels take the rest of the screen, no more: tables scroll inside it. */
    #panels { height: 1fr; }
    #panels ContentSwitcher { height: 1fr; }
    #panels TabPane { height: 1fr; }
    """
    # Nothing takes the focus by itself: Enter must not open the account selector unless the
    # trader clicked it (the history table takes the focus while its panel is shown).
    AUTO_FOCUS = None
    BINDINGS = [
        Binding("q", "quit", "Quit", priority=True),  # also inside the selector and dialogs
        Binding("1", "panel('overview')", "Overview"),
        Binding("2", "panel('positions')", "Positions"),
        Binding("3", "panel('history')", "History"),
        Binding("4", "panel('session')", "Session"),
        Binding("tab", "cycle_panel(1)", "Next panel", priority=True, show=False),
        Binding("shift+tab", "cycle_panel(-1)", "Previous panel", priority=True, show=False),
        Binding("a", "next_account", "Next account"),
        Binding("d", "done_for_the_day", "Done for the day (lock)"),
    ]

    def __init__(self, url: str = "http://127.0.0.1:8765", *, poll_s: float = 1.0,
                 clock: Clock | None = None) -> None:
        super().__init__()
        self.url = url.rstrip("/")
        self.poll_s = poll_s
        self.retry_s = min(2.0, max(poll_s, 0.1))
        self.clock = clock or SystemClock()
        self.model = DashboardModel()
        self._wake = asyncio.Event()
        self._http: aiohttp.ClientSession | None = None
        self._table_rows: dict[str, list[Any]] = {}
        self._account_ids: list[Any] = []
        self._history_by_key: dict[str, dict[str, Any]] = {}
        self._view_ready = False
        self.polls = 0

    # --- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="topbar"):
            yield Select([], prompt="Account", allow_blank=True, id="account")
            yield Static("", id="clock")
            yield Static("", id="conn")
        yield Static("", id="day")
        yield Static("", id="unreachable")
        with Vertical(id="lock-banner"):
            yield Static("", id="lock-text")
            yield Digits("", id="lock-countdown")
        yield Static("", id="symbol-blocks")
        yield Static("", id="unlock-note")
        with TabbedContent(id="panels", initial="overview"):
            with TabPane("1 Overview", id="overview"):
                yield Static("", id="pnl")
                yield PnlChart(id="pnl-chart")
                yield DataTable(id="rules", cursor_type="none", zebra_stripes=True)
            with TabPane("2 Positions & orders", id="positions"):
                yield DataTable(id="positions-table", cursor_type="none")
                yield DataTable(id="orders-table", cursor_type="none")
            with TabPane("3 Enforcement history", id="history"):
                yield DataTable(id="history-table", cursor_type="row", zebra_stripes=True)
            with TabPane("4 Session", id="session"):
                yield Static("", id="session-info")
        yield Footer()

    def on_mount(self) -> None:
        # Explicit widths: the tables are rebuilt often and must not jump or truncate.
        # Value, Limit and Pending size to their content: a limit is never cut off (R06, R07 tiers).
        self._add_columns("rules", [("Rule", "rule", 5), ("Name", "name", 29), ("Mode", "mode", 8),
                                    ("Value", "value", None), ("Limit", "limit", None), ("Used", "used", 7),
                                    ("Pending (at reset)", "pending", None)])
        self._add_columns("positions-table", [("Symbol", "symbol", 10), ("Side", "side", 6), ("Size", "size", 5),
                                              ("Avg", "avg", 12), ("Mark", "mark", 18), ("Unrealized", "upnl", 12),
                                              ("Age", "age", 12), ("Stop", "stop", 30)])
        self._add_columns("orders-table", [("Order", "id", 12), ("Symbol", "symbol", 10), ("Type", "type", 12),
                                           ("Side", "side", 6), ("Size", "size", 5), ("Limit", "limit", 12),
                                           ("Stop", "stop", 12), ("Status", "status", 12)])
        self._add_columns("history-table", [("Time", "ts", 9), ("Account", "account", 10), ("Rule", "rule", 10),
                                            ("Action", "action", 16), ("Target", "target", 18),
                                            ("Outcome", "outcome", 10), ("Took", "took", 10),
                                            ("Reason", "reason", None)])
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=max(2.0, self.poll_s * 2)))
        self._view_ready = True
        self.run_worker(self._poll_loop(), name="poll", exclusive=False)
        self.run_worker(self._events_loop(), name="events", exclusive=False)
        self.set_interval(1.0, self.refresh_view)  # clocks and countdowns tick even without news
        self.refresh_view()

    async def on_unmount(self) -> None:
        self._view_ready = False
        if self._http is not None:
            await self._http.close()

    def _add_columns(self, table_id: str, columns: list[tuple[str, str, int | None]]) -> None:
        table = self.query_one(f"#{table_id}", DataTable)
        for label, key, width in columns:
            table.add_column(label, key=key, width=width)

    # --- feeds ----------------------------------------------------------------------------
    async def _poll_loop(self) -> None:
        assert self._http is not None
        while True:
            sent = self.clock.monotonic()
            try:
                async with self._http.get(f"{self.url}/status") as resp:
                    if resp.status != 200:
                        raise ValueError(f"/status answered HTTP {resp.status}")
                    doc = await resp.json(content_type=None)
                if not isinstance(doc, dict):
                    raise ValueError("/status did not return a JSON object")
                self.model.apply_status(doc, self.clock.monotonic(), requested_at=sent)
            except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
                self.model.mark_unreachable(_describe(exc))
            self.polls += 1
            self.refresh_view()
            wait = self.poll_s if self.model.reachable else self.retry_s
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except TimeoutError:
                pass
            self._wake.clear()

    async def _events_loop(self) -> None:
        assert self._http is not None
        while True:
            try:
                async with self._http.ws_connect(f"{self.url}/events", heartbeat=30.0) as ws:
                    self.model.events_connected = True
                    self._wake.set()  # anything missed while disconnected: re-read now
                    async for msg in ws:
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            continue
                        self._on_event_text(msg.data)
            except (TimeoutError, aiohttp.ClientError, OSError):
                pass
            self.model.events_connected = False
            self.refresh_view()
            await asyncio.sleep(self.retry_s)

    def _on_event_text(self, text: str) -> None:
        try:
            msg = json.loads(text)
        except json.JSONDecodeError:
            return
        if self.model.apply_event(msg, self.clock.monotonic()):
            self._wake.set()
        if isinstance(msg, dict) and msg.get("type") != "quote":
            self.refresh_view()

    # --- actions --------------------------------------------------------------------------
    def action_panel(self, panel: str) -> None:
        self.query_one("#panels", TabbedContent).active = panel

    def action_cycle_panel(self, step: int) -> None:
        tabs = self.query_one("#panels", TabbedContent)
        current = PANELS.index(tabs.active) if tabs.active in PANELS else 0
        tabs.active = PANELS[(current + step) % len(PANELS)]

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        # The history table has the focus while shown (arrows scroll, Enter opens a row);
        # elsewhere nothing has it, so Enter does nothing.
        if event.pane.id == "history":
            self.query_one("#history-table", DataTable).focus()
        else:
            self.set_focus(None)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id != "history-table":
            return
        record = self._history_by_key.get(str(event.row_key.value))
        if record is not None:
            self.push_screen(HistoryDetail(record, zone((self.model.doc or {}).get("timezone"))))

    def action_done_for_the_day(self) -> None:
        acct = self.model.account()
        if acct is None or not self.model.reachable:
            self.notify("The daemon is not reachable: nothing can be locked now.", severity="error")
            return
        tz = zone((self.model.doc or {}).get("timezone"))
        reset = local_time(((self.model.doc or {}).get("trading_day") or {}).get("end"), tz, "%a %H:%M %Z")
        label = f"{acct.get('name') or acct.get('id')} ({acct.get('id')})"
        dialog = SelfLockDialog(label, reset)
        self.push_screen(dialog, lambda answer: self._self_lock_answer(acct.get("id"), answer))

    def _self_lock_answer(self, account_id: Any, answer: str | None) -> None:
        if answer is None:
            return
        self.run_worker(self._send_self_lock(account_id, answer), name="self-lock", group="self-lock")

    async def _send_self_lock(self, account_id: Any, answer: str) -> None:
        from risk_manager.ui.admin_support import parse_until

        tz = zone((self.model.doc or {}).get("timezone"))
        until = None
        if answer:
            try:
                until = parse_until(answer, self.clock.now(), tz).isoformat()
            except ValueError as exc:
                self.notify(str(exc), severity="error", timeout=8)
                return
        assert self._http is not None
        try:
            async with self._http.post(f"{self.url}/self/lock",
                                       json={"account_id": account_id, "until": until}) as resp:
                reply = await resp.json(content_type=None)
                if resp.status != 200:
                    raise ValueError((reply or {}).get("error") or f"HTTP {resp.status}")
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            self.notify(f"Lock refused: {exc}", severity="error", timeout=8)
            return
        result = reply.get("result") or {}
        when = local_time(result.get("until"), tz, "%a %H:%M %Z") if result.get("until") else "an admin unlocks it"
        if result.get("changed") is False:
            self.notify(f"Already locked until {when}; nothing changed.", timeout=6)
        else:
            self.notify(f"Locked until {when}. Done for the day.", timeout=6)
        self._wake.set()

    def action_next_account(self) -> None:
        self.model.select_next()
        self.refresh_view()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "account" and isinstance(event.value, int):
            self.model.selected = event.value
            self.refresh_view()

    # --- rendering ------------------------------------------------------------------------
    def refresh_view(self) -> None:
        if not self._view_ready or len(self.screen_stack) > 1:
            return  # a dialog or detail is open: the main screen's widgets are not the ones queried
        try:
            self._render_all()
        except NoMatches:  # shutting down: widgets already gone while a feed still reports
            self._view_ready = False

    def _render_all(self) -> None:
        now = self.clock.monotonic()
        doc = self.model.doc or {}
        tz = zone(doc.get("timezone"))
        self._render_header(doc, tz, now)
        self._render_lock_banner(tz, now)
        self._render_pnl()
        self._render_rules(doc, tz, now)
        self._render_positions(now)
        self._render_history(tz)
        self._render_session(doc, tz, now)

    def _render_header(self, doc: dict[str, Any], tz: Any, now: float) -> None:
        accounts = self.model.accounts()
        ids = [a.get("id") for a in accounts]
        select = self.query_one("#account", Select)
        if ids != self._account_ids:
            self._account_ids = ids
            select.set_options([(f"{a.get('name') or a.get('id')} ({a.get('id')})", a.get("id")) for a in accounts])
        if self.model.selected is not None and select.value != self.model.selected and self.model.selected in ids:
            select.value = self.model.selected
        self.query_one("#clock", Static).update(local_time(self.clock.now(), tz, "%a %d %b %H:%M:%S %Z"))
        self.query_one("#conn", Static).update(self._connection_text(doc, now))
        day = doc.get("trading_day") or {}
        reset_in = day.get("reset_in_s")
        if isinstance(reset_in, (int, float)):
            reset_in = max(0.0, reset_in - (now - self.model.doc_at))
        self.query_one("#day", Static).update(
            f"Trading day {local_time(day.get('start'), tz, '%a %H:%M')} → "
            f"{local_time(day.get('end'), tz, '%a %H:%M %Z')}   reset in {duration(reset_in)}"
            if day else "Trading day: —"
        )
        banner = self.query_one("#unreachable", Static)
        if not self.model.reachable:
            age = self.model.data_age(now)
            banner.update(
                f"DAEMON UNREACHABLE at {self.url}: {self.model.last_error or 'connecting…'} — retrying"
                + (f" (data shown is {duration(age)} old)" if age is not None else "")
            )
        banner.set_class(not self.model.reachable, "shown")

    def _connection_text(self, doc: dict[str, Any], now: float) -> Text:
        text = Text()
        if self.model.reachable:
            text.append("● daemon connected", style="bold green")
        else:
            text.append("✖ daemon unreachable", style="bold red")
        text.append("  events ")
        text.append("live" if self.model.events_connected else "down",
                    style="green" if self.model.events_connected else "red")
        conn = doc.get("connections") or {}
        for label, key in (("REST", "rest"), ("user hub", "user_hub"), ("market hub", "market_hub"),
                           ("store", "store")):
            state = conn.get(key)
            sep = "\n" if key == "rest" else "  "  # the gateway's links on their own line
            if not self.model.reachable:  # the last answer says nothing about now
                text.append(f"{sep}{label} ")
                text.append("unknown", style="bold yellow")
            elif state is not None:
                good = state in ("ok", "connected")
                text.append(f"{sep}{label} ")
                text.append(str(state), style="green" if good else "bold red")
        age = conn.get("last_event_age_s")
        if isinstance(age, (int, float)) and self.model.reachable:
            text.append(f"  last event {age:.1f} s ago")
        return text

    def _render_lock_banner(self, tz: Any, now: float) -> None:
        banner = self.query_one("#lock-banner")
        locks = self.model.active_locks()
        banner.set_class(bool(locks), "locked")
        note = self.query_one("#unlock-note", Static)
        reason = self.model.last_unlock.get(self.model.selected) if self.model.selected is not None else None
        note.update(f"Unlocked: {reason}" if reason and not locks else "")
        symbols = [r for r in locks if r.data.get("kind") == "symbol"]
        locks = [r for r in locks if r.data.get("kind") != "symbol"]
        blocks = self.query_one("#symbol-blocks", Static)
        blocks.update("⛔ Blocked: " + " · ".join(
            f"{r.data.get('symbol') or r.data.get('rule')} ({r.data.get('rule')}: {r.data.get('reason', '')}, "
            f"{lock_end_text(dict(r.data, remaining_s=r.remaining('remaining_s', now)), tz)})" for r in symbols)
            if symbols else "")
        blocks.set_class(bool(symbols), "shown")
        # The full banner is for account-wide locks only: a blocked symbol is one compact line.
        banner.set_class(bool(locks), "locked")
        if not locks:
            return
        reduce_only = all(r.data.get("kind") == "reduce_only" for r in locks)  # docs/rules.md
        banner.set_class(reduce_only, "symbol-only")
        lines = ["REDUCE-ONLY — ONLY CLOSING ORDERS PASS" if reduce_only
                 else "LOCKED — TRADING IS BLOCKED ON THIS ACCOUNT"]
        longest = self.model.longest_lock(now)
        if longest is not None:  # the longest first: it is what the account waits for
            locks = [longest] + [r for r in locks if r is not longest]
        for rec in locks:
            lock = dict(rec.data, remaining_s=rec.remaining("remaining_s", now))
            what = str(lock.get("rule", "?")) + (f" {lock['symbol']}" if lock.get("symbol") else "")
            lines.append(f"{what} ({lock.get('kind', 'lock')}): {lock.get('reason', '')} — {lock_end_text(lock, tz)}")
        self.query_one("#lock-text", Static).update("\n".join(lines))
        # The account trades again when the last account-wide lock ends: count down to that one.
        remaining = longest.remaining("remaining_s", now) if longest is not None else None
        digits = self.query_one("#lock-countdown", Digits)
        digits.update("" if remaining is None else _hms(remaining))

    def _render_pnl(self) -> None:
        acct = self.model.account() or {}
        text = Text()
        for label, key in (("Realized today", "realized_pnl"), ("Unrealized", "unrealized_pnl"),
                           ("Total", "total_pnl")):
            value = acct.get(key)
            text.append(f"{label} ")
            text.append(money(value), style=pnl_style(value))
            text.append("     ")
        if acct:
            text.append(f"Balance {money(acct.get('balance'), signed=False)}   "
                        f"Trades today {acct.get('trades_today', '—')}")
            if acct.get("can_trade") is False:
                text.append("   broker: canTrade = false", style="bold red")
        self.query_one("#pnl", Static).update(text)
        self.query_one("#pnl-chart", PnlChart).values = self.model.pnl_series()

    def _render_rules(self, doc: dict[str, Any], tz: Any, now: float) -> None:
        acct = self.model.account() or {}
        pending_by_rule: dict[str, list[str]] = {}
        for change in doc.get("pending_changes") or []:
            if isinstance(change, dict):
                pending_by_rule.setdefault(str(change.get("rule")), []).append(pending_text(change, tz, "%H:%M"))
        rows = []
        for rule in acct.get("rules") or []:
            if not isinstance(rule, dict) or rule.get("enabled") is False:
                continue
            level = usage_level(rule.get("used_pct"))
            pct = rule.get("used_pct")
            used = Text(f"{pct:.0f} %" if isinstance(pct, (int, float)) else "—", style=USAGE_STYLES[level])
            pending = [str(rule["pending"])] if rule.get("pending") else []
            pending += pending_by_rule.get(str(rule.get("name")), []) + pending_by_rule.get(str(rule.get("rule")), [])
            value: Any = rule_cell(rule.get("value"))
            if rule.get("name") == "no_stop_loss_grace":
                value = self._grace_countdown(acct, now) or value
            rows.append((str(rule.get("rule")), [
                str(rule.get("rule", "")), str(rule.get("name", "")),
                Text(str(rule.get("mode", "")), style="yellow" if rule.get("mode") == "alert" else ""),
                value, rule_cell(rule.get("limit")), used,
                Text("; ".join(pending), style="italic cyan") if pending else "",
            ]))
        self._fill("rules", rows)

    def _grace_countdown(self, acct: dict[str, Any], now: float) -> Text | None:
        """R08: 'closing MNQ in 12 s' for every position still without a stop."""
        since_doc = now - self.model.doc_at
        parts = []
        for pos in acct.get("positions") or []:
            deadline = pos.get("stop_deadline_s") if isinstance(pos, dict) and not pos.get("has_stop") else None
            if isinstance(deadline, (int, float)):
                left = max(0.0, deadline - since_doc)
                parts.append(f"closing {pos.get('symbol') or pos.get('contract_id')} in {left:.0f} s")
        return Text(", ".join(parts), style="bold red") if parts else None

    def _render_positions(self, now: float) -> None:
        acct = self.model.account() or {}
        since_doc = now - self.model.doc_at
        wall = self.clock.now()
        rows = []
        for pos in acct.get("positions") or []:
            if not isinstance(pos, dict):
                continue
            opened = parse_time(pos.get("opened_at"))
            age = duration((wall - opened).total_seconds()) if opened else "—"
            if pos.get("has_stop"):
                stop = Text("stop ✓", style="green")
            else:
                deadline = pos.get("stop_deadline_s")
                left = max(0.0, deadline - since_doc) if isinstance(deadline, (int, float)) else None
                stop = Text("NO STOP" + (f" — closes in {left:.0f} s" if left is not None else ""), style="bold red")
            upnl = pos.get("unrealized_pnl")
            mark = number(pos.get("mark")) + (" (stale)" if pos.get("stale") else "")
            rows.append((f"{pos.get('contract_id')}", [
                str(pos.get("symbol") or pos.get("contract_id")), str(pos.get("side", "")), number(pos.get("size")),
                number(pos.get("average_price")), mark, Text(money(upnl), style=pnl_style(upnl)), age, stop,
            ]))
        self._fill("positions-table", rows)
        orders = []
        for order in acct.get("orders") or []:
            if not isinstance(order, dict):
                continue
            orders.append((str(order.get("id")), [
                str(order.get("id")), str(order.get("symbol") or order.get("contract_id")), str(order.get("type", "")),
                str(order.get("side", "")), number(order.get("size")), number(order.get("limit_price")),
                number(order.get("stop_price")), str(order.get("status", "")),
            ]))
        self._fill("orders-table", orders)

    def _render_history(self, tz: Any) -> None:
        rows = []
        self._history_by_key = {}
        for i, ev in enumerate(reversed(self.model.history)):  # newest first
            key = f"h{len(self.model.history) - i}"
            self._history_by_key[key] = ev
            rows.append((key, history_cells(ev, tz)))
        self._fill("history-table", rows)

    def _render_session(self, doc: dict[str, Any], tz: Any, now: float) -> None:
        session = doc.get("session") or {}
        daemon = doc.get("daemon") or {}
        window = session.get("window")
        enforced = session.get("r09_enabled")
        lines = [
            f"Market session: {'OPEN' if session.get('open') else 'CLOSED'}" if session else "Market session: —",
            (f"Session window: {window}" + ("" if enforced is None else
                                            " (R09 enforces it)" if enforced else " (R09 is off: shown, not enforced)"))
            if window else "Session window: —",
            f"Next open:  {local_time(session.get('next_open'), tz, '%a %d %b %H:%M %Z')}",
            f"Next close: {local_time(session.get('next_close'), tz, '%a %d %b %H:%M %Z')}",
            f"Holiday today: {session.get('holiday') or 'no'}",
            f"Early close today: {session.get('early_close') or 'no'}",
            "",
            f"Daemon: {daemon.get('state', '—')} v{daemon.get('version', '?')}, pid {daemon.get('pid', '—')},"
            f" started {local_time(daemon.get('started_at'), tz, '%a %H:%M %Z')}",
            f"Ready: {'yes' if doc.get('ready') else 'no'}    Status API: {self.url}",
        ]
        pending = [c for c in doc.get("pending_changes") or [] if isinstance(c, dict)]
        if pending:
            lines.append("")
            lines.append("Pending looser changes (apply at the next reset):")
            lines += ["  " + pending_text(c, tz, with_rule=True) for c in pending]
        self.query_one("#session-info", Static).update("\n".join(lines))

    def _fill(self, table_id: str, rows: list[tuple[str, list[Any]]]) -> None:
        """Rebuild a table only when its content changed (keeps redraws cheap)."""
        signature = [(key, [str(c) + (str(c.style) if isinstance(c, Text) else "") for c in cells])
                     for key, cells in rows]
        if self._table_rows.get(table_id) == signature:
            return
        self._table_rows[table_id] = signature
        table = self.query_one(f"#{table_id}", DataTable)
        cursor, scroll_y = table.cursor_row, table.scroll_y  # a rebuild must not jump the reader to the top
        table.clear()
        seen: set[str] = set()
        for key, cells in rows:
            while key in seen:  # row keys must be unique even if the daemon repeats an id
                key += "'"
            seen.add(key)
            table.add_row(*cells, key=key)
        if table.row_count and cursor > 0:
            table.move_cursor(row=min(cursor, table.row_count - 1), animate=False, scroll=False)
            table.scroll_to(y=scroll_y, animate=False)


def _hms(seconds: float) -> str:
    total = int(seconds + 0.999)  # round up: never show 0 while still locked
    hours, rest = divmod(total, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connection refused (is the daemon running?)"
    if isinstance(exc, asyncio.TimeoutError):
        return "no answer (timed out)"
    return str(exc) or type(exc).__name__


def run_dashboard(url: str) -> int:
    DashboardApp(url).run()
    return 0


__all__ = ["DashboardApp", "run_dashboard"]
