"""The walk's market looks like the live feed (reference §7.3, event_rates_proof.json): quotes mostly
bid/ask only, lastPrice/volume only with prints and absent for long stretches, a real spread, several
prints per trade push. Checked on the wire of the real server (port 0), stepping the walk by hand."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from risk_manager.sim import Simulator
from risk_manager.sim.prices import MarketModel

from .conftest import MNQ, RawHub, SimClient
from .test_sim_control import load_fixture

STEPS = 2000  # 500 s of walk at speed 1


async def walk_on_the_wire(model: MarketModel | None = None, steps: int = STEPS, seed: int = 7) -> list[dict[str, Any]]:
    """Every GatewayQuote / GatewayTrade record a subscribed client receives over `steps` walk steps."""
    sim = Simulator(accounts=1, seed=seed, speed=0.0, **({"market_model": model} if model else {}))
    await sim.start()
    try:
        async with aiohttp.ClientSession() as session:
            client = SimClient(sim, session)
            await client.login()
            hub = await RawHub.connect(session, sim.info()["market_hub"], client.token)
            assert "error" not in await hub.invoke("SubscribeContractQuotes", MNQ)
            assert "error" not in await hub.invoke("SubscribeContractTrades", MNQ)
            records: list[dict[str, Any]] = []
            for _ in range(steps // 100):
                for _ in range(100):
                    sim.walker.step()
                records += await hub.quiet(0.15)
            await hub.close()
    finally:
        await sim.stop()
    return records


def quotes_of(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r["arguments"][1] for r in records if r["target"] == "GatewayQuote"]


def longest_run_without(quotes: list[dict[str, Any]], key: str) -> int:
    best = run = 0
    for q in quotes:
        run = 0 if key in q else run + 1
        best = max(best, run)
    return best


@pytest.fixture(scope="module")
def default_walk() -> list[dict[str, Any]]:
    import asyncio

    return asyncio.run(walk_on_the_wire())


def test_most_quotes_carry_only_the_book(default_walk) -> None:
    quotes = quotes_of(default_walk)
    assert len(quotes) > STEPS / 2
    with_last = [q for q in quotes if "lastPrice" in q]
    assert 0 < len(with_last) < len(quotes) / 2
    book_only = [q for q in quotes if not set(q) & {"lastPrice", "volume", "high", "low", "change"}]
    assert len(book_only) > len(quotes) / 2
    captured = load_fixture("stream_event_samples.json")
    sample = next(s for s in captured["samples"] if s["event_type"] == "quote")["raw_payload"]["payload"]
    assert any(set(q) == set(sample) for q in book_only)  # the captured quote's exact key set


def test_volume_and_prints_come_with_trades_at_the_bid_or_ask(default_walk) -> None:
    bid = ask = None
    pending: list[dict[str, Any]] = []  # prints pushed since the last quote
    for r in default_walk:
        data = r["arguments"][1]
        if r["target"] == "GatewayTrade":
            pending += data
            continue
        bid, ask = data.get("bestBid", bid), data.get("bestAsk", ask)
        assert ("volume" in data) == bool(pending), data  # volume changes only with prints
        assert all(p["price"] in (bid, ask) for p in pending), (pending, bid, ask)
        if "lastPrice" in data:
            assert pending and data["lastPrice"] == pending[-1]["price"]
        pending = []


def test_last_price_is_absent_for_long_stretches(default_walk) -> None:
    # 40 steps = 10 s at speed 1: longer than the guard's default quote age limit.
    assert longest_run_without(quotes_of(default_walk), "lastPrice") >= 40


def test_the_book_has_a_real_spread_and_never_locks(default_walk) -> None:
    bid = ask = None
    spreads = set()
    for q in quotes_of(default_walk):
        bid, ask = q.get("bestBid", bid), q.get("bestAsk", ask)
        assert bid is not None and ask is not None and ask - bid >= 0.25, q  # merged like a client does
        spreads.add(round((ask - bid) / 0.25))
    assert spreads == {1, 2}


def test_trade_pushes_batch_prints_and_are_fewer_than_quotes(default_walk) -> None:
    pushes = [r["arguments"][1] for r in default_walk if r["target"] == "GatewayTrade"]
    quotes = quotes_of(default_walk)
    assert 0.25 < len(pushes) / len(quotes) < 0.7  # live: ~20 trade pushes per ~42 quotes
    assert max(len(p) for p in pushes) > 1  # several prints in one push
    prints = [item for p in pushes for item in p]
    assert len(prints) > len([q for q in quotes if "lastPrice" in q])  # not one quote per print
    assert {item["type"] for item in prints} == {0, 1}  # buyers and sellers both aggress


async def test_a_locked_book_only_when_the_model_asks_for_it() -> None:
    quotes = quotes_of(await walk_on_the_wire(MarketModel(spread_ticks=(0,)), steps=200))
    bid = ask = None
    for q in quotes:
        bid, ask = q.get("bestBid", bid), q.get("bestAsk", ask)
    assert bid == ask


async def test_the_same_seed_walks_the_same_market() -> None:
    def shape(records):
        return [(r["target"], {k: v for k, v in (r["arguments"][1] if isinstance(r["arguments"][1], dict) else {}).items()
                               if k not in ("lastUpdated", "timestamp")}) for r in records]

    first = await walk_on_the_wire(steps=300, seed=3)
    again = await walk_on_the_wire(steps=300, seed=3)
    assert shape(first) == shape(again)


def test_model_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        MarketModel(trade_probability=1.5)
    with pytest.raises(ValueError):
        MarketModel(spread_ticks=())
