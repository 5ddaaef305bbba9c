"""Adapters from the real parts to the executor's seams (enforcement/ports.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from risk_manager.clock import Clock
from risk_manager.enforcement.ports import BrokerError, BrokerRateLimited, BrokerUncertain, RejectedByBroker
from risk_manager.events import Order, OrderType, Position
from risk_manager.gateway.errors import GatewayError, GatewayHTTPError, GatewayRestError
from risk_manager.gateway.errors import RateLimited as GatewayRateLimited


def broker_error(exc: GatewayRestError) -> BrokerError:
    """The gateway client's error as the executor's seam names it (enforcement/ports.py)."""
    if isinstance(exc, GatewayRateLimited):
        return BrokerRateLimited(str(exc), exc.retry_after)
    if isinstance(exc, GatewayError):  # HTTP 200, success:false: processed and refused
        return RejectedByBroker(exc.error_code, str(exc))
    if isinstance(exc, GatewayHTTPError) and 400 <= exc.status < 500 and exc.status not in (401, 403, 408):
        return RejectedByBroker(None, str(exc))  # refused as sent (400, 404, ...)
    return BrokerUncertain(str(exc))  # timeouts, 5xx, dropped connections, 401/403


@asynccontextmanager
async def _translated() -> AsyncIterator[None]:
    try:
        yield
    except GatewayRestError as exc:
        raise broker_error(exc) from exc


class GatewayBroker:
    """`enforcement.ports.Broker` over `gateway.rest.GatewayRest`; its errors are translated into
    the seam's (`broker_error`)."""

    def __init__(self, rest: Any) -> None:
        self._rest = rest

    async def search_open_positions(self, account_id: int) -> list[Position]:
        async with _translated():
            return await self._rest.search_open_positions(account_id)

    async def search_open_orders(self, account_id: int) -> list[Order]:
        async with _translated():
            return await self._rest.search_open_orders(account_id)

    async def close_position(self, account_id: int, contract_id: str) -> None:
        async with _translated():
            await self._rest.close_contract(account_id, contract_id)

    async def partial_close(self, account_id: int, contract_id: str, size: int) -> None:
        async with _translated():
            await self._rest.partial_close_contract(account_id, contract_id, size)

    async def cancel_order(self, account_id: int, order_id: int) -> None:
        async with _translated():
            await self._rest.cancel_order(account_id, order_id)

    async def place_stop(
        self, account_id: int, contract_id: str, side: int, size: int, stop_price: float,
        custom_tag: str | None = None,
    ) -> int | None:
        async with _translated():
            return await self._rest.place_order(
                account_id, contract_id, OrderType.STOP, side, size, stop_price=stop_price,
                custom_tag=custom_tag,
            )

    async def modify_order(
        self, account_id: int, order_id: int, *, stop_price: float | None, size: int | None
    ) -> None:
        async with _translated():
            await self._rest.modify_order(account_id, order_id, stop_price=stop_price, size=size)


class EngineOwnOrders:
    """`enforcement.ports.OwnOrderBook` over the engine's state; what the engine records is
    persisted at once through `save` (the pipeline's record sink)."""

    def __init__(self, engine: Any, clock: Clock, save: Callable[[], None]) -> None:
        self._engine = engine
        self._clock = clock
        self._save = save

    def expect_close(self, account_id: int, contract_id: str, size: int | None = None) -> None:
        self._engine.expect_own_close(account_id, contract_id, self._clock.now(), size)

    def withdraw_close(self, account_id: int, contract_id: str, size: int | None = None) -> None:
        self._engine.withdraw_own_close(account_id, contract_id, size)

    def placed(self, account_id: int, order_id: int, contract_id: str, kind: str) -> None:
        self._engine.own_order_placed(account_id, order_id, contract_id, kind, self._clock.now())
        self._save()

    def is_own_close(self, account_id: int, order: Order) -> bool:
        own = self._engine.is_own_close(account_id, order, self._clock.now())
        if own:
            self._save()  # it may have just been bound to its close claim
        return own
