"""The gateway REST API: `/api/<Controller>/<action>`, case-insensitive, POST JSON, ProjectX envelopes.

Business failures are HTTP 200 with `success:false` and the endpoint's own errorCode (reference §4);
a malformed body is HTTP 400 with a ProblemDetails body naming the field.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, overload


from risk_manager.sim.catalog import align
from risk_manager.sim.engine import EngineResult
from risk_manager.sim.models import BracketSpec, SimOrder
from risk_manager.sim.wire_time import parse_request_time

if TYPE_CHECKING:
    from risk_manager.sim.server import Simulator

Handler = Callable[[dict[str, Any], str], Awaitable[dict[str, Any]]]

_BAR_UNIT_SECONDS = {1: 1, 2: 60, 3: 3600, 4: 86_400, 5: 7 * 86_400, 6: 30 * 86_400}
MAX_CONTRACT_SEARCH = 20


class BadRequest(Exception):
    """A request body the gateway would refuse at model binding (HTTP 400)."""


def envelope(payload_key: str | None = None, payload: Any = None, code: int = 0, message: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if payload_key is not None:
        body[payload_key] = payload
    body.update({"success": code == 0, "errorCode": code, "errorMessage": message})
    return body


def from_result(result: EngineResult, payload_key: str | None = None) -> dict[str, Any]:
    if payload_key == "orderId":
        return envelope("orderId", result.order_id, result.code, result.message)
    return envelope(payload_key, None, result.code, result.message)


# ---------------------------------------------------------------------- field readers

@overload
def _int(body: dict[str, Any], name: str, *, required: Literal[True] = True) -> int: ...
@overload
def _int(body: dict[str, Any], name: str, *, required: bool) -> int | None: ...
def _int(body: dict[str, Any], name: str, *, required: bool = True) -> int | None:
    value = body.get(name)
    if value is None:
        if required:
            raise BadRequest(f"field '{name}' is required")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise BadRequest(f"field '{name}' must be an integer, got {value!r}")
    return int(value)


def _num(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"field '{name}' must be a number, got {value!r}")
    return float(value)


@overload
def _str(body: dict[str, Any], name: str, *, required: Literal[True] = True) -> str: ...
@overload
def _str(body: dict[str, Any], name: str, *, required: bool) -> str | None: ...
def _str(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise BadRequest(f"field '{name}' is required")
        return None
    if not isinstance(value, str):
        raise BadRequest(f"field '{name}' must be a string, got {value!r}")
    return value


@overload
def _time(body: dict[str, Any], name: str, *, required: Literal[True]) -> datetime: ...
@overload
def _time(body: dict[str, Any], name: str, *, required: bool) -> datetime | None: ...
def _time(body: dict[str, Any], name: str, *, required: bool) -> datetime | None:
    value = body.get(name)
    if value is None:
        if required:
            raise BadRequest(f"field '{name}' is required")
        return None
    try:
        return parse_request_time(value, name)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def _bracket(body: dict[str, Any], name: str) -> BracketSpec | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequest(f"field '{name}' must be an object {{\"ticks\", \"type\"}}, got {value!r}")
    ticks = _int(value, "ticks")
    kind = _int(value, "type")
    assert ticks is not None and kind is not None
    return BracketSpec(ticks=ticks, type=kind)


class RestApi:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.handlers: dict[str, Handler] = {
            "auth/loginkey": self.login_key,
            "auth/validate": self.validate,
            "auth/logout": self.logout,
            "account/search": self.account_search,
            "position/searchopen": self.position_search_open,
            "position/closecontract": self.close_contract,
            "position/partialclosecontract": self.partial_close_contract,
            "order/searchopen": self.order_search_open,
            "order/search": self.order_search,
            "order/searchbyid": self.order_search_by_id,
            "order/v2/query": self.order_query_v2,
            "order/place": self.order_place,
            "order/modify": self.order_modify,
            "order/cancel": self.order_cancel,
            "trade/search": self.trade_search,
            "contract/searchbyid": self.contract_search_by_id,
            "contract/search": self.contract_search,
            "contract/available": self.contract_available,
            "history/retrievebars": self.retrieve_bars,
        }
        self.unauthenticated = {"auth/loginkey"}

    @property
    def engine(self):  # noqa: ANN201 - the simulator's MatchingEngine
        return self.sim.engine

    def _account_ok(self, account_id: int | None) -> bool:
        return account_id in self.engine.accounts

    # ------------------------------------------------------------------ auth

    async def login_key(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        user = _str(body, "userName")
        key = _str(body, "apiKey")
        if user != self.sim.user:
            return envelope("token", None, 1, "User not found.")
        if key != self.sim.api_key:
            return envelope("token", None, 3, "Invalid credentials.")
        return envelope("token", self.sim.tokens.issue(user))

    async def validate(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        return envelope("newToken", self.sim.tokens.issue(self.sim.user))

    async def logout(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        self.sim.tokens.revoke(token)
        return envelope()

    # ------------------------------------------------------------------ accounts and positions

    async def account_search(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        only_active = body.get("onlyActiveAccounts")
        if not isinstance(only_active, bool):
            raise BadRequest(f"field 'onlyActiveAccounts' must be a boolean, got {only_active!r}")
        return envelope("accounts", [a.to_wire() for a in self.engine.accounts.values()])

    async def position_search_open(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        account_id = _int(body, "accountId")
        if not self._account_ok(account_id):
            return envelope("positions", None, 1, f"Account {account_id} not found.")
        return envelope("positions", [p.to_wire() for p in self.engine.open_positions(account_id)])

    async def close_contract(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        account_id = _int(body, "accountId")
        contract_id = _str(body, "contractId")
        result = self.sim.mutate(lambda: self.engine.close_contract(account_id, contract_id))
        return from_result(result)

    async def partial_close_contract(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        account_id = _int(body, "accountId")
        contract_id = _str(body, "contractId")
        size = _int(body, "size")
        result = self.sim.mutate(lambda: self.engine.partial_close(account_id, contract_id, size))
        return from_result(result)

    # ------------------------------------------------------------------ orders

    async def order_search_open(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        account_id = _int(body, "accountId")
        if not self._account_ok(account_id):
            return envelope("orders", None, 1, f"Account {account_id} not found.")
        return envelope("orders", [o.to_wire(stream=False) for o in self.engine.open_orders(account_id)])

    async def order_search(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        account_id = _int(body, "accountId")
        start = _time(body, "startTimestamp", required=True)
        end = _time(body, "endTimestamp", required=False)
        if not self._account_ok(account_id):
            return envelope("orders", None, 1, f"Account {account_id} not found.")
        rows = self.engine.orders_between(account_id, start, end)
        return envelope("orders", [o.to_wire(stream=False) for o in rows])

    async def order_search_by_id(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        account_id = _int(body, "accountId")
        order_id = _int(body, "orderId")
        order = self.engine.orders.get(order_id)
        if order is None or order.account_id != account_id:
            return envelope("order", None, 1, f"Order {order_id} not found.")
        return envelope("order", order.to_wire(stream=False))

    async def order_query_v2(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        flt = body.get("filter")
        if not isinstance(flt, dict):
            raise BadRequest("field 'filter' is required and must be an object")
        account_id = _int(flt, "accountId")
        statuses = flt.get("statuses")
        if statuses is not None and (not isinstance(statuses, list) or not all(isinstance(s, int) for s in statuses)):
            raise BadRequest("field 'filter.statuses' must be a list of integers")
        contract_id = _str(flt, "contractId", required=False)
        after = _time(flt, "createdAfter", required=False)
        before = _time(flt, "createdBefore", required=False)
        page_size = _int(body, "pageSize", required=False) or 100
        offset = _int(body, "pageOffset", required=False) or 0
        sort_by = _int(body, "sortBy", required=False) or 0
        descending = (_int(body, "sortDirection", required=False) or 0) == 1
        if not 1 <= page_size <= 100 or offset < 0:
            raise BadRequest("pageSize must be 1..100 and pageOffset >= 0")

        def wanted(o: SimOrder) -> bool:
            return (
                o.account_id == account_id and (statuses is None or o.status in statuses)
                and (contract_id is None or o.contract_id == contract_id)
                and (after is None or o.created >= after) and (before is None or o.created <= before)
            )

        rows = [o for o in self.engine.orders.values() if wanted(o)]
        rows.sort(key=(lambda o: o.id) if sort_by == 1 else (lambda o: (o.created, o.id)), reverse=descending)
        body_out = envelope("orders", [o.to_wire(stream=False) for o in rows[offset:offset + page_size]])
        if body.get("includeTotalCount"):
            body_out = {"orders": body_out.pop("orders"), "totalCount": len(rows), **body_out}
        return body_out

    async def order_place(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        account_id = _int(body, "accountId")
        contract_id = _str(body, "contractId")
        kind = _int(body, "type")
        side = _int(body, "side")
        size = _int(body, "size")
        limit_price = _num(body, "limitPrice")
        stop_price = _num(body, "stopPrice")
        trail_price = _num(body, "trailPrice")
        tag = _str(body, "customTag", required=False)
        stop_loss = _bracket(body, "stopLossBracket")
        take_profit = _bracket(body, "takeProfitBracket")
        result = self.sim.mutate(lambda: self.engine.place(
            account_id, contract_id, kind, side, size, limit_price=limit_price, stop_price=stop_price,
            trail_price=trail_price, custom_tag=tag, stop_loss=stop_loss, take_profit=take_profit,
        ))
        return from_result(result, "orderId")

    async def order_modify(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        account_id = _int(body, "accountId")
        order_id = _int(body, "orderId")
        size = _int(body, "size", required=False)
        limit_price = _num(body, "limitPrice")
        stop_price = _num(body, "stopPrice")
        trail_price = _num(body, "trailPrice")
        result = self.sim.mutate(lambda: self.engine.modify(
            account_id, order_id, size=size, limit_price=limit_price, stop_price=stop_price, trail_price=trail_price,
        ))
        return from_result(result)

    async def order_cancel(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        account_id = _int(body, "accountId")
        order_id = _int(body, "orderId")
        return from_result(self.sim.mutate(lambda: self.engine.cancel(account_id, order_id)))

    # ------------------------------------------------------------------ trades, contracts, bars

    async def trade_search(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        account_id = _int(body, "accountId")
        start = _time(body, "startTimestamp", required=False)
        end = _time(body, "endTimestamp", required=False)
        if not self._account_ok(account_id):
            return envelope("trades", None, 1, f"Account {account_id} not found.")
        # Newest first, as the real gateway answers (captured); clients must not rely on the order.
        trades = sorted(self.engine.trades_between(account_id, start, end), key=lambda t: (t.created, t.id), reverse=True)
        return envelope("trades", [t.to_wire(stream=False) for t in trades])

    async def contract_search_by_id(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        contract_id = _str(body, "contractId")
        contract = self.sim.catalog.get(contract_id)
        if contract is None:
            return envelope("contract", None, 1, f"Contract {contract_id} not found.")
        return envelope("contract", contract.to_wire())

    async def contract_search(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        text = (_str(body, "searchText", required=False) or "").strip().lower()
        rows = [
            c.to_wire() for c in self.sim.catalog.values()
            if c.active and (not text or text in c.name.lower() or text in c.description.lower()
                             or text in c.symbol_id.lower() or text in c.id.lower())
        ]
        return envelope("contracts", rows[:MAX_CONTRACT_SEARCH])

    async def contract_available(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        return envelope("contracts", [c.to_wire() for c in self.sim.catalog.values() if c.active])

    async def retrieve_bars(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        contract_id = _str(body, "contractId")
        start = _time(body, "startTime", required=True)
        end = _time(body, "endTime", required=True)
        unit = _int(body, "unit")
        unit_number = _int(body, "unitNumber")
        limit = _int(body, "limit")
        contract = self.sim.catalog.get(contract_id)
        if contract is None:
            return envelope("bars", None, 1, f"Contract {contract_id} not found.")
        if unit not in _BAR_UNIT_SECONDS:
            return envelope("bars", None, 2, f"Unit {unit} is not supported.")
        if unit_number < 1:
            return envelope("bars", None, 3, f"Unit number {unit_number} is invalid.")
        if not 1 <= limit <= 20_000:
            return envelope("bars", None, 4, f"Limit {limit} is invalid (1..20000).")
        return envelope("bars", self._bars(contract_id, start, end, _BAR_UNIT_SECONDS[unit] * unit_number, limit))

    def _bars(self, contract_id: str, start: datetime, end: datetime, step_s: int, limit: int) -> list[dict[str, Any]]:
        """Deterministic synthetic bars ending at the current price, newest first."""
        market = self.engine.market(contract_id)
        tick = market.contract.tick_size
        now = min(end, self.sim.clock.now())
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        last_open = epoch + timedelta(seconds=int((now - epoch).total_seconds()) // step_s * step_s)
        bars: list[dict[str, Any]] = []
        close = market.last
        t = last_open
        while t >= start and len(bars) < limit:
            rng = random.Random(f"{contract_id}:{int(t.timestamp())}:{step_s}")
            open_ = align(close + rng.randint(-8, 8) * tick, tick)
            high = max(open_, close) + rng.randint(0, 4) * tick
            low = min(open_, close) - rng.randint(0, 4) * tick
            bars.append({
                "t": t.strftime("%Y-%m-%dT%H:%M:%S+00:00"), "o": open_, "h": align(high, tick),
                "l": align(low, tick), "c": close, "v": rng.randint(1, 500),
            })
            close = open_
            t -= timedelta(seconds=step_s)
        return bars
