"""The `/sim/` control API (src/risk_manager/sim/README.md): no auth, JSON, loopback only."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from aiohttp import web

from risk_manager.sim.faults import DelayFault, HttpFault, parse_paths
from risk_manager.sim.fill_config import KEYS as FILL_KEYS

if TYPE_CHECKING:
    from risk_manager.sim.server import Simulator

FAULT_KINDS = (
    "drop_user_hub", "drop_market_hub", "http_500", "http_429", "expire_tokens", "delay_ms",
    "duplicate_events", "clear",
)


class ControlError(Exception):
    pass


def _error(message: str, status: int = 400) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=status)


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise ControlError(f"{request.path}: body is not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise ControlError(f"{request.path}: body must be a JSON object")
    return body


def _number(body: dict[str, Any], name: str, *, default: float | None = None, minimum: float | None = None) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ControlError(f"field '{name}' must be a number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ControlError(f"field '{name}' must be >= {minimum}, got {value!r}")
    return float(value)


def _since(request: web.Request) -> int:
    text = request.query.get("since", "0")
    try:
        return int(text)
    except ValueError:
        raise ControlError(f"query 'since' must be an integer sequence number, got {text!r}") from None


def _count(body: dict[str, Any], name: str = "count", default: int = 1) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ControlError(f"field '{name}' must be a positive integer, got {value!r}")
    return value


class ControlApi:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/sim/price", self._wrap(self.price)),
            web.post("/sim/account", self._wrap(self.account)),
            web.post("/sim/trades", self._wrap(self.past_trades)),
            web.post("/sim/fault", self._wrap(self.fault)),
            web.post("/sim/quotes", self._wrap(self.quotes)),
            web.post("/sim/config", self._wrap(self.config)),
            web.get("/sim/log", self._wrap(self.log)),
            web.get("/sim/pushes", self._wrap(self.pushes)),
            web.get("/sim/state", self._wrap(self.state)),
        ]

    def _wrap(self, handler):  # noqa: ANN001, ANN202 - aiohttp handler adapter
        async def run(request: web.Request) -> web.Response:
            try:
                return await handler(request)
            except ControlError as exc:
                return _error(str(exc))

        return run

    async def price(self, request: web.Request) -> web.Response:
        body = await _json_object(request)
        contract_id = body.get("contractId")
        if contract_id not in self.sim.catalog:
            raise ControlError(f"field 'contractId': unknown contract {contract_id!r}")
        price = _number(body, "price")
        if price <= 0:
            raise ControlError(f"field 'price' must be > 0, got {price}")
        spread = body.get("spread_ticks", 0)
        if isinstance(spread, bool) or not isinstance(spread, int) or spread < 0:
            raise ControlError(f"field 'spread_ticks' must be a non-negative integer, got {spread!r}")
        await self.sim.set_price(contract_id, price, spread)
        market = self.sim.engine.market(contract_id)
        return web.json_response(
            {"ok": True, "contractId": contract_id, "lastPrice": market.last, "bestBid": market.bid, "bestAsk": market.ask}
        )

    async def account(self, request: web.Request) -> web.Response:
        body = await _json_object(request)
        account_id = body.get("accountId")
        can_trade = body.get("canTrade")
        auto_oco = body.get("autoOco")
        omit = body.get("omitCanTrade")
        for name, value in (("canTrade", can_trade), ("autoOco", auto_oco), ("omitCanTrade", omit)):
            if value is not None and not isinstance(value, bool):
                raise ControlError(f"field '{name}' must be a boolean, got {value!r}")
        balance = _number(body, "balance") if body.get("balance") is not None else None
        if not isinstance(account_id, int) or account_id not in self.sim.engine.accounts:
            raise ControlError(f"field 'accountId': unknown account {account_id!r}")
        self.sim.engine.set_account(account_id, can_trade=can_trade, balance=balance, auto_oco=auto_oco,
                                    omit_can_trade=bool(omit))
        self.sim.publish()
        return web.json_response({"ok": True, "account": self.sim.engine.accounts[account_id].to_wire()})

    async def past_trades(self, request: web.Request) -> web.Response:
        """Seed trade history: {"trades": [{"accountId", "contractId", "at" (ISO time),
        "profitAndLoss" (null: a half-turn), "fees"?, "commissions"?, "side"?, "size"?, "id"?,
        "voided"?}]} (sim/engine.py add_past_trade)."""
        from datetime import datetime

        rows = (await _json_object(request)).get("trades")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ControlError("field 'trades' must be a list of objects")
        added = []
        for row in rows:
            try:
                at = datetime.fromisoformat(str(row["at"]))
                if at.tzinfo is None:
                    raise ValueError("'at' needs a UTC offset")
                pnl = row.get("profitAndLoss")
                trade = self.sim.engine.add_past_trade(
                    int(row["accountId"]), str(row["contractId"]), at,
                    profit_and_loss=None if pnl is None else float(pnl),
                    fees=float(row.get("fees", 0.0)), commissions=float(row.get("commissions", 0.0)),
                    side=int(row.get("side", 1)), size=int(row.get("size", 1)),
                    trade_id=None if row.get("id") is None else int(row["id"]),
                    voided=bool(row.get("voided", False)))
            except (KeyError, TypeError, ValueError) as exc:
                raise ControlError(f"trade {row!r}: {exc}") from None
            added.append(trade.to_wire(stream=False))
        return web.json_response({"ok": True, "trades": added})

    async def fault(self, request: web.Request) -> web.Response:
        body = await _json_object(request)
        kind = body.get("kind")
        faults = self.sim.faults
        result: dict[str, Any] = {"ok": True, "kind": kind}
        if kind in ("drop_user_hub", "drop_market_hub"):
            hub = "user" if kind == "drop_user_hub" else "market"
            down_ms = _number(body, "down_ms", default=0, minimum=0)
            if down_ms:
                faults.hub_down_until[hub] = asyncio.get_running_loop().time() + down_ms / 1000
            result["dropped"] = await self.sim.hubs.drop(hub)
        elif kind in ("http_500", "http_429"):
            retry_after = _count(body, "retry_after", default=1)
            faults.http.append(HttpFault(
                500 if kind == "http_500" else 429, _count(body), self._paths(body), retry_after,
            ))
        elif kind == "expire_tokens":
            self.sim.tokens.expire_all()
        elif kind == "delay_ms":
            ms = _number(body, "ms", minimum=0)
            count = _count(body) if "count" in body else None
            if ms == 0:
                faults.delays.clear()
            else:
                faults.delays.append(DelayFault(ms, count, self._paths(body)))
        elif kind == "duplicate_events":
            faults.duplicate_events += _count(body)
        elif kind == "clear":
            faults.clear()
        else:
            raise ControlError(f"field 'kind' must be one of {', '.join(FAULT_KINDS)}; got {kind!r}")
        return web.json_response(result)

    @staticmethod
    def _paths(body: dict[str, Any]) -> frozenset[str] | None:
        try:
            return parse_paths(body.get("paths"))
        except ValueError as exc:
            raise ControlError(str(exc)) from None

    async def quotes(self, request: web.Request) -> web.Response:
        body = await _json_object(request)
        rate = _number(body, "rate", minimum=0)
        seconds = _number(body, "seconds", default=10.0, minimum=0)
        contracts = body.get("contracts", [])
        if isinstance(contracts, str):
            contracts = [contracts]
        if not isinstance(contracts, list) or not all(c in self.sim.catalog for c in contracts):
            raise ControlError(f"field 'contracts' must list known contract ids, got {contracts!r}")
        if rate > 0 and not contracts:
            raise ControlError("field 'contracts' must name at least one contract")
        self.sim.quote_stream.start(rate, contracts, seconds)
        return web.json_response({"ok": True, "rate": rate, "contracts": contracts, "seconds": seconds})

    async def config(self, request: web.Request) -> web.Response:
        body = await _json_object(request)
        self._fill_settings(body)  # first: a bad fill setting changes nothing
        if "rate_limit" in body:
            limit = body["rate_limit"]
            if limit is None:
                self.sim.set_rate_limit(None)
            elif (isinstance(limit, list) and len(limit) == 2 and isinstance(limit[0], int) and limit[0] >= 1
                  and isinstance(limit[1], (int, float)) and limit[1] > 0):
                self.sim.set_rate_limit((limit[0], float(limit[1])))
            else:
                raise ControlError(f"field 'rate_limit' must be null or [requests, seconds], got {limit!r}")
        cfg = self.sim.config
        for name in ("ping_interval", "client_timeout", "handshake_timeout"):
            if name in body:
                setattr(cfg, name, _number(body, name, minimum=0.01))
        if "account_event_copies" in body:
            self.sim.engine.account_event_copies = _count(body, "account_event_copies")
        return web.json_response({
            "ok": True, "ping_interval": cfg.ping_interval, "client_timeout": cfg.client_timeout,
            "handshake_timeout": cfg.handshake_timeout, "account_event_copies": self.sim.engine.account_event_copies,
            "rate_limit": None if self.sim.limiter is None else [self.sim.limiter.limit, self.sim.limiter.window_s],
            "fills": self.sim.engine.fills.config.to_wire(),
        })

    def _fill_settings(self, body: dict[str, Any]) -> None:
        """Fill-model keys apply to the simulator's default, or with `contractId` to that contract."""
        values = {k: body[k] for k in FILL_KEYS if k in body}
        contract_id = body.get("contractId")
        if contract_id is not None and contract_id not in self.sim.catalog:
            raise ControlError(f"field 'contractId': unknown contract {contract_id!r}")
        if not values:
            return
        try:
            self.sim.engine.fills.config.update(values, contract_id)
        except ValueError as exc:
            raise ControlError(str(exc)) from None

    async def log(self, request: web.Request) -> web.Response:
        since = _since(request)
        return web.json_response({"requests": [r for r in self.sim.request_log if r["seq"] > since]})

    async def pushes(self, request: web.Request) -> web.Response:
        since = _since(request)
        return web.json_response({"pushes": [r for r in self.sim.push_log if r["seq"] > since]})

    async def state(self, request: web.Request) -> web.Response:
        return web.json_response({**self.sim.state(), "quotes_sent": self.sim.quote_stream.sent})
