"""GatewayRest against a scripted loopback server: envelopes, auth refresh, retries, rate budget."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from gw_fake_server import make_jwt
from risk_manager.clock import ManualClock
from risk_manager.events import Account, Contract, Order, Position, Trade
from risk_manager.gateway.errors import (
    AuthError,
    GatewayError,
    GatewayHTTPError,
    GatewayProtocolError,
    GatewayUnavailable,
    LoginFailed,
    MutationUncertain,
    RateLimited,
)
from risk_manager.gateway.rest import GatewayRest, RateBudget, jwt_expiry

ORDER_ROW = {"id": 3409222856, "accountId": 7, "contractId": "CON.F.US.MNQ.U26", "status": 1, "type": 4,
             "side": 1, "size": 1, "stopPrice": 29500.25, "limitPrice": None}


@pytest.fixture
async def rest(fake):
    client = GatewayRest(fake.base, "user", "key", timeout=2.0, backoff_base=0.01, backoff_max=0.05)
    yield client
    await client.close()


def endpoints(fake):
    return [c[0] for c in fake.calls]


async def test_login_and_typed_searches(fake, rest):
    fake.handlers["Account/search"] = lambda b: {"success": True, "errorCode": 0, "errorMessage": None,
                                                 "accounts": [{"id": 7, "name": "PRAC", "balance": 5.5, "canTrade": True}]}
    fake.handlers["Position/searchOpen"] = lambda b: {"success": True, "positions": [
        {"id": 1, "accountId": b["accountId"], "contractId": "C", "type": 2, "size": 3, "averagePrice": 10.5}]}
    fake.handlers["Order/searchOpen"] = lambda b: {"success": True, "orders": [ORDER_ROW]}
    fake.handlers["Order/search"] = lambda b: {"success": True, "orders": [ORDER_ROW]}
    fake.handlers["Trade/search"] = lambda b: {"success": True, "trades": [
        {"id": 3005729833, "accountId": 7, "contractId": "C", "price": 1.0, "profitAndLoss": None, "fees": 0.36,
         "side": 0, "size": 1, "voided": False, "orderId": 5}]}
    contract = {"id": "CON.F.US.EP.U26", "name": "ESU6", "tickSize": 0.25, "tickValue": 12.5,
                "activeContract": True, "symbolId": "F.US.EP", "description": "E-mini"}
    fake.handlers["Contract/searchById"] = lambda b: {"success": True, "contract": contract}
    fake.handlers["Contract/search"] = lambda b: {"success": True, "contracts": [contract]}
    fake.handlers["Contract/available"] = lambda b: {"success": True, "contracts": [contract]}

    (account,) = await rest.search_accounts()
    assert account == Account(id=7, name="PRAC", balance=5.5, can_trade=True)
    (position,) = await rest.search_open_positions(7)
    assert isinstance(position, Position) and position.signed_size == -3
    assert isinstance((await rest.search_open_orders(7))[0], Order)
    start = datetime(2026, 8, 19, 12, tzinfo=UTC)
    assert (await rest.search_orders(7, start))[0].stop_price == 29500.25
    (trade,) = await rest.search_trades(7, start, start + timedelta(hours=1))
    assert isinstance(trade, Trade) and trade.profit_and_loss is None
    assert await rest.contract_by_id("CON.F.US.EP.U26") == Contract(
        "CON.F.US.EP.U26", "ESU6", 0.25, 12.5, "F.US.EP", "E-mini", True)
    assert len(await rest.search_contracts("ES")) == len(await rest.available_contracts()) == 1

    assert endpoints(fake)[0] == "Auth/loginKey" and endpoints(fake).count("Auth/loginKey") == 1
    assert fake.calls[0][2] is None  # no Authorization header on login
    assert all(c[2].startswith("Bearer ey") for c in fake.calls[1:])
    body = next(c[1] for c in fake.calls if c[0] == "Trade/search")
    assert body == {"accountId": 7, "startTimestamp": "2026-08-19T12:00:00Z", "endTimestamp": "2026-08-19T13:00:00Z"}


async def test_mutations_send_documented_bodies(fake, rest):
    fake.handlers["Order/place"] = lambda b: {"success": True, "errorCode": 0, "errorMessage": None, "orderId": 3425270858}
    order_id = await rest.place_order(7, "C", 4, 1, 2, stop_price=100.25, custom_tag="t1",
                                      stop_loss_bracket={"ticks": -10, "type": 4})
    assert order_id == 3425270858
    await rest.modify_order(7, order_id, stop_price=101.0)
    await rest.cancel_order(7, order_id)
    await rest.close_contract(7, "C")
    await rest.partial_close_contract(7, "C", 1)
    bodies = {c[0]: c[1] for c in fake.calls}
    assert bodies["Order/place"] == {"accountId": 7, "contractId": "C", "type": 4, "side": 1, "size": 2,
                                     "stopPrice": 100.25, "customTag": "t1", "stopLossBracket": {"ticks": -10, "type": 4}}
    assert bodies["Order/modify"] == {"accountId": 7, "orderId": order_id, "stopPrice": 101.0}
    assert bodies["Order/cancel"] == {"accountId": 7, "orderId": order_id}
    assert bodies["Position/closeContract"] == {"accountId": 7, "contractId": "C"}
    assert bodies["Position/partialCloseContract"] == {"accountId": 7, "contractId": "C", "size": 1}


async def test_success_false_is_a_named_gateway_error(fake, rest):
    fake.handlers["Position/closeContract"] = lambda b: {"success": False, "errorCode": 2, "errorMessage": None}
    fake.handlers["Order/place"] = lambda b: {"success": False, "errorCode": 2, "orderId": 99,
                                              "errorMessage": "Brackets cannot be used with Position Brackets."}
    with pytest.raises(GatewayError) as info:
        await rest.close_contract(7, "C")
    assert (info.value.endpoint, info.value.error_code, info.value.error_name) == ("Position/closeContract", 2, "PositionNotFound")
    with pytest.raises(GatewayError) as info:
        await rest.place_order(7, "C", 2, 0, 1)
    assert info.value.error_name == "OrderRejected" and info.value.order_id == 99
    assert "Position Brackets" in str(info.value)
    assert endpoints(fake).count("Order/place") == 1


async def test_login_failure(fake):
    client = GatewayRest(fake.base, "user", "wrong")
    try:
        with pytest.raises(LoginFailed) as info:
            await client.search_accounts()
        assert info.value.error_name == "InvalidCredentials"
    finally:
        await client.close()


async def test_401_refreshes_token_and_retries_once(fake, rest):
    await rest.search_accounts()
    fake.expire_all()
    await rest.cancel_order(7, 1)  # even a mutation: a 401'd call was not executed
    assert endpoints(fake) == ["Auth/loginKey", "Account/search", "Order/cancel", "Auth/loginKey", "Order/cancel"]
    # a 401 that persists after a fresh login is an AuthError, not a loop
    fake.script["Order/searchOpen"] = [(401, "", None), (401, "", None)]
    with pytest.raises(AuthError):
        await rest.search_open_orders(7)


async def test_proactive_refresh_via_validate_before_expiry(fake):
    clock = ManualClock(datetime.now(UTC))
    fake.token_lifetime = 3600
    client = GatewayRest(fake.base, "user", "key", clock=clock)
    try:
        first = await client.token()
        assert jwt_expiry(first) is not None and client.token_expiry is not None
        clock.advance(3600 - 400)
        assert await client.token() == first  # not yet inside the 5-minute margin
        clock.advance(200)
        second = await client.token()
        assert second != first and endpoints(fake) == ["Auth/loginKey", "Auth/validate"]
        # validate refused -> fall back to loginKey
        clock.advance(3600 - 100)
        fake.script["Auth/validate"] = [(200, {"success": False, "errorCode": 3, "errorMessage": "expired"}, None)]
        third = await client.token()
        assert third not in (first, second) and endpoints(fake)[-2:] == ["Auth/validate", "Auth/loginKey"]
    finally:
        await client.close()


async def test_concurrent_callers_share_one_login(fake, rest):
    await asyncio.gather(*(rest.search_open_orders(7) for _ in range(10)))
    assert endpoints(fake).count("Auth/loginKey") == 1


async def test_429_honours_retry_after_then_gives_up(fake, rest):
    await rest.token()
    fake.script["Order/searchOpen"] = [(429, "", {"Retry-After": "0.2"})]
    t0 = time.monotonic()
    await rest.search_open_orders(7)
    assert time.monotonic() - t0 >= 0.18
    assert rest.stats["http_429"] == 1
    rest.retry_429_attempts = 2
    fake.script["Order/cancel"] = [(429, "", {"Retry-After": "0.01"})] * 3
    with pytest.raises(RateLimited):
        await rest.cancel_order(7, 1)
    assert endpoints(fake).count("Order/cancel") == 3


async def test_reads_retry_5xx_and_timeouts(fake, rest):
    await rest.token()
    fake.script["Order/searchOpen"] = [(500, "boom", None), (503, "", None), 0.6]  # 0.6 = hang past the timeout
    rest.timeout = 0.3
    await rest.search_open_orders(7)
    assert endpoints(fake).count("Order/searchOpen") == 4
    assert rest.stats["http_5xx"] == 2 and rest.stats["timeouts"] == 1
    fake.script["Order/searchOpen"] = [(500, "", None)] * 10
    with pytest.raises(GatewayUnavailable):
        await rest.search_open_orders(7)
    assert endpoints(fake).count("Order/searchOpen") == 4 + 1 + rest.read_retries


@pytest.mark.parametrize("fault", [(500, "", None), (502, "bad gateway", None), 0.6, (200, "<html>", None)])
async def test_mutations_are_never_blindly_retried(fake, rest, fault):
    await rest.token()
    rest.timeout = 0.3
    fake.script["Order/cancel"] = [fault]
    with pytest.raises(MutationUncertain) as info:
        await rest.cancel_order(7, 12)
    assert info.value.body == {"accountId": 7, "orderId": 12}
    assert endpoints(fake).count("Order/cancel") == 1


async def test_unreachable_gateway(fake):
    client = GatewayRest("http://127.0.0.1:9", "user", "key", backoff_base=0.01, read_retries=1)
    try:
        with pytest.raises(GatewayUnavailable) as info:
            await client.login()
        assert info.value.sent is True  # login is a read: retried, then unavailable
        client._token = make_jwt(time.time() + 3600)
        with pytest.raises(GatewayUnavailable) as info:
            await client.close_contract(1, "C")
        assert info.value.sent is False  # connection refused: nothing executed
    finally:
        await client.close()


async def test_other_http_errors_and_bad_rows(fake, rest):
    await rest.token()
    fake.script["Order/searchOpen"] = [(404, "nope", None)]
    with pytest.raises(GatewayHTTPError) as info:
        await rest.search_open_orders(7)
    assert info.value.status == 404
    fake.handlers["Position/searchOpen"] = lambda b: {"success": True, "positions": [{"id": 1}]}
    with pytest.raises(GatewayProtocolError) as info:
        await rest.search_open_positions(7)
    assert "positions[0]" in str(info.value)


async def test_rate_budget_stays_under_the_limit(fake):
    client = GatewayRest(fake.base, "user", "key", rate_limit=(6, 0.5))  # budget 5 per 0.5 s
    try:
        await client.token()
        for _ in range(10):
            await client.search_open_orders(7)
        # no 0.5 s window holds more than 5 calls (the login counts too)
        assert client.budget is not None and client.budget.limit == 5
        arrivals = fake.arrivals
        assert len(arrivals) == 11
        assert all(arrivals[i + 5] - arrivals[i] >= 0.49 for i in range(len(arrivals) - 5))
        assert client.budget.waits >= 1
    finally:
        await client.close()


async def test_rate_budget_pause():
    budget = RateBudget(100, 60)
    budget.pause(0.1)
    t0 = time.monotonic()
    await budget.acquire()
    assert time.monotonic() - t0 >= 0.09


def test_repr_hides_secrets():
    client = GatewayRest("http://x/api", "user", "super-secret-key")
    assert "super-secret" not in repr(client) and client.api_url == "http://x"


def test_envelope_with_nan_is_unreadable_not_decoded():
    from risk_manager.gateway.rest import GatewayRest

    assert GatewayRest._envelope("Position/searchOpen", '{"success":true,"positions":[{"averagePrice":NaN}]}') is None
    assert GatewayRest._envelope("Position/searchOpen", '{"success":true,"positions":[]}') == {
        "success": True, "positions": []}
