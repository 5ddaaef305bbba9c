"""Our gateway client against our simulator (in-process, loopback, port 0)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from gw_fake_server import until
from risk_manager.events import EventKind, OrderStatus, OrderType
from risk_manager.gateway.errors import GatewayError, MutationUncertain, RateLimited
from risk_manager.gateway.hub import MarketHub, UserHub
from risk_manager.gateway.rest import GatewayRest
from risk_manager.sim import Simulator

pytestmark = pytest.mark.e2e

MNQ = "CON.F.US.MNQ.U26"
FAST = dict(backoff_initial=0.05, backoff_max=0.5, handshake_timeout=3.0, invoke_timeout=3.0)


class Env:
    def __init__(self, sim: Simulator, rest: GatewayRest, http: aiohttp.ClientSession) -> None:
        self.sim, self.rest, self.http = sim, rest, http
        self.info = sim.info()
        self.account = self.info["accounts"][0]
        self.events = []
        self.log: list[str] = []

    async def control(self, path: str, body: dict) -> dict:
        async with self.http.post(f"{self.info['api']}/sim/{path}", json=body) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    def user_hub(self, **kw) -> UserHub:
        return UserHub(
            self.info["user_hub"], self.rest.token, account_ids=[self.account], on_event=self.events.append,
            on_connected=lambda: self.log.append("connected"),
            on_disconnected=lambda reason: self.log.append("disconnected"),
            on_reconnected=lambda: self.log.append("reconnected"), **FAST, **kw,
        )

    def user_events(self, kind=None):
        return [e for e in self.events if e.account_id == self.account and (kind is None or e.kind is kind)]


@pytest.fixture
async def env():
    async with Simulator(accounts=1, seed=3, speed=0.0) as sim:
        info = sim.info()
        rest = GatewayRest(info["api"], info["user"], info["api_key"], timeout=5.0, backoff_base=0.02)
        async with aiohttp.ClientSession() as http:
            e = Env(sim, rest, http)
            await e.control("price", {"contractId": MNQ, "price": 29500})
            yield e
        await rest.close()


@pytest.fixture
async def user_hub(env):
    hub = env.user_hub()
    await hub.start()
    assert await hub.wait_connected(5)
    yield hub
    await hub.stop()


async def test_login_search_and_contracts(env):
    accounts = await env.rest.search_accounts()
    assert [a.id for a in accounts] == [env.account] and accounts[0].can_trade is True
    assert await env.rest.search_open_positions(env.account) == []
    contract = await env.rest.contract_by_id(MNQ)
    assert (contract.tick_size, contract.tick_value, contract.name) == (0.25, 0.5, "MNQU6")
    assert len(await env.rest.available_contracts()) == 51
    assert any(c.id == MNQ for c in await env.rest.search_contracts("MNQ"))
    with pytest.raises(GatewayError) as info:
        await env.rest.contract_by_id("CON.F.US.NOPE.Z99")
    assert info.value.error_name == "ContractNotFound"


async def test_place_modify_cancel_with_stream_events(env, user_hub):
    rest, acct = env.rest, env.account
    order_id = await rest.place_order(acct, MNQ, OrderType.LIMIT, 0, 1, limit_price=29400.0, custom_tag="gw-limit")
    (open_order,) = await rest.search_open_orders(acct)
    assert (open_order.id, open_order.status, open_order.limit_price) == (order_id, OrderStatus.OPEN, 29400.0)
    await rest.modify_order(acct, order_id, limit_price=29450.0)
    assert (await rest.search_open_orders(acct))[0].limit_price == 29450.0
    await rest.cancel_order(acct, order_id)
    assert await rest.search_open_orders(acct) == []
    history = await rest.search_orders(acct, datetime.now(UTC) - timedelta(minutes=5))
    assert [(o.id, o.status) for o in history] == [(order_id, OrderStatus.CANCELLED)]
    with pytest.raises(GatewayError) as info:
        await rest.cancel_order(acct, order_id + 999)
    assert info.value.error_name == "OrderNotFound"

    await until(lambda: any(e.data.status == OrderStatus.CANCELLED for e in env.user_events(EventKind.ORDER)))
    orders = [e.data for e in env.user_events(EventKind.ORDER)]
    assert all(o.id == order_id for o in orders)
    assert [o.limit_price for o in orders if o.status == OrderStatus.OPEN][-1] == 29450.0


async def test_fill_events_arrive_in_the_documented_order(env, user_hub):
    await env.rest.place_order(env.account, MNQ, OrderType.MARKET, 0, 2)
    await until(lambda: len(env.user_events(EventKind.ACCOUNT)) >= 1)
    await asyncio.sleep(0.1)
    seq = [(e.kind, getattr(e.data, "status", None)) for e in env.user_events()]
    kinds = [k for k, _ in seq]
    first_account = kinds.index(EventKind.ACCOUNT)
    assert seq[:4] == [(EventKind.ORDER, OrderStatus.PENDING), (EventKind.TRADE, None),
                       (EventKind.ORDER, OrderStatus.FILLED), (EventKind.POSITION, None)]
    assert first_account == 4 and set(kinds[4:]) == {EventKind.ACCOUNT}
    trade = env.user_events(EventKind.TRADE)[0].data
    position = env.user_events(EventKind.POSITION)[0].data
    assert (trade.price, trade.size, trade.profit_and_loss) == (29500.0, 2, None)
    assert (position.size, position.type, position.average_price) == (2, 1, 29500.0)
    balance = env.user_events(EventKind.ACCOUNT)[-1].data.balance
    assert balance == pytest.approx(50000.0 - trade.fees - trade.commissions)


async def test_partial_close_and_close(env, user_hub):
    rest, acct = env.rest, env.account
    await rest.place_order(acct, MNQ, OrderType.MARKET, 1, 3)  # short 3
    await env.control("price", {"contractId": MNQ, "price": 29490})
    await rest.partial_close_contract(acct, MNQ, 1)
    (position,) = await rest.search_open_positions(acct)
    assert position.signed_size == -2
    with pytest.raises(GatewayError) as info:
        await rest.partial_close_contract(acct, MNQ, 5)
    assert info.value.error_name == "InvalidCloseSize"
    await rest.close_contract(acct, MNQ)
    assert await rest.search_open_positions(acct) == []
    with pytest.raises(GatewayError) as info:
        await rest.close_contract(acct, MNQ)
    assert info.value.error_name == "PositionNotFound"

    await until(lambda: any(e.data.size == 0 for e in env.user_events(EventKind.POSITION)))
    closed = [e for e in env.user_events(EventKind.POSITION) if e.data.size == 0][-1]
    assert closed.action == 2 and closed.data.type == 0 and closed.data.average_price == 29500.0
    pnls = [t.profit_and_loss for t in (await rest.search_trades(acct, datetime.now(UTC) - timedelta(minutes=5)))]
    assert sorted(p for p in pnls if p is not None) == [20.0, 40.0]  # 10 points x $2/point, 1 then 2 lots


async def test_user_hub_survives_drop_and_resubscribes(env, user_hub):
    await env.control("fault", {"kind": "drop_user_hub"})
    await until(lambda: "reconnected" in env.log)
    assert env.log == ["connected", "disconnected", "reconnected"]
    assert user_hub.stats.reconnects == 1
    await env.rest.place_order(env.account, MNQ, OrderType.MARKET, 0, 1)  # events flow again: resubscribed
    await until(lambda: len(env.user_events(EventKind.POSITION)) == 1)

    # the hub stays down for a while (upgrades answered 503): back off, then come back
    await env.control("fault", {"kind": "drop_user_hub", "down_ms": 400})
    await until(lambda: env.log.count("reconnected") == 2, timeout=8)
    assert user_hub.stats.connect_failures >= 1
    await env.rest.place_order(env.account, MNQ, OrderType.MARKET, 0, 1)
    await until(lambda: len(env.user_events(EventKind.POSITION)) == 2)


async def test_expired_tokens_are_refreshed(env, user_hub):
    await env.rest.search_accounts()
    logins = env.rest.stats["logins"]
    await env.control("fault", {"kind": "expire_tokens"})
    assert len(await env.rest.search_accounts()) == 1  # 401 → login → retried
    assert env.rest.stats["logins"] == logins + 1 and env.rest.stats["http_401"] == 1
    await env.control("fault", {"kind": "expire_tokens"})
    await env.control("fault", {"kind": "drop_user_hub"})  # reconnect needs a token the sim accepts
    await until(lambda: "reconnected" in env.log, timeout=8)
    await env.rest.place_order(env.account, MNQ, OrderType.MARKET, 0, 1)
    await until(lambda: len(env.user_events(EventKind.POSITION)) == 1)


async def test_429_is_handled(env):
    rest = env.rest
    await rest.token()
    await env.control("fault", {"kind": "http_429", "count": 1, "paths": ["/api/Order/searchOpen"], "retry_after": 1})
    t0 = time.monotonic()
    assert await rest.search_open_orders(env.account) == []
    assert time.monotonic() - t0 >= 0.9 and rest.stats["http_429"] == 1
    rest.retry_429_attempts = 0
    await env.control("fault", {"kind": "http_429", "count": 1, "paths": ["/api/Order/cancel"], "retry_after": 1})
    with pytest.raises(RateLimited):
        await rest.cancel_order(env.account, 1)


async def test_client_budget_keeps_under_the_sim_limiter(env):
    await env.control("config", {"rate_limit": [8, 1.0]})
    # budget 6/s (7 minus headroom) against the sim's 8/s: 16 concurrent calls without one 429
    rest = GatewayRest(env.info["api"], env.info["user"], env.info["api_key"], rate_limit=(7, 1.0))
    try:
        await asyncio.gather(*(rest.search_open_orders(env.account) for _ in range(16)))
        assert rest.stats["http_429"] == 0 and rest.budget is not None and rest.budget.waits > 0
    finally:
        await rest.close()
        await env.control("config", {"rate_limit": None})


async def test_mutation_hit_by_500_is_uncertain_not_retried(env):
    await env.rest.token()
    await env.control("fault", {"kind": "http_500", "count": 1, "paths": ["/api/Order/place"]})
    with pytest.raises(MutationUncertain):
        await env.rest.place_order(env.account, MNQ, OrderType.MARKET, 0, 1)
    async with env.http.get(f"{env.info['api']}/sim/log") as resp:
        log = (await resp.json())["requests"]
    assert sum(1 for r in log if r["path"].lower() == "/api/order/place") == 1


async def test_market_hub_quotes(env):
    quotes = []
    hub = MarketHub(env.info["market_hub"], env.rest.token, contract_ids=[MNQ], on_event=quotes.append, **FAST)
    await hub.start()
    try:
        assert await hub.wait_connected(5)
        await env.control("price", {"contractId": MNQ, "price": 29510, "spread_ticks": 1})
        await until(lambda: any(q.data.last_price == 29510 for q in quotes))
        q = [q for q in quotes if q.data.last_price == 29510][-1]
        assert q.kind is EventKind.QUOTE and q.contract_id == MNQ and q.data.best_bid == 29509.75
        await env.control("fault", {"kind": "drop_market_hub"})
        await until(lambda: hub.stats.reconnects == 1)
        await env.control("price", {"contractId": MNQ, "price": 29520})
        await until(lambda: any(q.data.last_price == 29520 for q in quotes))
    finally:
        await hub.stop()
