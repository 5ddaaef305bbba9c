"""HubClient/UserHub/MarketHub against a scripted loopback SignalR server."""

from __future__ import annotations

import asyncio
import json

import pytest
from structlog.testing import capture_logs

from gw_fake_server import FakeGateway, start_hub, until
from risk_manager.events import EventKind
from risk_manager.gateway import signalr_protocol as sp
from risk_manager.gateway.hub import HubClient, HubInvocationError, HubState, MarketHub, UserHub, hub_ws_url

ORDER = {"id": 3425270858, "accountId": 7, "contractId": "CON.F.US.MNQ.U26", "status": 6, "type": 2,
         "side": 0, "size": 1, "fillVolume": 0}
FAST = dict(backoff_initial=0.05, backoff_max=0.2, handshake_timeout=2.0, invoke_timeout=2.0)


def user_event(target: str, data: dict, action: int = 1) -> dict:
    return sp.invocation(target, [{"action": action, "data": data}])


class Recorder:
    def __init__(self, fake: FakeGateway) -> None:
        self.fake = fake
        self.events = []
        self.log: list[str] = []
        self.refresh_flags: list[bool] = []
        self.tokens: list[str] = []

    async def token(self, refresh: bool = False) -> str:
        self.refresh_flags.append(refresh)
        token = self.fake.issue()
        self.tokens.append(token)
        return token

    def kw(self):
        return dict(
            on_event=self.events.append,
            on_connected=lambda: self.log.append("connected"),
            on_disconnected=lambda reason: self.log.append(f"disconnected:{reason}"),
            on_reconnected=lambda: self.log.append("reconnected"),
        )


def test_ws_url_mapping():
    assert str(hub_ws_url("https://rtc.topstepx.com/hubs/user", "a.b+c")) == "wss://rtc.topstepx.com/hubs/user?access_token=a.b%2Bc"
    assert str(hub_ws_url("http://127.0.0.1:5/hubs/market", "t")) == "ws://127.0.0.1:5/hubs/market?access_token=t"
    with pytest.raises(ValueError):
        hub_ws_url("ftp://x/hubs/user", "t")


async def test_user_hub_subscribes_and_decodes_split_and_batched_frames(fake, hubs):
    rec = Recorder(fake)
    hub = await start_hub(UserHub(f"{fake.base}/hubs/user", rec.token, account_ids=[7, 3], **FAST, **rec.kw()), hubs)
    (conn,) = fake.live("/hubs/user")
    assert conn.token == rec.tokens[-1] and rec.log == ["connected"]
    targets = [(m["target"], m["arguments"]) for m in conn.invocations]
    assert targets == [("SubscribeAccounts", []), ("SubscribeOrders", [3]), ("SubscribePositions", [3]),
                       ("SubscribeTrades", [3]), ("SubscribeOrders", [7]), ("SubscribePositions", [7]),
                       ("SubscribeTrades", [7])]
    assert all("invocationId" in m for m in conn.invocations)

    filled = dict(ORDER, status=2, fillVolume=1, filledPrice=29500.0)
    stream = sp.encode_many([
        user_event("GatewayUserOrder", ORDER),
        user_event("GatewayUserTrade", {"id": 9, "accountId": 7, "contractId": ORDER["contractId"], "price": 29500.0,
                                        "fees": 0.37, "commissions": 0.25, "side": 0, "size": 1, "voided": False,
                                        "orderId": ORDER["id"]}, action=0),
        sp.PING,
        sp.invocation("GatewayUserOrder", [filled]),  # bare, unwrapped
        user_event("GatewayUserPosition", {"id": 1, "accountId": 7, "contractId": ORDER["contractId"], "type": 1,
                                           "size": 1, "averagePrice": 29500.0}),
        user_event("GatewayUserAccount", {"id": 7, "balance": 49999.38, "canTrade": True}),
    ])
    cuts = [5, 6, 7, 180, 181, len(stream) - 3]  # records split mid-way, several per frame
    for a, b in zip([0, *cuts], [*cuts, len(stream)]):
        await conn.ws.send_str(stream[a:b])
    await until(lambda: len(rec.events) == 5)
    kinds = [e.kind for e in rec.events]
    assert kinds == [EventKind.ORDER, EventKind.TRADE, EventKind.ORDER, EventKind.POSITION, EventKind.ACCOUNT]
    assert [e.action for e in rec.events] == [1, 0, None, 1, 1]
    assert rec.events[2].data.status == 2 and all(e.account_id == 7 for e in rec.events)
    assert all(e.received_ns > 0 and e.received_at is not None for e in rec.events)
    snap = hub.snapshot()
    assert snap["state"] == "connected" and snap["events"] == 5 and snap["pings_received"] == 1
    assert snap["records"] >= 6 and snap["malformed"] == 0


