"""The seams the executor needs: a broker (REST), a durable ledger (store) and the book of its
own orders (engine state).

The executor is written against these Protocols only; the daemon adapts the real GatewayRest and
Store to them (daemon/adapters.py). Keeping the seam narrow means the kill-switch path can be read
in one file and its failure handling does not depend on how a client spells its methods.
"""

from __future__ import annotations

from typing import Any, Protocol

from risk_manager.engine.actions import Lock
from risk_manager.events import Order, Position


class Broker(Protocol):
    async def search_open_positions(self, account_id: int) -> list[Position]: ...

    async def search_open_orders(self, account_id: int) -> list[Order]: ...

    async def close_position(self, account_id: int, contract_id: str) -> None: ...

    async def partial_close(self, account_id: int, contract_id: str, size: int) -> None: ...

    async def cancel_order(self, account_id: int, order_id: int) -> None: ...

    async def place_stop(
        self, account_id: int, contract_id: str, side: int, size: int, stop_price: float,
        custom_tag: str | None = None,
    ) -> int | None: ...

    async def modify_order(
        self, account_id: int, order_id: int, *, stop_price: float | None, size: int | None
    ) -> None: ...


class Ledger(Protocol):
    """Durable writes the executor makes; shaped like `risk_manager.store.Store` so the real store
    plugs in directly. Every method is synchronous and durable on return."""

    def upsert_lock(self, lock: Lock) -> None: ...

    def delete_lock(self, account_id: int, rule: str, *, cleared_by: str = "engine",
                    reason: str = "") -> Any: ...

    # None: the intent could not be written (a failing store); the flatten runs without one.
    def begin_intent(self, account_id: int, kind: str, rule: str, reason: str,
                     detail: dict[str, Any] | None = None) -> int | None: ...

    def complete_intent(self, intent_id: int, outcome: str) -> bool: ...

    def audit(self, account_id: int | None, rule: str, action: str, reason: str, phase: str,
              detail: dict[str, Any] | None = None, *, event_received_ns: int | None = None,
              decided_ns: int | None = None, sent_ns: int | None = None,
              response_ns: int | None = None, confirmed_ns: int | None = None,
              intent_id: int | None = None) -> int | None: ...


class OwnOrderBook(Protocol):
    """The orders the guard itself placed (docs/rules.md): it never cancels its own closes, and their
    fills are not the trader's trades. Backed by the engine's state; the daemon persists it."""

    def expect_close(self, account_id: int, contract_id: str, size: int | None = None) -> None:
        """Called just before closeContract/partialCloseContract (they return no order id): the
        order the server creates for it is the guard's own."""
        ...

    def withdraw_close(self, account_id: int, contract_id: str, size: int | None = None) -> None:
        """A close announced by `expect_close` that the broker did not act on: forget it."""
        ...

    def placed(self, account_id: int, order_id: int, contract_id: str, kind: str) -> None:
        """Order/place returned `order_id` for an order of the guard."""
        ...

    def is_own_close(self, account_id: int, order: Order) -> bool: ...


class BrokerError(Exception):
    """A broker call failed; the subclass says what the executor may do next (enforcement/faults.py).
    The adapter translates its client's errors into these; anything else counts as uncertain."""


class RejectedByBroker(BrokerError):
    """The broker answered success:false (errorCode/errorMessage); the call was processed."""

    def __init__(self, code: int | None, message: str | None) -> None:
        super().__init__(f"errorCode={code} {message or ''}".strip())
        self.code = code
        self.message = message


class BrokerRateLimited(BrokerError):
    """Not processed (HTTP 429): wait `retry_after` seconds (None: the caller's back-off), retry as is."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BrokerUncertain(BrokerError):
    """The call may or may not have been processed (timeout, 5xx, a dropped connection, a refused
    token): reconcile before any retry."""
