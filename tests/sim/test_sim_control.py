"""Control API, faults, request log, the `risk-manager sim` command, and realism vs captured fixtures."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import aiohttp

from risk_manager.sim.server import Simulator

from .conftest import MNQ, RawHub, SimClient


async def test_price_fills_market_orders_exactly_and_state(client: SimClient) -> None:
    resp = await client.control("/sim/price", {"contractId": MNQ, "price": 29612.25, "spread_ticks": 2})
    assert (resp["bestBid"], resp["bestAsk"]) == (29611.75, 29612.75)
    placed = await client.place(side=1)
    state = await client.control("/sim/state")
    assert set(state) >= {"accounts", "positions", "orders", "trades"}
    order = next(o for o in state["orders"] if o["id"] == placed["orderId"])
    assert order["filledPrice"] == 29612.25
    assert [p["type"] for p in state["positions"]] == [2]
    bad = await client.session.post(client.base + "/sim/price", json={"contractId": "nope", "price": 1})
    assert bad.status == 400 and "contractId" in (await bad.json())["error"]


async def test_account_control_emits_account_event(client: SimClient) -> None:
    hub = await RawHub.connect(client.session, client.sim.info()["user_hub"], client.token)
    await hub.invoke("SubscribeAccounts")
    await client.control("/sim/account", {"accountId": client.account_id, "canTrade": False, "balance": 48000})
    (record,) = await hub.events(1)
    assert record["target"] == "GatewayUserAccount" and record["arguments"][0]["action"] == 1
    assert record["arguments"][0]["data"]["canTrade"] is False and record["arguments"][0]["data"]["balance"] == 48000
    await hub.close()


async def test_http_faults_delay_and_log(client: SimClient) -> None:
    seq = (await client.control("/sim/log"))["requests"][-1]["seq"]
    await client.control("/sim/fault", {"kind": "http_500", "count": 1, "paths": ["/api/Order/searchOpen"]})
    body = {"accountId": client.account_id}
    assert (await client.raw("/api/Order/searchOpen", body)).status == 500
    assert (await client.raw("/api/Order/searchOpen", body)).status == 200
    await client.control("/sim/fault", {"kind": "http_429", "count": 2, "retry_after": 3})
    first = await client.raw("/api/Order/searchOpen", body)
    assert first.status == 429 and first.headers["Retry-After"] == "3"
    assert (await client.raw("/api/Trade/search", body)).status == 429
    await client.control("/sim/fault", {"kind": "delay_ms", "ms": 150, "count": 1})
    started = time.monotonic()
    assert (await client.raw("/api/Order/searchOpen", body)).status == 200
    assert time.monotonic() - started >= 0.14
    log = (await client.control(f"/sim/log?since={seq}"))["requests"]
    assert [r["path"] for r in log] == ["/api/Order/searchOpen"] * 3 + ["/api/Trade/search", "/api/Order/searchOpen"]
    assert [r["seq"] for r in log] == list(range(seq + 1, seq + 6))
    assert all(r["method"] == "POST" and r["body"] == body for r in log)
    assert log[0]["t_ns"] < log[-1]["t_ns"] <= time.monotonic_ns()
    bad = await client.session.post(client.base + "/sim/fault", json={"kind": "meteor"})
    assert bad.status == 400


async def test_expire_tokens_gives_401_until_new_login(client: SimClient) -> None:
    await client.control("/sim/fault", {"kind": "expire_tokens"})
    assert (await client.raw("/api/Account/search", {"onlyActiveAccounts": True})).status == 401
    await client.login()
    assert (await client.raw("/api/Account/search", {"onlyActiveAccounts": True})).status == 200


async def test_quote_stream_for_benchmarks(client: SimClient) -> None:
    hub = await RawHub.connect(client.session, client.sim.info()["market_hub"], client.token)
    await hub.invoke("SubscribeContractQuotes", MNQ)
    await client.control("/sim/quotes", {"rate": 200, "contracts": [MNQ, "CON.F.US.MES.U26"], "seconds": 0.5})
    quotes = await hub.events(20)
    assert all(q["target"] == "GatewayQuote" and q["arguments"][0] == MNQ for q in quotes)
    await client.control("/sim/quotes", {"rate": 0})
    await hub.close()


def test_risk_manager_sim_command_prints_info_and_exits_on_sigterm(tmp_path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "risk_manager", "sim", "--port", "0", "--accounts", "2", "--speed", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        line = proc.stdout.readline()
        info = json.loads(line)
        assert set(info) == {"api", "user_hub", "market_hub", "user", "api_key", "accounts"}
        assert len(info["accounts"]) == 2 and info["user_hub"] == info["api"] + "/hubs/user" and info["api"].startswith("http://127.0.0.1:")

        async def login() -> bool:
            async with aiohttp.ClientSession() as s, s.post(
                info["api"] + "/api/Auth/loginKey", json={"userName": "sim", "apiKey": "sim-key"}
            ) as r:
                return (await r.json())["success"]

        assert asyncio.run(login())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def load_fixture(name: str):
    return json.loads((live_fixture_dir() / name).read_text())


def live_fixture_dir():
    from pathlib import Path

    return Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "projectx-live"


async def test_shapes_match_captured_fixtures(client: SimClient) -> None:
    """Keys of what we emit vs the real captured samples (stream: nulls omitted, same key sets)."""
    samples = {s["event_type"]: s["raw_payload"] for s in load_fixture("stream_event_samples.json")["samples"]}
    hub = await RawHub.connect(client.session, client.sim.info()["user_hub"], client.token)
    await hub.invoke("SubscribeAccounts")
    for topic in ("Orders", "Positions", "Trades"):
        await hub.invoke(f"Subscribe{topic}", client.account_id)
    await client.control("/sim/price", {"contractId": MNQ, "price": 29398.5})
    await client.place(customTag="real-1")
    await client.control("/sim/price", {"contractId": MNQ, "price": 29423.0})
    await client.post("/api/Position/closeContract", {"accountId": client.account_id, "contractId": MNQ})
    records = await hub.events(12)
    by_target: dict[str, list[dict]] = {}
    for r in records:
        by_target.setdefault(r["target"], []).append(r["arguments"][0])
    assert set(by_target["GatewayUserAccount"][0]["data"]) == set(samples["account"]["data"])
    assert by_target["GatewayUserAccount"][0]["action"] == samples["account"]["action"]
    order = by_target["GatewayUserOrder"][0]
    assert set(order["data"]) == set(samples["order"]["data"]) and order["action"] == samples["order"]["action"]
    closed = by_target["GatewayUserPosition"][-1]
    assert (closed["action"], closed["data"]["type"], closed["data"]["size"]) == (2, 0, 0)
    assert closed["data"]["averagePrice"] == samples["position"]["data"]["averagePrice"]
    assert set(closed["data"]) == set(samples["position"]["data"])
    closing_trade = next(t for t in by_target["GatewayUserTrade"] if "profitAndLoss" in t["data"])
    assert set(closing_trade["data"]) == set(samples["trade"]["data"]) and closing_trade["action"] == 0
    assert closing_trade["data"]["profitAndLoss"] == samples["trade"]["data"]["profitAndLoss"] * -1  # 24.5 pts x $2
    # REST rows carry the same keys as the captured (normalized) rows
    orders = (await client.post("/api/Order/search", {"accountId": client.account_id,
                                                      "startTimestamp": "2000-01-01T00:00:00Z"}))["orders"]
    assert set(orders[0]) == set(load_fixture("historical_orders_24h.json")[0])
    trades = (await client.post("/api/Trade/search", {"accountId": client.account_id,
                                                      "startTimestamp": "2000-01-01T00:00:00Z"}))["trades"]
    assert set(trades[0]) - {"commissions"} == set(load_fixture("historical_trades_24h.json")[0])
    available = (await client.post("/api/Contract/available", {"live": False}))["contracts"]
    assert available == load_fixture("contracts_available.json")
    await hub.close()


async def test_stop_sends_close_record() -> None:
    sim = Simulator()
    await sim.start()
    async with aiohttp.ClientSession() as session:
        c = SimClient(sim, session)
        await c.login()
        hub = await RawHub.connect(session, sim.info()["market_hub"], c.token)
        await sim.stop()
        assert await hub.next_record(2.0) == {"type": 7}
