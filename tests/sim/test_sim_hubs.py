"""Hub protocol: direct and negotiated connections, handshake, subscriptions, fill event order, pings,
timeouts, close records, and independent-client (pysignalr) interop."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import pytest
from pysignalr.client import SignalRClient

from risk_manager.gateway import signalr_protocol as sp
from risk_manager.sim import Simulator

from .conftest import MNQ, RawHub, SimClient


def summary(records):
    out = []
    for r in records:
        arg = r["arguments"][0]
        data = arg["data"]
        out.append((r["target"], arg["action"], data.get("status", data.get("size"))))
    return out


async def subscribed_user_hub(client: SimClient) -> RawHub:
    hub = await RawHub.connect(client.session, client.sim.info()["user_hub"], client.token)
    assert await hub.invoke("SubscribeAccounts") == {"type": 3, "invocationId": "1"}
    for topic in ("Orders", "Positions", "Trades"):
        assert "error" not in await hub.invoke(f"Subscribe{topic}", client.account_id)
    return hub


async def test_fill_event_order_on_the_user_hub(client: SimClient) -> None:
    hub = await subscribed_user_hub(client)
    await client.control("/sim/price", {"contractId": MNQ, "price": 29500.0})
    assert (await client.place())["success"]
    records = await hub.events(6)
    assert summary(records) == [
        ("GatewayUserOrder", 1, 6), ("GatewayUserTrade", 0, 1), ("GatewayUserOrder", 1, 2),
        ("GatewayUserPosition", 1, 1), ("GatewayUserAccount", 1, None), ("GatewayUserAccount", 1, None),
    ]
    for record in records:
        assert len(record["arguments"]) == 1 and "invocationId" not in record
        assert None not in record["arguments"][0]["data"].values()  # nulls omitted on the stream
    stamp = records[0]["arguments"][0]["data"]["creationTimestamp"]
    assert stamp.endswith("+00:00") and len(stamp.split("+")[0].partition(".")[2]) <= 7  # .NET widths vary
    # other account's events are not delivered to this subscription
    other = client.sim.info()["accounts"][1]
    await client.post("/api/Order/place", {"accountId": other, "contractId": MNQ, "type": 2, "side": 0, "size": 1})
    leaked = [r for r in await hub.quiet(0.3) if r["target"] != "GatewayUserAccount"]
    assert leaked == []
    await hub.close()


async def test_market_hub_partial_quotes_and_trades(client: SimClient) -> None:
    hub = await RawHub.connect(client.session, client.sim.info()["market_hub"], client.token)
    await hub.invoke("SubscribeContractQuotes", MNQ)
    await hub.invoke("SubscribeContractTrades", MNQ)
    assert await hub.quiet(0.2) == []  # no snapshot on subscribe
    await client.control("/sim/price", {"contractId": MNQ, "price": 29600.0, "spread_ticks": 1})
    quote, trade = await hub.events(2)
    assert quote["target"] == "GatewayQuote" and quote["arguments"][0] == MNQ
    assert quote["arguments"][1]["lastPrice"] == 29600.0 and quote["arguments"][1]["bestBid"] == 29599.75
    assert quote["arguments"][1]["contract"] == MNQ and quote["arguments"][1]["symbol"] == "F.US.MNQ"
    assert trade["target"] == "GatewayTrade" and isinstance(trade["arguments"][1], list)
    await client.control("/sim/price", {"contractId": MNQ, "price": 29600.0, "spread_ticks": 2})
    (partial, _) = await hub.events(2)
    assert "lastPrice" not in partial["arguments"][1] and partial["arguments"][1]["bestAsk"] == 29600.5
    bad = await hub.invoke("SubscribeContractQuotes", 12)
    assert "error" in bad
    await hub.close()


async def test_negotiate_then_connect_and_unknown_id_404(client: SimClient) -> None:
    base = client.base
    async with client.session.post(f"{base}/hubs/user/negotiate?negotiateVersion=1&access_token={client.token}") as r:
        assert r.status == 200
        body = await r.json()
    assert body["negotiateVersion"] == 1 and body["connectionId"] and body["connectionToken"]
    assert body["availableTransports"][0]["transport"] == "WebSockets"
    assert "Text" in body["availableTransports"][0]["transferFormats"]
    ws_url = client.sim.info()["user_hub"]
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await client.session.ws_connect(f"{ws_url}?id=unknown&access_token={client.token}")
    assert err.value.status == 404
    ws = await client.session.ws_connect(f"{ws_url}?id={body['connectionToken']}&access_token={client.token}")
    await ws.send_str(sp.encode(sp.HANDSHAKE_REQUEST))
    assert (await ws.receive(timeout=5)).data == "{}\x1e"
    await ws.close()
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await client.session.ws_connect(f"{ws_url}?access_token=bad")
    assert err.value.status == 401
    async with client.session.post(f"{base}/hubs/user/negotiate?negotiateVersion=1") as r:
        assert r.status == 401


async def test_pings_client_timeout_and_close_record() -> None:
    sim = Simulator(ping_interval=0.1, client_timeout=0.6)
    await sim.start()
    try:
        async with aiohttp.ClientSession() as session:
            c = SimClient(sim, session)
            await c.login()
            hub = await RawHub.connect(session, sim.info()["user_hub"], c.token)
            records = []
            with contextlib.suppress(ConnectionError, asyncio.TimeoutError, TimeoutError):
                for _ in range(50):
                    records.append(await hub.next_record(2.0))  # we stay silent: the server must drop us
            assert {"type": 6} in records
            assert records[-1]["type"] == 7 and "timeout" in records[-1]["error"]
    finally:
        await sim.stop()


async def test_drop_fault_closes_with_error_and_loses_subscriptions(client: SimClient) -> None:
    hub = await subscribed_user_hub(client)
    result = await client.control("/sim/fault", {"kind": "drop_user_hub"})
    assert result["dropped"] == 1
    records = []
    with contextlib.suppress(ConnectionError, asyncio.TimeoutError, TimeoutError):
        while True:
            records.append(await hub.next_record(2.0))
    assert records[-1]["type"] == 7 and records[-1]["allowReconnect"] is True
    fresh = await RawHub.connect(client.session, client.sim.info()["user_hub"], client.token)
    await client.place()
    assert await fresh.quiet(0.3) == []  # subscriptions did not survive the reconnect
    await fresh.close()


async def test_duplicate_events_fault(client: SimClient) -> None:
    hub = await subscribed_user_hub(client)
    await client.control("/sim/fault", {"kind": "duplicate_events", "count": 2})
    await client.place()
    records = await hub.events(8)
    assert summary(records)[:4] == [("GatewayUserOrder", 1, 6)] * 2 + [("GatewayUserTrade", 0, 1)] * 2
    await hub.close()


async def test_pysignalr_negotiates_subscribes_and_receives_order_events(client: SimClient) -> None:
    info = client.sim.info()
    received: list[tuple[str, list]] = []
    opened = asyncio.Event()
    got_fill = asyncio.Event()

    async def on_open() -> None:
        opened.set()

    def handler(target: str):
        async def handle(arguments: list) -> None:
            received.append((target, arguments))
            if target == "GatewayUserPosition":
                got_fill.set()
        return handle

    signalr = SignalRClient(f"{info['user_hub']}?access_token={client.token}", retry_count=1)
    signalr.on_open(on_open)
    for target in ("GatewayUserAccount", "GatewayUserOrder", "GatewayUserPosition", "GatewayUserTrade"):
        signalr.on(target, handler(target))
    task = asyncio.create_task(signalr.run())
    try:
        await asyncio.wait_for(opened.wait(), 5)
        completions = []

        async def on_done(message) -> None:
            completions.append(message)

        await signalr.send("SubscribeAccounts", [], on_done)
        for method in ("SubscribeOrders", "SubscribePositions", "SubscribeTrades"):
            await signalr.send(method, [client.account_id], on_done)
        for _ in range(100):
            if len(completions) == 4:
                break
            await asyncio.sleep(0.02)
        assert len(completions) == 4 and all(m.error is None for m in completions)
        await client.control("/sim/price", {"contractId": MNQ, "price": 29500.0})
        assert (await client.place(size=3))["success"]
        await asyncio.wait_for(got_fill.wait(), 5)
        targets = [t for t, _ in received]
        assert targets[:4] == ["GatewayUserOrder", "GatewayUserTrade", "GatewayUserOrder", "GatewayUserPosition"]
        position = received[3][1][0]
        assert position["action"] == 1 and position["data"]["size"] == 3
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
