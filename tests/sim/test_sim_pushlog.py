"""The push log (`GET /sim/pushes`): user-hub records as written, with their emit time."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .conftest import MNQ, RawHub, SimClient

LIMIT = 1


async def _user_hub(client: SimClient, *topics: str) -> RawHub:
    hub = await RawHub.connect(client.session, client.sim.info()["user_hub"], client.token)
    for topic in topics:
        args = () if topic == "Accounts" else (client.account_id,)
        assert "error" not in await hub.invoke(f"Subscribe{topic}", *args)
    return hub


async def _last_seq(client: SimClient, path: str, key: str) -> int:
    rows = (await client.control(path))[key]
    return rows[-1]["seq"] if rows else 0


async def _pushes(client: SimClient, since: int, count: int) -> list[dict[str, Any]]:
    """The push rows after `since`, once at least `count` are there (rows land right after the write)."""
    deadline = time.monotonic() + 5.0
    while True:
        rows = (await client.control(f"/sim/pushes?since={since}"))["pushes"]
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.01)


def _identity(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("seq", "t_ns", "conn")}


async def test_order_push_emit_time_lies_between_place_arrival_and_client_receipt(client: SimClient) -> None:
    hub = await _user_hub(client, "Orders")
    bystander = await _user_hub(client)  # connected, subscribed to nothing: nothing written, nothing logged
    await client.control("/sim/price", {"contractId": MNQ, "price": 29500.0})
    push_seq = await _last_seq(client, "/sim/pushes", "pushes")
    request_seq = await _last_seq(client, "/sim/log", "requests")

    placed = await client.place(type=LIMIT, limitPrice=29000.0)  # rests far under the market
    records = await hub.events(2)
    received_ns = time.monotonic_ns()
    order_id = placed["orderId"]
    assert [(r["target"], r["arguments"][0]["data"]["status"]) for r in records] == [
        ("GatewayUserOrder", 6), ("GatewayUserOrder", 1)]

    rows = await _pushes(client, push_seq, 2)
    expected = {"hub": "user", "target": "GatewayUserOrder", "account_id": client.account_id,
                "id": order_id, "order_id": order_id}
    assert [_identity(r) for r in rows] == [{**expected, "status": 6}, {**expected, "status": 1}]
    assert [r["seq"] for r in rows] == [push_seq + 1, push_seq + 2]
    assert len({r["conn"] for r in rows}) == 1
    requests = (await client.control(f"/sim/log?since={request_seq}"))["requests"]
    (place_ns,) = [r["t_ns"] for r in requests if r["path"] == "/api/Order/place"]
    assert place_ns < rows[0]["t_ns"] <= rows[1]["t_ns"] <= received_ns
    # Push rows have their own counter: the request log's seqs stay consecutive.
    assert [r["seq"] for r in requests] == list(range(request_seq + 1, request_seq + 1 + len(requests)))
    assert client.sim.push_log[-1] == rows[-1]
    assert await bystander.quiet(0.2) == []
    await hub.close()
    await bystander.close()


async def test_one_row_per_record_per_connection_and_per_duplicate(client: SimClient) -> None:
    first = await _user_hub(client, "Accounts", "Orders", "Positions", "Trades")
    second = await _user_hub(client, "Accounts", "Orders", "Positions", "Trades")
    await client.control("/sim/price", {"contractId": MNQ, "price": 29500.0})
    await client.control("/sim/fault", {"kind": "duplicate_events", "count": 1})
    since = await _last_seq(client, "/sim/pushes", "pushes")

    placed = await client.place()  # market: Order(6) twice, Trade, Order(2), Position, Account x2
    for hub in (first, second):
        assert len(await hub.events(7)) == 7
    rows = await _pushes(client, since, 14)
    assert len(rows) == 14
    by_conn: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_conn.setdefault(row["conn"], []).append(row)
    assert len(by_conn) == 2
    for conn_rows in by_conn.values():
        assert [(r["target"], r.get("status")) for r in conn_rows] == [
            ("GatewayUserOrder", 6), ("GatewayUserOrder", 6), ("GatewayUserTrade", None),
            ("GatewayUserOrder", 2), ("GatewayUserPosition", None),
            ("GatewayUserAccount", None), ("GatewayUserAccount", None)]
        trade = conn_rows[2]
        assert trade["order_id"] == placed["orderId"] and trade["id"] != placed["orderId"]
        assert all(r["account_id"] == client.account_id for r in conn_rows)
        assert [r["t_ns"] for r in conn_rows] == sorted(r["t_ns"] for r in conn_rows)
    assert (await client.control(f"/sim/pushes?since={rows[-1]['seq']}"))["pushes"] == []
    bad = await client.session.get(client.base + "/sim/pushes?since=soon")
    assert bad.status == 400 and "since" in (await bad.json())["error"]
    await first.close()
    await second.close()
