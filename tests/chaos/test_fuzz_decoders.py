"""Fuzzed hub frames and REST responses (hypothesis): the gateway client never crashes.

Hub frames go over a real WebSocket (the gateway tests' scriptable fake server) into the real
UserHub/MarketHub clients, whose events feed the daemon's real Pipeline → RiskEngine (SPEC
limits, so fuzzed events can trigger enforcement) → Executor, journaled into a real Store. After
every frame a ping record is sent and awaited: the connection must still be alive and the frame
fully handled. REST bodies are scripted responses to the real GatewayRest; the only acceptable
failures are its documented GatewayRestError family. ~500 cases each in CI, 10 000 with
RM_CHAOS_LONG=1.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaos.conftest import LONG, scale

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(3600 if LONG else 300)]

RS = "\x1e"
CID = "CON.F.US.MNQ.U26"
ACCOUNT = 7001

ORDER = {"id": 91, "accountId": ACCOUNT, "contractId": CID, "symbolId": "F.US.MNQ",
         "creationTimestamp": "2026-11-18T14:30:00.123+00:00", "updateTimestamp": "2026-11-18T14:30:00.5+00:00",
         "status": 1, "type": 1, "side": 0, "size": 1, "limitPrice": 29000.25, "stopPrice": None,
         "fillVolume": 0, "filledPrice": None, "customTag": None}
POSITION = {"id": 5, "accountId": ACCOUNT, "contractId": CID, "creationTimestamp": "2026-11-18T14:30:00+00:00",
            "type": 1, "size": 2, "averagePrice": 29010.5}
TRADE = {"id": 77, "accountId": ACCOUNT, "contractId": CID, "creationTimestamp": "2026-11-18T14:31:00+00:00",
         "price": 29000.0, "profitAndLoss": -120.5, "fees": 0.74, "commissions": 0.5, "side": 1, "size": 2,
         "voided": False, "orderId": 91}
ACCOUNT_ROW = {"id": ACCOUNT, "name": "PRAC-V2-1", "balance": 49_500.0, "canTrade": True, "isVisible": True,
               "simulated": True}
QUOTE = {"symbol": "F.US.MNQ", "symbolName": "/MNQ", "lastPrice": 29001.0, "bestBid": 29000.75,
         "bestAsk": 29001.25, "change": 10.0, "changePercent": 0.03, "open": 28990.0, "high": 29050.0,
         "low": 28950.0, "volume": 1234, "lastUpdated": "2026-11-18T14:31:00+00:00",
         "timestamp": "2026-11-18T14:31:00+00:00"}
PRINT = {"symbolId": "F.US.MNQ", "price": 29001.0, "timestamp": "2026-11-18T14:31:00+00:00", "type": 0,
         "volume": 3}
CONTRACT = {"id": CID, "name": "MNQU6", "description": "Micro E-mini Nasdaq-100", "tickSize": 0.25,
            "tickValue": 0.5, "activeContract": True, "symbolId": "F.US.MNQ"}

leaf = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
        | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
        | st.sampled_from(["", "NaN", "2026-13-45T99:00:00", "2026-11-18T14:30:00Z", "1e400", CID]))
json_any = st.recursive(leaf, lambda kids: st.lists(kids, max_size=4)
                        | st.dictionaries(st.text(max_size=10), kids, max_size=4), max_leaves=12)


@st.composite
def mutated(draw: Any, template: dict[str, Any]) -> dict[str, Any]:
    """The template with fields kept (mostly), replaced by junk, or dropped; maybe extra keys."""
    out: dict[str, Any] = {}
    for key, value in template.items():
        roll = draw(st.integers(0, 9))
        if roll < 6:
            out[key] = value
        elif roll < 9:
            out[key] = draw(json_any)
    if draw(st.booleans()):
        out.update(draw(st.dictionaries(st.text(max_size=8), json_any, max_size=2)))
    return out


def _user_args(template: dict[str, Any]) -> Any:
    entity = mutated(template)
    wrapped = st.fixed_dictionaries({"action": st.one_of(st.integers(-1, 3), json_any), "data": entity})
    return st.one_of(st.lists(wrapped, min_size=1, max_size=3), st.lists(entity, min_size=1, max_size=2),
                     st.lists(st.lists(wrapped, max_size=2), max_size=1), json_any)


USER_INVOCATIONS = st.one_of(
    st.tuples(st.just("GatewayUserOrder"), _user_args(ORDER)),
    st.tuples(st.just("GatewayUserPosition"), _user_args(POSITION)),
    st.tuples(st.just("GatewayUserTrade"), _user_args(TRADE)),
    st.tuples(st.just("GatewayUserAccount"), _user_args(ACCOUNT_ROW)),
    st.tuples(st.text(max_size=20), json_any),
)
MARKET_INVOCATIONS = st.one_of(
    st.tuples(st.just("GatewayQuote"), st.one_of(st.tuples(st.one_of(st.just(CID), json_any), mutated(QUOTE)).map(list),
                                                 json_any)),
    st.tuples(st.just("GatewayTrade"), st.tuples(st.one_of(st.just(CID), json_any),
                                                 st.lists(mutated(PRINT), max_size=3)).map(list)),
    st.tuples(st.just("GatewayDepth"), json_any),
)


def _records(invocations: Any) -> Any:
    invocation = invocations.map(lambda ta: json.dumps({"type": 1, "target": ta[0], "arguments": ta[1]}))
    # Any other record, except pings (6: they pace the test) and closes (7: a real disconnect).
    other = st.dictionaries(st.text(max_size=10), json_any, max_size=4).flatmap(
        lambda d: st.sampled_from([1, 2, 3, 4, 5, 8, 99, "1", None]).map(lambda t: json.dumps({**d, "type": t})))
    garbage = st.text(max_size=40).map(lambda s: s.replace(RS, ""))
    return st.lists(st.one_of(invocation, invocation, other, garbage), min_size=1, max_size=4).map(
        lambda recs: "".join(r + RS for r in recs))


USER_FRAMES = _records(USER_INVOCATIONS)
MARKET_FRAMES = _records(MARKET_INVOCATIONS)
FUZZ = settings(max_examples=scale(500, 10_000), deadline=None, derandomize=not LONG, database=None,
                suppress_health_check=list(HealthCheck))


class HubRig:
    """FakeGateway + real hub clients + the daemon's pipeline, engine, executor and store."""

    async def start(self, tmp: Path) -> None:
        from bench._setup import all_rules_config, sim_contracts
        from gw_fake_server import FakeGateway
        from risk_manager.clock import SystemClock
        from risk_manager.daemon.adapters import GatewayBroker
        from risk_manager.daemon.pipeline import Pipeline
        from risk_manager.enforcement.executor import Executor
        from risk_manager.engine.catalog import ContractCatalog
        from risk_manager.engine.engine import RiskEngine
        from risk_manager.gateway.decode import merge_quote
        from risk_manager.gateway.hub import MarketHub, UserHub
        from risk_manager.gateway.rest import GatewayRest
        from risk_manager.store import Store

        clock = SystemClock()
        self.gw = FakeGateway()
        base = await self.gw.start()
        self.rest = GatewayRest(base, "user", "key", clock=clock, rate_limit=None, read_retries=0,
                                retry_429_attempts=0, max_retry_after=0.01, backoff_base=0.001, timeout=2.0)
        await self.rest.login()
        self.store = Store(tmp / "risk_manager.db", clock)
        self.engine = RiskEngine(all_rules_config(loose=False), ContractCatalog(sim_contracts()))
        self.engine.apply_reset(clock.now())
        self.executor = Executor(GatewayBroker(self.rest), self.store, clock)
        self.pipeline = Pipeline(self.engine, self.executor, clock, merge_quote=merge_quote,
                                 journal=lambda evs: self.store.append_events(evs))
        self.user = UserHub(base + "/hubs/user", self.rest.token, account_ids=[ACCOUNT],
                            on_events=self.pipeline.feed_many, clock=clock)
        self.market = MarketHub(base + "/hubs/market", self.rest.token, contract_ids=[CID],
                                on_events=self.pipeline.feed_many, clock=clock)
        for hub in (self.user, self.market):
            await hub.start()
            assert await hub.wait_connected(5.0), f"{hub.name} hub did not connect"

    async def push(self, hub: Any, path: str, frame: str) -> None:
        """Send the frame, then a ping; return once the client has handled both."""
        before = hub.stats.pings_received
        await self.gw.send(frame + '{"type":6}' + RS, path=path)
        deadline = time.monotonic() + 5.0
        while hub.stats.pings_received <= before:
            assert time.monotonic() < deadline, f"{hub.name} hub stopped handling frames after {frame!r}"
            assert hub.connected, f"{hub.name} hub disconnected on {frame!r}"
            await asyncio.sleep(0.0005)

    async def stop(self) -> None:
        for hub in (self.user, self.market):
            await hub.stop()
        await self.executor.drain(5.0)
        await self.executor.close()
        await self.rest.close()
        await self.gw.stop()
        self.store.close()


