""""Done for the day" confirmation: the trader locks their own account (no password, docs/rules.md)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class SelfLockDialog(ModalScreen["str | None"]):
    """Dismisses with "" (until the reset), "HH:MM"/"90m"/ISO text (until then), or None (cancel)."""

    DEFAULT_CSS = """
    SelfLockDialog { align: center middle; }
    #self-lock-box { width: 76; height: auto; border: thick red; background: $surface; padding: 1 2; }
    #self-lock-title { text-style: bold; color: red; padding-bottom: 1; }
    #self-lock-error { color: red; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, account_label: str, reset_text: str) -> None:
        super().__init__()
        self.account_label = account_label
        self.reset_text = reset_text

    def compose(self) -> ComposeResult:
        with Vertical(id="self-lock-box"):
            yield Static(f"Done for the day — lock {self.account_label}?", id="self-lock-title")
            yield Static(
                "Open positions are closed and working orders cancelled; new orders are cancelled\n"
                f"until the lock ends. Only an admin (password) can unlock it early.\n\n"
                f"Until (HH:MM, 90m, 2h — empty: the next reset, {self.reset_text}):")
            yield Input(placeholder="empty = until the reset", id="self-lock-until")
            yield Static("", id="self-lock-error")
            yield Static("Enter: lock   Esc: cancel", classes="help")

    def on_mount(self) -> None:
        self.query_one("#self-lock-until", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip())

    def show_error(self, message: str) -> None:
        self.query_one("#self-lock-error", Static).update(message)

    def action_cancel(self) -> None:
        self.dismiss(None)
