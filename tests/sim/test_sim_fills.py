"""The fill model through the real simulator (loopback, port 0) and a raw hub client: latency,
walking the depth book, partial limit fills, stop slippage, closes, cancels between fills,
GatewayDepth, and the settings (per simulator, per contract, /sim/config, CLI options)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from risk_manager.cli import app
from risk_manager.clock import ManualClock
from risk_manager.sim import Simulator
from risk_manager.sim.catalog import load_catalog
from risk_manager.sim.engine import MatchingEngine
from risk_manager.sim.main import fill_spec

from .conftest import MNQ, RawHub, SimClient

MES = "CON.F.US.MES.U26"
FEE, COMMISSION = 0.37, 0.25  # MNQ per contract per fill


async def user_hub(client: SimClient) -> RawHub:
    hub = await RawHub.connect(client.session, client.sim.info()["user_hub"], client.token)
    await hub.invoke("SubscribeAccounts")
    for topic in ("Orders", "Positions", "Trades"):
        assert "error" not in await hub.invoke(f"Subscribe{topic}", client.account_id)
    return hub


def short(record: dict) -> tuple:
    """(target, action, status or size, fillVolume / trade price) of one user-hub record."""
    target = record["target"].removeprefix("GatewayUser")
    arg = record["arguments"][0]
    data = arg["data"]
    if target == "Order":
        return target, arg["action"], data["status"], data["fillVolume"]
    if target == "Trade":
        return target, arg["action"], data["size"], data["price"]
    if target == "Position":
        return target, arg["action"], data["size"], None
    return target, arg["action"], data["balance"], None


def fill_set(status: int, fill_volume: int, size: int, price: float, position: int, balance: float,
             position_action: int = 1) -> list[tuple]:
    """The records of one fill, in order: Order -> Trade -> Position -> Account x 2."""
    return [("Order", 1, status, fill_volume), ("Trade", 0, size, price),
            ("Position", position_action, position, None), ("Account", 1, balance, None),
            ("Account", 1, balance, None)]


async def configure(client: SimClient, **settings) -> dict:
    return await client.control("/sim/config", settings)


async def test_market_order_walks_the_book_one_event_set_per_fill(client: SimClient) -> None:
    hub = await user_hub(client)
    await client.control("/sim/price", {"contractId": MNQ, "price": 20000.0})
    reply = await configure(client, depth=[1, 2, 3])
    assert reply["fills"]["depth"] == [1, 2, 3] and reply["fills"]["fill_latency_ms"] == 0
    assert (await client.place(size=5))["success"]
    records = await hub.events(16)
    assert [short(r) for r in records] == [
        ("Order", 1, 6, 0),
        *fill_set(1, 1, 1, 20000.0, 1, 49999.38),
        *fill_set(1, 3, 2, 20000.25, 3, 49998.14),
        *fill_set(2, 5, 2, 20000.5, 5, 49996.9),
    ]
    trades = [r["arguments"][0]["data"] for r in records if r["target"] == "GatewayUserTrade"]
    assert [(t["fees"], t["commissions"]) for t in trades] == [(0.37, 0.25), (0.74, 0.5), (0.74, 0.5)]
    assert all("profitAndLoss" not in t for t in trades)  # opening half-turns
    filled = records[11]["arguments"][0]["data"]
    assert filled["filledPrice"] == 20000.3  # the size-weighted average of the three fills
    position = records[13]["arguments"][0]["data"]
    assert position["averagePrice"] == 20000.3
    assert await hub.quiet(0.2) == []
    await hub.close()


async def test_latency_the_rest_call_answers_before_the_fill(client: SimClient) -> None:
    hub = await user_hub(client)
    await client.control("/sim/price", {"contractId": MNQ, "price": 20000.0})
    await configure(client, fill_latency_ms=250)
    reply = await client.place(size=2)
    assert reply["success"]
    state = await client.control("/sim/state")
    order = next(o for o in state["orders"] if o["id"] == reply["orderId"])
    assert order["status"] == 6 and order["fillVolume"] == 0 and state["positions"] == []
    records = await hub.events(6)
    assert [short(r) for r in records] == [("Order", 1, 6, 0), *fill_set(2, 2, 2, 20000.0, 2, 49998.76)]
    placed = datetime.fromisoformat(records[0]["arguments"][0]["data"]["creationTimestamp"])
    traded = datetime.fromisoformat(records[2]["arguments"][0]["data"]["creationTimestamp"])
    assert (traded - placed).total_seconds() >= 0.25
    await hub.close()


def test_latency_jitter_is_seeded_and_bounded() -> None:
    def dues(seed: int) -> list[float]:
        clock = ManualClock(datetime(2026, 8, 19, 14, 0, tzinfo=UTC))
        engine = MatchingEngine(load_catalog(), clock, seed=seed,
                                fills={"fill_latency_ms": 100, "fill_jitter_ms": 40})
        account = engine.add_account().id
        engine.set_price(MNQ, 20000.0)
        out = []
        for _ in range(20):
            engine.place(account, MNQ, 2, 0, 1)
            out.append(engine.fills.next_due())
            clock.advance(1.0)
            assert engine.fills.run_due() == 1
            out[-1] -= clock.monotonic() - 1.0  # the delay after the order was accepted
        return out

    first = dues(7)
    assert first == dues(7)  # same seed, same latencies
    assert first != dues(8)
    assert all(0.06 - 1e-9 <= d <= 0.14 + 1e-9 for d in first) and len(set(first)) > 10


async def test_limit_fills_partially_until_the_market_trades_through(client: SimClient) -> None:
    hub = await user_hub(client)
    await client.control("/sim/price", {"contractId": MNQ, "price": 20000.0})
    await configure(client, depth=[1, 2])
    reply = await client.place(type=1, size=3, limitPrice=19999.75)
    assert reply["success"]
    assert [short(r) for r in await hub.events(2)] == [("Order", 1, 6, 0), ("Order", 1, 1, 0)]  # rests
    await client.control("/sim/price", {"contractId": MNQ, "price": 19999.75})  # touch: the top level
    assert [short(r) for r in await hub.events(5)] == fill_set(1, 1, 1, 19999.75, 1, 49999.38)
    await client.control("/sim/price", {"contractId": MNQ, "price": 19999.5})  # one tick through
    assert [short(r) for r in await hub.events(5)] == fill_set(2, 3, 2, 19999.75, 3, 49998.14)
    state = await client.control("/sim/state")
    order = next(o for o in state["orders"] if o["id"] == reply["orderId"])
    assert order["status"] == 2 and order["filledPrice"] == 19999.75
    await hub.close()


async def test_a_stop_walks_the_book_its_slippage_and_pnl_per_fill(client: SimClient) -> None:
    await client.control("/sim/price", {"contractId": MNQ, "price": 20000.0})
    assert (await client.place(size=3))["success"]  # instant entry: 3 @ 20000, balance -1.86
    await configure(client, depth=[1])
    assert (await client.place(type=4, side=1, size=3, stopPrice=19990.0))["success"]
    hub = await user_hub(client)
    await client.control("/sim/price", {"contractId": MNQ, "price": 19990.0})
    records = await hub.events(15)
    balance = 50_000 - 1.86
    expected = []
    for n, price in enumerate((19990.0, 19989.75, 19989.5), start=1):
        pnl = round((price - 20000.0) / 0.25 * 0.5, 2)
        balance = round(balance + pnl - FEE - COMMISSION, 2)
        expected += fill_set(2 if n == 3 else 1, n, 1, price, 3 - n, balance, position_action=2 if n == 3 else 1)
    assert [short(r) for r in records] == expected
    trades = [r["arguments"][0]["data"] for r in records if r["target"] == "GatewayUserTrade"]
    assert [t["profitAndLoss"] for t in trades] == [-20.0, -20.5, -21.0]
    assert [(t["fees"], t["commissions"]) for t in trades] == [(FEE, COMMISSION)] * 3
    state = await client.control("/sim/state")
    assert state["positions"] == [] and state["accounts"][0]["balance"] == balance
    await hub.close()


async def test_close_contract_answers_before_its_fills_which_walk_the_book(client: SimClient) -> None:
    await client.control("/sim/price", {"contractId": MNQ, "price": 20000.0})
    assert (await client.place(size=3))["success"]
    await configure(client, depth=[1], fill_latency_ms=200)
    hub = await user_hub(client)
    body = {"accountId": client.account_id, "contractId": MNQ}
    assert (await client.post("/api/Position/closeContract", body))["success"]
    assert [p["size"] for p in (await client.control("/sim/state"))["positions"]] == [3]  # not yet filled
    records = await hub.events(16)
    close_order = records[0]["arguments"][0]["data"]
    assert short(records[0]) == ("Order", 1, 6, 0) and close_order["type"] == 2 and close_order["side"] == 1
    balance = 50_000 - 1.86
    expected = [("Order", 1, 6, 0)]
    for n, price in enumerate((20000.0, 19999.75, 19999.5), start=1):
        balance = round(balance + (price - 20000.0) * 2 - FEE - COMMISSION, 2)
        expected += fill_set(2 if n == 3 else 1, n, 1, price, 3 - n, balance, position_action=2 if n == 3 else 1)
    assert [short(r) for r in records] == expected
    assert {r["arguments"][0]["data"]["orderId"] for r in records if r["target"] == "GatewayUserTrade"} == {
        close_order["id"]}
    await hub.close()


async def test_partial_close_fills_through_the_same_path(client: SimClient) -> None:
    await client.control("/sim/price", {"contractId": MNQ, "price": 20000.0})
    assert (await client.place(size=3))["success"]
    await configure(client, depth=[1])
    hub = await user_hub(client)
    body = {"accountId": client.account_id, "contractId": MNQ, "size": 2}
    assert (await client.post("/api/Position/partialCloseContract", body))["success"]
    records = await hub.events(11)
    balance = round(50_000 - 1.86 - 0.62, 2)
    assert [short(r) for r in records] == [
        ("Order", 1, 6, 0), *fill_set(1, 1, 1, 20000.0, 2, balance),
        *fill_set(2, 2, 1, 19999.75, 1, round(balance - 0.5 - 0.62, 2)),
    ]
    assert [p["size"] for p in (await client.control("/sim/state"))["positions"]] == [1]
    await hub.close()


async def test_cancel_between_fills_stops_the_rest(client: SimClient) -> None:
    await client.control("/sim/price", {"contractId": MNQ, "price": 20000.0})
    await configure(client, depth=[1], fill_interval_ms=400)
    hub = await user_hub(client)
    reply = await client.place(size=3)
    assert [short(r) for r in await hub.events(6)] == [("Order", 1, 6, 0), *fill_set(1, 1, 1, 20000.0, 1, 49999.38)]
    cancel = await client.post("/api/Order/cancel", {"accountId": client.account_id, "orderId": reply["orderId"]})
    assert cancel["success"]
    assert [short(r) for r in await hub.events(1)] == [("Order", 1, 3, 1)]  # Cancelled, partly filled
    assert await hub.quiet(0.6) == []
    assert [p["size"] for p in (await client.control("/sim/state"))["positions"]] == [1]
    await hub.close()


async def test_cancel_during_the_latency_means_no_fill(client: SimClient) -> None:
    await client.control("/sim/price", {"contractId": MNQ, "price": 20000.0})
    await configure(client, fill_latency_ms=300)
    hub = await user_hub(client)
    reply = await client.place(size=1)
    assert (await client.post("/api/Order/cancel", {"accountId": client.account_id, "orderId": reply["orderId"]}))["success"]
    assert [short(r) for r in await hub.events(2)] == [("Order", 1, 6, 0), ("Order", 1, 3, 0)]
    assert await hub.quiet(0.5) == []
    assert (await client.control("/sim/state"))["trades"] == []
    await hub.close()


async def test_market_depth_subscription_delivers_gateway_depth(client: SimClient) -> None:
    depth_hub = await RawHub.connect(client.session, client.sim.info()["market_hub"], client.token)
    assert "error" not in await depth_hub.invoke("SubscribeContractMarketDepth", MNQ)
    quotes_hub = await RawHub.connect(client.session, client.sim.info()["market_hub"], client.token)
    await quotes_hub.invoke("SubscribeContractQuotes", MNQ)
    await client.control("/sim/price", {"contractId": MNQ, "price": 20000.0})
    (unlimited,) = await depth_hub.events(1)  # instant fills: one deep level per side
    assert [(i["type"], i["price"], i["volume"]) for i in unlimited["arguments"][1]] == [
        (4, 20000.0, 10_000), (3, 20000.0, 10_000)]
    await quotes_hub.events(1)
    await configure(client, depth=[3, 5])
    await client.control("/sim/price", {"contractId": MNQ, "price": 20000.0, "spread_ticks": 1})
    (record,) = await depth_hub.events(1)
    assert record["target"] == "GatewayDepth" and record["arguments"][0] == MNQ
    items = record["arguments"][1]
    assert [(i["type"], i["price"], i["volume"], i["currentVolume"]) for i in items] == [
        (4, 19999.75, 3, 0), (2, 19999.5, 5, 0), (3, 20000.25, 3, 0), (1, 20000.5, 5, 0),
    ]
    assert items[0]["timestamp"].endswith("+00:00")
    assert [r["target"] for r in await quotes_hub.events(1)] == ["GatewayQuote"]
    assert await quotes_hub.quiet(0.2) == []  # no depth for a quotes-only subscriber
    await depth_hub.close()
    await quotes_hub.close()


async def test_settings_per_contract_and_bad_values_change_nothing(client: SimClient) -> None:
    reply = await configure(client, contractId=MNQ, fill_latency_ms=300, depth=[2])
    assert reply["fills"]["fill_latency_ms"] == 0
    assert reply["fills"]["contracts"] == {MNQ: {"fill_latency_ms": 300.0, "fill_jitter_ms": 0.0,
                                                 "fill_interval_ms": 0.0, "depth": [2]}}
    async with client.session.post(client.base + "/sim/config", json={"depth": [0], "rate_limit": None}) as resp:
        assert resp.status == 400 and "depth" in (await resp.json())["error"]
    assert client.sim.limiter is not None  # the bad request changed nothing
    async with client.session.post(client.base + "/sim/config", json={"contractId": "CON.X", "depth": [1]}) as resp:
        assert resp.status == 400
    await client.control("/sim/price", {"contractId": MES, "price": 7000.0})
    await client.control("/sim/price", {"contractId": MNQ, "price": 20000.0})
    mes = await client.place(contractId=MES, size=3)
    mnq = await client.place(size=3)
    state = await client.control("/sim/state")
    status = {o["id"]: o["status"] for o in state["orders"]}
    assert status[mes["orderId"]] == 2 and status[mnq["orderId"]] == 6  # MES instant, MNQ waits
    reply = await configure(client, contractId=MNQ, fill_latency_ms=None, depth=None)
    assert reply["fills"]["contracts"] == {}


def test_cli_options_build_the_same_settings() -> None:
    spec = fill_spec(50, 10, 0, "1,2,3", [f'{MNQ}={{"depth": [4], "fill_latency_ms": 5}}'])
    sim = Simulator(accounts=1, fills=spec)
    assert sim.engine.fills.settings(MES).to_wire() == {
        "fill_latency_ms": 50.0, "fill_jitter_ms": 10.0, "fill_interval_ms": 0.0, "depth": [1, 2, 3]}
    assert sim.engine.fills.settings(MNQ).depth == (4,) and sim.engine.fills.settings(MNQ).latency_ms == 5
    assert Simulator(accounts=1).engine.fills.instant(MNQ)  # the default stays instant
    with pytest.raises(ValueError, match="depth"):
        fill_spec(depth="1,x")
    runner = CliRunner()
    for bad in (["--depth", "0"], ["--contract-fills", "CON.F.US.NOPE.Z26={}"], ["--contract-fills", "junk"]):
        result = runner.invoke(app, ["sim", "--port", "0", *bad])
        assert result.exit_code != 0, (bad, result.output)