def test_fuzzed_hub_frames_never_crash_the_client_or_the_pipeline(tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    rig = HubRig()
    loop.run_until_complete(rig.start(tmp_path))
    try:
        @FUZZ
        @given(frame=USER_FRAMES)
        def user_frames(frame: str) -> None:
            loop.run_until_complete(rig.push(rig.user, "/hubs/user", frame))

        @FUZZ
        @given(frame=MARKET_FRAMES)
        def market_frames(frame: str) -> None:
            loop.run_until_complete(rig.push(rig.market, "/hubs/market", frame))

        user_frames()
        market_frames()
        # Still alive and still enforcing: a well-formed order event gets through to the engine.
        events = rig.pipeline.counters["events"]
        good = json.dumps({"type": 1, "target": "GatewayUserOrder", "arguments": [{"action": 1, "data": ORDER}]})
        loop.run_until_complete(rig.push(rig.user, "/hubs/user", good + RS))
        assert rig.pipeline.counters["events"] > events
        assert rig.user.connected and rig.market.connected
        assert rig.pipeline.counters["engine_errors"] == 0, rig.pipeline.counters
        assert rig.pipeline.counters["journal_errors"] == 0, rig.pipeline.counters
        assert rig.user.stats.callback_errors == 0 and rig.market.stats.callback_errors == 0
        assert rig.user.stats.malformed + rig.market.stats.malformed > 0  # the fuzz did reach the decoder
    finally:
        loop.run_until_complete(rig.stop())
        loop.close()


ENVELOPE_KEYS = {
    "search_accounts": ("Account/search", "accounts", ACCOUNT_ROW),
    "search_open_positions": ("Position/searchOpen", "positions", POSITION),
    "search_open_orders": ("Order/searchOpen", "orders", ORDER),
    "search_trades": ("Trade/search", "trades", TRADE),
    "available_contracts": ("Contract/available", "contracts", CONTRACT),
    "cancel_order": ("Order/cancel", None, None),
    "close_contract": ("Position/closeContract", None, None),
    "place_order": ("Order/place", "orderId", None),
}


@st.composite
def rest_cases(draw: Any) -> tuple[str, int, str]:
    method = draw(st.sampled_from(sorted(ENVELOPE_KEYS)))
    _, key, template = ENVELOPE_KEYS[method]
    status = draw(st.sampled_from([200] * 8 + [400, 401, 404, 429, 500, 503]))
    envelope: dict[str, Any] = {}
    for field, good in (("success", True), ("errorCode", 0), ("errorMessage", None)):
        if draw(st.integers(0, 4)):
            envelope[field] = good if draw(st.integers(0, 3)) else draw(json_any)
    if key is not None:
        if template is not None:
            envelope[key] = draw(st.one_of(st.lists(mutated(template), max_size=3), json_any))
        else:
            envelope[key] = draw(st.one_of(st.integers(0, 2**40), json_any))
    body = draw(st.one_of(st.just(json.dumps(envelope)), st.just(json.dumps(envelope)),
                          st.text(max_size=30), json_any.map(json.dumps)))
    return method, status, body


async def _call(rest: Any, method: str) -> Any:
    start = datetime(2026, 11, 18, 0, 0).astimezone()
    calls = {
        "search_accounts": lambda: rest.search_accounts(),
        "search_open_positions": lambda: rest.search_open_positions(ACCOUNT),
        "search_open_orders": lambda: rest.search_open_orders(ACCOUNT),
        "search_trades": lambda: rest.search_trades(ACCOUNT, start),
        "available_contracts": lambda: rest.available_contracts(),
        "cancel_order": lambda: rest.cancel_order(ACCOUNT, 91),
        "close_contract": lambda: rest.close_contract(ACCOUNT, CID),
        "place_order": lambda: rest.place_order(ACCOUNT, CID, 2, 0, 1),
    }
    return await asyncio.wait_for(calls[method](), 10.0)


def test_fuzzed_rest_responses_only_raise_gateway_errors() -> None:
    from gw_fake_server import FakeGateway
    from risk_manager.gateway.errors import GatewayRestError
    from risk_manager.gateway.rest import GatewayRest

    loop = asyncio.new_event_loop()
    gw = FakeGateway()
    base = loop.run_until_complete(gw.start())
    rest = GatewayRest(base, "user", "key", rate_limit=None, read_retries=0, retry_429_attempts=0,
                       max_retry_after=0.01, backoff_base=0.001, timeout=2.0)
    outcomes: dict[str, int] = {}
    try:
        @FUZZ
        @given(case=rest_cases())
        def responses(case: tuple[str, int, str]) -> None:
            method, status, body = case
            endpoint = ENVELOPE_KEYS[method][0]
            gw.script[endpoint] = [(status, body, {"Retry-After": "0"} if status == 429 else {})]
            try:
                loop.run_until_complete(_call(rest, method))
                outcomes["ok"] = outcomes.get("ok", 0) + 1
            except GatewayRestError as exc:
                outcomes[type(exc).__name__] = outcomes.get(type(exc).__name__, 0) + 1
            finally:
                gw.script.pop(endpoint, None)

        responses()
    finally:
        loop.run_until_complete(rest.close())
        loop.run_until_complete(gw.stop())
        loop.close()
    assert outcomes.get("ok", 0) > 0 and len(outcomes) > 2, outcomes  # both paths were exercised
