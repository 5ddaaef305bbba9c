"""Golden tests: every captured payload decodes without loss through our models and decoders."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic.alias_generators import to_snake

from risk_manager import events as ev
from risk_manager.gateway import decode, models
from risk_manager.gateway.decode import DecodeError

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "projectx-live"


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())

TIMESTAMP_KEYS = {"creationTimestamp", "updateTimestamp", "lastUpdated", "timestamp", "t"}


def _same(key: str, wire_value: Any, ours: Any) -> bool:
    if key in TIMESTAMP_KEYS and isinstance(wire_value, str):
        return ours == datetime.fromisoformat(wire_value)
    if isinstance(wire_value, bool) or wire_value is None:
        return ours is wire_value
    if isinstance(wire_value, (int, float)):
        return ours == wire_value and not isinstance(ours, bool)
    return ours == wire_value


def assert_model_lossless(model: models.WireModel, row: dict[str, Any]) -> None:
    """Every source key is a declared field with the same value; nothing left in extras."""
    assert not model.model_extra, f"undeclared keys kept as extras: {model.model_extra}"
    for key, value in row.items():
        attr = "id" if key == "orderId" and isinstance(model, models.WireOrder) else to_snake(key)
        assert _same(key, value, getattr(model, attr)), (key, value, getattr(model, attr))


def assert_payload_lossless(payload: Any, row: dict[str, Any], renames: dict[str, str] | None = None,
                            ignored: frozenset[str] = frozenset()) -> None:
    """Every source key lands in a payload attribute with the same value (explicit nulls too)."""
    renames = renames or {}
    for key, value in row.items():
        if key in ignored:
            continue
        attr = renames.get(key, to_snake(key))
        assert hasattr(payload, attr), f"{key} has no home in {type(payload).__name__}"
        ours = getattr(payload, attr)
        if value is None:
            # REST sends explicit nulls; the payload keeps None, or its documented default.
            assert ours in (None, 0, 0.0, False), (key, ours)
            continue
        assert _same(key, value, ours), (key, value, ours)


# --- REST payload files ------------------------------------------------------------------------
def test_accounts_search_rows():
    rows = load_fixture("accounts_search.json")
    assert len(rows) == 2
    env = models.AccountsResponse.model_validate({"success": True, "errorCode": 0, "errorMessage": None, "accounts": rows})
    for row, wire in zip(rows, env.accounts or []):
        assert_model_lossless(wire, row)
        assert_payload_lossless(decode.parse_account(row), row)
        assert wire.to_payload() == decode.parse_account(row)


def test_contracts_available_rows():
    rows = load_fixture("contracts_available.json")
    assert len(rows) == 51
    for row in rows:
        wire = models.WireContract.model_validate(row)
        assert_model_lossless(wire, row)
        contract = decode.parse_contract(row)
        assert isinstance(contract, ev.Contract)
        assert_payload_lossless(contract, row)
        assert wire.to_payload() == contract
    by_id = {c["id"]: c for c in rows}
    assert decode.parse_contract(by_id["CON.F.US.ENQ.U26"]).tick_value == 5


def test_historical_orders_rows():
    rows = load_fixture("historical_orders_24h.json")
    assert len(rows) == 82
    env = models.OrdersResponse.model_validate({"success": True, "orders": rows})
    brackets = 0
    for row, wire in zip(rows, env.orders or []):
        assert_model_lossless(wire, row)
        order = decode.parse_order(row)
        assert_payload_lossless(order, row)
        assert wire.to_payload() == order
        brackets += order.parent_order_id is not None
    assert brackets > 0
    # int64 ids survive
    assert max(decode.parse_order(r).id for r in rows) > 2**31


def test_historical_trades_rows():
    rows = load_fixture("historical_trades_24h.json")
    assert len(rows) == 40
    for row in rows:
        wire = models.WireTrade.model_validate(row)
        assert_model_lossless(wire, row)
        trade = decode.parse_trade(row)
        assert_payload_lossless(trade, row)
        assert wire.to_payload() == trade
    opening = [decode.parse_trade(r) for r in rows if r["profitAndLoss"] is None]
    assert opening and all(t.pnl() is None for t in opening)


@pytest.mark.parametrize(
    ("name", "model", "key"),
    [("auth_login_key_envelope.json", models.LoginResponse, "token"),
     ("auth_validate_envelope.json", models.ValidateResponse, "newToken")],
)
def test_auth_envelopes(name, model, key):
    captured = load_fixture(name)
    assert captured["http_status"] == 200
    env = model.model_validate(captured["envelope"])
    assert env.success is True and env.error_code == 0 and env.error_message is None
    assert getattr(env, to_snake(key)) == "[REDACTED]"
    assert not env.model_extra
    assert env.wire() == captured["envelope"]


# --- stream samples ----------------------------------------------------------------------------
USER_TARGET = {"account": "GatewayUserAccount", "order": "GatewayUserOrder",
               "position": "GatewayUserPosition", "trade": "GatewayUserTrade"}
USER_MODEL = {"account": models.WireAccount, "order": models.WireOrder,
              "position": models.WirePosition, "trade": models.WireTrade}


def _samples(source: str) -> list[dict[str, Any]]:
    return [s for s in load_fixture("stream_event_samples.json")["samples"] if s["source"] == source]


def test_stream_samples_cover_every_kind():
    assert {s["event_type"] for s in _samples("projectx_user_stream")} == set(USER_TARGET)
    assert {s["event_type"] for s in _samples("projectx_market_stream")} == {"quote", "market_trade", "depth"}


@pytest.mark.parametrize("sample", _samples("projectx_user_stream"), ids=lambda s: s["event_type"])
def test_user_stream_sample_wrapped_and_bare(sample):
    raw = sample["raw_payload"]
    target = USER_TARGET[sample["event_type"]]
    data = raw["data"]
    assert_model_lossless(USER_MODEL[sample["event_type"]].model_validate(data), data)
    wrapper = models.UserEventWrapper.model_validate(raw)
    assert wrapper.action == raw["action"]

    wrapped = decode.decode_user_event(target, [raw], received_ns=7)
    bare = decode.decode_user_event(target, [data], received_ns=7)
    listed = decode.decode_user_event(target, [[data, data]])
    wrapped_list = decode.decode_user_event(target, [{"action": raw["action"], "data": [data]}])
    assert len(wrapped) == len(bare) == len(wrapped_list) == 1 and len(listed) == 2
    event = wrapped[0]
    assert event.action == raw["action"] and bare[0].action is None
    assert event.data == bare[0].data == listed[1].data == wrapped_list[0].data
    assert event.received_ns == 7 and event.source == "stream"
    assert_payload_lossless(event.data, data)
    assert event.account_id == (data["id"] if sample["event_type"] == "account" else data["accountId"])
    assert event.contract_id == data.get("contractId")
    assert event.kind.value == sample["event_type"]


def test_position_close_sample():
    sample = next(s for s in _samples("projectx_user_stream") if s["event_type"] == "position")
    (event,) = decode.decode_user_event("GatewayUserPosition", [sample["raw_payload"]])
    assert event.action == 2 and event.data.size == 0 and event.data.signed_size == 0
    assert event.data.average_price == 29398.5  # the entry average, kept


def test_order_id_in_place_of_id():
    sample = next(s for s in _samples("projectx_user_stream") if s["event_type"] == "order")
    data = dict(sample["raw_payload"]["data"])
    data["orderId"] = data.pop("id")
    (event,) = decode.decode_user_event("GatewayUserOrder", [{"action": 1, "data": data}])
    assert event.data.id == 3425270858
    assert models.WireOrder.model_validate(data).id == 3425270858


def test_quote_sample_and_partial_variants():
    sample = next(s for s in _samples("projectx_market_stream") if s["event_type"] == "quote")
    cid, payload = sample["raw_payload"]["contractId"], sample["raw_payload"]["payload"]
    wire = models.WireQuote.model_validate(payload)
    assert_model_lossless(wire, payload)
    (event,) = decode.decode_market_event("GatewayQuote", [cid, payload])
    quote = event.data
    assert event.kind is ev.EventKind.QUOTE and event.contract_id == cid and event.account_id is None
    assert_payload_lossless(quote, payload, renames={"contract": "contract_id"})
    assert quote.last_price is None and quote.volume is None  # absent, not zero
    assert wire.to_payload(cid) == quote

    # partial variants: one changed field; lastPrice only; no contract argument (key inside)
    (only_bid,) = decode.decode_market_event("GatewayQuote", [cid, {"bestBid": 29548}])
    assert only_bid.data.best_bid == 29548 and only_bid.data.best_ask is None
    (last,) = decode.decode_market_event("GatewayQuote", [cid, {"lastPrice": 29549.25, "volume": 1200}])
    assert last.data.last_price == 29549.25 and last.data.volume == 1200
    (inside,) = decode.decode_market_event("GatewayQuote", [payload])
    assert inside.contract_id == cid
    merged = decode.merge_quote(decode.merge_quote(quote, only_bid.data), last.data)
    assert (merged.best_bid, merged.best_ask, merged.last_price) == (29548, 29547.5, 29549.25)


def test_market_trade_sample():
    sample = next(s for s in _samples("projectx_market_stream") if s["event_type"] == "market_trade")
    cid, prints = sample["raw_payload"]["contractId"], sample["raw_payload"]["payload"]
    events = decode.decode_market_event("GatewayTrade", [cid, prints + prints])
    assert len(events) == 2
    for event, row in zip(events, prints + prints):
        assert_model_lossless(models.WireMarketTrade.model_validate(row), row)
        assert_payload_lossless(event.data, row, ignored=frozenset({"symbolId"}))
        assert event.contract_id == cid


def test_depth_sample_is_modelled_but_yields_no_event():
    sample = next(s for s in _samples("projectx_market_stream") if s["event_type"] == "depth")
    level = sample["raw_payload"]["payload"]
    assert_model_lossless(models.WireDepthLevel.model_validate(level), level)
    wire_level = {k: v for k, v in level.items() if k != "contractId"}
    assert decode.decode_market_event("GatewayDepth", [level["contractId"], [wire_level]]) == []


# --- tolerance and errors ------------------------------------------------------------------------
def test_unknown_enum_values_are_kept():
    row = {"id": 1, "accountId": 2, "contractId": "C", "status": 42, "type": 99, "side": 7, "size": 1}
    order = decode.parse_order(row)
    assert (order.status, order.type, order.side) == (42, 99, 7)
    assert models.WireOrder.model_validate(row).status == 42
    assert models.enum_name(ev.OrderStatus, 42) == "Unknown(42)"
    assert models.enum_name(ev.OrderStatus, 8) == "SUSPENDED"


def test_missing_and_null_fields_tolerated():
    order = decode.parse_order({"id": 1, "accountId": 2, "contractId": "C", "limitPrice": None, "fillVolume": None})
    assert order.status == 0 and order.fill_volume == 0 and order.limit_price is None
    trade = decode.parse_trade({"id": 1, "accountId": 2, "contractId": "C", "price": 1.5, "size": 1, "fees": None})
    assert trade.fees == 0.0 and trade.commissions == 0.0 and trade.voided is False
    account = decode.parse_account({"id": 5})
    assert account.can_trade is None  # missing: the engine decides (R10 treats it as true + warns)
    assert models.WireAccount.model_validate({"id": 5, "newField": [1]}).model_extra == {"newField": [1]}


@pytest.mark.parametrize(
    ("target", "arguments", "fragment"),
    [
        ("GatewayUserOrder", [{"action": 1, "data": {"id": 1, "contractId": "C"}}], "accountId"),
        ("GatewayUserPosition", [{"id": 1, "accountId": 2, "contractId": "C"}], "size"),
        ("GatewayUserTrade", ["not an object"], "argument"),
        ("GatewayUserOrder", {"id": 1}, "arguments is not a list"),
        ("GatewayUserOrder", [{"id": 1, "accountId": 2, "contractId": "C", "creationTimestamp": "yesterday"}], "creationTimestamp"),
        ("GatewayUserAccount", [{"id": "abc"}], "'id' is not an integer"),
        ("GatewayQuote", [123, {"bestBid": 1}], "contract id"),
        ("GatewayQuote", ["C", {"bestBid": "high"}], "bestBid"),
        ("GatewayTrade", ["C", [{"volume": 1}]], "price"),
    ],
)
def test_malformed_payloads_raise_decode_error(target, arguments, fragment):
    with pytest.raises(DecodeError) as info:
        decode.decode_invocation(target, arguments)
    assert fragment in str(info.value)


def test_good_entities_survive_a_bad_neighbour():
    good = {"id": 1, "accountId": 2, "contractId": "C", "type": 1, "size": 1, "averagePrice": 10}
    with pytest.raises(DecodeError) as info:
        decode.decode_user_event("GatewayUserPosition", [[good, {"id": 3}]])
    assert [e.data.id for e in info.value.events] == [1]


def test_unknown_target_is_none():
    assert decode.decode_invocation("GatewaySomethingNew", []) is None


def test_error_code_names_per_endpoint():
    assert models.error_name("Position/closeContract", 2) == "PositionNotFound"
    assert models.error_name("Position/partialCloseContract", 5) == "InvalidCloseSize"
    assert models.error_name("Position/closeContract", 5) == "OrderRejected"
    assert models.error_name("/api/order/cancel", 6) == "AccountRejected"
    assert models.error_name("Auth/loginKey", 7) == "AgreementsNotSigned"
    assert models.error_name("Order/place", 77) == "Unknown(77)"


def test_rest_event_wrapper():
    event = decode.rest_event(decode.parse_account({"id": 9, "canTrade": False}))
    assert event.source == "rest" and event.account_id == 9 and event.kind is ev.EventKind.ACCOUNT
    assert ev.Event.from_json(json.loads(json.dumps(event.to_json()))).data == event.data
