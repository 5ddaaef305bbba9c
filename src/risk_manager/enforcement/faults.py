"""Classify a failed broker call into what the executor should do next (docs/operations.md, gateway faults).

By type, at the seam: the broker adapter (daemon/adapters.py) translates its client's errors into
`enforcement.ports` errors. Whatever else is raised (a bug, a timeout of the call itself) counts as
uncertain: the executor then reconciles before it acts again, the safe choice.
"""

from __future__ import annotations

import asyncio
import enum

from risk_manager.enforcement.ports import BrokerRateLimited, RejectedByBroker


class Fault(enum.Enum):
    RATE_LIMITED = "rate_limited"  # not processed: wait, then retry as is
    UNCERTAIN = "uncertain"  # may have been processed: reconcile before any retry
    REJECTED = "rejected"  # processed and refused: reconcile (target may already be gone)


def classify(exc: BaseException) -> Fault:
    if isinstance(exc, BrokerRateLimited):
        return Fault.RATE_LIMITED
    if isinstance(exc, RejectedByBroker):
        return Fault.REJECTED
    return Fault.UNCERTAIN


def retry_after_s(exc: BaseException, default: float) -> float:
    value = exc.retry_after if isinstance(exc, BrokerRateLimited) else None
    if value is not None and value >= 0:
        return float(value)
    return default


TIMEOUT_ERRORS = (asyncio.TimeoutError, TimeoutError)
