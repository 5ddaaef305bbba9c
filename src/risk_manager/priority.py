"""Request lanes of the REST rate budget, set by callers for everything they await inside.

The gateway's `RateBudget` reads these flags; enforcement and the daemon only set them. They live
below both (not in the gateway) so that enforcement never imports the gateway (the import
contract in pyproject.toml). Context variables follow the call into every task it starts, so a
flatten's reads and mutations all travel in the lane of the flatten.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar

#: True while the executor enforces (its reads and mutations): may use the whole budget and is
#: served before anything waiting, so the kill switch never queues behind reconciliation reads.
ON_LOCK_PATH: ContextVar[bool] = ContextVar("risk_manager_on_lock_path", default=False)

#: Reads that look for a breach (reconciling accounts at risk): ahead of ordinary reads, but they
#: may not take the last slots of the budget, which stay for enforcement itself.
ON_RISK_READ_PATH: ContextVar[bool] = ContextVar("risk_manager_on_risk_read_path", default=False)


@contextmanager
def _flag(var: ContextVar[bool]) -> Iterator[None]:
    token = var.set(True)
    try:
        yield
    finally:
        var.reset(token)


def on_lock_path() -> AbstractContextManager[None]:
    return _flag(ON_LOCK_PATH)


def on_risk_read_path() -> AbstractContextManager[None]:
    return _flag(ON_RISK_READ_PATH)
