"""Classify a failed broker call into what the executor should do next (docs/operations.md, gateway faults).

Classification is by shape rather than by importing the gateway's exception classes, so the kill
switch keeps working whatever the client raises: an HTTP status attribute, a `retry_after`
attribute, or the class name (``…RateLimit…``, ``…Uncertain…``, ``…Timeout…``).
"""

from __future__ import annotations

import asyncio
import enum

from risk_manager.enforcement.ports import RejectedByBroker


class Fault(enum.Enum):
    RATE_LIMITED = "rate_limited"  # not processed: wait, then retry as is
    UNCERTAIN = "uncertain"  # may have been processed: reconcile before any retry
    REJECTED = "rejected"  # processed and refused: reconcile (target may already be gone)


def _status_of(exc: BaseException) -> int | None:
    for attr in ("status", "status_code", "http_status"):
        value = getattr(exc, attr, None)
        if isinstance(value, int):
            return value
    return None


def classify(exc: BaseException) -> Fault:
    name = type(exc).__name__.lower()
    status = _status_of(exc)
    if status == 429 or "ratelimit" in name or "toomany" in name:
        return Fault.RATE_LIMITED
    if isinstance(exc, RejectedByBroker) or hasattr(exc, "error_name") or "rejected" in name:
        return Fault.REJECTED
    if status is not None and 400 <= status < 500 and status not in (401, 403, 408):
        return Fault.REJECTED
    # Timeouts, 5xx, 401 (client refreshes its token), connection errors, "MutationUncertain", …
    return Fault.UNCERTAIN


def retry_after_s(exc: BaseException, default: float) -> float:
    value = getattr(exc, "retry_after", None)
    if isinstance(value, int | float) and value >= 0:
        return float(value)
    return default


TIMEOUT_ERRORS = (asyncio.TimeoutError, TimeoutError)