async def test_invocations_complete_fail_and_time_out(fake, hubs):
    rec = Recorder(fake)
    hub = await start_hub(HubClient(f"{fake.base}/hubs/user", rec.token, **FAST), hubs)
    assert await hub.invoke("Anything", 1, 2) is None
    fake.invocation_errors["Broken"] = "Method does not exist"
    with pytest.raises(HubInvocationError, match="does not exist"):
        await hub.invoke("Broken")
    fake.silent_invocations.add("Silent")
    with pytest.raises(asyncio.TimeoutError):
        await hub.invoke("Silent", timeout=0.2)
    await hub.send("FireAndForget", "x")
    (conn,) = fake.live()
    await until(lambda: conn.invocations and conn.invocations[-1]["target"] == "FireAndForget")
    assert "invocationId" not in conn.invocations[-1]


async def test_client_pings_and_survives_malformed_input(fake, hubs):
    rec = Recorder(fake)
    bad_consumer = []

    def on_event(event):
        bad_consumer.append(event)
        if len(bad_consumer) == 1:
            raise RuntimeError("consumer bug")

    hub = await start_hub(UserHub(f"{fake.base}/hubs/user", rec.token, ping_interval=0.05, on_event=on_event, **FAST), hubs)
    (conn,) = fake.live()
    await until(lambda: sum(1 for m in conn.invocations if m.get("type") == 6) >= 2)
    bad = ["not json", json.dumps([1, 2]), json.dumps(user_event("GatewayUserOrder", {"id": 1})),
           json.dumps(sp.invocation("GatewayUserOrder", "oops"))]
    await conn.ws.send_str(sp.RS.join(bad) + sp.RS + sp.encode(user_event("GatewayUserOrder", ORDER)) * 2)
    await until(lambda: len(bad_consumer) == 2)
    assert hub.stats.malformed == 4 and hub.stats.callback_errors == 1 and hub.state is HubState.CONNECTED


async def test_reconnect_after_close_message_drop_and_logout(fake, hubs):
    rec = Recorder(fake)
    hub = await start_hub(UserHub(f"{fake.base}/hubs/user", rec.token, account_ids=[7], **FAST, **rec.kw()), hubs)

    await fake.send(sp.encode(sp.close("Connection closed with an error.", True)))
    await until(lambda: rec.log.count("reconnected") == 1)
    assert rec.log[1].startswith("disconnected:server sent close: Connection closed with an error.")

    await fake.drop()
    await until(lambda: rec.log.count("reconnected") == 2)

    await fake.send(sp.encode(sp.invocation("GatewayLogout", [])))
    await until(lambda: rec.log.count("reconnected") == 3)
    assert rec.refresh_flags == [False, False, False, True]  # fresh login after GatewayLogout
    assert len(set(rec.tokens)) == 4  # a fresh token on every connect
    (conn,) = await fake.wait_conns(1)
    assert [m["target"] for m in conn.invocations] == ["SubscribeAccounts", "SubscribeOrders", "SubscribePositions", "SubscribeTrades"]
    assert hub.stats.reconnects == 3 and hub.stats.logouts == 1 and hub.stats.closes_received == 1


async def test_upgrade_401_gets_a_refreshed_token(fake, hubs):
    rec = Recorder(fake)
    fake.reject_upgrades = 1
    hub = await start_hub(HubClient(f"{fake.base}/hubs/user", rec.token, **FAST, **rec.kw()), hubs)
    assert rec.refresh_flags == [False, True] and hub.stats.connect_failures == 1
    assert rec.log == ["connected"]  # a failed attempt is not a disconnect


async def test_server_timeout_and_stale_data_watchdogs(fake, hubs):
    rec = Recorder(fake)
    hub = await start_hub(HubClient(f"{fake.base}/hubs/user", rec.token, server_timeout=0.3, ping_interval=60, **FAST, **rec.kw()), hubs)
    await until(lambda: "reconnected" in rec.log)
    assert "server timeout" in rec.log[1]
    await hub.stop()

    rec2 = Recorder(fake)
    hub2 = await start_hub(MarketHub(f"{fake.base}/hubs/market", rec2.token, data_timeout=0.3, **FAST, **rec2.kw()), hubs)
    (conn,) = await fake.wait_conns(1, "/hubs/market")
    for _ in range(8):  # pings keep the socket alive but no data arrives
        await conn.ws.send_str(sp.encode(sp.PING))
        await asyncio.sleep(0.05)
    await until(lambda: "reconnected" in rec2.log)
    assert "stale feed" in rec2.log[1] and hub2.stats.pings_received >= 1


