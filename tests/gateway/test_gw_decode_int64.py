"""Integers beyond the signed 64-bit range are malformed input (DecodeError), never passed on.

An id like 2**70 used to reach the engine and then fail the journal write with OverflowError.
"""

from __future__ import annotations

import json

import pytest

from gw_fake_server import until
from risk_manager.clock import SystemClock
from risk_manager.config.models import RiskConfig
from risk_manager.daemon.pipeline import Pipeline
from risk_manager.engine.catalog import ContractCatalog
from risk_manager.engine.engine import RiskEngine
from risk_manager.gateway import decode
from risk_manager.gateway import signalr_protocol as sp
from risk_manager.gateway.decode import DecodeError
from risk_manager.gateway.hub import UserHub
from risk_manager.store import Store

MNQ = "CON.F.US.MNQ.U26"
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)

ACCOUNT = {"id": 7, "name": "X", "balance": 1.0, "canTrade": True}
ORDER = {"id": 1, "accountId": 7, "contractId": MNQ, "status": 1, "type": 2, "side": 0, "size": 1,
         "fillVolume": 0, "parentOrderId": 2, "linkedOrderId": 3}
POSITION = {"id": 1, "accountId": 7, "contractId": MNQ, "type": 1, "size": 1, "averagePrice": 20000.0}
TRADE = {"id": 1, "accountId": 7, "contractId": MNQ, "price": 20000.0, "side": 0, "size": 1,
         "profitAndLoss": -10.0, "fees": 0.37, "orderId": 9}

INT_FIELDS = [
    (decode.parse_account, ACCOUNT, "id"),
    *[(decode.parse_order, ORDER, key) for key in
      ("id", "accountId", "status", "type", "side", "size", "fillVolume", "parentOrderId", "linkedOrderId")],
    *[(decode.parse_position, POSITION, key) for key in ("id", "accountId", "type", "size")],
    *[(decode.parse_trade, TRADE, key) for key in ("id", "accountId", "side", "size", "orderId")],
]
TOO_WIDE = [2**63, 2**70, INT64_MIN - 1, -(2**80), str(2**70), float(2**70), 1e30]


@pytest.mark.parametrize("value", TOO_WIDE, ids=repr)
@pytest.mark.parametrize("parse,row,key", INT_FIELDS, ids=lambda x: getattr(x, "__name__", None) or
                         (x if isinstance(x, str) else ""))
def test_integer_fields_outside_int64_are_rejected_naming_the_field(parse, row, key, value):
    with pytest.raises(DecodeError, match=rf"field '{key}' is outside the signed 64-bit integer range"):
        parse({**row, key: value})


@pytest.mark.parametrize("value", [INT64_MAX, INT64_MIN, str(INT64_MAX), 0])
def test_int64_bounds_are_accepted(value):
    assert decode.parse_trade({**TRADE, "id": value}).id == int(value)
    assert decode.parse_order({**ORDER, "accountId": value}).account_id == int(value)


def test_market_trade_type_and_wrapper_action_are_bounded_too():
    with pytest.raises(DecodeError, match="'type' is outside"):
        decode.parse_market_trade(MNQ, {"price": 1.0, "volume": 1, "type": 2**64})
    with pytest.raises(DecodeError, match="'action' is outside"):
        decode.decode_user_event("GatewayUserTrade", [{"action": 2**64, "data": TRADE}])


def test_huge_integer_where_a_number_is_expected_is_a_decode_error():
    with pytest.raises(DecodeError, match="field 'price' is not a number"):
        decode.parse_trade({**TRADE, "price": 10**400})  # float() would raise OverflowError


def test_invocation_keeps_the_good_entities_and_names_the_bad_one():
    bad = {**TRADE, "id": 2**70}
    with pytest.raises(DecodeError) as info:
        decode.decode_user_event("GatewayUserTrade", [{"action": 0, "data": [TRADE, bad]}])
    assert "trade: field 'id' is outside the signed 64-bit integer range: 1180591620717411303424" in str(info.value)
    assert [e.data.id for e in info.value.events] == [1]


def test_rest_rows_name_the_index_of_the_wide_row():
    with pytest.raises(DecodeError, match=r"positions\[1\]: position: field 'accountId' is outside"):
        decode.parse_rows([POSITION, {**POSITION, "accountId": 2**70}], decode.parse_position, "positions")


class _Collect:
    def __init__(self) -> None:
        self.actions: list = []

    def submit(self, actions, *, received_ns=0, decided_ns=None) -> None:
        self.actions += list(actions)


async def test_pipeline_counts_the_wide_id_as_malformed_and_journals_the_rest(tmp_path):
    engine = RiskEngine(RiskConfig.model_validate({"rules": {}}), ContractCatalog.bundled())
    store = Store(tmp_path / "rm.db")
    try:
        pipe = Pipeline(engine, _Collect(), SystemClock(), journal=store.append_events)
        pipe.feed_invocation("GatewayUserTrade", [{"action": 0, "data": {**TRADE, "id": 2**70}}])
        # An account id this wide used to fail the journal insert (OverflowError from SQLite).
        pipe.feed_invocation("GatewayUserTrade", [{"action": 0, "data": {**TRADE, "accountId": 2**70}}])
        pipe.feed_invocation("GatewayUserPosition", [{"action": 1, "data": {**POSITION, "size": 2**64}}])
        pipe.feed_invocation("GatewayUserTrade", [{"action": 0, "data": TRADE}])
        assert pipe.counters["malformed"] == 3
        assert pipe.counters["journal_errors"] == 0
        assert store.last_seq() == 1  # only the good trade reached the journal
        assert engine.state(7).positions == {}
    finally:
        store.close()


async def test_user_hub_counts_a_wide_id_and_delivers_the_next_event(fake):
    events: list = []

    async def token(refresh: bool = False) -> str:
        return fake.issue()

    hub = UserHub(f"{fake.base}/hubs/user", token, on_event=events.append, backoff_initial=0.05,
                  backoff_max=0.2, handshake_timeout=2.0, invoke_timeout=2.0)
    await hub.start()
    try:
        assert await hub.wait_connected(5)
        (conn,) = fake.live()
        wide = sp.invocation("GatewayUserOrder", [{"action": 1, "data": {**ORDER, "id": 2**70}}])
        good = sp.invocation("GatewayUserOrder", [{"action": 1, "data": ORDER}])
        await conn.ws.send_str(sp.RS.join([json.dumps(wide), json.dumps(good)]) + sp.RS)
        await until(lambda: len(events) == 1)
        assert hub.stats.malformed == 1 and events[0].data.id == 1
    finally:
        await hub.stop()
