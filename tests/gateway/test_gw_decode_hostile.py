"""Hostile field values: the decoder raises only DecodeError, lets no non-finite number through
(a NaN price turns every rule comparison false), and yields only text that can be journaled."""

from __future__ import annotations

import json
import math
from dataclasses import fields
from pathlib import Path

import pytest

from risk_manager.clock import SystemClock
from risk_manager.gateway import decode
from risk_manager.gateway import signalr_protocol as sp
from risk_manager.gateway.decode import DecodeError
from risk_manager.store import Store

ORDER = {"id": 91, "accountId": 7, "contractId": "CON.F.US.MNQ.U26", "status": 1, "type": 1, "side": 0,
         "size": 1, "limitPrice": 19000.0, "creationTimestamp": "2026-11-18T14:30:00+00:00"}
POSITION = {"id": 5, "accountId": 7, "contractId": "CON.F.US.MNQ.U26", "type": 1, "size": 2, "averagePrice": 2.5}
TRADE = {"id": 77, "accountId": 7, "contractId": "CON.F.US.MNQ.U26", "price": 1.0, "profitAndLoss": -1.0,
         "fees": 0.1, "side": 1, "size": 2, "voided": False, "orderId": 91}
ACCOUNT = {"id": 7, "name": "PRAC", "balance": 49_000.0, "canTrade": True}
ENTITIES = {"GatewayUserOrder": ORDER, "GatewayUserPosition": POSITION, "GatewayUserTrade": TRADE,
            "GatewayUserAccount": ACCOUNT}
NUMBER_FIELDS = {"GatewayUserOrder": ["limitPrice", "stopPrice", "filledPrice", "trailPrice", "trailDistance"],
                 "GatewayUserPosition": ["averagePrice"],
                 "GatewayUserTrade": ["price", "profitAndLoss", "fees", "commissions"],
                 "GatewayUserAccount": ["balance"]}
#: Values a hostile or broken peer can put in a field (after json.loads).
HOSTILE = [10**400, -(10**30), "1" * 5000, "nan", "NaN", "inf", "-Infinity", "1e400", math.inf, -math.inf,
           math.nan, "\ud800", "\udfff\ud800", "١٢٣", [], {}, [[[]]], {"a": {}}, True, -0.0, "\x00",
           "2026-11-18T14:30:00+99:00", "2026-11-18T24:00:00", "", " 12 ", "0x10", 2**63, -(2**63) - 1, 1e20]


def _events(target: str, arguments: object) -> list:
    try:
        return decode.decode_invocation(target, arguments) or []
    except DecodeError as exc:  # the only exception allowed; the good entities still come out
        return exc.events


def _values(payload: object) -> list:
    return [getattr(payload, f.name) for f in fields(payload)]


@pytest.mark.parametrize("target", sorted(ENTITIES))
def test_any_hostile_field_value_is_a_decode_error_or_a_usable_value(target):
    base = ENTITIES[target]
    keys = [*base, "orderId", "parentOrderId", "customTag", "symbolId", "updateTimestamp", "contractDisplayName",
            "isVisible", "simulated", "stopPrice", "fillVolume", "trailPrice"]
    for key in keys:
        for value in HOSTILE:
            for arguments in ([{"action": 1, "data": {**base, key: value}}], [{"action": value, "data": base}]):
                for event in _events(target, arguments):
                    for got in _values(event.data):
                        assert not (isinstance(got, float) and not math.isfinite(got)), (key, value, got)
                        if isinstance(got, str):
                            got.encode("utf-8")  # journal-safe text


@pytest.mark.parametrize("target", sorted(NUMBER_FIELDS))
def test_non_finite_numbers_are_refused(target):
    for key in NUMBER_FIELDS[target]:
        for value in ("NaN", "nan", "inf", "-Infinity", "1e400", "1" * 400, math.inf, math.nan):
            with pytest.raises(DecodeError, match=f"field '{key}' is not a finite number"):
                decode.decode_user_event(target, [{"action": 1, "data": {**ENTITIES[target], key: value}}])


def test_json_overflowing_to_infinity_is_refused():
    """1e400 is valid JSON; Python's parser makes it inf (parse_constant only sees NaN/Infinity)."""
    msg = sp.parse('{"type":1,"target":"GatewayQuote","arguments":["C",{"lastPrice":1e400,"bestBid":-1e400}]}')
    assert msg["arguments"][1]["lastPrice"] == math.inf
    with pytest.raises(DecodeError, match="not a finite number"):
        decode.decode_invocation(msg["target"], msg["arguments"])
    with pytest.raises(DecodeError, match="not a finite number"):
        decode.decode_invocation("GatewayTrade", ["C", [{"price": 1e400, "volume": 1}]])


def test_quote_and_market_numbers_must_be_finite():
    for key in ("lastPrice", "bestBid", "bestAsk", "volume", "high"):
        with pytest.raises(DecodeError, match=f"'{key}' is not a finite number"):
            decode.parse_quote("C", {key: "NaN"})
    assert decode.parse_quote("C", {"lastPrice": "19000.25"}).last_price == 19000.25


def test_lone_surrogates_become_journalable_text(tmp_path: Path):
    """JSON may escape a lone surrogate ("\\ud800"); SQLite cannot store it. The event is kept
    (it may matter to enforcement) with the surrogate replaced, and journals."""
    raw = json.dumps({"type": 1, "target": "GatewayUserOrder",
                      "arguments": [{"action": 1, "data": {**ORDER, "customTag": "tag\ud800", "contractId": "C\udc00"}}]})
    msg = sp.parse(raw)
    (event,) = decode.decode_invocation(msg["target"], msg["arguments"])
    assert event.data.custom_tag == "tag?" and event.contract_id == "C?"
    (market,) = decode.decode_invocation("GatewayTrade", ["C\ud800", [{"price": 1.0, "volume": 1}]])
    assert market.contract_id == "C?"
    assert decode.parse_quote(None, {"contract": "Q\ud800", "bestBid": 1.0}).contract_id == "Q?"
    store = Store(tmp_path / "risk_manager.db", SystemClock())
    try:
        assert len(store.append_events([event, market])) == 2
    finally:
        store.close()
    assert decode.parse_order({**ORDER, "customTag": "ünïcode ✓"}).custom_tag == "ünïcode ✓"  # real text kept
