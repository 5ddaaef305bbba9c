"""Fuzzed hub frames and REST responses (hypothesis): the gateway client never crashes.

Hub frames go over a real WebSocket (the gateway tests' scriptable fake server) into the real
UserHub/MarketHub clients, whose events feed the daemon's real Pipeline → RiskEngine (SPEC
limits, so fuzzed events can trigger enforcement) → Executor, journaled into a real Store. After
every frame a ping record is sent and awaited: the connection must still be alive and the frame
fully handled. REST bodies are scripted responses to the real GatewayRest; the only acceptable
failures are its documented GatewayRestError family. ~500 cases each in CI, 10 000 with
RM_CHAOS_LONG=1.

The hub frames also take the hostile shapes of issue 12: records nested far past the recursion
limit (whole records, arguments, entity fields), records that lost their separator or are cut
across frames, and records around and over the size limit (dropped, counted, the connection
recycled: the client must be back and handling frames). Explicit cases pin each shape down.
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
from risk_manager.gateway.signalr_protocol import DEFAULT_MAX_RECORD

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
        | st.sampled_from(["", "NaN", "inf", "2026-13-45T99:00:00", "2026-11-18T14:30:00Z", "1e400", "1" * 400, CID])
        | st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3))  # lone surrogates
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


MAX_RECORD = DEFAULT_MAX_RECORD  # the hub clients run with the default limit
#: Shapes drawn during a run (the hostile ones must all be reached).
SHAPES: dict[str, int] = {}


def _seen(shape: str, value: Any) -> Any:
    SHAPES[shape] = SHAPES.get(shape, 0) + 1
    return value


# Nesting as JSON text (json.dumps itself cannot go that deep): around the recursion limit, where
# a record parses and then fails deeper, and far past it.
_OPEN_CLOSE = [("[", "]"), ('{"k":', "}"), ('[{"data":', "}]")]
deep_json = st.tuples(st.one_of(st.integers(1, 1200), st.integers(1200, 120_000)), st.sampled_from(_OPEN_CLOSE)).map(
    lambda t: _seen("deep", t[1][0] * t[0] + "1" + t[1][1] * t[0]))


def _deep_records(targets: list[str]) -> Any:
    target = st.sampled_from(targets)
    return st.one_of(
        deep_json,
        st.tuples(target, deep_json).map(lambda t: f'{{"type":1,"target":"{t[0]}","arguments":[{t[1]}]}}'),
        st.tuples(target, deep_json).map(
            lambda t: f'{{"type":1,"target":"{t[0]}","arguments":[{{"action":1,"data":{{"id":{t[1]}}}}}]}}'),
        st.tuples(target, deep_json).map(lambda t: f'{{"type":1,"target":"{t[0]}","arguments":["{CID}",{t[1]}]}}'),
    )


def _huge_record(target: str) -> Any:
    """A record of about the size limit, over or under it; the filler is a JSON string."""
    head, tail = f'{{"type":1,"target":"{target}","arguments":["', '"]}'
    sizes = st.one_of(st.integers(MAX_RECORD - 64, MAX_RECORD + 64), st.integers(MAX_RECORD // 2, 2 * MAX_RECORD))
    return sizes.map(lambda n: _seen("huge" if n > MAX_RECORD else "large", head + "x" * max(0, n - len(head) - len(tail)) + tail))


@st.composite
def _frames(draw: Any, invocations: Any, targets: list[str]) -> list[str]:
    """Records joined by separators (one may be missing), cut into frames anywhere."""
    invocation = invocations.map(lambda ta: json.dumps({"type": 1, "target": ta[0], "arguments": ta[1]}))
    # Any other record, except pings (6: they pace the test) and closes (7: a real disconnect).
    other = st.dictionaries(st.text(max_size=10), json_any, max_size=4).flatmap(
        lambda d: st.sampled_from([1, 2, 3, 4, 5, 8, 99, "1", None]).map(lambda t: json.dumps({**d, "type": t})))
    garbage = st.text(max_size=40).map(lambda s: s.replace(RS, ""))
    hostile = st.one_of(_deep_records(targets), st.sampled_from(targets).flatmap(_huge_record))
    records = draw(st.lists(st.one_of(invocation, invocation, other, garbage, hostile), min_size=1, max_size=4))
    stream = ""
    for record in records:
        missing = draw(st.integers(0, 9)) == 0  # the separator is lost: two records run together
        stream += record + ("" if missing else RS)
        if missing:
            _seen("missing_separator", None)
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    if len(cuts) > 1:
        _seen("split", None)
    return [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)]) if a < b] or [stream]


USER_TARGETS = ["GatewayUserOrder", "GatewayUserPosition", "GatewayUserTrade", "GatewayUserAccount"]
MARKET_TARGETS = ["GatewayQuote", "GatewayTrade", "GatewayDepth"]
USER_FRAMES = _frames(USER_INVOCATIONS, USER_TARGETS)
MARKET_FRAMES = _frames(MARKET_INVOCATIONS, MARKET_TARGETS)
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
        fast = dict(backoff_initial=0.01, backoff_max=0.05)  # oversized records recycle connections
        self.user = UserHub(base + "/hubs/user", self.rest.token, account_ids=[ACCOUNT],
                            on_events=self.pipeline.feed_many, clock=clock, **fast)
        self.market = MarketHub(base + "/hubs/market", self.rest.token, contract_ids=[CID],
                                on_events=self.pipeline.feed_many, clock=clock, **fast)
        for hub in (self.user, self.market):
            await hub.start()
            assert await hub.wait_connected(5.0), f"{hub.name} hub did not connect"

    async def push(self, hub: Any, path: str, frames: str | list[str]) -> None:
        """Send the frames, then a separator and a ping (closing whatever record was left open);
        return once the client has handled them, or, when a record was over the size limit, once
        it recycled the connection and is connected and subscribed again."""
        frames = [frames] if isinstance(frames, str) else frames
        pings, oversized, connects = hub.stats.pings_received, hub.stats.oversized, hub.stats.connects
        for frame in frames:
            await self.gw.send(frame, path=path)
        await self.gw.send(RS + '{"type":6}' + RS, path=path)
        shown = repr(frames)[:300]
        deadline = time.monotonic() + 5.0
        while hub.stats.pings_received <= pings:
            assert time.monotonic() < deadline, f"{hub.name} hub stopped handling frames after {shown}"
            if hub.stats.oversized > oversized:  # dropped: a new connection replaces this one
                while not (hub.connected and hub.stats.connects > connects and len(self.gw.live(path)) == 1):
                    assert time.monotonic() < deadline, f"{hub.name} hub did not come back after {shown}"
                    await asyncio.sleep(0.001)
                break
            assert hub.connected, f"{hub.name} hub disconnected on {shown}"
            await asyncio.sleep(0.0005)
        assert hub.stats.task_failures == 0, f"a {hub.name} hub task died on {shown}"

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
        @given(frames=USER_FRAMES)
        def user_frames(frames: list[str]) -> None:
            loop.run_until_complete(rig.push(rig.user, "/hubs/user", frames))

        @FUZZ
        @given(frames=MARKET_FRAMES)
        def market_frames(frames: list[str]) -> None:
            loop.run_until_complete(rig.push(rig.market, "/hubs/market", frames))

        SHAPES.clear()
        user_frames()
        market_frames()
        # The strategies did reach the hostile shapes, and the client survived each of them.
        assert {"deep", "missing_separator", "split", "huge", "large"} <= set(SHAPES), SHAPES
        assert rig.user.stats.oversized + rig.market.stats.oversized > 0
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
        assert rig.user.stats.task_failures == 0 and rig.market.stats.task_failures == 0
    finally:
        loop.run_until_complete(rig.stop())
        loop.close()


GOOD_ORDER = json.dumps({"type": 1, "target": "GatewayUserOrder", "arguments": [{"action": 1, "data": ORDER}]})


def _nested_cases() -> list[str]:
    cases = ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000]
    for depth in range(850, 1001, 10):  # parses near the limit, then fails deeper (decode, log)
        value = "[" * depth + "]" * depth
        cases += [f'{{"type":1,"target":"{t}","arguments":[{value}]}}' for t in USER_TARGETS]
        cases.append(f'{{"type":1,"target":"GatewayUserOrder","arguments":[{{"action":1,"data":{{"id":{value}}}}}]}}')
    return cases


def _run_cases(tmp_path: Path, body: Any) -> None:
    loop = asyncio.new_event_loop()
    rig = HubRig()
    loop.run_until_complete(rig.start(tmp_path))
    try:
        loop.run_until_complete(body(rig))
        # Still alive and still enforcing: a good order event reaches the engine.
        events = rig.pipeline.counters["events"]
        loop.run_until_complete(rig.push(rig.user, "/hubs/user", GOOD_ORDER + RS))
        assert rig.pipeline.counters["events"] == events + 1
        assert rig.pipeline.counters["engine_errors"] == 0 and rig.pipeline.counters["journal_errors"] == 0
        assert rig.user.stats.task_failures == 0 and rig.user.stats.callback_errors == 0
    finally:
        loop.run_until_complete(rig.stop())
        loop.close()


def test_deep_nesting_is_counted_and_skipped(tmp_path: Path) -> None:
    async def body(rig: HubRig) -> None:
        cases = _nested_cases()
        before = rig.user.stats.malformed
        for case in cases:
            await rig.push(rig.user, "/hubs/user", case + RS)
        await rig.push(rig.market, "/hubs/market", "".join(
            f'{{"type":1,"target":"GatewayQuote","arguments":["{CID}",{"[" * d + "]" * d}]}}' + RS
            for d in range(850, 1001, 10)))
        assert rig.user.stats.malformed - before == len(cases) and rig.user.connected
        # Completions with such an id: ignored (no such invocation) or malformed (too deep to read).
        await rig.push(rig.user, "/hubs/user", "".join(
            f'{{"type":3,"invocationId":{"[" * d + "]" * d}}}' + RS for d in range(850, 1001, 10)))
        assert rig.user.stats.connects == 1  # skipped: no reconnect needed

    _run_cases(tmp_path, body)


def test_missing_separators_are_counted_and_the_stream_resumes(tmp_path: Path) -> None:
    async def body(rig: HubRig) -> None:
        before = rig.user.stats.malformed
        # Two records run together: one malformed record, then the stream is framed again.
        await rig.push(rig.user, "/hubs/user", GOOD_ORDER + GOOD_ORDER + RS)
        assert rig.user.stats.malformed == before + 1
        # A record in 4 KB frames (just under the limit), closed by the separator much later.
        frames = [GOOD_ORDER[:-2]] + ["x" * 4096] * (MAX_RECORD // 4096 - 1)
        await rig.push(rig.user, "/hubs/user", frames)
        assert rig.user.stats.malformed == before + 2 and rig.user.stats.oversized == 0
        # A good record cut into one-character frames.
        events = rig.pipeline.counters["events"]
        await rig.push(rig.user, "/hubs/user", list(GOOD_ORDER + RS))
        assert rig.pipeline.counters["events"] == events + 1 and rig.user.stats.connects == 1

    _run_cases(tmp_path, body)


def test_huge_records_are_dropped_and_the_connection_recycled(tmp_path: Path) -> None:
    async def body(rig: HubRig) -> None:
        head, tail = '{"type":1,"target":"GatewayUserOrder","arguments":["', '"]}'
        at_limit = head + "x" * (MAX_RECORD - len(head) - len(tail)) + tail
        await rig.push(rig.user, "/hubs/user", at_limit + RS)  # at the limit: parsed, malformed
        assert rig.user.stats.oversized == 0 and rig.user.stats.connects == 1
        await rig.push(rig.user, "/hubs/user", at_limit[:-2] + "x" + tail + RS)  # one over
        assert rig.user.stats.oversized == 1 and rig.user.stats.connects == 2
        await rig.push(rig.user, "/hubs/user", ["x" * 65536] * (MAX_RECORD // 65536 + 1))  # never ends
        assert rig.user.stats.oversized == 2 and rig.user.stats.connects == 3
        events = rig.pipeline.counters["events"]  # the good records around a dropped one still count
        await rig.push(rig.user, "/hubs/user", GOOD_ORDER + RS + "y" * (MAX_RECORD + 1) + RS + GOOD_ORDER + RS)
        assert rig.pipeline.counters["events"] == events + 2 and rig.user.stats.oversized == 3

    _run_cases(tmp_path, body)


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
