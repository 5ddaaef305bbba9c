"""REST and stream details as the real gateway sends them: Trade/search newest first, scratch trades
carry 0 (never -0.0), timestamps with the fraction widths .NET prints (trailing zeros dropped)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import aiohttp

from risk_manager.clock import ManualClock
from risk_manager.gateway import decode
from risk_manager.sim import Simulator
from risk_manager.sim.wire_time import iso7, iso_ms

from .conftest import MNQ, RawHub, SimClient

START = datetime(2026, 8, 19, 14, 15, 48, 611387, tzinfo=UTC)
MICROS = [611387, 490090, 348000, 0, 434753, 120500, 927150, 5001]


async def trade_rows(client: SimClient) -> list[dict]:
    body = await client.post("/api/Trade/search", {"accountId": client.account_id,
                                                    "startTimestamp": "2020-01-01T00:00:00Z"})
    return body["trades"]


async def test_trade_search_answers_newest_first(client: SimClient) -> None:
    await client.control("/sim/price", {"contractId": MNQ, "price": 29500.0})
    for side in (0, 1, 0, 1):
        assert (await client.place(side=side))["success"]
    rows = await trade_rows(client)
    assert len(rows) == 4
    stamps = [datetime.fromisoformat(r["creationTimestamp"]) for r in rows]
    assert stamps == sorted(stamps, reverse=True)
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)
    assert rows[-1]["profitAndLoss"] is None and rows[0]["profitAndLoss"] is not None


async def test_a_scratch_short_carries_zero_not_minus_zero(client: SimClient) -> None:
    hub = await RawHub.connect(client.session, client.sim.info()["user_hub"], client.token)
    assert "error" not in await hub.invoke("SubscribeTrades", client.account_id)
    await client.control("/sim/price", {"contractId": MNQ, "price": 29500.0})
    assert (await client.place(side=1))["success"]  # short 1
    assert (await client.place(side=0))["success"]  # covered at the same price: a scratch
    resp = await client.raw("/api/Trade/search", {"accountId": client.account_id,
                                                   "startTimestamp": "2020-01-01T00:00:00Z"})
    text = await resp.text()
    assert "-0.0" not in text
    closing = [r for r in json.loads(text)["trades"] if r["profitAndLoss"] is not None]
    assert len(closing) == 1 and closing[0]["profitAndLoss"] == 0
    # The stream's copy of the closing trade says 0 too.
    records = [r for r in await hub.events(2) if r["target"] == "GatewayUserTrade"]
    pnls = [r["arguments"][0]["data"].get("profitAndLoss") for r in records]
    assert pnls == [None, 0] and "-0.0" not in json.dumps(pnls)
    await hub.close()


def test_fraction_widths_vary_as_dotnet_prints_them() -> None:
    assert iso7(START) == "2026-08-19T14:15:48.6113879+00:00"  # a 7th digit (100 ns ticks)
    assert iso7(START.replace(microsecond=490090)) == "2026-08-19T14:15:48.49009+00:00"  # zeros dropped
    assert iso7(START.replace(microsecond=0)) == "2026-08-19T14:15:48+00:00"  # no fraction at all
    assert iso_ms(START.replace(microsecond=348000)) == "2026-08-19T14:15:48.348+00:00"
    assert iso_ms(START.replace(microsecond=50000)) == "2026-08-19T14:15:48.05+00:00"
    widths = set()
    for micro in range(0, 1_000_000, 997):
        text = iso7(START.replace(microsecond=micro))
        widths.add(len(text.split("+")[0].partition(".")[2]))
        # The guard's decoder reads every width back to the same instant (to the microsecond).
        assert decode.parse_trade({"id": 1, "accountId": 2, "contractId": MNQ, "creationTimestamp": text,
                                   "price": 1.0, "fees": 0.0, "side": 0, "size": 1}).creation_timestamp \
            == START.replace(microsecond=micro)
    assert {3, 4, 5, 6, 7} <= widths


async def test_rest_and_stream_timestamps_have_varying_widths() -> None:
    clock = ManualClock(START)
    sim = Simulator(accounts=1, clock=clock)
    await sim.start()
    try:
        async with aiohttp.ClientSession() as session:
            client = SimClient(sim, session)
            await client.login()
            await client.control("/sim/price", {"contractId": MNQ, "price": 29500.0})
            for i, micro in enumerate(MICROS):
                clock.set(START.replace(microsecond=micro) + timedelta(seconds=i))
                assert (await client.place(side=i % 2))["success"]
            rows = await trade_rows(client)
        widths = {len(r["creationTimestamp"].split("+")[0].partition(".")[2]) for r in rows}
        assert len(widths) >= 3 and max(widths) == 7
        for row in rows:  # each still names its instant exactly
            assert datetime.fromisoformat(row["creationTimestamp"]) in {
                START.replace(microsecond=m) + timedelta(seconds=i) for i, m in enumerate(MICROS)}
    finally:
        await sim.stop()


async def close_and_read_trades(sim: Simulator) -> tuple[list[dict], list[dict]]:
    """Open and close 2 MNQ over the hub; the trade records it pushed and the REST rows."""
    async with aiohttp.ClientSession() as session:
        client = SimClient(sim, session)
        await client.login()
        hub = await RawHub.connect(session, sim.info()["user_hub"], client.token)
        for topic in ("Trades", "Positions"):
            assert "error" not in await hub.invoke(f"Subscribe{topic}", client.account_id)
        await client.control("/sim/price", {"contractId": MNQ, "price": 29539.0})
        assert (await client.place(size=2))["success"]
        await client.control("/sim/price", {"contractId": MNQ, "price": 29542.25})
        assert (await client.post("/api/Position/closeContract",
                                  {"accountId": client.account_id, "contractId": MNQ}))["success"]
        records = [r for r in await hub.events(4) + await hub.quiet(0.3)]
        rows = await trade_rows(client)
        await hub.close()
    return [(r["target"], r["arguments"][0]["data"]) for r in records], rows


async def test_a_close_sends_the_opening_half_turn_again_before_the_flat_position() -> None:
    sim = Simulator(accounts=1)
    await sim.start()
    try:
        records, rows = await close_and_read_trades(sim)
    finally:
        await sim.stop()
    targets = [(t, d.get("size")) for t, d in records]
    assert targets == [("GatewayUserTrade", 2), ("GatewayUserPosition", 2), ("GatewayUserTrade", 2),
                       ("GatewayUserTrade", 2), ("GatewayUserPosition", 0)]
    opening, closing, again = (d for t, d in records if t == "GatewayUserTrade")
    assert closing["profitAndLoss"] == 13.0  # 3.25 points x $2 x 2
    assert again == opening and "profitAndLoss" not in again and again["price"] == 29539.0
    assert len(rows) == 2  # a stream record only: Trade/search lists each fill once


async def test_the_second_trade_record_can_be_switched_off() -> None:
    sim = Simulator(accounts=1, reemit_opening_trade=False)
    await sim.start()
    try:
        records, _ = await close_and_read_trades(sim)
    finally:
        await sim.stop()
    assert [t for t, _ in records].count("GatewayUserTrade") == 2
