"""The hubs behave as ASP.NET Core SignalR does: method names in any letter case, an error completion
for a StreamInvocation (type 4) instead of silence, and http(s) hub URLs that clients convert."""

from __future__ import annotations

import asyncio
import contextlib

from pysignalr.client import SignalRClient

from risk_manager.gateway import signalr_protocol as sp
from risk_manager.gateway.hub import MarketHub

from .conftest import MNQ, RawHub, SimClient


async def stream_invoke(hub: RawHub, target: str, *args: object) -> dict:
    """Send a StreamInvocation and wait for its Completion (RawHub.invoke only sends type 1)."""
    await hub.ws.send_str(sp.encode({"type": 4, "invocationId": "s1", "target": target, "arguments": list(args)}))
    while True:
        rec = await hub.next_record(timeout=3.0)
        if rec.get("type") == 3 and rec.get("invocationId") == "s1":
            return rec


async def test_hub_methods_resolve_in_any_letter_case(client: SimClient) -> None:
    user = await RawHub.connect(client.session, client.sim.info()["user_hub"], client.token)
    assert "error" not in await user.invoke("subscribeaccounts")
    for name in ("SUBSCRIBEORDERS", "subscribePositions", "subscribetrades"):
        assert "error" not in await user.invoke(name, client.account_id)
    assert "error" in await user.invoke("SubscribeNothing", client.account_id)
    market = await RawHub.connect(client.session, client.sim.info()["market_hub"], client.token)
    assert "error" not in await market.invoke("subscribecontractquotes", MNQ)
    await client.control("/sim/price", {"contractId": MNQ, "price": 29500.0, "spread_ticks": 1})
    assert (await client.place())["success"]
    targets = [r["target"] for r in await user.events(4)]
    assert targets == ["GatewayUserOrder", "GatewayUserTrade", "GatewayUserOrder", "GatewayUserPosition"]
    quote = (await market.events(1))[0]
    assert quote["target"] == "GatewayQuote" and quote["arguments"][0] == MNQ
    # Unsubscribing in another case removes the same subscription.
    assert "error" not in await market.invoke("UNSUBSCRIBECONTRACTQUOTES", MNQ)
    await client.control("/sim/price", {"contractId": MNQ, "price": 29501.0, "spread_ticks": 1})
    assert await market.quiet(0.2) == []
    await user.close()
    await market.close()


async def test_stream_invocation_gets_an_error_completion(client: SimClient) -> None:
    hub = await RawHub.connect(client.session, client.sim.info()["market_hub"], client.token)
    unknown = await asyncio.wait_for(stream_invoke(hub, "StreamQuotes", MNQ), 3.0)
    assert unknown["error"] and "StreamQuotes" in unknown["error"]
    known = await asyncio.wait_for(stream_invoke(hub, "subscribeContractQuotes", MNQ), 3.0)
    assert "non-streaming" in known["error"]
    # A stream invocation changes nothing: the connection still works and nothing was subscribed.
    assert "error" not in await hub.invoke("SubscribeContractTrades", MNQ)
    await client.control("/sim/price", {"contractId": MNQ, "price": 29500.0, "spread_ticks": 1})
    assert [r["target"] for r in await hub.events(1)] == ["GatewayTrade"]
    await hub.close()


async def test_pysignalr_stream_of_an_unknown_method_completes_with_an_error(client: SimClient) -> None:
    info = client.sim.info()
    opened = asyncio.Event()
    errors: list = []
    done = asyncio.Event()

    async def on_open() -> None:
        opened.set()

    async def on_error(message) -> None:
        errors.append(message)
        done.set()

    async def on_complete(message) -> None:
        done.set()

    signalr = SignalRClient(f"{info['market_hub']}?access_token={client.token}", retry_count=1)
    signalr.on_open(on_open)
    task = asyncio.create_task(signalr.run())
    try:
        await asyncio.wait_for(opened.wait(), 5)
        await signalr.stream("NoSuchStream", [MNQ], on_complete=on_complete, on_error=on_error)
        await asyncio.wait_for(done.wait(), 5)  # before the fix: no completion ever came
        assert len(errors) == 1 and "NoSuchStream" in errors[0].error
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


async def test_info_gives_http_hub_urls_that_clients_take_as_they_are(client: SimClient) -> None:
    info = client.sim.info()
    assert info["user_hub"] == info["api"] + "/hubs/user"
    assert info["market_hub"] == info["api"] + "/hubs/market"
    assert info["market_hub"].startswith("http://")
    # Our daemon's hub client takes the URL as printed (it converts http -> ws itself).
    quotes: list = []
    token = client.token

    async def token_provider() -> str:
        return token

    hub = MarketHub(info["market_hub"], token_provider, contract_ids=[MNQ], on_event=quotes.append,
                    backoff_initial=0.05, backoff_max=0.5, handshake_timeout=3.0, invoke_timeout=3.0)
    await hub.start()
    try:
        assert await hub.wait_connected(5)
        await client.control("/sim/price", {"contractId": MNQ, "price": 29510.0, "spread_ticks": 1})
        for _ in range(250):
            if any(q.data.last_price == 29510.0 for q in quotes):
                break
            await asyncio.sleep(0.02)
        assert any(q.contract_id == MNQ and q.data.last_price == 29510.0 for q in quotes)
    finally:
        await hub.stop()
