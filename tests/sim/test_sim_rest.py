"""REST surface: envelopes, per-endpoint error codes, 401, 429, case-insensitive paths, 400s."""

from __future__ import annotations

import base64
import json
import time

import aiohttp

from risk_manager.sim import Simulator

from .conftest import MNQ, SimClient


async def test_login_token_is_a_jwt_with_24h_exp(client: SimClient) -> None:
    payload = client.token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert 86_000 < claims["exp"] - time.time() <= 86_400
    bad = await client.post("/api/Auth/loginKey", {"userName": "sim", "apiKey": "wrong"}, token="")
    assert bad == {"token": None, "success": False, "errorCode": 3, "errorMessage": bad["errorMessage"]}
    resp = await client.raw("/api/Auth/loginKey", {"userName": "sim"}, token="")
    assert resp.status == 400 and "apiKey" in (await resp.json())["detail"]


async def test_bearer_required_and_validate_logout(client: SimClient) -> None:
    assert (await client.raw("/api/Account/search", {"onlyActiveAccounts": True}, token="")).status == 401
    assert (await client.raw("/api/Account/search", {"onlyActiveAccounts": True}, token="a.b.c")).status == 401
    validated = await client.post("/api/Auth/validate")
    assert list(validated) == ["newToken", "success", "errorCode", "errorMessage"] and validated["success"]
    old = client.token
    client.token = validated["newToken"]
    assert (await client.post("/api/Auth/logout"))["success"]
    assert (await client.raw("/api/Account/search", {"onlyActiveAccounts": True})).status == 401
    assert (await client.raw("/api/Account/search", {"onlyActiveAccounts": True}, token=old)).status == 200


async def test_paths_are_case_insensitive_and_envelopes_match(client: SimClient) -> None:
    body = await client.post("/api/account/SEARCH", {"onlyActiveAccounts": True})
    assert list(body) == ["accounts", "success", "errorCode", "errorMessage"]
    assert [set(a) for a in body["accounts"]] == [{"id", "name", "balance", "canTrade", "isVisible", "simulated"}] * 2
    missing = await client.post("/api/Position/searchOpen", {"accountId": 1})
    assert (missing["success"], missing["errorCode"]) == (False, 1)
    assert (await client.raw("/api/Order/search", {"accountId": client.account_id})).status == 400
    assert (await client.raw("/api/Nope/nothing", {})).status == 404
    ping = await client.raw("/api/Status/ping", None, method="GET")
    assert ping.status == 200


async def test_order_lifecycle_over_rest(client: SimClient) -> None:
    await client.control("/sim/price", {"contractId": MNQ, "price": 29500.0})
    placed = await client.place(size=2)
    assert placed["success"] and placed["orderId"] > 2**31
    positions = (await client.post("/api/Position/searchOpen", {"accountId": client.account_id}))["positions"]
    assert [(p["size"], p["type"], p["averagePrice"]) for p in positions] == [(2, 1, 29500.0)]
    assert set(positions[0]) == {"id", "accountId", "contractId", "contractDisplayName", "creationTimestamp",
                                 "type", "size", "averagePrice"}
    limit = await client.place(type=1, side=1, limitPrice=29600.0)
    orders = (await client.post("/api/Order/searchOpen", {"accountId": client.account_id}))["orders"]
    assert [o["id"] for o in orders] == [limit["orderId"]] and orders[0]["stopPrice"] is None
    modified = await client.post("/api/Order/modify", {"accountId": client.account_id, "orderId": limit["orderId"],
                                                       "limitPrice": 29610.0})
    assert modified == {"success": True, "errorCode": 0, "errorMessage": None}
    assert (await client.post("/api/Order/cancel", {"accountId": client.account_id, "orderId": limit["orderId"]}))["success"]
    again = await client.post("/api/Order/cancel", {"accountId": client.account_id, "orderId": limit["orderId"]})
    assert (again["success"], again["errorCode"]) == (False, 3)
    partial = await client.post("/api/Position/partialCloseContract",
                                {"accountId": client.account_id, "contractId": MNQ, "size": 5})
    assert partial["errorCode"] == 5
    await client.control("/sim/price", {"contractId": MNQ, "price": 29510.0})
    assert (await client.post("/api/Position/closeContract", {"accountId": client.account_id, "contractId": MNQ}))["success"]
    flat = await client.post("/api/Position/closeContract", {"accountId": client.account_id, "contractId": MNQ})
    assert (flat["success"], flat["errorCode"]) == (False, 2)
    trades = (await client.post("/api/Trade/search", {"accountId": client.account_id,
                                                      "startTimestamp": "2000-01-01T00:00:00Z"}))["trades"]
    assert [t["profitAndLoss"] for t in trades] == [40.0, None]  # newest first; 10 points x $2 x 2
    assert all("commissions" in t for t in trades)
    history = (await client.post("/api/Order/search", {"accountId": client.account_id,
                                                       "startTimestamp": "2000-01-01T00:00:00Z"}))["orders"]
    assert [o["status"] for o in history] == [2, 3, 2]
    by_id = await client.post("/api/Order/searchById", {"accountId": client.account_id, "orderId": placed["orderId"]})
    assert by_id["order"]["filledPrice"] == 29500.0