async def test_hot_loop_guard_backs_off(fake, hubs):
    rec = Recorder(fake)
    fake.handshake_reply = '{"error":"go away"}' + sp.RS
    hub = HubClient(f"{fake.base}/hubs/user", rec.token, backoff_initial=0.05, backoff_max=5.0)
    hubs.append(hub)
    await hub.start()
    await asyncio.sleep(1.2)
    attempts = len(rec.tokens)
    assert 2 <= attempts <= 8, attempts  # exponential, not hundreds
    assert attempts - 1 <= hub.stats.connect_failures <= attempts


async def test_quote_bursts_are_coalesced_per_contract(fake, hubs):
    rec = Recorder(fake)
    hub = await start_hub(MarketHub(f"{fake.base}/hubs/market", rec.token, contract_ids=["CON.A"], **FAST, **rec.kw()), hubs)
    (conn,) = fake.live()
    quotes = []
    for i in range(500):
        quotes.append(sp.invocation("GatewayQuote", ["CON.A", {"bestBid": 100 + i, "bestAsk": 101 + i}]))
        quotes.append(sp.invocation("GatewayQuote", ["CON.B", {"lastPrice": 5 + i}]))
    quotes.insert(3, sp.invocation("GatewayQuote", ["CON.A", {"lastPrice": 42.0, "contract": "CON.A"}]))
    quotes.append(sp.invocation("GatewayTrade", ["CON.A", [{"price": 1.5, "volume": 2, "type": 0}]]))
    quotes.append(sp.invocation("GatewayDepth", ["CON.A", [{"price": 1.5, "volume": 2, "type": 3}]]))
    await conn.ws.send_str(sp.encode_many(quotes))
    await until(lambda: len(rec.events) >= 3)
    await asyncio.sleep(0.05)
    by_kind = {}
    for e in rec.events:
        by_kind.setdefault(e.kind, []).append(e)
    assert len(by_kind[EventKind.MARKET_TRADE]) == 1
    quotes_out = {e.contract_id: e.data for e in by_kind[EventKind.QUOTE]}
    assert len(by_kind[EventKind.QUOTE]) == 2
    assert (quotes_out["CON.A"].best_bid, quotes_out["CON.A"].last_price) == (599, 42.0)  # merged, latest wins
    assert quotes_out["CON.B"].last_price == 504
    assert hub.stats.quotes_coalesced == 999 and hub.stats.depth_ignored == 1


async def test_market_contracts_change_at_runtime_and_survive_reconnect(fake, hubs):
    rec = Recorder(fake)
    hub = await start_hub(MarketHub(f"{fake.base}/hubs/market", rec.token, contract_ids=["CON.A"], **FAST, **rec.kw()), hubs)
    await hub.add_contracts(["CON.B", "CON.A"])
    await hub.remove_contracts(["CON.A"])
    (conn,) = fake.live()
    assert [(m["target"], m["arguments"]) for m in conn.invocations] == [
        ("SubscribeContractQuotes", ["CON.A"]), ("SubscribeContractQuotes", ["CON.B"]),
        ("UnsubscribeContractQuotes", ["CON.A"])]
    await fake.drop()
    await until(lambda: "reconnected" in rec.log)
    (conn,) = await fake.wait_conns(1)
    assert [(m["target"], m["arguments"]) for m in conn.invocations] == [("SubscribeContractQuotes", ["CON.B"])]
    assert hub.contract_ids == {"CON.B"}


async def test_user_accounts_change_at_runtime(fake, hubs):
    rec = Recorder(fake)
    hub = await start_hub(UserHub(f"{fake.base}/hubs/user", rec.token, account_ids=[1], **FAST), hubs)
    await hub.set_accounts([2])
    (conn,) = fake.live()
    assert [(m["target"], m["arguments"]) for m in conn.invocations][4:] == [
        ("SubscribeOrders", [2]), ("SubscribePositions", [2]), ("SubscribeTrades", [2]),
        ("UnsubscribeOrders", [1]), ("UnsubscribePositions", [1]), ("UnsubscribeTrades", [1])]


async def test_token_never_reaches_the_logs(fake, hubs):
    rec = Recorder(fake)
    with capture_logs() as logs:
        hub = HubClient(f"{fake.base}/not-a-hub", rec.token, **FAST)  # 404 on upgrade
        hubs.append(hub)
        await hub.start()
        await until(lambda: hub.stats.connect_failures >= 1)
        await hub.stop()
    text = repr(logs)
    assert "access_token=[REDACTED]" in text and "404" in text
    assert rec.tokens and not any(t in text for t in rec.tokens)
