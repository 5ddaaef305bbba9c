"""`signalr_protocol.parse` reads records with orjson and falls back to the standard parser: its
verdict on every record must be the standard parser's (NaN/Infinity and out-of-range ids refused,
lone surrogates kept, deep nesting refused with the same words)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk_manager.gateway import signalr_protocol as sp
from risk_manager.gateway.decode import DecodeError, decode_invocation


def _reference(record: str) -> Any:
    """The parser as it was: json.loads with NaN/Infinity refused."""
    msg = sp._parse_stdlib(record)
    if not isinstance(msg, dict):
        raise sp.ProtocolError(f"record is not a JSON object: {type(msg).__name__}")
    return msg


def _verdict(fn: Any, record: str) -> tuple[str, Any]:
    try:
        return "ok", fn(record)
    except sp.ProtocolError as exc:
        return "error", str(exc)


HOSTILE = [
    '{"type":1,"target":"GatewayQuote","arguments":["C",{"lastPrice":NaN}]}',
    '{"type":1,"arguments":[Infinity]}',
    '{"type":1,"arguments":[-Infinity]}',
    '{"type":1,"arguments":[1e400]}',          # inf from the standard parser: the decoder refuses it
    '{"type":1,"arguments":["\\ud800"]}',      # lone surrogate: kept (the decoder makes it "?")
    '{"a":' * 3000 + "1" + "}" * 3000,         # too deep for both
    '{"type":1}{"type":2}',
    '\ufeff{"type":1}',
    '[1,2]',
    '"text"',
    '{"type":1,"type":6}',
    '{"x":"\\u0000"}',
    "",
    "{",
]


@pytest.mark.parametrize("record", HOSTILE)
def test_hostile_records_get_the_standard_parsers_verdict(record: str) -> None:
    fast, ref = _verdict(sp.parse, record), _verdict(_reference, record)
    assert fast[0] == ref[0]
    if fast[0] == "ok":
        assert json.dumps(fast[1], allow_nan=True) == json.dumps(ref[1], allow_nan=True)
    else:
        assert fast[1] == ref[1]


def test_an_id_beyond_64_bits_is_still_refused() -> None:
    for big in (2**63, 2**64, 2**64 + 1, 10**30, -(2**63) - 1):
        record = ('{"type":1,"target":"GatewayUserOrder","arguments":[{"action":1,"data":{"id":' + str(big)
                  + ',"accountId":1,"contractId":"C","status":1,"type":1,"side":0,"size":1}}]}')
        msg = sp.parse(record)
        with pytest.raises(DecodeError, match="outside the signed 64-bit integer range"):
            decode_invocation(msg["target"], msg["arguments"])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=6), json_values, max_size=5), st.booleans())
def test_any_json_object_parses_the_same(doc: dict[str, Any], ascii_only: bool) -> None:
    record = json.dumps(doc, ensure_ascii=ascii_only)
    assert _verdict(sp.parse, record) == _verdict(_reference, record)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='{}[]":,0123456789.eE-+ntrufalsNIiy\\u\ud800 ', max_size=40))
def test_any_text_gets_the_same_verdict(record: str) -> None:
    fast, ref = _verdict(sp.parse, record), _verdict(_reference, record)
    assert fast[0] == ref[0], (record, fast, ref)
    if fast[0] == "ok":
        assert repr(fast[1]) == repr(ref[1]) or json.dumps(fast[1]) == json.dumps(ref[1])
