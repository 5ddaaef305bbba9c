"""Wire JSON → `risk_manager.events` payloads and Events. This is the hub hot path: plain dict
access, no pydantic, no reflection.

User hub (reference §6): target GatewayUserAccount/Order/Position/Trade, `arguments` holding
``{"action", "data"}`` wrappers (what real traffic sends) or bare entities, one object or a list.
Market hub (§7): GatewayQuote ``[contractId, {partial quote}]``, GatewayTrade
``[contractId, [prints]]``, GatewayDepth (ignored here: counted by the hub).
REST rows (`Position/searchOpen`, ...) go through the same `parse_*` functions.

A payload we cannot use raises `DecodeError` naming what was wrong and where; callers count it and
skip it. When an invocation carries several entities, the good ones still come out
(`DecodeError.events`).
"""

from __future__ import annotations

import math
from dataclasses import fields as dc_fields, replace
from datetime import datetime
from typing import Any
from collections.abc import Callable

from risk_manager.events import (
    Account,
    Contract,
    Event,
    EventKind,
    EventSource,
    MarketTrade,
    Order,
    Position,
    Quote,
    Trade,
)

_fromiso = datetime.fromisoformat


class DecodeError(ValueError):
    """A wire payload we cannot turn into an event. `events`: what could be decoded anyway."""

    def __init__(self, message: str, *, events: list[Event] | None = None) -> None:
        super().__init__(message)
        self.events: list[Event] = events or []


def _show(value: Any, limit: int = 160) -> str:
    try:
        text = repr(value)
    except RecursionError:  # nested deeper than repr can go: say so instead of failing here
        return f"<{type(value).__name__} nested too deeply to show>"
    return text if len(text) <= limit else text[:limit] + "…"


# --- scalar coercion (tolerant, but never silently wrong) ---------------------------------
#: Every integer on the wire (ids, sizes, enums) is a .NET long at most; anything wider is
#: malformed and would only fail later, e.g. as an OverflowError writing the SQLite journal.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _int(value: Any, key: str, what: str) -> int:
    if type(value) is int:
        if INT64_MIN <= value <= INT64_MAX:
            return value
        raise _out_of_int64(value, key, what)
    number: int | None = None
    if isinstance(value, float) and value.is_integer():
        # A float at -2**63 exactly is not trusted: orjson (signalr_protocol.parse) reads an
        # integer below -2**63 as the nearest float, and e.g. -2**63 - 1 rounds to -2**63.
        if not -_TWO_63 < value < _TWO_63:
            raise _out_of_int64(value, key, what)
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            pass
    if number is None:
        raise DecodeError(f"{what}: field {key!r} is not an integer: {_show(value)}")
    if INT64_MIN <= number <= INT64_MAX:
        return number
    raise _out_of_int64(value, key, what)


_TWO_63 = 2.0**63


def _out_of_int64(value: Any, key: str, what: str) -> DecodeError:
    return DecodeError(f"{what}: field {key!r} is outside the signed 64-bit integer range: {_show(value)}")


def _float(value: Any, key: str, what: str) -> float:
    number: float | None = None
    if type(value) is float:
        number = value
    elif type(value) is int or isinstance(value, str):
        try:
            number = float(value)
        except (ValueError, OverflowError):  # OverflowError: an integer of 309+ digits
            pass
    # Not finite: "NaN"/"inf" strings, or 1e400 (JSON's parser makes it inf). A NaN price makes
    # every rule comparison false, so a breach would silently never fire.
    if number is None:
        raise DecodeError(f"{what}: field {key!r} is not a number: {_show(value)}")
    if not math.isfinite(number):
        raise DecodeError(f"{what}: field {key!r} is not a finite number: {_show(value)}")
    return number


