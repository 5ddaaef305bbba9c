"""Adapters from the real parts to the executor's seams (enforcement/ports.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from risk_manager.clock import Clock

from risk_manager.events import Order, OrderType, Position


class GatewayBroker:
    """`enforcement.ports.Broker` over `gateway.rest.GatewayRest`."""

    def __init__(self, rest: Any) -> None:
        self._rest = rest

    async def search_open_positions(self, account_id: int) -> list[Position]:
        return await self._rest.search_open_positions(account_id)

    async def search_open_orders(self, account_id: int) -> list[Order]:
        return await self._rest.search_open_orders(account_id)

    async def close_position(self, account_id: int, contract_id: str) -> None:
        await self._rest.close_contract(account_id, contract_id)

    async def partial_close(self, account_id: int, contract_id: str, size: int) -> None:
        await self._rest.partial_close_contract(account_id, contract_id, size)

    async def cancel_order(self, account_id: int, order_id: int) -> None:
        await self._rest.cancel_order(account_id, order_id)

    async def place_stop(
        self, account_id: int, contract_id: str, side: int, size: int, stop_price: float,
        custom_tag: str | None = None,
    ) -> int | None:
        return await self._rest.place_order(
            account_id, contract_id, OrderType.STOP, side, size, stop_price=stop_price,
            custom_tag=custom_tag,
        )

    async def modify_order(
        self, account_id: int, order_id: int, *, stop_price: float | None, size: int | None
    ) -> None:
        await self._rest.modify_order(account_id, order_id, stop_price=stop_price, size=size)


class EngineOwnOrders:
    """`enforcement.ports.OwnOrderBook` over the engine's state; what the engine records is
    persisted at once through `save` (the pipeline's record sink)."""

    def __init__(self, engine: Any, clock: Clock, save: Callable[[], None]) -> None:
        self._engine = engine
        self._clock = clock
        self._save = save

    def expect_close(self, account_id: int, contract_id: str) -> None:
        self._engine.expect_own_close(account_id, contract_id, self._clock.now())

    def placed(self, account_id: int, order_id: int, contract_id: str, kind: str) -> None:
        self._engine.own_order_placed(account_id, order_id, contract_id, kind, self._clock.now())
        self._save()

    def is_own_close(self, account_id: int, order: Order) -> bool:
        own = self._engine.is_own_close(account_id, order, self._clock.now())
        if own:
            self._save()  # it may have just been bound to its close claim
        return own
