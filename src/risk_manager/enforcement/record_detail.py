"""What an enforcement record names besides its rule and reason: the target it acted on and the
steps' timings, so the dashboard's history can show a row in full (docs/status-api.md)."""

from __future__ import annotations

from typing import Any


def target_fields(action: Any) -> dict[str, Any]:
    """The order / position the action hit (`contract_id`, `order_id`, `size`), when it has one."""
    out: dict[str, Any] = {}
    for key in ("contract_id", "order_id", "size"):
        value = getattr(action, key, None)
        if value is not None:
            out[key] = value
    return out


def timing_fields(timings: Any) -> dict[str, float]:
    """Milliseconds from the triggering event (or the decision) to each later step that happened."""
    start = timings.received_ns or timings.decided_ns
    if not start:
        return {}
    steps = (("decided_ms", timings.decided_ns), ("sent_ms", timings.sent_ns),
             ("response_ms", timings.response_ns), ("confirmed_ms", timings.confirmed_ns))
    return {name: round((ns - start) / 1e6, 3) for name, ns in steps if ns}