def _ts(value: Any, key: str, what: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return _fromiso(value)
        except ValueError:
            pass
    raise DecodeError(f"{what}: field {key!r} is not an ISO-8601 timestamp: {_show(value)}")


def _bool(value: Any, key: str, what: str) -> bool | None:
    if value is None or type(value) is bool:
        return value
    if value in (0, 1):
        return bool(value)
    raise DecodeError(f"{what}: field {key!r} is not a boolean: {_show(value)}")


def _str(value: Any, key: str, what: str) -> str:
    if isinstance(value, str):
        return value if value.isascii() else _text(value)
    raise DecodeError(f"{what}: field {key!r} is not a string: {_show(value)}")


def _text(value: str) -> str:
    """A lone surrogate (a JSON "\\ud800" escape) is not text: SQLite and the UTF-8 logs refuse it,
    so the event could not be journaled. It becomes '?'; the rest of the event is kept."""
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")


def _need(d: dict[str, Any], key: str, what: str) -> Any:
    value = d.get(key)
    if value is None:
        raise DecodeError(f"{what}: missing required field {key!r} in {_show(d)}")
    return value


def _opt_int(d: dict[str, Any], key: str, what: str) -> int | None:
    value = d.get(key)
    return None if value is None else _int(value, key, what)


def _opt_float(d: dict[str, Any], key: str, what: str) -> float | None:
    value = d.get(key)
    return None if value is None else _float(value, key, what)


def _opt_str(d: dict[str, Any], key: str, what: str) -> str | None:
    value = d.get(key)
    return None if value is None else _str(value, key, what)


def _check_dict(d: Any, what: str) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise DecodeError(f"{what}: expected a JSON object, got {_show(d)}")
    return d


# --- entities --------------------------------------------------------------------------------
def parse_account(d: dict[str, Any]) -> Account:
    w = "account"
    _check_dict(d, w)
    return Account(
        id=_int(_need(d, "id", w), "id", w),
        name=_opt_str(d, "name", w),
        balance=_opt_float(d, "balance", w),
        can_trade=_bool(d.get("canTrade"), "canTrade", w),
        is_visible=_bool(d.get("isVisible"), "isVisible", w),
        simulated=_bool(d.get("simulated"), "simulated", w),
    )


def parse_order(d: dict[str, Any]) -> Order:
    w = "order"
    _check_dict(d, w)
    oid = d.get("id")
    if oid is None:
        oid = d.get("orderId")  # seen once on a live event instead of `id` (reference §6.4)
        if oid is None:
            raise DecodeError(f"order: missing required field 'id' (or 'orderId') in {_show(d)}")
    fill_volume = d.get("fillVolume")
    return Order(
        id=_int(oid, "id", w),
        account_id=_int(_need(d, "accountId", w), "accountId", w),
        contract_id=_str(_need(d, "contractId", w), "contractId", w),
        # Missing enums default to 0 (None/Unknown/Bid, like the wire's own zero values).
        status=_int(d.get("status") or 0, "status", w),
        type=_int(d.get("type") or 0, "type", w),
        side=_int(d.get("side") or 0, "side", w),
        size=_int(d.get("size") or 0, "size", w),
        symbol_id=_opt_str(d, "symbolId", w),
        creation_timestamp=_ts(d.get("creationTimestamp"), "creationTimestamp", w),
        update_timestamp=_ts(d.get("updateTimestamp"), "updateTimestamp", w),
        limit_price=_opt_float(d, "limitPrice", w),
        stop_price=_opt_float(d, "stopPrice", w),
        fill_volume=0 if fill_volume is None else _int(fill_volume, "fillVolume", w),
        filled_price=_opt_float(d, "filledPrice", w),
        custom_tag=_opt_str(d, "customTag", w),
        parent_order_id=_opt_int(d, "parentOrderId", w),
        linked_order_id=_opt_int(d, "linkedOrderId", w),
        trail_distance=_opt_float(d, "trailDistance", w),
        trail_price=_opt_float(d, "trailPrice", w),
    )


def parse_position(d: dict[str, Any]) -> Position:
    w = "position"
    _check_dict(d, w)
    avg = d.get("averagePrice")
    return Position(
        id=_int(_need(d, "id", w), "id", w),
        account_id=_int(_need(d, "accountId", w), "accountId", w),
        contract_id=_str(_need(d, "contractId", w), "contractId", w),
        type=_int(d.get("type") or 0, "type", w),
        # size decides open vs closed: never guess it.
        size=_int(_need(d, "size", w), "size", w),
        average_price=0.0 if avg is None else _float(avg, "averagePrice", w),
        creation_timestamp=_ts(d.get("creationTimestamp"), "creationTimestamp", w),
        contract_display_name=_opt_str(d, "contractDisplayName", w),
    )


def parse_trade(d: dict[str, Any]) -> Trade:
    w = "trade"
    _check_dict(d, w)
    fees = d.get("fees")
    commissions = d.get("commissions")
    return Trade(
        id=_int(_need(d, "id", w), "id", w),
        account_id=_int(_need(d, "accountId", w), "accountId", w),
        contract_id=_str(_need(d, "contractId", w), "contractId", w),
        price=_float(_need(d, "price", w), "price", w),
        side=_int(d.get("side") or 0, "side", w),
        size=_int(_need(d, "size", w), "size", w),
        profit_and_loss=_opt_float(d, "profitAndLoss", w),
        fees=0.0 if fees is None else _float(fees, "fees", w),
        commissions=0.0 if commissions is None else _float(commissions, "commissions", w),
        voided=bool(_bool(d.get("voided"), "voided", w)),
        order_id=_opt_int(d, "orderId", w),
        creation_timestamp=_ts(d.get("creationTimestamp"), "creationTimestamp", w),
    )


_QUOTE_FLOATS = {
    "lastPrice": "last_price",
    "bestBid": "best_bid",
    "bestAsk": "best_ask",
    "change": "change",
    "changePercent": "change_percent",
    "open": "open",
    "high": "high",
    "low": "low",
    "volume": "volume",
}
_QUOTE_TIMES = {"lastUpdated": "last_updated", "timestamp": "timestamp"}
#: Keys a quote may carry that have no field of their own (`contract` becomes contract_id).
QUOTE_IGNORED_KEYS = frozenset({"symbolName", "contract", "contractId"})


def parse_quote(contract_id: str | None, d: dict[str, Any]) -> Quote:
    """A partial quote: only keys present (and non-null) are set."""
    w = "quote"
    _check_dict(d, w)
    cid = contract_id or d.get("contract") or d.get("contractId")
    if not isinstance(cid, str):
        raise DecodeError(f"quote: no contract id (argument or 'contract' key) in {_show(d)}")
    cid = _str(cid, "contract", w)
    kw: dict[str, Any] = {}
    for key, value in d.items():
        if value is None:
            continue
        name = _QUOTE_FLOATS.get(key)
        if name is not None:
            kw[name] = _float(value, key, w)
        elif key in _QUOTE_TIMES:
            kw[_QUOTE_TIMES[key]] = _ts(value, key, w)
        elif key == "symbol":
            kw["symbol"] = _str(value, key, w)
    return Quote(cid, **kw)


def parse_market_trade(contract_id: str | None, d: dict[str, Any]) -> MarketTrade:
    w = "market trade"
    _check_dict(d, w)
    cid = contract_id or d.get("contractId")
    if not isinstance(cid, str):
        raise DecodeError(f"market trade: no contract id in {_show(d)}")
    cid = _str(cid, "contractId", w)
    volume = d.get("volume")
    return MarketTrade(
        contract_id=cid,
        price=_float(_need(d, "price", w), "price", w),
        volume=0 if volume is None else _float(volume, "volume", w),
        type=_opt_int(d, "type", w),
        timestamp=_ts(d.get("timestamp"), "timestamp", w),
    )


def parse_contract(d: Any) -> Contract:  # a non-dict raises DecodeError
    w = "contract"
    _check_dict(d, w)
    active = _bool(d.get("activeContract"), "activeContract", w)
    return Contract(
        id=_str(_need(d, "id", w), "id", w),
        name=_str(_need(d, "name", w), "name", w),
        tick_size=_float(_need(d, "tickSize", w), "tickSize", w),
        tick_value=_float(_need(d, "tickValue", w), "tickValue", w),
        symbol_id=_opt_str(d, "symbolId", w),
        description=_opt_str(d, "description", w),
        active_contract=True if active is None else active,
    )


# --- quote merging (partial quotes → one per contract) -------------------------------------
_QUOTE_FIELDS = tuple(f.name for f in dc_fields(Quote) if f.name != "contract_id")


def merge_quote(base: Quote, update: Quote) -> Quote:
    """`base` with every field `update` carries (non-None) laid over it: latest wins per field."""
    changes = {}
    for name in _QUOTE_FIELDS:
        value = getattr(update, name)
        if value is not None:
            changes[name] = value
    return replace(base, **changes) if changes else base


# --- hub invocations → events -------------------------------------------------------------------
_USER_TARGETS: dict[str, tuple[EventKind, Callable[[dict[str, Any]], Any]]] = {
    "GatewayUserAccount": (EventKind.ACCOUNT, parse_account),
    "GatewayUserOrder": (EventKind.ORDER, parse_order),
    "GatewayUserPosition": (EventKind.POSITION, parse_position),
    "GatewayUserTrade": (EventKind.TRADE, parse_trade),
}
USER_TARGETS = frozenset(_USER_TARGETS)
MARKET_TARGETS = frozenset({"GatewayQuote", "GatewayTrade", "GatewayDepth"})
#: Targets decoded to no event on purpose (the hub counts them).
IGNORED_TARGETS = frozenset({"GatewayDepth"})


def _entities(arg: Any, what: str, depth: int = 0):
    """Yield (action, entity) from one hub argument: wrapped or bare, object or list."""
    if isinstance(arg, dict):
        data = arg.get("data")
        if isinstance(data, (dict, list)) and "id" not in arg:
            action = arg.get("action")
            if action is not None:
                action = _int(action, "action", what)
            if isinstance(data, dict):
                yield action, data
            else:
                for item in data:
                    yield action, item
        else:
            yield None, arg
    elif isinstance(arg, list) and depth == 0:
        for item in arg:
            yield from _entities(item, what, 1)
    else:
        raise DecodeError(f"{what}: argument is not an object or a list of objects: {_show(arg)}")


def decode_user_event(
    target: str,
    arguments: Any,
    *,
    received_ns: int = 0,
    received_at: datetime | None = None,
    source: EventSource = "stream",
) -> list[Event]:
    """Events of one GatewayUser* invocation (KeyError-free: unknown targets raise DecodeError)."""
    spec = _USER_TARGETS.get(target)
    if spec is None:
        raise DecodeError(f"not a user-hub event target: {target!r}")
    kind, parse = spec
    if not isinstance(arguments, list):
        raise DecodeError(f"{target}: arguments is not a list: {_show(arguments)}")
    out: list[Event] = []
    problems: list[str] = []
    for arg in arguments:
        try:
            for action, entity in _entities(arg, target):
                try:
                    payload = parse(entity)
                except DecodeError as exc:
                    problems.append(str(exc))
                    continue
                if kind is EventKind.ACCOUNT:
                    account_id, contract_id = payload.id, None
                else:
                    account_id, contract_id = payload.account_id, payload.contract_id
                out.append(
                    Event(kind, payload, account_id, contract_id, action, source, received_ns, received_at)
                )
        except DecodeError as exc:
            problems.append(str(exc))
    if problems:
        raise DecodeError(f"{target}: " + "; ".join(problems), events=out)
    return out


def market_arguments(target: str, arguments: Any) -> tuple[str | None, Any]:
    if not isinstance(arguments, list) or not arguments:
        raise DecodeError(f"{target}: arguments is not a non-empty list: {_show(arguments)}")
    if len(arguments) >= 2:
        cid = arguments[0]
        if not isinstance(cid, str):
            raise DecodeError(f"{target}: first argument is not a contract id: {_show(cid)}")
        return cid, arguments[1]
    return None, arguments[0]  # tolerate a data-only call; the contract id must be inside


def decode_market_event(
    target: str,
    arguments: Any,
    *,
    received_ns: int = 0,
    received_at: datetime | None = None,
    source: EventSource = "stream",
) -> list[Event]:
    if target == "GatewayQuote":
        cid, data = market_arguments(target, arguments)
        quote = parse_quote(cid, data)
        return [Event(EventKind.QUOTE, quote, None, quote.contract_id, None, source, received_ns, received_at)]
    if target == "GatewayTrade":
        cid, data = market_arguments(target, arguments)
        prints = data if isinstance(data, list) else [data]
        out: list[Event] = []
        problems: list[str] = []
        for item in prints:
            try:
                trade = parse_market_trade(cid, item)
            except DecodeError as exc:
                problems.append(str(exc))
                continue
            out.append(
                Event(EventKind.MARKET_TRADE, trade, None, trade.contract_id, None, source, received_ns, received_at)
            )
        if problems:
            raise DecodeError(f"{target}: " + "; ".join(problems), events=out)
        return out
    if target == "GatewayDepth":
        return []
    raise DecodeError(f"not a market-hub event target: {target!r}")


def decode_invocation(
    target: str,
    arguments: Any,
    *,
    received_ns: int = 0,
    received_at: datetime | None = None,
) -> list[Event] | None:
    """Events of any hub invocation; None for a target we do not know (caller logs it)."""
    if target in _USER_TARGETS:
        return decode_user_event(target, arguments, received_ns=received_ns, received_at=received_at)
    if target in MARKET_TARGETS:
        return decode_market_event(target, arguments, received_ns=received_ns, received_at=received_at)
    return None


# --- REST rows → payloads --------------------------------------------------------------------
def parse_rows(rows: Any, parse: Callable[[dict[str, Any]], Any], what: str) -> list[Any]:
    """Parse a REST payload array; a bad row raises DecodeError naming its index."""
    if rows is None:
        return []
    if not isinstance(rows, list):
        raise DecodeError(f"{what}: expected a JSON array, got {_show(rows)}")
    out = []
    for index, row in enumerate(rows):
        try:
            out.append(parse(row))
        except DecodeError as exc:
            raise DecodeError(f"{what}[{index}]: {exc}") from None
    return out


def rest_event(payload: Any, *, received_ns: int = 0, received_at: datetime | None = None) -> Event:
    """Wrap a REST payload (reconciliation) as an Event with source="rest"."""
    from risk_manager.events import make_event

    return make_event(payload, source="rest", received_ns=received_ns, received_at=received_at)
