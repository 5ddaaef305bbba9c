"""The enforcement history: one table row per record, and the full record in a modal on Enter."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from risk_manager.ui.format import local_time, number

#: Actions that are lock changes rather than broker calls (the daemon lists them in the history).
LOCK_ACTIONS = {"lock": "admin lock", "unlock": "admin unlock", "self_lock": "self-lock (done for the day)"}
TIMING_LABELS = (("decided_ms", "decided"), ("sent_ms", "request sent"), ("response_ms", "response"),
                 ("confirmed_ms", "confirmed"))


def target_text(ev: dict[str, Any]) -> str:
    """What the action hit: 'order 4711 MNQ', 'MNQ position', 'account'."""
    symbol = ev.get("symbol") or _root(ev.get("contract_id"))
    if ev.get("order_id") is not None:
        return f"order {ev['order_id']}" + (f" {symbol}" if symbol else "")
    if symbol:
        return f"{symbol} position" if ev.get("action") not in LOCK_ACTIONS else str(symbol)
    return "account"


def action_text(ev: dict[str, Any]) -> str:
    action = str(ev.get("action", ""))
    if action in LOCK_ACTIONS:
        return LOCK_ACTIONS[action]
    return action


def outcome_style(outcome: str) -> str:
    return "green" if outcome in ("ok", "confirmed") else "bold red"


def history_cells(ev: dict[str, Any], tz: Any) -> list[Any]:
    took = ev.get("latency_ms")
    outcome = str(ev.get("outcome", ""))
    return [
        local_time(ev.get("ts"), tz, "%H:%M:%S"), str(ev.get("account_id", "")), str(ev.get("rule", "")),
        action_text(ev), target_text(ev), Text(outcome, style=outcome_style(outcome)),
        f"{took:.1f} ms" if isinstance(took, (int, float)) else "—", str(ev.get("reason", "")),
    ]


def detail_text(ev: dict[str, Any], tz: Any) -> Text:
    """Every field of one record, labelled, nothing cut off."""
    out = Text()

    def line(label: str, value: Any, style: str = "") -> None:
        out.append(f"{label:<14}", style="bold")
        out.append(f"{value}\n", style=style)

    outcome = str(ev.get("outcome", ""))
    line("Time", local_time(ev.get("ts"), tz, "%a %d %b %H:%M:%S %Z"))
    line("Account", ev.get("account_id", "—"))
    line("Rule", ev.get("rule", "—"))
    line("Action", action_text(ev))
    line("Target", target_text(ev))
    if ev.get("symbol") or ev.get("contract_id"):
        line("Symbol", f"{ev.get('symbol') or '—'} ({ev.get('contract_id') or 'no contract'})")
    if ev.get("order_id") is not None:
        line("Order id", ev["order_id"])
    if ev.get("size") is not None:
        line("Size", number(ev["size"]))
    if ev.get("by"):
        line("By", ev["by"])
    if ev.get("until"):
        line("Until", local_time(ev["until"], tz, "%a %d %b %H:%M:%S %Z"))
    if ev.get("cleared"):
        line("Cleared", ", ".join(map(str, ev["cleared"])))
    line("Outcome", outcome or "—", outcome_style(outcome) if outcome else "")
    took = ev.get("latency_ms")
    line("Took", f"{took:.1f} ms (event → confirmed)" if isinstance(took, (int, float)) else "—")
    raw = ev.get("timings")
    timings: dict[str, Any] = raw if isinstance(raw, dict) else {}
    steps = [f"{label} +{timings[key]:.1f} ms" for key, label in TIMING_LABELS if key in timings]
    if steps:
        line("Timings", " · ".join(steps))
    line("Reason", ev.get("reason") or "—")
    for note in ev.get("notes") or []:
        line("Note", note, "italic")
    return out


def _root(contract_id: Any) -> str | None:
    """'CON.F.US.MNQ.Z26' -> 'MNQ' (the daemon sends `symbol`; this covers older records)."""
    if not isinstance(contract_id, str):
        return None
    parts = contract_id.split(".")
    return parts[3] if len(parts) >= 5 else contract_id


class HistoryDetail(ModalScreen[None]):
    """One enforcement record in full; Escape, Enter or q closes it."""

    DEFAULT_CSS = """
    HistoryDetail { align: center middle; }
    #detail-box { width: 120; max-width: 95%; height: auto; max-height: 90%; border: thick $accent; background: $surface;
                  padding: 1 2; }
    #detail-title { text-style: bold; padding-bottom: 1; }
    #detail-help { color: $text-muted; padding-top: 1; }
    """
    BINDINGS = [Binding("escape,enter", "dismiss", "Close")]

    def __init__(self, record: dict[str, Any], tz: Any) -> None:
        super().__init__()
        self.record = record
        self.tz = tz

    def compose(self) -> ComposeResult:
        with Vertical(id="detail-box"):
            yield Static("Enforcement detail", id="detail-title")
            yield Static(detail_text(self.record, self.tz), id="detail-body")
            yield Static("Esc / Enter: close", id="detail-help")
