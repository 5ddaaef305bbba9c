"""Typed wire models of the ProjectX Gateway (reference §3–§8) and per-endpoint error-code names.

The models describe what the gateway sends, not what we would like it to send: every field is
optional (the stream omits nulls, REST sends explicit nulls, older deployments lack newer fields),
unknown keys are kept (``extra="allow"``, so nothing is lost), enum-typed fields are plain ints (an
unknown status stays an int instead of failing), and an order may carry ``orderId`` instead of
``id``. Field names are snake_case in Python and camelCase on the wire.

Converting to the internal payloads of `risk_manager.events` is done by `gateway.decode`
(`to_payload()` on each entity model is a convenience over it). The hot path (hub events) does not
go through pydantic; these models serve REST envelopes, validation and tests.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel

from risk_manager import events as ev


class WireModel(BaseModel):
    model_config = ConfigDict(
        extra="allow", populate_by_name=True, alias_generator=to_camel, frozen=True
    )

    def wire(self) -> dict[str, Any]:
        """The model as wire JSON (camelCase keys, only fields that were present)."""
        return self.model_dump(by_alias=True, exclude_unset=True, mode="json")


# --- entities ------------------------------------------------------------------------------
class WireAccount(WireModel):
    id: int | None = None
    name: str | None = None
    balance: float | None = None
    can_trade: bool | None = None
    is_visible: bool | None = None
    simulated: bool | None = None

    def to_payload(self) -> ev.Account:
        from risk_manager.gateway.decode import parse_account

        return parse_account(self.wire())


class WireOrder(WireModel):
    id: int | None = None
    account_id: int | None = None
    contract_id: str | None = None
    symbol_id: str | None = None
    creation_timestamp: datetime | None = None
    update_timestamp: datetime | None = None
    status: int | None = None  # OrderStatus, unknown values kept
    type: int | None = None  # OrderType
    side: int | None = None  # OrderSide
    size: int | None = None
    limit_price: float | None = None
    stop_price: float | None = None
    fill_volume: int | None = None
    filled_price: float | None = None
    custom_tag: str | None = None
    trail_distance: float | None = None
    trail_price: float | None = None
    parent_order_id: int | None = None
    linked_order_id: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _order_id_alias(cls, data: Any) -> Any:
        # One live event carried `orderId` instead of `id` (reference §6.4).
        if isinstance(data, dict) and data.get("id") is None and "orderId" in data:
            data = {**data, "id": data["orderId"]}
            del data["orderId"]
        return data

    def to_payload(self) -> ev.Order:
        from risk_manager.gateway.decode import parse_order

        return parse_order(self.wire())


class WirePosition(WireModel):
    id: int | None = None
    account_id: int | None = None
    contract_id: str | None = None
    contract_display_name: str | None = None
    creation_timestamp: datetime | None = None
    type: int | None = None  # PositionType; 0 on a closed position
    size: int | None = None
    average_price: float | None = None

    def to_payload(self) -> ev.Position:
        from risk_manager.gateway.decode import parse_position

        return parse_position(self.wire())


class WireTrade(WireModel):
    """A half-turn fill of one of our accounts (GatewayUserTrade / Trade/search)."""

    id: int | None = None
    account_id: int | None = None
    contract_id: str | None = None
    creation_timestamp: datetime | None = None
    price: float | None = None
    profit_and_loss: float | None = None
    fees: float | None = None
    commissions: float | None = None
    side: int | None = None
    size: int | None = None
    voided: bool | None = None
    order_id: int | None = None

    def to_payload(self) -> ev.Trade:
        from risk_manager.gateway.decode import parse_trade

        return parse_trade(self.wire())


class WireQuote(WireModel):
    """GatewayQuote data: partial, only the changed fields plus the undocumented `contract`."""

    symbol: str | None = None
    symbol_name: str | None = None
    last_price: float | None = None
    best_bid: float | None = None
    best_ask: float | None = None
    change: float | None = None
    change_percent: float | None = None
    open: float | None = None
    high: float | None = None
    low: float | None = None
    volume: float | None = None
    last_updated: datetime | None = None
    timestamp: datetime | None = None
    contract: str | None = None

    def to_payload(self, contract_id: str | None = None) -> ev.Quote:
        from risk_manager.gateway.decode import parse_quote

        return parse_quote(contract_id, self.wire())


class WireMarketTrade(WireModel):
    """One print of a GatewayTrade push (`type` = TradeLogType: 0 buy, 1 sell aggressor)."""

    symbol_id: str | None = None
    contract_id: str | None = None
    price: float | None = None
    volume: float | None = None
    type: int | None = None
    timestamp: datetime | None = None

    def to_payload(self, contract_id: str | None = None) -> ev.MarketTrade:
        from risk_manager.gateway.decode import parse_market_trade

        return parse_market_trade(contract_id, self.wire())


class WireDepthLevel(WireModel):
    """One GatewayDepth level (`type` = DomType). Not turned into events: we only count them."""

    contract_id: str | None = None
    timestamp: datetime | None = None
    type: int | None = None
    price: float | None = None
    volume: float | None = None
    current_volume: float | None = None


class WireContract(WireModel):
    id: str | None = None
    name: str | None = None
    description: str | None = None
    tick_size: float | None = None
    tick_value: float | None = None
    active_contract: bool | None = None
    symbol_id: str | None = None

    def to_payload(self) -> ev.Contract:
        from risk_manager.gateway.decode import parse_contract

        return parse_contract(self.wire())


class WireBar(WireModel):
    t: datetime | None = None
    o: float | None = None
    h: float | None = None
    l: float | None = None  # noqa: E741 - the wire name
    c: float | None = None
    v: float | None = None


# --- REST envelopes ------------------------------------------------------------------------
class Envelope(WireModel):
    success: bool | None = None
    error_code: int | None = None
    error_message: str | None = None


class LoginResponse(Envelope):
    token: str | None = None


class ValidateResponse(Envelope):
    new_token: str | None = None


class AccountsResponse(Envelope):
    accounts: list[WireAccount] | None = None


class PositionsResponse(Envelope):
    positions: list[WirePosition] | None = None


class OrdersResponse(Envelope):
    orders: list[WireOrder] | None = None


class OrderResponse(Envelope):
    order: WireOrder | None = None


class PlaceOrderResponse(Envelope):
    order_id: int | None = None


class TradesResponse(Envelope):
    trades: list[WireTrade] | None = None


class ContractsResponse(Envelope):
    contracts: list[WireContract] | None = None


class ContractResponse(Envelope):
    contract: WireContract | None = None


class BarsResponse(Envelope):
    bars: list[WireBar] | None = None


# --- hub records -----------------------------------------------------------------------------
class UserEventWrapper(WireModel):
    """The `{action, data}` wrapper real user-hub events arrive in (reference §6.2)."""

    action: int | None = None
    data: Any = None


# --- error codes (reference §2, §4: each endpoint has its own enum) -------------------------
_ACCOUNT_ONLY = {0: "Success", 1: "AccountNotFound"}

ERROR_CODES: dict[str, dict[int, str]] = {
    "Auth/loginKey": {
        0: "Success", 1: "UserNotFound", 2: "PasswordVerificationFailed", 3: "InvalidCredentials",
        4: "AppNotFound", 5: "AppVerificationFailed", 6: "InvalidDevice", 7: "AgreementsNotSigned",
        8: "UnknownError", 9: "ApiSubscriptionNotFound", 10: "ApiKeyAuthenticationDisabled",
    },
    "Auth/validate": {
        0: "Success", 1: "InvalidSession", 2: "SessionNotFound", 3: "ExpiredToken", 4: "UnknownError",
    },
    "Auth/logout": {0: "Success", 1: "InvalidSession", 2: "UnknownError"},
    "Account/search": {0: "Success"},
    "Position/searchOpen": _ACCOUNT_ONLY,
    "Position/closeContract": {
        0: "Success", 1: "AccountNotFound", 2: "PositionNotFound", 3: "ContractNotFound",
        4: "ContractNotActive", 5: "OrderRejected", 6: "OrderPending", 7: "UnknownError",
        8: "AccountRejected",
    },
    "Position/partialCloseContract": {
        0: "Success", 1: "AccountNotFound", 2: "PositionNotFound", 3: "ContractNotFound",
        4: "ContractNotActive", 5: "InvalidCloseSize", 6: "OrderRejected", 7: "OrderPending",
        8: "UnknownError", 9: "AccountRejected",
    },
    "Order/searchOpen": _ACCOUNT_ONLY,
    "Order/search": _ACCOUNT_ONLY,
    "Order/searchById": {0: "Success", 1: "OrderNotFound"},
    "Order/place": {
        0: "Success", 1: "AccountNotFound", 2: "OrderRejected", 3: "InsufficientFunds",
        4: "AccountViolation", 5: "OutsideTradingHours", 6: "OrderPending", 7: "UnknownError",
        8: "ContractNotFound", 9: "ContractNotActive", 10: "AccountRejected",
    },
    "Order/modify": {
        0: "Success", 1: "AccountNotFound", 2: "OrderNotFound", 3: "Rejected", 4: "Pending",
        5: "UnknownError", 6: "AccountRejected", 7: "ContractNotFound",
    },
    "Order/cancel": {
        0: "Success", 1: "AccountNotFound", 2: "OrderNotFound", 3: "Rejected", 4: "Pending",
        5: "UnknownError", 6: "AccountRejected",
    },
    "Trade/search": _ACCOUNT_ONLY,
    "Contract/searchById": {0: "Success", 1: "ContractNotFound"},
    "Contract/search": {0: "Success"},
    "Contract/available": {0: "Success"},
    "History/retrieveBars": {
        0: "Success", 1: "ContractNotFound", 2: "UnitInvalid", 3: "UnitNumberInvalid",
        4: "LimitInvalid",
    },
}

_ENDPOINT_KEYS = {k.lower(): k for k in ERROR_CODES}


def error_name(endpoint: str, code: int | None) -> str:
    """The name of `code` in `endpoint`'s own errorCode enum, e.g. ("Order/cancel", 2) → "OrderNotFound".

    `endpoint` is "Controller/action" (case-insensitive; a leading "/api/" is ignored). Unknown
    codes give "Unknown(<code>)".
    """
    key = endpoint.strip("/")
    if key.lower().startswith("api/"):
        key = key[4:]
    table = ERROR_CODES.get(_ENDPOINT_KEYS.get(key.lower(), key), {})
    if code is None:
        return "Unknown(None)"
    return table.get(code, f"Unknown({code})")


def enum_name(enum_type: type[enum.IntEnum], value: int | None) -> str:
    """Readable name of a wire enum value that may be unknown (kept as int)."""
    if value is None:
        return "None"
    try:
        return enum_type(value).name
    except ValueError:
        return f"Unknown({value})"
