"""Builders shared by the store tests."""

from __future__ import annotations

from datetime import UTC, datetime

from risk_manager.events import Event, Order, Quote, Trade, make_event

T0 = datetime(2026, 3, 9, 14, 30, tzinfo=UTC)


def order_event(order_id: int = 1, account_id: int = 7, at: datetime = T0) -> Event:
    order = Order(
        id=order_id, account_id=account_id, contract_id="CON.F.US.EP.U26", status=1, type=1,
        side=0, size=1, limit_price=5000.25, creation_timestamp=at,
    )
    return make_event(order, action=0, received_ns=123, received_at=at)


def quote_event(price: float = 5000.0, at: datetime = T0) -> Event:
    return make_event(Quote("CON.F.US.EP.U26", last_price=price, timestamp=at), received_at=at)


def trade(trade_id: int, pnl: float | None = -50.0, voided: bool = False, account_id: int = 7):
    return Trade(
        id=trade_id, account_id=account_id, contract_id="CON.F.US.EP.U26", price=5000.0, side=1,
        size=1, profit_and_loss=pnl, fees=1.4, voided=voided,
    )