async def test_rejections_and_v2_query(client: SimClient) -> None:
    await client.control("/sim/account", {"accountId": client.account_id, "canTrade": False})
    rejected = await client.place()
    assert (rejected["success"], rejected["errorCode"]) == (False, 2) and rejected["orderId"] is not None
    await client.control("/sim/account", {"accountId": client.account_id, "canTrade": True})
    entry = await client.place(type=1, limitPrice=29000.0, stopLossBracket={"ticks": -10, "type": 4},
                               takeProfitBracket={"ticks": 10, "type": 1})
    assert entry["success"]
    open_ids = [o["id"] for o in (await client.post("/api/Order/searchOpen", {"accountId": client.account_id}))["orders"]]
    assert open_ids == [entry["orderId"]]
    query = await client.post("/api/Order/v2/query", {"filter": {"accountId": client.account_id, "statuses": [1, 6, 7, 8]},
                                                      "includeTotalCount": True})
    assert query["totalCount"] == 3 and sorted(o["status"] for o in query["orders"]) == [1, 8, 8]
    assert (await client.post("/api/Order/place", {"accountId": client.account_id, "contractId": "X", "type": 2,
                                                   "side": 0, "size": 1}))["errorCode"] == 8


async def test_contracts_and_bars(client: SimClient) -> None:
    available = (await client.post("/api/Contract/available", {"live": False}))["contracts"]
    assert len(available) == 51
    nq = [c["id"] for c in (await client.post("/api/Contract/search", {"searchText": "NQ", "live": False}))["contracts"]]
    assert {"CON.F.US.ENQ.U26", MNQ, "CON.F.US.NQG.U26", "CON.F.US.NQM.V26"} <= set(nq)
    one = await client.post("/api/Contract/searchById", {"contractId": "CON.F.US.ENQ.U26"})
    assert one["contract"]["tickValue"] == 5
    assert (await client.post("/api/Contract/searchById", {"contractId": "nope"}))["errorCode"] == 1
    bars = await client.post("/api/History/retrieveBars", {
        "contractId": MNQ, "live": False, "startTime": "2000-01-01T00:00:00Z", "endTime": "2100-01-01T00:00:00Z",
        "unit": 2, "unitNumber": 1, "limit": 30, "includePartialBar": False})
    assert len(bars["bars"]) == 30 and bars["bars"][0]["t"] > bars["bars"][1]["t"]
    assert set(bars["bars"][0]) == {"t", "o", "h", "l", "c", "v"}
    bad = await client.post("/api/History/retrieveBars", {
        "contractId": MNQ, "live": False, "startTime": "2000-01-01T00:00:00Z", "endTime": "2100-01-01T00:00:00Z",
        "unit": 9, "unitNumber": 1, "limit": 30, "includePartialBar": False})
    assert bad["errorCode"] == 2


async def test_rate_limiter_answers_429_with_retry_after() -> None:
    sim = Simulator(rate_limit=(5, 60.0))
    await sim.start()
    try:
        async with aiohttp.ClientSession() as session:
            c = SimClient(sim, session)
            await c.login()
            statuses = [(await c.raw("/api/Account/search", {"onlyActiveAccounts": True})).status for _ in range(6)]
            assert statuses == [200, 200, 200, 200, 429, 429]
            resp = await c.raw("/api/Account/search", {"onlyActiveAccounts": True})
            assert int(resp.headers["Retry-After"]) >= 1
            await c.control("/sim/config", {"rate_limit": None})
            assert (await c.raw("/api/Account/search", {"onlyActiveAccounts": True})).status == 200
    finally:
        await sim.stop()
