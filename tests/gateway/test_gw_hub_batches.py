"""The optional `on_events` batch callback: one list per WebSocket frame, wire order kept."""

from __future__ import annotations

import asyncio

from gw_fake_server import start_hub, until
from test_gw_hub import FAST, ORDER, Recorder, user_event

from risk_manager.events import EventKind
from risk_manager.gateway import signalr_protocol as sp
from risk_manager.gateway.hub import MarketHub, UserHub


async def test_user_hub_delivers_each_frame_as_one_batch(fake, hubs):
    rec = Recorder(fake)
    batches: list[list] = []
    kw = dict(rec.kw(), on_events=batches.append)
    hub = await start_hub(UserHub(f"{fake.base}/hubs/user", rec.token, account_ids=[7], **FAST, **kw), hubs)
    (conn,) = fake.live("/hubs/user")
    fill = sp.encode_many([
        user_event("GatewayUserOrder", dict(ORDER, status=2, fillVolume=1)),
        user_event("GatewayUserPosition", {"id": 1, "accountId": 7, "contractId": ORDER["contractId"],
                                           "type": 1, "size": 1, "averagePrice": 29500.0}),
        sp.invocation("GatewayUserOrder", ["not an order"]),  # malformed: skipped, not the frame
        user_event("GatewayUserAccount", {"id": 7, "balance": 49999.38, "canTrade": True}),
    ])
    await conn.ws.send_str(fill)
    await until(lambda: len(batches) == 1)
    await conn.ws.send_str(sp.encode(user_event("GatewayUserOrder", ORDER)))
    await until(lambda: len(batches) == 2)
    assert [[e.kind for e in b] for b in batches] == [
        [EventKind.ORDER, EventKind.POSITION, EventKind.ACCOUNT], [EventKind.ORDER]]
    assert rec.events == []  # on_events replaces on_event
    assert hub.stats.events == 4 and hub.stats.malformed == 1


async def test_market_hub_batches_coalesced_quotes_and_survives_a_failing_consumer(fake, hubs):
    rec = Recorder(fake)
    batches: list[list] = []

    def consume(batch):
        batches.append(batch)
        if len(batches) == 1:
            raise RuntimeError("consumer bug")

    kw = dict(rec.kw(), on_events=consume)
    hub = await start_hub(MarketHub(f"{fake.base}/hubs/market", rec.token, contract_ids=["CON.A"], **FAST, **kw), hubs)
    (conn,) = fake.live()
    burst = [sp.invocation("GatewayQuote", ["CON.A", {"bestBid": 100 + i}]) for i in range(50)]
    burst.append(sp.invocation("GatewayQuote", ["CON.B", {"lastPrice": 5}]))
    await conn.ws.send_str(sp.encode_many(burst))
    await until(lambda: len(batches) == 1)
    await conn.ws.send_str(sp.encode(sp.invocation("GatewayQuote", ["CON.A", {"bestAsk": 7}])))
    await until(lambda: len(batches) == 2)
    await asyncio.sleep(0.02)
    first = {e.contract_id: e.data for e in batches[0]}
    assert all(e.kind is EventKind.QUOTE for e in batches[0]) and set(first) == {"CON.A", "CON.B"}
    assert first["CON.A"].best_bid == 149  # merged per contract before delivery, as with on_event
    assert batches[1][0].data.best_ask == 7
    assert hub.stats.callback_errors == 1 and hub.connected
