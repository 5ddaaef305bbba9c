"""The day's P&L as a small labelled bar chart: a scale on the left, a zero line, bars green above
zero and red below (a sparkline scaled to its own minimum shows a loss as a full green block)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

from risk_manager.ui.format import money

AXIS = 12  # width of the scale labels, e.g. "-$1,234.50 ┤"


def resample(values: Sequence[float], width: int) -> list[float]:
    """At most `width` points: the last value of each bucket (the chart ends at the current P&L)."""
    if len(values) <= width:
        return list(values)
    step = len(values) / width
    return [values[min(len(values) - 1, int((i + 1) * step) - 1)] for i in range(width)]


def render_pnl_chart(values: Sequence[float], width: int, height: int = 5) -> Text:
    """`height` rows of `width` columns (the scale included). Row 0 is the top."""
    title = Text("P&L today ", style="bold")
    if not values:
        return title + Text("— no data yet", style="dim")
    now = values[-1]
    title.append(money(now), style=_sign_style(now))
    title.append(f"   high {money(max(values))}   low {money(min(values))}", style="dim")
    plot_w = max(1, width - AXIS)
    points = resample(values, plot_w)
    widen = max(1, min(3, plot_w // len(points)))  # a short series: wider bars, easier to read
    points = [v for v in points for _ in range(widen)]
    hi, lo = max(0.0, max(points)), min(0.0, min(points))
    span = (hi - lo) or 1.0
    rows = max(2, height)

    def row_of(v: float) -> int:  # 0 = top row (hi), rows-1 = bottom (lo)
        return min(rows - 1, max(0, round((hi - v) / span * (rows - 1)))) if rows > 1 else 0

    if hi == lo:  # flat at zero all day: just the zero line
        rows = 1
    zero = row_of(0.0)
    out = Text()
    out.append_text(title)
    for r in range(rows):
        out.append("\n")
        label = money(hi) if r == 0 else money(lo) if r == rows - 1 else "$0" if r == zero else ""
        if r == zero and r in (0, rows - 1):
            label = "$0"
        out.append(f"{label:>{AXIS - 2}} " + ("┼" if r == zero else "┤"), style="dim")
        for v in points:
            top = row_of(v)
            if v > 0 and top <= r < zero or (v > 0 and r == zero and top == zero):
                out.append("█", style="green")
            elif v < 0 and zero < r <= top or (v < 0 and r == zero and top == zero):
                out.append("█", style="red")
            elif r == zero:
                out.append("─", style="dim")
            else:
                out.append(" ")
    return out


def _sign_style(value: float) -> str:
    return "bold green" if value > 0 else "bold red" if value < 0 else "bold"


class PnlChart(Static):
    """Re-renders on resize and whenever `values` is set."""

    DEFAULT_CSS = "PnlChart { height: 7; padding: 0 1; }"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._values: list[float] = []

    @property
    def values(self) -> list[float]:
        return self._values

    @values.setter
    def values(self, series: Sequence[float]) -> None:
        series = list(series)
        if series != self._values:
            self._values = series
            self._redraw()

    def on_resize(self) -> None:
        self._redraw()

    def _redraw(self) -> None:
        width = max(AXIS + 10, self.content_size.width or 80)
        self.update(render_pnl_chart(self._values, width, height=max(2, (self.content_size.height or 6) - 1)))
